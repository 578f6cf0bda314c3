"""BLAS thread control.

Every matrix product here is thin (a few coefficients or rows per cluster by many
clusters); a multithreaded BLAS only adds start-up and contention costs, and under load
on 2 cores it made whole fits 2-4x slower (see benchmarks/gee_bench.py).  Fits and
variance computations therefore run with one BLAS thread.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

__all__ = ["single_blas_thread"]

_CONTROLLER: Any = None


def single_blas_thread() -> AbstractContextManager[Any]:
    """Context in which BLAS uses one thread (the thread-pool scan is done once)."""
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    ctx: AbstractContextManager[Any] = _CONTROLLER.limit(limits=1, user_api="blas")
    return ctx
