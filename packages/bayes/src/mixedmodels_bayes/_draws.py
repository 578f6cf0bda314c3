"""Posterior draws under brms's names, and their summaries.

``b_<coef>`` (``b_Intercept`` is the intercept of the uncentred design, as brms
reports it), ``sd_<group>__<coef>``, ``cor_<group>__<coef1>__<coef2>``, ``sigma``,
``shape``, and ``r_<group>`` with one entry per level and coefficient.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._data import BayesData

__all__ = ["fixed_draws", "interval_summary", "scalar_draws", "summarise"]


def fixed_draws(bd: BayesData, draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``b_<name>`` draws on the uncentred design, ``(chains, draws)`` each."""
    out: dict[str, np.ndarray] = {}
    b = draws["b"]
    if bd.has_intercept:
        out["b_Intercept"] = draws["Intercept"] - b @ bd.means_X
    for i, c in enumerate(bd.coef_names):
        out[f"b_{c}"] = b[..., i]
    return out


def correlation_pairs(columns: list[str]) -> list[tuple[int, int]]:
    """brms's order of the correlations: column by column of the upper triangle."""
    return [(j, k) for k in range(len(columns)) for j in range(k)]


def scalar_draws(bd: BayesData, draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every scalar parameter (not ``r_``), in brms's order: b, sd, cor, sigma, shape."""
    out = fixed_draws(bd, draws)
    for k, t in enumerate(bd.terms):
        for i, c in enumerate(t.columns):
            out[f"sd_{t.group}__{c}"] = draws[f"sd_{k}"][..., i]
    for k, t in enumerate(bd.terms):
        if t.correlated:
            L = draws[f"L_{k}"]
            R = np.einsum("...ij,...kj->...ik", L, L)
            for j, m in correlation_pairs(t.columns):
                out[f"cor_{t.group}__{t.columns[j]}__{t.columns[m]}"] = R[..., j, m]
    for key in ("sigma", "shape"):
        if key in draws:
            out[key] = draws[key]
    return out


def summarise(x: np.ndarray, prob: float = 0.95) -> dict[str, float]:
    """brms's summary of one parameter's ``(chains, draws)`` draws: Estimate (mean),
    Est.Error (SD), equal-tailed interval, Rhat, Bulk_ESS, Tail_ESS."""
    import arviz as az

    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    flat = x.reshape(-1)
    q = np.quantile(flat, [lo, hi])
    return {
        "Estimate": float(flat.mean()),
        "Est.Error": float(flat.std(ddof=1)),
        f"l-{round(prob * 100)}% CI": float(q[0]),
        f"u-{round(prob * 100)}% CI": float(q[1]),
        "Rhat": float(az.rhat(x)),
        "Bulk_ESS": float(az.ess(x, method="bulk")),
        "Tail_ESS": float(az.ess(x, method="tail")),
    }


def interval_summary(x: np.ndarray, prob: float = 0.95, axis: int = 0) -> dict[str, Any]:
    """``Estimate``, ``Est.Error``, ``Q2.5``, ``Q97.5`` over ``axis`` (brms's
    ``posterior_summary``)."""
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    q = np.quantile(x, [lo, hi], axis=axis)
    return {
        "Estimate": x.mean(axis=axis),
        "Est.Error": x.std(axis=axis, ddof=1),
        f"Q{_pct(lo)}": q[0],
        f"Q{_pct(hi)}": q[1],
    }


def _pct(p: float) -> str:
    v = round(100 * p, 4)
    return str(int(v)) if float(v).is_integer() else str(v)


def summary_frame(names: list[str], rows: list[dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, index=pd.Index(names))
