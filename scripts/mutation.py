"""Mutation testing of the pure core (``make mutation``): do the unit tests catch the bugs they claim to?

mutmut (installed by ``make mutation``, not a test dependency) changes one thing at a time in the pure
modules below (``<`` for ``<=``, ``break`` for ``continue``, another message text...) and runs the unit
tests that cover the changed function. A mutant the tests do not notice "survives". Some survivors
change nothing a caller can see (equivalent mutants): those are listed, each with its reason, in
``tests/mutation/equivalent.txt``, so that any other survivor stands out as a gap in the tests.

Each module runs on its own, one after the other, in its own copy of the package, the tests and
pyproject.toml (``<workdir>/<module>``, outside the repository): mutmut's ``mutants/`` tree never
appears in ``git status``, edits made meanwhile do not leak into a run, and running one module
(``--module``) keeps the other modules' last results for ``report``. Hypothesis is derandomized
there and has no example database (``tests/mutation/hypothesis_profile.py``), so the same tests
kill the same mutants on every run.

Per module it prints: generated / killed / survived / equivalent (survivors listed as equivalent) /
score = killed / (generated - equivalent) and how long its last run took, then every survivor not
listed, and stale list entries.

Usage::

    python scripts/mutation.py [--module connection ...] [--max-children 2] [--keep] [--fail-under 95]
    python scripts/mutation.py --survivors            # re-test only the last run's unexplained survivors
    python scripts/mutation.py show [<mutant name> ...]  # diffs: these, or every unexplained survivor
    python scripts/mutation.py report                 # the table of the last run again
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_neetocal"
#: The pure modules: no Airflow task context, no HTTP. Fastest first, so a short run still says something.
MODULES = ("connection", "retries", "api_contract", "booking", "exactly_once")
EQUIVALENT_LIST = ROOT / "tests" / "mutation" / "equivalent.txt"
#: Unit tests only; the import-cost test starts fresh interpreters and covers no pure function.
TEST_SELECTION = ["tests/unit", "--ignore=tests/unit/test_import_cost.py"]
PYTEST_ARGS = ["-p", "tests.mutation.hypothesis_profile", "-p", "no:cacheprovider"]
#: mutmut's exit-code statuses that count as caught (a timeout is an endless loop the tests noticed).
CAUGHT = {"killed", "timeout", "caught by type check", "segfault"}
COPIED = (PACKAGE, "tests", "pyproject.toml")


def default_workdir() -> Path:
    tag = hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
    return Path(tempfile.gettempdir()) / f"neetocal-mutation-{tag}"


def mutmut_config(modules: list[str]) -> str:
    """The ``[tool.mutmut]`` table of the copy (kept here, so pyproject.toml stays about the package)."""
    only = ", ".join(json.dumps(f"{PACKAGE}/{module}.py") for module in modules)
    return (
        "\n[tool.mutmut]\n"
        f'source_paths = ["{PACKAGE}"]\n'
        f"only_mutate = [{only}]\n"
        f"pytest_add_cli_args = {json.dumps(PYTEST_ARGS)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(TEST_SELECTION)}\n"
        # the copy is no git checkout: mutmut's change detection would only warn
        "use_git_change_detection = false\n"
    )


def module_workdir(workdir: Path, module: str) -> Path:
    """Where one module's copy and results live."""
    return workdir / module


def module_of(name: str) -> str:
    """The module a mutant name belongs to (``airflow_provider_neetocal.<module>.<function>__mutmut_<n>``)."""
    return name.removeprefix(f"{PACKAGE}.").split(".", 1)[0]


