"""The one way code is compiled here: numba, cached on disk under a key of all the compiled code.

:func:`compiled` compiles a function with numba (numpy's rules for a division by zero, no GIL
held) and caches its machine code, so that a new process (a test worker, a Dask worker) loads
it instead of compiling it again (about 20 s for the backtest loop).

numba keys a function's cache by its own source file only: a compiled function whose callee in
another module changed is served from the cache as it was (measured: an edited
``kernels_sizing.cap_orders`` left ``compiled_loop.run_loop`` computing the old cap). So the
cache lives in a folder named by a digest of every module that compiles code
(:data:`COMPILED_MODULES`, checked complete by a test): a change to any of them compiles them all
anew, in a folder of its own, beside the code (``quant_core/__pycache__/numba-<digest>``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])

PACKAGE = Path(__file__).resolve().parent
COMPILED_MODULES = (  # every module with a @compiled function (tests/unit/test_compiled.py)
    "portfolio/kernels.py",
    "portfolio/kernels_sizing.py",
    "backtest/compiled_loop.py",
    "backtest/compiled_run.py",
    "backtest/frames.py",
    "strategies/builtin/cross_sectional.py",
)


def cache_dir() -> Path:
    """Return the numba cache folder of the compiled modules as they are now."""
    digest = hashlib.sha256()
    for name in COMPILED_MODULES:
        digest.update(name.encode())
        digest.update((PACKAGE / name).read_bytes())
    return PACKAGE / "__pycache__" / f"numba-{digest.hexdigest()[:16]}"


numba.config.CACHE_DIR = str(cache_dir())  # type: ignore[attr-defined]


def compiled(fn: F) -> F:
    """Return ``fn`` compiled by numba: cached (module docstring), numpy's division rules."""
    return cast(F, numba.njit(cache=True, error_model="numpy", nogil=True)(fn))
