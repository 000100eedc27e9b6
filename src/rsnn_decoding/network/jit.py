"""Optional numba: `jit` and `prange` fall back to plain Python when numba is missing (kernels then unused)."""

from __future__ import annotations

from typing import Any

try:  # numba is a dependency, but keep the torch paths usable without it
    import numba
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None
    HAVE_NUMBA = False


def _identity_decorator(*_args: Any, **_kwargs: Any) -> Any:
    """Stand-in for numba.njit when numba is missing (kernels are then never called)."""

    def wrap(fn: Any) -> Any:
        return fn

    return wrap


if HAVE_NUMBA:
    jit = njit
else:  # pragma: no cover
    jit = _identity_decorator
    prange = range


def numba_threads() -> int:
    """Number of threads numba kernels use (0 without numba)."""
    return int(numba.get_num_threads()) if HAVE_NUMBA else 0
