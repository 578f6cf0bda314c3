"""The per-class products of A_R1 built densely (BLAS) equal the sparse build."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.linear import criterion


def _crossed(n: int, g1: int, g2: int, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, g1, n), rng.integers(0, g2, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=g1)[a] + 0.7 * rng.normal(size=g2)[b] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "a": a.astype(str), "b": b.astype(str)})


def test_dense_class_build_matches_sparse(monkeypatch: pytest.MonkeyPatch) -> None:
    df = _crossed(40_000, 2_000, 60)  # ~18 of 60 levels of b per level of a: dense
    formula = "y ~ x + (1 | a) + (1 | b)"
    monkeypatch.setattr(criterion, "_DENSE_CLASS_DENSITY", 2.0)  # the sparse build
    want = mm.lmm(formula, df, reml=False)
    monkeypatch.setattr(criterion, "_DENSE_CLASS_DENSITY", 0.0)  # the dense one
    built: list[bool] = []
    original = criterion.LMMProblem._build_V_dense_classes

    def spy(self: criterion.LMMProblem, force: bool = False) -> bool:
        built.append(original(self, force))
        return built[-1]

    monkeypatch.setattr(criterion.LMMProblem, "_build_V_dense_classes", spy)
    got = mm.lmm(formula, df, reml=False)
    assert built == [True]
    assert got.deviance == pytest.approx(want.deviance, rel=1e-12)
    np.testing.assert_allclose(got.fixef, want.fixef, rtol=1e-9)
    np.testing.assert_allclose(got.theta, want.theta, rtol=1e-7)
