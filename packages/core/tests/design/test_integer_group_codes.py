"""Codes of integer grouping columns in new data: the lookup equals the labels' path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedmodels.design.matrices import build_design


@pytest.mark.parametrize("spread", [1, 10_000])  # a lookup table, a binary search
def test_integer_codes_match_label_matching(spread: int) -> None:
    rng = np.random.default_rng(4)
    g = rng.integers(-50, 200, 500) * spread
    df = pd.DataFrame({"y": rng.normal(size=500), "g": g})
    design = build_design("y ~ 1 + (1 | g)", df)
    term = design.terms[0]
    new = pd.DataFrame({"y": 0.0, "g": np.concatenate([g[:50], [10**9, -(10**9), 201 * spread]])})
    codes = design.random_matrices(new)[0][1]
    labels = np.asarray(term.levels)
    want = [list(labels).index(str(v)) if str(v) in labels else -1 for v in new["g"]]
    np.testing.assert_array_equal(codes, want)
    # Nullable integers without and with a missing value
    as_float = design.random_matrices(new.astype({"g": "Int64"}))[0][1]
    np.testing.assert_array_equal(as_float, want)
    with_na = new.astype({"g": "Int64"})
    with_na.loc[0, "g"] = pd.NA
    np.testing.assert_array_equal(design.random_matrices(with_na)[0][1], [-1, *want[1:]])
