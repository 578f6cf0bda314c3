"""A grouping factor with one level: refused for an unstructured term, accepted for a
structured one whose few parameters the correlation between columns identifies (a
spatial field over many locations, glmmTMB's ``exp(pos + 0 | group)``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    t = np.tile(np.arange(8), 6)
    return pd.DataFrame(
        {"t": t, "g": "one", "y": rng.normal(size=t.size) + np.sin(t), "x": rng.normal(size=t.size)}
    )


def test_one_level_unstructured_is_refused() -> None:
    with pytest.raises(ValueError, match="has 1 level"):
        mm.Model("y ~ x + (1 | g)", _data())
    with pytest.raises(ValueError, match="has 1 level"):
        mm.Model("y ~ x + (0 + factor(t) | g)", _data())


def test_one_level_structured_term_is_fitted() -> None:
    fit = mm.lmm("y ~ x + ar1(0 + factor(t) | g)", _data(), reml=False)
    assert np.isfinite(fit.loglik)
