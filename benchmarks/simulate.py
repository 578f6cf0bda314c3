"""Simulated data sets for the benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_crossed(
    n: int, levels1: int, levels2: int, seed: int = 0, sd1: float = 0.5, sd2: float = 0.8
) -> pd.DataFrame:
    """Gaussian response with two crossed random intercepts and one covariate."""
    rng = np.random.default_rng(seed)
    f1 = rng.integers(0, levels1, n)
    f2 = rng.integers(0, levels2, n)
    x = rng.standard_normal(n)
    b1 = rng.standard_normal(levels1) * sd1
    b2 = rng.standard_normal(levels2) * sd2
    y = 1.0 + 0.5 * x + b1[f1] + b2[f2] + rng.standard_normal(n)
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "f1": pd.Categorical(f1.astype(str)),
            "f2": pd.Categorical(f2.astype(str)),
        }
    )


def simulate_binary(
    n: int, levels1: int, levels2: int, seed: int = 0, sd1: float = 0.8, sd2: float = 0.5
) -> pd.DataFrame:
    """Binary response, logit link, two crossed random intercepts and one covariate."""
    rng = np.random.default_rng(seed)
    f1 = rng.integers(0, levels1, n)
    f2 = rng.integers(0, levels2, n)
    x = rng.standard_normal(n)
    eta = -0.5 + 0.7 * x + rng.standard_normal(levels1)[f1] * sd1
    eta += rng.standard_normal(levels2)[f2] * sd2
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "f1": pd.Categorical(f1.astype(str)),
            "f2": pd.Categorical(f2.astype(str)),
        }
    )
