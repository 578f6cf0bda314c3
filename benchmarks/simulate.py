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


def simulate_movielens(
    n: int = 1_000_000, users: int = 6_040, items: int = 3_706, seed: int = 0
) -> pd.DataFrame:
    """Ratings shaped like MovieLens-1M: every user rates at least 20 items, user
    activity and item popularity are heavy-tailed (log-normal / Zipf-like), no user
    rates an item twice.  ``y ~ 1 + (1|user) + (1|item)``."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, users)
    counts = 20 + np.floor(activity / activity.sum() * (n - 20 * users)).astype(np.int64)
    counts[: n - counts.sum()] += 1
    counts = np.minimum(counts, items)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    popularity /= popularity.sum()
    user = np.repeat(np.arange(users), counts)
    # Items per user without repeats: Gumbel-top-k on log popularity, per user.
    item = np.empty(user.size, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    logp = np.log(popularity)
    for size in np.unique(counts):  # a loop over distinct activity levels, not rows
        who = np.flatnonzero(counts == size)
        keys = logp[None, :] + rng.gumbel(size=(who.size, items))
        top = np.argpartition(-keys, size - 1, axis=1)[:, :size]
        rows = offsets[who][:, None] + np.arange(size)[None, :]
        item[rows.ravel()] = top.ravel()
    y = 3.5 + 0.4 * rng.standard_normal(users)[user] + 0.5 * rng.standard_normal(items)[item]
    y = y + 0.9 * rng.standard_normal(user.size)
    return pd.DataFrame(
        {
            "y": y,
            "user": pd.Categorical(user.astype(str)),
            "item": pd.Categorical(item.astype(str)),
        }
    )


def simulate_banded(
    n: int = 1_000_000, levels: int = 20_000, width: int = 100, seed: int = 0
) -> pd.DataFrame:
    """Two crossed factors of ``levels`` levels each whose crossings are local: level
    ``j`` of the first meets levels ``j - width .. j + width`` of the second (raters
    and subjects over time windows, regions); a sparse design."""
    rng = np.random.default_rng(seed)
    f1 = rng.integers(0, levels, n)
    f2 = np.clip(f1 + rng.integers(-width, width + 1, n), 0, levels - 1)
    x = rng.standard_normal(n)
    y = 1.0 + 0.5 * x + 0.6 * rng.standard_normal(levels)[f1]
    y = y + 0.8 * rng.standard_normal(levels)[f2] + rng.standard_normal(n)
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "f1": pd.Categorical(f1.astype(str)),
            "f2": pd.Categorical(f2.astype(str)),
        }
    )


def simulate_d3(
    n: int = 500_000, g: int = 40_000, h: int = 8_000, i: int = 1_000, seed: int = 0
) -> pd.DataFrame:
    """Three crossed factors with a random slope each, ``y ~ 1 + u + (1 + u | g) +
    (1 + u | h) + (1 + u | i)``, crossings local (as :func:`simulate_banded`), so
    the design is sparse."""
    rng = np.random.default_rng(seed)
    fg = rng.integers(0, g, n)
    pos = fg / g
    fh = np.clip((pos * h).astype(np.int64) + rng.integers(-20, 21, n), 0, h - 1)
    fi = np.clip((pos * i).astype(np.int64) + rng.integers(-5, 6, n), 0, i - 1)
    u = rng.standard_normal(n)
    y = 1.0 + 0.3 * u
    for codes, k, sd in ((fg, g, 0.6), (fh, h, 0.5), (fi, i, 0.4)):
        b = rng.standard_normal((k, 2)) * [sd, sd / 2]
        y = y + b[codes, 0] + b[codes, 1] * u
    y = y + rng.standard_normal(n)
    return pd.DataFrame(
        {
            "y": y,
            "u": u,
            "g": pd.Categorical(fg.astype(str)),
            "h": pd.Categorical(fh.astype(str)),
            "i": pd.Categorical(fi.astype(str)),
        }
    )