def prepare(workdir: Path, modules: list[str], *, keep: bool) -> None:
    """Copy the package, the tests and pyproject.toml into ``workdir``; drop old results unless ``keep``."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not keep:
        shutil.rmtree(workdir / "mutants", ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in COPIED:
        source, target = ROOT / name, workdir / name
        if target.is_dir():
            shutil.rmtree(target)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    pyproject = (workdir / "pyproject.toml").read_text()
    if "[tool.mutmut]" in pyproject:
        sys.exit("pyproject.toml has its own [tool.mutmut] table: keep the configuration in scripts/mutation.py")
    (workdir / "pyproject.toml").write_text(pyproject + mutmut_config(modules))


def run_mutmut(workdir: Path, max_children: int, names: list[str]) -> int:
    env = dict(os.environ)
    # tests/conftest.py would otherwise put an Airflow home inside the copy, without a database
    env.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow" / "test"))
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *names]
    return subprocess.call(command, cwd=workdir, env=env)


def load_equivalents() -> dict[str, str]:
    """``mutant name -> reason`` from the checked-in list (``name @pin reason``; ``#`` starts a comment)."""
    return {name: reason for name, (_pin, reason) in load_pinned_equivalents().items()}


def load_pinned_equivalents() -> dict[str, tuple[str | None, str]]:
    """``mutant name -> (pin, reason)``: the pin is the fingerprint (:func:`fingerprint`) of the diff judged.

    mutmut numbers a function's mutants in order, so a code change can give a judged number to another
    mutant; the pin makes such an entry stale instead of silently excusing a real survivor.
    """
    equivalents: dict[str, tuple[str | None, str]] = {}
    if not EQUIVALENT_LIST.exists():
        return equivalents
    for number, raw in enumerate(EQUIVALENT_LIST.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        pin = None
        if rest.startswith("@"):
            pin, _, rest = rest[1:].partition(" ")
        if not rest.strip():
            sys.exit(f"{EQUIVALENT_LIST.relative_to(ROOT)}:{number}: {name} has no reason")
        equivalents[name] = (pin, rest.strip())
    return equivalents


def fingerprint(diff: str) -> str:
    """A short hash of what a mutant changes: its removed and added lines, without positions or indentation."""
    changed = [
        line[0] + line[1:].strip()
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return hashlib.sha1("\n".join(changed).encode()).hexdigest()[:10]


def diffs_of(workdir: Path, names: list[str]) -> dict[str, str]:
    """Each named mutant's diff, from the last run's results (mutmut reads them from the current directory)."""
    if not names:
        return {}
    here = Path.cwd()
    os.chdir(module_workdir(workdir, module_of(names[0])))
    from mutmut.__main__ import get_diff_for_mutant

    diffs = {}
    try:
        for name in names:
            os.chdir(module_workdir(workdir, module_of(name)))
            diffs[name] = get_diff_for_mutant(name, path=Path(PACKAGE) / f"{module_of(name)}.py")
    finally:
        os.chdir(here)
    return diffs


def excused(workdir: Path, results: list[ModuleResult]) -> tuple[dict[str, str], list[str]]:
    """The listed equivalents whose pin matches the judged mutant's diff today, and why the others are stale."""
    pinned = load_pinned_equivalents()
    listed = [name for result in results for name in result.statuses if name in pinned]
    diffs = diffs_of(workdir, listed)
    matching: dict[str, str] = {}
    stale: list[str] = []
    for name in listed:
        pin, reason = pinned[name]
        if pin is not None and fingerprint(diffs[name]) != pin:
            stale.append(f"{name}: its diff changed since it was judged (pin {pin}, now {fingerprint(diffs[name])})")
        else:
            matching[name] = reason
    matching.update({name: pinned[name][1] for name in pinned if name not in listed})
    return matching, stale


@dataclass
class ModuleResult:
    module: str
    statuses: dict[str, str]  # mutant name -> mutmut status

    def names(self, *statuses: str) -> list[str]:
        return sorted(name for name, status in self.statuses.items() if status in statuses)

    seconds: float | None = None  # how long the module's last run took


DURATION_FILE = "last-run-seconds"


def load_results(workdir: Path, modules: list[str]) -> list[ModuleResult]:
    from mutmut.stats import status_by_exit_code

    results = []
    for module in modules:
        meta = module_workdir(workdir, module) / "mutants" / PACKAGE / f"{module}.py.meta"
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        duration = module_workdir(workdir, module) / DURATION_FILE
        seconds = float(duration.read_text()) if duration.exists() else None
        statuses = {name: status_by_exit_code[code] for name, code in codes.items()}
        results.append(ModuleResult(module, statuses, seconds))
    return results


def report(
    results: list[ModuleResult], equivalents: dict[str, str], fail_under: float | None, stale: list[str] | None = None
) -> int:
    """Print the table, the survivors not listed as equivalent and stale list entries; 1 if below ``fail_under``.

    ``stale`` names listed entries already known not to excuse their mutant (a pin that no longer matches).
    """
    header = (
        f"{'module':<14} {'generated':>9} {'killed':>7} {'survived':>8} {'equivalent':>10} {'score':>7} {'run':>10}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    unexplained: list[tuple[str, str]] = []
    stale = list(stale or [])
    below = False
    for result in results:
        # A listed equivalent that timed out (the machine was busy) is still an equivalent, not a kill.
        caught = {
            name for name in result.names(*CAUGHT) if not (name in equivalents and result.statuses[name] == "timeout")
        }
        not_caught = sorted(set(result.statuses) - caught)
        equivalent = [name for name in not_caught if name in equivalents]
        stale += [f"{name}: {result.statuses[name]}" for name in sorted(caught) if name in equivalents]
        unexplained += [(name, result.statuses[name]) for name in not_caught if name not in equivalents]
        judged = len(result.statuses) - len(equivalent)
        score = 100.0 * len(caught) / judged if judged else 100.0
        below = below or (fail_under is not None and score < fail_under)
        took = "" if result.seconds is None else "{}m{:02d}s".format(*divmod(round(result.seconds), 60))
        print(
            f"{result.module:<14} {len(result.statuses):>9} {len(caught):>7} {len(not_caught):>8} "
            f"{len(equivalent):>10} {score:>6.1f}% {took:>10}"
        )
    generated = {name for result in results for name in result.statuses}
    module_prefixes = tuple(f"{PACKAGE}.{result.module}." for result in results)
    stale += [
        f"{name}: not generated any more"
        for name in sorted(equivalents)
        if name.startswith(module_prefixes) and name not in generated
    ]
    timeouts = [name for result in results for name in result.names("timeout") if name not in equivalents]
    if timeouts:
        # A mutant that makes a test hang is caught (CI would hang too); on a loaded machine an equivalent one
        # can time out as well, so they are named for a look.
        print(f"timed out (counted as caught): {', '.join(timeouts)}")
    other = Counter(status for _, status in unexplained if status != "survived")
    if other:
        print("not killed for another reason: " + ", ".join(f"{n} {s}" for s, n in sorted(other.items())))
    if unexplained:
        print(f"\n{len(unexplained)} survivors not listed in {EQUIVALENT_LIST.relative_to(ROOT)}:")
        for name, status in unexplained:
            print(f"  {name}" + ("" if status == "survived" else f"  ({status})"))
        print("Their diffs: python scripts/mutation.py show [<name> ...]")
    if stale:
        print(f"\nStale entries in {EQUIVALENT_LIST.relative_to(ROOT)} (killed, or renumbered by a code change):")
        for line in stale:
            print(f"  {line}")
    return 1 if below else 0


def unexplained_survivors(workdir: Path, modules: list[str]) -> list[str]:
    """The last run's mutants that were not caught and are not listed as equivalent."""
    results = load_results(workdir, modules)
    equivalents, _stale = excused(workdir, results)
    return [
        name
        for result in results
        for name, status in sorted(result.statuses.items())
        if status not in CAUGHT and name not in equivalents
    ]


def show(workdir: Path, names: list[str], modules: list[str]) -> int:
    """Print the diff of each named mutant, or of every survivor not listed as equivalent."""
    names = names or unexplained_survivors(workdir, modules)
    if not names:
        return 0
    # mutmut reads its configuration (once, when imported) and its results from the current directory
    os.chdir(module_workdir(workdir, module_of(names[0])))
    from mutmut.__main__ import get_diff_for_mutant

    for name in names:
        os.chdir(module_workdir(workdir, module_of(name)))
        print(f"# {name}")
        print(get_diff_for_mutant(name, path=Path(PACKAGE) / f"{module_of(name)}.py"))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="run", choices=("run", "show", "report", "pin"))
    parser.add_argument("mutants", nargs="*", help="for show: mutant names (default: unexplained survivors)")
    parser.add_argument("--module", action="append", choices=MODULES, help="only this module (repeatable)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested in parallel (default 2)")
    parser.add_argument("--workdir", type=Path, default=default_workdir(), help="where the copy and results live")
    parser.add_argument("--keep", action="store_true", help="reuse the last run's results for unchanged functions")
    parser.add_argument(
        "--survivors", action="store_true", help="keep the last run and re-test only its unexplained survivors"
    )
    parser.add_argument("--fail-under", type=float, help="exit 1 when a module scores below this percentage")
    args = parser.parse_args()
    modules = list(args.module or MODULES)

    if args.command == "show":
        return show(args.workdir, args.mutants, modules)
    if args.command == "run":
        for module in modules:  # one at a time: each run already keeps max_children processes busy
            workdir = module_workdir(args.workdir, module)
            names = unexplained_survivors(args.workdir, [module]) if args.survivors else []
            if args.survivors and not names:
                print(f"{module}: no unexplained survivors in the last run, nothing to re-test")
                continue
            started = time.monotonic()
            prepare(workdir, [module], keep=args.keep or args.survivors)
            code = run_mutmut(workdir, args.max_children, names)
            elapsed = time.monotonic() - started
            if not names:  # a partial re-test says nothing about how long the module takes
                (workdir / DURATION_FILE).write_text(f"{elapsed:.0f}\n")
            minutes, seconds = divmod(round(elapsed), 60)
            print(f"\n{module}: mutmut took {minutes} min {seconds:02d} s (exit code {code}); results in {workdir}")
            if code != 0:
                return code
    results = load_results(args.workdir, modules)
    if not results:
        print(f"No results in {args.workdir}: run python scripts/mutation.py first")
        return 1
    if args.command == "pin":
        return pin(args.workdir, results)
    equivalents, stale = excused(args.workdir, results)
    return report(results, equivalents, args.fail_under, stale)


def pin(workdir: Path, results: list[ModuleResult]) -> int:
    """Print the equivalent list with each entry pinned to its mutant's diff in the last run (to review, then save).

    ``python scripts/mutation.py pin > list && mv list tests/mutation/equivalent.txt``, after judging each entry.
    """
    pinned = load_pinned_equivalents()
    generated = {name for result in results for name in result.statuses}
    diffs = diffs_of(workdir, [name for name in pinned if name in generated])
    for raw in EQUIVALENT_LIST.read_text().splitlines():
        name = raw.strip().partition(" ")[0]
        if raw.startswith("#") or name not in pinned:
            print(raw)
            continue
        old, reason = pinned[name]
        mark = f"@{fingerprint(diffs[name])}" if name in diffs else (f"@{old}" if old else "")
        print(f"{name} {mark} {reason}" if mark else f"{name} {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
