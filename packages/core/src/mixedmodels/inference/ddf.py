"""Denominator degrees of freedom for linear mixed models: coefficient tables, contrasts
and F tests with Satterthwaite's (:mod:`.satterthwaite`, as lmerTest) or Kenward-Roger's
(:mod:`.kenward_roger`, as pbkrtest) df.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..interfaces import FloatArray
from ..linear.interface import is_linear_criterion
from .kenward_roger import _kenward_roger_parts, _kr_adjust
from .satterthwaite import _fstat_ddf, _satterthwaite_1d, _satterthwaite_parts

__all__ = [
    "DDF_METHODS",
    "coef_table",
    "contest",
    "normalize_ddf",
    "vcov_kenward_roger",
]

DDF_METHODS = ("satterthwaite", "kenward-roger", "none")
_ALIASES = {
    "satterthwaite": "satterthwaite",
    "kenward-roger": "kenward-roger",
    "kenward_roger": "kenward-roger",
    "kenwardroger": "kenward-roger",
    "kr": "kenward-roger",
    "none": "none",
    "lme4": "none",
    "residual": "none",
}


def normalize_ddf(ddf: str | None) -> str:
    """The canonical name of a denominator-df method (``None`` means ``"none"``)."""
    if ddf is None:
        return "none"
    key = str(ddf).strip().lower().replace(" ", "-")
    if key not in _ALIASES:
        raise ValueError(
            f"unknown ddf method {ddf!r}; use 'satterthwaite', 'kenward-roger' or 'none'"
        )
    return _ALIASES[key]


def _require_lmm(result: Any, what: str) -> None:
    if not is_linear_criterion(getattr(result, "_problem", None)):
        raise TypeError(
            f"{what} needs a linear mixed model fit (LMMResult), got {type(result).__name__}; "
            "for generalized linear mixed models use ddf='none' (Wald z / chi-square tests)"
        )


# --- Satterthwaite -----------------------------------------------------------------------


# --- public API -------------------------------------------------------------------------
def vcov_kenward_roger(result: Any) -> pd.DataFrame:
    """Kenward-Roger adjusted covariance of the fixed effects (pbkrtest's ``vcovAdj``).

    Parameters
    ----------
    result
        A REML fit of a linear mixed model.

    Returns
    -------
    pandas.DataFrame
        ``p x p``, named by the fixed effects.
    """
    _require_lmm(result, "vcov_kenward_roger")
    kr = _kenward_roger_parts(result)
    names = list(result.model.fixef_names)
    return pd.DataFrame(kr.phi_adj, index=names, columns=names)


def _as_contrast_matrix(result: Any, L: Any) -> FloatArray:
    names = list(result.model.fixef_names)
    p = len(names)
    if isinstance(L, pd.DataFrame):
        missing = [c for c in L.columns if c not in names]
        if missing:
            raise ValueError(f"contrast columns {missing} are not fixed effects ({names})")
        L = L.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float)
    elif isinstance(L, pd.Series | dict):
        s = pd.Series(L, dtype=float)
        missing = [c for c in s.index if c not in names]
        if missing:
            raise ValueError(f"contrast names {missing} are not fixed effects ({names})")
        L = s.reindex(names, fill_value=0.0).to_numpy()[None, :]
    arr = np.atleast_2d(np.asarray(L, dtype=np.float64))
    if arr.ndim != 2 or arr.shape[1] != p:
        raise ValueError(
            f"a contrast needs {p} columns (one per fixed effect: {names}), got shape {np.shape(L)}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("contrast matrix has missing or infinite values")
    return arr


def _t_rows(
    result: Any, L: FloatArray, ddf: str, rhs: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Estimate, standard error and df of each row of ``L``."""
    beta = result.fixef.to_numpy()
    est = L @ beta
    if ddf == "satterthwaite":
        parts = _satterthwaite_parts(result)
        out = [_satterthwaite_1d(parts, row) for row in L]
        var = np.array([v for v, _ in out])
        df = np.array([d for _, d in out])
    elif ddf == "kenward-roger":
        kr = _kenward_roger_parts(result)
        var = np.einsum("ij,jk,ik->i", L, kr.phi_adj, L)
        df = np.array([_kr_adjust(kr, row[None, :])[1] for row in L])
    else:
        V = result.vcov.to_numpy()
        var = np.einsum("ij,jk,ik->i", L, V, L)
        df = np.full(len(L), np.inf)
    return est - rhs, np.sqrt(var), df


def coef_table(result: Any, ddf: str = "satterthwaite") -> pd.DataFrame:
    """Fixed effects with standard errors, df, t values and p-values (lmerTest's
    ``coef(summary(fit))``).

    Parameters
    ----------
    result
        A fitted linear mixed model.
    ddf
        ``"satterthwaite"`` (default), ``"kenward-roger"`` (adjusted standard errors and
        df, as pbkrtest) or ``"none"`` (lme4's table: no df, no p-value).

    Returns
    -------
    pandas.DataFrame
        Columns ``Estimate``, ``Std. Error``, ``df``, ``t value``, ``Pr(>|t|)``
        (only the first two and ``t value`` for ``"none"``), one row per fixed effect.
    """
    ddf = normalize_ddf(ddf)
    if ddf != "none":
        _require_lmm(result, f"ddf={ddf!r}")
    names = list(result.model.fixef_names)
    L = np.eye(len(names))
    est, se, df = _t_rows(result, L, ddf, np.zeros(len(names)))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    table = pd.DataFrame({"Estimate": est, "Std. Error": se}, index=pd.Index(names))
    if ddf == "none":
        table["t value"] = t
        return table
    table["df"] = df
    table["t value"] = t
    table["Pr(>|t|)"] = 2.0 * stats.t.sf(np.abs(t), df)
    return table


def _f_table(
    F: float, ndf: float, ddf: float, sigma: float, scale: float = 1.0
) -> dict[str, float]:
    ms = F * sigma**2
    Fs = F * scale
    p = float(stats.f.sf(Fs, ndf, ddf)) if np.isfinite(Fs) else np.nan
    return {
        "Sum Sq": ms * ndf,
        "Mean Sq": ms,
        "NumDF": ndf,
        "DenDF": ddf,
        "F value": Fs,
        "Pr(>F)": p,
    }


def contest_md(
    result: Any, L: FloatArray, ddf: str, rhs: FloatArray | float = 0.0, eps: float = 1.49e-8
) -> dict[str, float]:
    """One F test of ``L beta = rhs`` (lmerTest's ``contestMD``), as a dict of the
    columns ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``, ``F value``, ``Pr(>F)``."""
    L = np.atleast_2d(np.asarray(L, dtype=np.float64))
    rhs_v = np.broadcast_to(np.asarray(rhs, dtype=np.float64), (L.shape[0],)).copy()
    sigma = float(result.sigma)
    beta = result.fixef.to_numpy()
    if L.shape[0] == 0:
        return _f_table(np.nan, np.nan, np.nan, np.nan)
    if np.any(rhs_v != 0):
        beta = beta - np.linalg.pinv(L) @ rhs_v
    if ddf == "kenward-roger":
        kr = _kenward_roger_parts(result)
        q, df2, scale = _kr_adjust(kr, L)
        diff = L @ beta
        wald = float(diff @ np.linalg.solve(L @ kr.phi_adj @ L.T, diff))
        return _f_table(wald / q, q, df2, sigma, scale)
    if ddf == "satterthwaite":
        parts = _satterthwaite_parts(result)
        V = parts.vcov_beta
    else:
        parts = None
        V = result.vcov.to_numpy()
    VL = L @ V @ L.T
    d, P = np.linalg.eigh((VL + VL.T) / 2.0)
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    tol = max(eps * d[0], 0.0)
    pos = d > tol
    qr = int(pos.sum())
    if qr < L.shape[0] and np.any(rhs_v != 0):
        warnings.warn("Contrast is rank deficient and test may be affected", stacklevel=3)
    if qr == 0:
        return _f_table(np.nan, np.nan, np.nan, np.nan)
    PtL = (P.T @ L)[:qr]
    t2 = (PtL @ beta) ** 2 / d[:qr]
    F = float(np.sum(t2) / qr)
    if parts is None:  # ddf == "none": lme4's F value without df or p-value
        row = _f_table(F, qr, np.inf, sigma)
        row["DenDF"] = np.nan
        row["Pr(>F)"] = np.nan
        return row
    nus = np.array([_satterthwaite_1d(parts, PtL[m])[1] for m in range(qr)])
    return _f_table(F, qr, _fstat_ddf(nus), sigma)


def contest(
    result: Any,
    L: Any,
    rhs: float | Sequence[float] = 0.0,
    ddf: str = "satterthwaite",
    joint: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """Tests of linear functions ``L beta`` of the fixed effects (lmerTest's ``contest``).

    Parameters
    ----------
    result
        A fitted linear mixed model.
    L
        Contrast weights: a vector (one per fixed effect), a matrix with one row per
        function, a pandas Series/dict by fixed-effect name, or a DataFrame with
        fixed-effect columns.
    rhs
        Hypothesised value(s) of ``L beta`` (default 0).
    ddf
        ``"satterthwaite"`` (default), ``"kenward-roger"`` or ``"none"``.
    joint
        One F test of all rows together (default) or one t test per row.
    level
        Confidence level of the per-row intervals (``joint=False``).

    Returns
    -------
    pandas.DataFrame
        ``joint=True``: one row with ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``,
        ``F value``, ``Pr(>F)``.  ``joint=False``: per row ``Estimate``,
        ``Std. Error``, ``df``, ``t value``, ``lower``, ``upper``, ``Pr(>|t|)`` (for
        ``ddf="none"``, normal quantiles and p-values).
    """
    ddf = normalize_ddf(ddf)
    if ddf != "none":
        _require_lmm(result, f"ddf={ddf!r}")
    Lm = _as_contrast_matrix(result, L)
    rhs_v = np.broadcast_to(np.asarray(rhs, dtype=np.float64), (Lm.shape[0],)).copy()
    if joint:
        return pd.DataFrame([contest_md(result, Lm, ddf, rhs_v)])
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    est, se, df = _t_rows(result, Lm, ddf, np.zeros(len(Lm)))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (est - rhs_v) / se
    crit = stats.t.ppf(0.5 + level / 2.0, df)
    return pd.DataFrame(
        {
            "Estimate": est,
            "Std. Error": se,
            "df": df,
            "t value": t,
            "lower": est - crit * se,
            "upper": est + crit * se,
            "Pr(>|t|)": 2.0 * stats.t.sf(np.abs(t), df),
        }
    )
