"""broom-style tidiers for GEE fits: ``tidy`` and ``glance`` (broom's ``geeglm`` methods)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._results import GEEResult

__all__ = ["glance_gee", "tidy_gee"]


def tidy_gee(
    result: GEEResult,
    conf_int: bool = False,
    conf_level: float = 0.95,
    exponentiate: bool = False,
    std_err: str | None = None,
) -> pd.DataFrame:
    """One row per coefficient, as broom's ``tidy(<geeglm>)``.

    Parameters
    ----------
    result
        A fitted :class:`~mixedmodels_gee.GEEResult`.
    conf_int
        Add Wald intervals ``conf.low`` and ``conf.high``.
    conf_level
        Their coverage.
    exponentiate
        Exponentiate estimates and intervals (odds or rate ratios); standard errors
        and statistics stay on the link scale, as in broom.
    std_err
        Variance type (default: the result's).

    Returns
    -------
    pandas.DataFrame
        ``term``, ``estimate``, ``std.error``, ``statistic`` (the Wald chi-square
        ``(estimate / std.error)^2``, geepack's ``Wald``), ``p.value`` and, with
        ``conf_int``, ``conf.low``, ``conf.high``.
    """
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must lie strictly between 0 and 1, got {conf_level}")
    table = result.coef_table(std_err)
    est = table["Estimate"].to_numpy()
    se = table["Std.err"].to_numpy()
    out = pd.DataFrame(
        {
            "term": list(table.index),
            "estimate": est,
            "std.error": se,
            "statistic": table["Wald"].to_numpy(),
            "p.value": table["Pr(>|W|)"].to_numpy(),
        }
    )
    if conf_int:
        z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
        out["conf.low"] = est - z * se
        out["conf.high"] = est + z * se
    if exponentiate:
        for col in ("estimate", "conf.low", "conf.high"):
            if col in out:
                out[col] = np.exp(out[col])
    return out


def glance_gee(result: GEEResult, **_: Any) -> pd.DataFrame:
    """One-row summary, as broom's ``glance(<geeglm>)``, with the QIC family added.

    Returns
    -------
    pandas.DataFrame
        ``df.residual``, ``n.clusters``, ``max.cluster.size``, ``alpha`` (the first
        correlation parameter, ``NaN`` without one), ``gamma`` (the scale), then
        ``nobs``, ``QIC``, ``QICu``, ``CIC`` (geepack's ``QIC()``).
    """
    alpha = result.corr_params
    crit = result.qic()
    row = {
        "df.residual": int(result.df_residual),
        "n.clusters": int(result.n_clusters),
        "max.cluster.size": int(result.max_cluster_size),
        "alpha": float(alpha.iloc[0]) if len(alpha) else float("nan"),
        "gamma": float(result.scale),
        "nobs": int(result.nobs),
        "QIC": float(crit["QIC"]),
        "QICu": float(crit["QICu"]),
        "CIC": float(crit["CIC"]),
    }
    return pd.DataFrame([row])
