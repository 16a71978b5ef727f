"""The example DAGs that ship with the provider, and the command that copies them into a DAGs folder.

``python -m airflow_provider_neetocal.examples copy <dags_folder>`` copies every example DAG and the
sample CSVs they read from beside their own files (``data/attendees.csv`` for ``neetocal_pipeline``,
``data/onboarding_calls.csv`` for ``neetocal_daily_sync``) into ``<dags_folder>``; ``list`` names
them and ``path`` prints where they are installed.

In a built wheel they live in this package, under ``example_dags/`` (the build copies the repository's
root ``example_dags/`` there, see ``pyproject.toml``). In a checkout installed in editable mode that
folder does not exist inside the package, so the repository's own ``example_dags/`` is used.

Standard library only: no Airflow import, so the command works before Airflow is configured.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

#: What is copied, relative to the examples folder: the DAG files and the data they read.
_PATTERNS = ("neetocal_*.py", "data/*.csv")


def examples_dir() -> Path:
    """The folder holding the example DAGs: inside the installed package, else the checkout's root."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "example_dags", package.parent / "example_dags"):
        if any(candidate.glob("neetocal_*.py")):
            return candidate
    raise FileNotFoundError(
        f"No example DAGs found in {package / 'example_dags'} or {package.parent / 'example_dags'}: "
        "reinstall airflow-provider-neetocal from its wheel or a full checkout"
    )


def example_files() -> list[Path]:
    """Every file the ``copy`` command copies, relative to :func:`examples_dir`, sorted."""
    root = examples_dir()
    return sorted({path.relative_to(root) for pattern in _PATTERNS for path in root.glob(pattern)})


def copy_examples(destination: Path, *, force: bool = False) -> list[Path]:
    """Copy the example DAGs and their data into ``destination``; return the paths written.

    Nothing is written when a file would be overwritten and ``force`` is false: the error names
    every such file, so a DAG someone edited is never replaced by surprise.
    """
    root = examples_dir()
    files = example_files()
    if destination.exists() and not destination.is_dir():
        raise NotADirectoryError(f"{destination} is not a directory: give the DAGs folder to copy into")
    existing = [destination / name for name in files if (destination / name).exists()]
    if existing and not force:
        # The first line says what happened and what to do; the (long) paths follow, one a line.
        names = "".join(f"\n  {path}" for path in existing)
        raise FileExistsError(
            f"Not copying: {len(existing)} file(s) already exist (listed below); nothing written, "
            f"add --force to overwrite them{names}"
        )
    written = []
    for name in files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m airflow_provider_neetocal.examples {copy DEST [--force] | list | path}``."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_neetocal.examples",
        description="The NeetoCal provider's example DAGs: copy them into your DAGs folder.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    copy = commands.add_parser("copy", help="copy the example DAGs and their data into a DAGs folder")
    # A string, not a Path: Path("") is ".", and an empty argument must be refused, not read as "here".
    copy.add_argument("destination", help='the DAGs folder, e.g. "$(airflow config get-value core dags_folder)"')
    copy.add_argument("--force", action="store_true", help="overwrite files that already exist")
    commands.add_parser("list", help="name the files that copy would write")
    commands.add_parser("path", help="print the folder the examples are installed in")
    args = parser.parse_args(argv)

    try:
        if args.command == "path":
            print(examples_dir())
        elif args.command == "list":
            for name in example_files():
                print(name)
        elif not args.destination.strip():
            # What `copy "$(airflow config get-value core dags_folder)"` becomes when that command fails.
            print(
                "error: no DAGs folder given (the destination is empty); nothing written. "
                "Pass the folder's path\n"
                'If you wrote "$(airflow config get-value core dags_folder)", that command failed: '
                "activate the environment where Airflow is installed, or type the path",
                file=sys.stderr,
            )
            return 2
        else:
            written = copy_examples(Path(args.destination), force=args.force)
            for path in written:
                print(f"copied {path}")
            print(f"{len(written)} files copied into {args.destination}")
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
