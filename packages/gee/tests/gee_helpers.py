"""Shared helpers: reference figures (copied into tests/reference) and data sets."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mixedmodels as mm

REFERENCE = Path(__file__).parent / "reference"


@cache
def _load_json(name: str) -> dict[str, Any]:
    with open(REFERENCE / name) as fh:
        out: dict[str, Any] = json.load(fh)
    return out


def geeglm_case(case_id: str) -> dict[str, Any]:
    """One geeglm reference case (../shared/reference/cases, copied)."""
    return _load_json(f"{case_id}.json")


def extra_reference() -> dict[str, Any]:
    """Figures made by tools/reference/gee/gee_reference.R."""
    return _load_json("gee_reference.json")


@cache
def _dataset(name: str) -> pd.DataFrame:
    return mm.datasets.load(name)


def dataset(name: str) -> pd.DataFrame:
    """A fresh copy of a core data set."""
    return _dataset(name).copy()


#: The reference models' data and formulas (``data`` names a core data set): add
#: ``corstr`` and other options of :func:`~mixedmodels_gee.gee`, then :func:`fit_spec`.
OHIO: dict[str, Any] = dict(
    formula="resp ~ age + smoke", data="ohio", family="binomial", groups="id"
)
RESPIRATORY: dict[str, Any] = dict(
    formula="outcome ~ treat + sex + age + baseline",
    data="respiratory",
    family="binomial",
    groups=["center", "id"],
)
DIETOX: dict[str, Any] = dict(
    formula="Weight ~ Time + Cu", data="dietox", family="gaussian", groups="Pig"
)


def named_spec(name: str) -> dict[str, Any]:
    """The spec of a reference case named ``<data>_<corstr>`` (``"ohio_ar1"``)."""
    data, corstr = name.split("_", 1)
    base = {"ohio": OHIO, "respiratory": RESPIRATORY, "dietox": DIETOX}[data]
    return dict(base, corstr=corstr)


def fit_spec(spec: dict[str, Any], **options: Any) -> Any:
    """``gee`` of a model spec (as :data:`OHIO`), with more options."""
    from mixedmodels_gee import gee

    spec = dict(spec)
    data = dataset(spec.pop("data"))
    return gee(spec.pop("formula"), data, **spec, **options)


def values(d: dict[str, float] | list[float] | float) -> np.ndarray:
    """The numbers of a named JSON vector, in order (a scalar is a vector of one)."""
    if isinstance(d, dict):
        return np.array(list(d.values()), dtype=float)
    return np.atleast_1d(np.asarray(d, dtype=float))


def assert_rel(actual: Any, expected: Any, rtol: float, what: str = "") -> None:
    """Elementwise relative comparison with a readable message."""
    a = np.asarray(actual, dtype=float)
    e = np.asarray(expected, dtype=float)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    rel = np.abs(a - e) / np.maximum(np.abs(e), 1e-300)
    worst = float(np.max(rel)) if rel.size else 0.0
    assert worst <= rtol, f"{what}: max relative difference {worst:.3g} > {rtol:g}\n{a}\n{e}"
