"""Shared fixtures: the threaded scheduler by default, and one LocalCluster per run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dask
import pytest


@pytest.fixture(autouse=True)
def _threaded_scheduler() -> Iterator[None]:
    # Task-based shuffles (set_index): once the session's LocalCluster exists, dask
    # would otherwise pick its p2p shuffle, which needs that cluster's workers.
    with dask.config.set({"scheduler": "threads", "dataframe.shuffle.method": "tasks"}):
        yield


@pytest.fixture(scope="session")
def cluster_client() -> Iterator[Any]:
    """A real distributed cluster: two worker processes."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
