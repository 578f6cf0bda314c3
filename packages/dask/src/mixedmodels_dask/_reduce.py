"""Per-partition work and its reduction with Dask (any scheduler: the threaded one, or
the ``distributed.Client`` given or active)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dask

__all__ = ["compute", "map_reduce", "persist_partitions", "tree_reduce"]


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
