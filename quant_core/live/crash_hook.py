"""A test hook: kill this process with SIGKILL at a named step, to prove crash safety.

The crash-safety tests (tests/integration/test_crash_safety.py) start the worker as a real
process with ``QC_TEST_CRASH_AT=<step>``; each step the worker passes calls
:func:`crash_point_for_tests` (one line at each site). Unset, as in every real run, it does
nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "QC_TEST_CRASH_AT"


_passes: dict[str, int] = {}  # how many times each step was passed, for ``step@n``


def crash_point_for_tests(step: str) -> None:
    """SIGKILL this process if ``QC_TEST_CRASH_AT`` names ``step``; otherwise do nothing.

    ``step@n`` kills at the n-th pass of ``step`` (from 1), so a test can kill a later one.
    """
    wanted = os.environ.get(ENV)
    if wanted is None or not wanted.startswith(step):
        return
    if wanted == step:
        os.kill(os.getpid(), signal.SIGKILL)
    name, _, nth = wanted.partition("@")
    if name == step and nth.isdigit():
        _passes[step] = _passes.get(step, 0) + 1
        if _passes[step] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)
