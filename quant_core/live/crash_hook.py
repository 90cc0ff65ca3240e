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


def crash_point_for_tests(step: str) -> None:
    """SIGKILL this process if ``QC_TEST_CRASH_AT`` names ``step``; otherwise do nothing."""
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
