"""broom's ``tidy.clmm`` and ``glance.clmm``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._results import ClmmResult

__all__ = ["glance_clmm", "tidy_clmm"]


def tidy_clmm(
    fit: ClmmResult, conf_int: bool = False, conf_level: float = 0.95, **_: Any
) -> pd.DataFrame:
    """One row per threshold and coefficient: term, estimate, std.error, statistic,
    p.value, coef.type (``"intercept"`` for thresholds, ``"location"`` for
    coefficients), as broom's ``tidy(clmm)``; ``conf_int=True`` adds Wald intervals."""
    ct = fit.coef_table()
    out = pd.DataFrame(
        {
            "term": list(ct.index),
            "estimate": ct["Estimate"].to_numpy(),
            "std.error": ct["Std. Error"].to_numpy(),
            "statistic": ct["z value"].to_numpy(),
            "p.value": ct["Pr(>|z|)"].to_numpy(),
        }
    )
    if conf_int:
        z = stats.norm.ppf(0.5 + conf_level / 2)
        out["conf.low"] = out["estimate"] - z * out["std.error"]
        out["conf.high"] = out["estimate"] + z * out["std.error"]
    out["coef.type"] = ["intercept"] * len(fit.alpha) + ["location"] * len(fit.beta)
    return out


def glance_clmm(fit: ClmmResult, **_: Any) -> pd.DataFrame:
    """edf, logLik, AIC, BIC, nobs (broom's ``glance(clmm)``)."""
    return pd.DataFrame(
        {
            "edf": [fit.df],
            "logLik": [fit.loglik],
            "AIC": [fit.aic],
            "BIC": [fit.bic],
            "nobs": [np.int64(fit.nobs)],
        }
    )
