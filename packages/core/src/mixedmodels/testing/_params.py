"""Random points of a parameter space given by bounds."""

from __future__ import annotations

import numpy as np

from ..interfaces import FloatArray


def draw_params(
    lower: FloatArray, upper: FloatArray, rng: np.random.Generator, n: int
) -> FloatArray:
    """``n`` parameter vectors strictly inside the bounds, away from them by a margin."""
    p = lower.size
    out = np.empty((n, p))
    for j in range(p):
        lo, hi = lower[j], upper[j]
        if np.isfinite(lo) and np.isfinite(hi):
            r = hi - lo
            out[:, j] = rng.uniform(lo + 0.05 * r, hi - 0.05 * r, n) if r > 0 else lo
        elif np.isfinite(lo):
            out[:, j] = lo + 0.05 + rng.exponential(1.5, n)
        elif np.isfinite(hi):
            out[:, j] = hi - 0.05 - rng.exponential(1.5, n)
        else:
            out[:, j] = rng.normal(0.0, 1.5, n)
    return out


def on_bounds(
    interior: FloatArray, lower: FloatArray, upper: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """Copies of ``interior`` with random coordinates moved onto their finite bounds."""
    rows = []
    for row in interior:
        new = row.copy()
        for j in range(row.size):
            if rng.random() < 0.5:
                choices = [b for b in (lower[j], upper[j]) if np.isfinite(b)]
                if choices:
                    new[j] = choices[int(rng.integers(len(choices)))]
        rows.append(new)
    all_lower = np.where(np.isfinite(lower), lower, interior[0] if len(interior) else 0.0)
    all_upper = np.where(np.isfinite(upper), upper, interior[0] if len(interior) else 0.0)
    rows.extend([all_lower, all_upper])
    return np.array(rows).reshape(-1, lower.size)
