"""How many threads BLAS may use while a criterion is optimised.

Large dense blocks (``m >= THREADED_BLAS_MIN``) may use several BLAS threads, but only as
many as the machine has idle: when the user runs several fits side by side (a process
pool, joblib over bootstrap samples, other jobs), a multithreaded BLAS in each process
oversubscribes the cores and its spinning threads make every fit several times slower
(InstEval ML on 2 cores with four competing processes: decision 0015).  The environment
variable ``MIXEDMODELS_NUM_THREADS`` overrides the choice: a positive integer, or
``all`` for the BLAS library's own default.
"""

from __future__ import annotations

import os
from typing import Any

from threadpoolctl import ThreadpoolController

__all__ = ["ENV_THREADS", "THREADED_BLAS_MIN", "available_threads", "blas_limit"]

# Size of the dense block from which BLAS gets all threads: below it a multithreaded
# BLAS is slower than one thread (measured on 2 cores: dpotrf of m = 1159 takes
# 12.4 ms with 2 threads and 16.8 ms with one; small blocks lose to thread start-up).
THREADED_BLAS_MIN = 1000
#: Environment variable: BLAS threads for large problems (an integer or ``all``).
ENV_THREADS = "MIXEDMODELS_NUM_THREADS"

_CONTROLLER: ThreadpoolController | None = None


def _cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def available_threads() -> int | None:
    """BLAS threads for a large problem: ``MIXEDMODELS_NUM_THREADS`` if set, else the
    cores not already busy (one-minute load average, this process's own thread counted
    as idle), at least one; ``None`` for no limit (``all``)."""
    env = os.environ.get(ENV_THREADS, "").strip().lower()
    if env == "all":
        return None
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass  # an unreadable setting falls back to the automatic choice
    cores = _cores()
    if cores == 1:
        return 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # platforms without a load average
        return cores
    # The load includes this process's own running thread, hence the + 1.
    return max(1, min(cores, int(cores - load + 1.0)))


def blas_limit(threads: int | None) -> Any:
    """Context limiting BLAS threads: ``threads``, or for ``None`` the automatic choice
    of :func:`available_threads`.  The controller (which scans the loaded shared
    libraries, ~3 ms) is created once per process."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    if threads is None:
        threads = available_threads()
    return _CONTROLLER.limit(limits=threads, user_api="blas")
