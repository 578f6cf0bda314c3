"""broom.mixed's ``tidy`` and ``glance`` for glmmPQL fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._results import PQLResult

__all__ = ["glance_pql", "tidy_pql"]


def tidy_pql(fit: PQLResult, effects: Any = ("fixed", "ran_pars"), **_: Any) -> pd.DataFrame:
    """Fixed effects (estimate, std.error, df, statistic, p.value) and variance
    components (``sd__...``), broom.mixed's columns."""
    chosen = (effects,) if isinstance(effects, str) else tuple(effects)
    frames = []
    if "fixed" in chosen:
        ct = fit.coef_table()
        frames.append(
            pd.DataFrame(
                {
                    "effect": "fixed",
                    "group": None,
                    "term": list(ct.index),
                    "estimate": ct["Value"].to_numpy(),
                    "std.error": ct["Std.Error"].to_numpy(),
                    "df": ct["DF"].to_numpy().astype(float),
                    "statistic": ct["t-value"].to_numpy(),
                    "p.value": ct["p-value"].to_numpy(),
                }
            )
        )
    if "ran_pars" in chosen:
        vc = fit.varcorr()
        rows = []
        for _row, r in vc.iterrows():
            if r["grp"] == "Residual":
                rows.append(("Residual", "sd__Observation", r["sdcor"]))
            elif r["var2"] is None or (isinstance(r["var2"], float) and np.isnan(r["var2"])):
                rows.append((r["grp"], f"sd__{r['var1']}", r["sdcor"]))
            else:
                rows.append((r["grp"], f"cor__{r['var1']}.{r['var2']}", r["sdcor"]))
        frames.append(
            pd.DataFrame(
                {
                    "effect": "ran_pars",
                    "group": [r[0] for r in rows],
                    "term": [r[1] for r in rows],
                    "estimate": [r[2] for r in rows],
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def glance_pql(fit: PQLResult, **_: Any) -> pd.DataFrame:
    """sigma, nobs and NA likelihood columns (a quasi-likelihood fit)."""
    return pd.DataFrame(
        {
            "nobs": [fit.nobs],
            "sigma": [fit.sigma],
            "logLik": [np.nan],
            "AIC": [np.nan],
            "BIC": [np.nan],
            "iterations": [fit.iterations],
        }
    )
