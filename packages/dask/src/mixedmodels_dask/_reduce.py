"""Per-partition work and its reduction with Dask (any scheduler: the threaded one, or
the ``distributed.Client`` given or active)."""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import dask

__all__ = [
    "compute",
    "local_client",
    "map_reduce",
    "persist_partitions",
    "resolve_client",
    "tree_reduce",
]

_LOCAL: dict[str, Any] = {}
_LOCAL_LOCK = threading.Lock()


def local_client() -> Any:
    """The process's shared local ``distributed.Client``, started on first use.

    Its cluster runs in this process (``processes=False``: one worker with a thread per
    core, in-process transport), so a script needs no ``if __name__ == "__main__"``
    guard and nothing outlives the interpreter; no dashboard, and the scheduler's HTTP
    endpoint on a free port (never a clash with a cluster the user runs).  It is not
    made the default client, so it changes nothing for code outside this plugin.
    """
    with _LOCAL_LOCK:
        client = _LOCAL.get("client")
        if client is None or client.status != "running":
            from distributed import Client, LocalCluster

            cluster = LocalCluster(
                n_workers=1,
                threads_per_worker=os.cpu_count() or 1,
                processes=False,
                dashboard_address=":0",
                scheduler_kwargs={"dashboard": False},
            )
            client = Client(cluster, set_as_default=False)
            if not _LOCAL:
                atexit.register(_close_local)
            _LOCAL.update(client=client, cluster=cluster)
        return client


def _close_local() -> None:
    with _LOCAL_LOCK:
        client, cluster = _LOCAL.pop("client", None), _LOCAL.pop("cluster", None)
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()


def resolve_client(client: Any) -> Any:
    """The client a fit computes on (``None``: dask's configured scheduler).

    In order: the ``client`` the user passed; ``None`` when a scheduler is configured in
    ``dask.config`` (an active default ``distributed.Client`` sets one, and so does
    ``dask.config.set(scheduler="threads")``), which dask then uses; otherwise the
    shared :func:`local_client`.
    """
    if client is not None:
        return client
    if dask.config.get("scheduler", None) is not None:
        return None
    return local_client()


def compute(values: Sequence[Any], client: Any = None) -> list[Any]:
    """Compute delayed values on ``client`` if one is given, else on dask's current
    scheduler (an active ``distributed.Client`` if there is one)."""
    if client is not None:
        return list(client.gather(client.compute(list(values))))
    return list(dask.compute(*values))


def map_reduce(
    ddf: Any,
    per_partition: Callable[[Any, int], Any],
    combine: Callable[[Any, Any], Any],
    client: Any = None,
    split_every: int = 8,
) -> Any:
    """``combine`` (associative) over ``per_partition(partition, index)`` of every
    partition, as a tree of ``split_every``-ary reductions on the workers."""
    parts = ddf.to_delayed()
    layer = [dask.delayed(per_partition)(p, i) for i, p in enumerate(parts)]
    return _reduce_layer(layer, combine, client, split_every)


def persist_partitions(ddf: Any, build: Callable[[Any, int], Any], client: Any = None) -> list[Any]:
    """``build(partition, index)`` of every partition, computed once and held (on the
    workers of ``client``, or in this process for the local schedulers)."""
    layer = [dask.delayed(build)(p, i) for i, p in enumerate(ddf.to_delayed())]
    if client is not None:
        return list(client.persist(layer))
    return list(dask.persist(*layer))


def tree_reduce(
    items: Sequence[Any],
    task: Callable[[Any], Any],
    combine: Callable[[Any, Any], Any],
    client: Any = None,
    split_every: int = 8,
) -> Any:
    """``combine`` over ``task(item)`` of held items (:func:`persist_partitions`)."""
    layer = [dask.delayed(task)(item) for item in items]
    return _reduce_layer(layer, combine, client, split_every)


def _reduce_layer(
    layer: list[Any], combine: Callable[[Any, Any], Any], client: Any, split_every: int
) -> Any:
    """Reduce delayed values by ``combine`` in a tree of ``split_every``-ary nodes."""

    def combine_many(*values: Any) -> Any:
        out = values[0]
        for v in values[1:]:
            out = combine(out, v)
        return out

    while len(layer) > 1:
        layer = [
            dask.delayed(combine_many)(*layer[i : i + split_every])
            for i in range(0, len(layer), split_every)
        ]
    return compute(layer, client)[0]
