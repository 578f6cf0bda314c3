"""Complete separation in GLMMs: a warning naming the term, not a crash or silence."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm

# Private: the separation detector (a linear programme) is tested directly.
from mixedmodels.generalized.separation import SeparationWarning, separated_columns


def _binary(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 200
    data = pd.DataFrame({"g": np.repeat(np.arange(20), 10).astype(str), "x": rng.normal(size=n)})
    data["trt"] = np.where(rng.random(n) < 0.5, "a", "b")
    eta = data["x"] + rng.normal(size=20)[data["g"].astype(int)]
    data["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return data


def test_quasi_complete_separation_warns_naming_the_term():
    data = _binary()
    data.loc[data["trt"] == "b", "y"] = 1.0
    with pytest.warns(SeparationWarning, match=r"trtb \(term trt\)"):
        fit = mm.glmm("y ~ x + trt + (1 | g)", data, family="binomial")
    assert any("separation" in m for m in fit.messages)
    assert "separation" in fit.summary()


@pytest.mark.parametrize("nagq", [0, 1])
def test_complete_separation_by_a_covariate(nagq):
    data = _binary()
    data["y"] = (data["x"] > 0).astype(float)
    with pytest.warns(SeparationWarning, match="x"):
        mm.glmm("y ~ x + (1 | g)", data, family="binomial", nagq=nagq)


def test_poisson_level_with_only_zeros():
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"g": np.repeat(np.arange(15), 8).astype(str)})
    data["site"] = np.tile(["s1", "s2", "s3", "s4"], 30)
    data["count"] = rng.poisson(3.0, len(data)).astype(float)
    data.loc[data["site"] == "s4", "count"] = 0.0
    with pytest.warns(SeparationWarning, match="sites4"):
        mm.glmm("count ~ site + (1 | g)", data, family="poisson")


def test_no_warning_without_separation():
    data = _binary()
    data["big"] = data["x"] * 1e3  # large linear predictor values, but no separation
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        fit = mm.glmm("y ~ x + trt + (1 | g)", data, family="binomial")
    assert not any("separation" in m for m in fit.messages)


@pytest.mark.parametrize(
    ("X", "y", "kind", "expected"),
    [
        # y = 1 exactly where x > 0: the slope direction separates.
        (
            np.column_stack([np.ones(6), [-3, -2, -1, 1, 2, 3]]),
            [0, 0, 0, 1, 1, 1],
            "binomial",
            [0, 1],
        ),
        # overlap: no direction separates.
        (np.column_stack([np.ones(6), [-3, -2, 1, -1, 2, 3]]), [0, 0, 0, 1, 1, 1], "binomial", []),
        # a fractional response forces x'd = 0 on its row.
        (np.column_stack([np.ones(4), [0, 0, 1, 1]]), [0.5, 0.2, 1, 1], "binomial", [1]),
        # counts: a column that is non-zero only on zero counts.
        (np.column_stack([np.ones(4), [0, 0, 1, 1]]), [2, 3, 0, 0], "count", [1]),
    ],
)
def test_separated_columns_linear_programme(X, y, kind, expected):
    found = separated_columns(np.asarray(X, float), np.asarray(y, float), kind)
    if expected == []:
        assert found == []
    else:
        assert set(expected) <= set(found) | {0} and found
