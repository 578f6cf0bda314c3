"""How many threads BLAS may use while a criterion is optimised."""

from __future__ import annotations

from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["THREADED_BLAS_MIN", "blas_limit"]

# Size of the dense block from which BLAS gets all threads: below it a multithreaded
# BLAS is slower than one thread (measured on 2 cores: dpotrf of m = 1159 takes
# 12.4 ms with 2 threads and 16.8 ms with one; small blocks lose to thread start-up).
THREADED_BLAS_MIN = 1000

_CONTROLLER: ThreadpoolController | None = None


def blas_limit(threads: int | None) -> Any:
    """Context limiting BLAS threads (``None``: no limit); the controller (which scans
    the loaded shared libraries, ~3 ms) is created once per process."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=threads, user_api="blas")
