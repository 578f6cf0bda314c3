"""An ordered factor response with more than two levels: coded 0..K-1 for ordinal
estimators, refused by the linear and GLMM estimators with a message naming clmm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 60
    return pd.DataFrame(
        {
            "r": pd.Categorical(
                rng.choice(["lo", "mid", "hi"], n), ["lo", "mid", "hi"], ordered=True
            ),
            "x": rng.normal(size=n),
            "g": np.repeat(list("abcdef"), 10),
        }
    )


def test_codes_and_levels(data):
    m = mm.Model("r ~ x + (1 | g)", data)
    assert m.design.response_levels == ["lo", "mid", "hi"]
    np.testing.assert_array_equal(m.y, data["r"].cat.codes.to_numpy())


def test_linear_and_glmm_estimators_refuse_it(data):
    m = mm.Model("r ~ x + (1 | g)", data)
    with pytest.raises(ValueError, match="ordered factor with more than two levels"):
        m.fit(method="reml")
    with pytest.raises(ValueError, match="ordered factor with more than two levels"):
        mm.Model("r ~ x + (1 | g)", data, family="poisson").fit(method="laplace")


def test_unordered_factor_still_refused(data):
    d = data.assign(r=data["r"].astype(str))
    with pytest.raises(Exception, match="not numeric"):
        mm.Model("r ~ x + (1 | g)", d)
