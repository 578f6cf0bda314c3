"""Which scheduler a fit computes on when the user names none (issue 17: "a local
distributed.Client is used when none is given and any client the user passes is
respected")."""

from __future__ import annotations

from typing import Any

import dask
import dask.dataframe as dd
import mixedmodels_dask
import numpy as np
import pytest
from mixedmodels_dask import _reduce

import mixedmodels as mm

FORMULA = "Reaction ~ Days + (Days | Subject)"


def _ddf() -> Any:
    return dd.from_pandas(mm.datasets.load("sleepstudy"), npartitions=3, sort=False)


def test_no_scheduler_configured_uses_the_shared_local_client() -> None:
    distributed = pytest.importorskip("distributed")
    threaded = mm.lmm(FORMULA, _ddf())  # the suite's autouse fixture: scheduler="threads"
    with dask.config.set(scheduler=None):
        fit = mm.lmm(FORMULA, _ddf())
        client = mixedmodels_dask.local_client()
        assert isinstance(client, distributed.Client)
        assert fit._client is client
        assert mixedmodels_dask.local_client() is client  # started once, then reused
        # Its cluster runs in this process: no worker processes, no ports.
        assert all(a.startswith("inproc://") for a in client.scheduler_info()["workers"])
        fitted = fit.fitted().compute()
    np.testing.assert_allclose(fit.fixef, threaded.fixef, rtol=1e-12)
    np.testing.assert_allclose(fit.theta, threaded.theta, rtol=1e-10)
    assert len(fitted) == 180
    # The shared client is not the default one: code outside the plugin is unaffected.
    assert dask.config.get("scheduler", None) == "threads"


def test_a_configured_scheduler_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("the shared local client must not start")

    monkeypatch.setattr(_reduce, "local_client", refuse)
    fit = mm.lmm(FORMULA, _ddf())  # scheduler="threads" from the autouse fixture
    assert fit._client is None


def test_the_client_passed_is_used(cluster_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_reduce, "local_client", lambda: pytest.fail("local client started"))
    with dask.config.set(scheduler=None):
        fit = mm.lmm(FORMULA, _ddf(), client=cluster_client)
    assert fit._client is cluster_client
