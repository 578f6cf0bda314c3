"""Shared helpers of the spatial tests: the reference cases copied from the R runs (tests
never read the shared reference folder) and simulated fields (a uniquely named module,
not a conftest: the packages' tests also run together in one process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mixedmodels_spatial._kernel import make_kernel
from scipy.spatial.distance import cdist

REFERENCE = Path(__file__).parent / "reference"


def reference_case(case_id: str) -> dict[str, Any]:
    """The case JSON (R's call and results) of ``case_id``."""
    return json.loads((REFERENCE / f"{case_id}.json").read_text())


def reference_data(case_id: str) -> pd.DataFrame:
    """The data of ``case_id`` with its factors as R had them (as strings)."""
    case = reference_case(case_id)
    types = case.get("column_types", {})
    factors = {c: str for c, t in types.items() if t in ("factor", "character")}
    return pd.read_csv(REFERENCE / case["data_file"].split("/")[-1], dtype=factors)


def simulate(n, seed, range_=0.15, nugget=0.2, sigma=1.3, mean=1.0, lonlat=False):
    rng = np.random.default_rng(seed)
    if lonlat:
        xy = np.column_stack([rng.uniform(-10, 10, n), rng.uniform(40, 55, n)])
        k = make_kernel("exponential", xy, metric="great_circle", nugget=True)
        C = k.matrix(np.array([np.log(300.0), np.log(nugget / (1 - nugget))]), xy)
    else:
        xy = rng.uniform(0, 1, (n, 2))
        C = (1 - nugget) * np.exp(-cdist(xy, xy) / range_) + nugget * np.eye(n)
    e = np.linalg.cholesky(C) @ rng.normal(size=n)
    data = pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "x1": rng.normal(size=n)})
    data["z"] = mean + 0.5 * data["x1"] + sigma * e
    return data
