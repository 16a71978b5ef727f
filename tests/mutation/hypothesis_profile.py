"""A pytest plugin for mutation runs: Hypothesis explores the same inputs on every run, and only those.

Loaded by ``scripts/mutation.py`` with ``-p tests.mutation.hypothesis_profile``, never by ``make test``.
A mutant counts as killed only when the tests fail on it, not because Hypothesis happened to draw a
lucky input or replayed one it once saved in ``.hypothesis/``: ``derandomize`` fixes the inputs and
``database=None`` keeps saved ones out. ``deadline=None`` and no health checks, because a mutated
module runs slower (mutmut's trampolines, two workers on two cores) and a timing failure is no kill.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "mutation",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
settings.load_profile("mutation")
