"""glmer-style summary and broom.mixed tidiers for fitted GLMMs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .rformat import _print_matrix, _print_named, _r_format, _r_num, _r_round, _zapsmall
from .summary import _correlation_table, _data_name, _groups_line, _messages

__all__ = ["augment_glmm", "format_glmm_summary", "glance_glmm", "tidy_glmm"]

_COR_MAX = 12


def _title(result: Any) -> str:
    how = {0: "Laplace Approximation", 1: "Laplace Approximation"}.get(
        result.nagq, f"Adaptive Gauss-Hermite Quadrature, nAGQ = {result.nagq}"
    )
    family = result.family.name
    if result.nb_size is not None:
        family = f"Negative Binomial({result.nb_size:.4g})"
    return (
        f"Generalized linear mixed model fit by maximum likelihood ({how}) ['glmerMod']\n"
        f" Family: {family}  ( {result.link.name} )\n"
    )


def _pvalue_strings(p: Sequence[float]) -> list[str]:
    """R's ``format.pval`` for coefficient tables (``< 2e-16`` below machine eps)."""
    out = []
    for v in p:
        if not math.isfinite(v):
            out.append("NA")
        elif v < 2.2e-16:
            out.append("< 2e-16")
        else:
            out.append(_r_format([float(f"{v:.3g}")], 3)[0].strip())
    return out


def _stars(p: float) -> str:
    if not math.isfinite(p):
        return ""
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return mark
    return ""


def _coef_table(result: Any, digits: int) -> str:
    names = [str(n) for n in result.fixef.index]
    est = result.fixef.to_numpy()
    se = result.fixef_se.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    p = 2.0 * stats.norm.sf(np.abs(z))
    acs = [abs(v) for v in np.concatenate([est, se]) if math.isfinite(v) and v != 0]
    digmin = (
        [1 + math.floor(math.log10(min(acs))), 1 + math.floor(math.log10(max(acs)))]
        if acs
        else [1, 1]
    )
    dec = max(1, digits - digmin[0], digits - digmin[1])
    cs = _r_format([_r_round(float(v), dec) for v in np.concatenate([est, se])], digits)
    zs = _r_format([_r_round(float(v), max(1, min(5, digits - 1))) for v in z], digits)
    ps = _pvalue_strings(list(p))
    k = len(names)
    rows = [[cs[i], cs[k + i], zs[i], ps[i], _stars(float(p[i]))] for i in range(k)]
    table = _print_matrix(
        names, ["Estimate", "Std. Error", "z value", "Pr(>|z|)", ""], rows, right=True
    )
    return table + "---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1\n"


def _varcorr_table(result: Any, digits: int) -> str:
    rows = []
    for group, cov in result.covariance_matrices().items():
        c = cov.to_numpy()
        sd = np.sqrt(np.maximum(np.diag(c), 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = c / np.outer(sd, sd)
        for i, col in enumerate(cov.columns):
            cells = [_r_format([_r_round(float(corr[i, j]), 2)], nsmall=2)[0] for j in range(i)]
            rows.append([str(group) if i == 0 else "", str(col), c[i, i], sd[i], cells])
    variances = _r_format([r[2] for r in rows], digits)
    sds = _r_format([r[3] for r in rows], digits)
    width = max((len(r[4]) for r in rows), default=0)
    corr_cols = (["Corr"] + [""] * (width - 1))[:width]
    cols = ["Groups", "Name", "Variance", "Std.Dev.", *corr_cols]
    body = [
        [r[0], r[1], v, s, *(r[4] + [""] * (width - len(r[4])))]
        for r, v, s in zip(rows, variances, sds, strict=True)
    ]
    return "Random effects:\n" + _print_matrix([""] * len(body), cols, body, right=False)


def format_glmm_summary(result: Any, digits: int = 4) -> str:
    """lme4's ``summary()`` text of a fitted GLMM (z tests for the fixed effects)."""
    model = result.model
    parts = [_title(result), f"Formula: {model.formula}\n"]
    name = _data_name(result)
    if name is not None:
        parts.append(f"   Data: {name}\n")
    parts.append("\n")
    vals = [result.aic, result.bic, result.loglik, -2 * result.loglik, result.nobs - result.df]
    strs = _r_format([_r_round(v, 1) for v in vals])
    strs[-1] = _r_num(_r_round(vals[-1], 1))
    parts.append(_print_named(["AIC", "BIC", "logLik", "deviance", "df.resid"], strs))
    parts.append("\n")
    # (np.asarray: a lazy series of a fit on a Dask frame computes here)
    res = np.asarray(result.residuals(type="pearson"), dtype=float)
    q = np.quantile(res, [0, 0.25, 0.5, 0.75, 1]) if res.size else np.full(5, np.nan)
    parts.append(
        "Scaled residuals: \n"
        + _print_named(
            ["Min", "1Q", "Median", "3Q", "Max"], _r_format(_zapsmall(list(q), digits + 1), digits)
        )
    )
    parts.append("\n")
    parts.append(_varcorr_table(result, digits))
    parts.append(_groups_line(result))
    if result.dispersion is not None:
        parts.append(
            f"Dispersion estimate for {result.family.name} family (sigma^2): "
            f"{_r_format([result.dispersion], digits)[0].strip()}\n"
        )
    p = len(result.fixef)
    if p:
        parts.append("\nFixed effects:\n")
        parts.append(_coef_table(result, digits))
        if 1 < p <= _COR_MAX:
            names = [str(n) for n in result.fixef.index]
            parts.append(_correlation_table(names, result.vcov.to_numpy()))
    msgs = _messages(result)
    if msgs:
        parts.append("\n" + msgs)
    return "".join(parts)


def tidy_glmm(
    result: Any,
    effects: Sequence[str] = ("ran_pars", "fixed"),
    conf_int: bool = False,
    conf_level: float = 0.95,
    exponentiate: bool = False,
) -> pd.DataFrame:
    """broom.mixed's ``tidy`` for a GLMM: fixed effects with z statistics and
    p-values; random-effect SDs and correlations (``sd__(Intercept)``,
    ``cor__(Intercept).x``); ``"ran_vals"`` (conditional modes and conditional SDs, one
    row per level and term) and ``"ran_coefs"`` (lme4's ``coef``).  ``effects`` is one
    of these names or a sequence of them.

    ``conf_int`` adds Wald intervals (``conf.low``, ``conf.high``) of coverage
    ``conf_level``; ``exponentiate`` exponentiates the fixed effects' estimates and
    limits (odds or rate ratios) and scales their standard errors by the exponentiated
    estimate, as broom.mixed."""
    effects = [effects] if isinstance(effects, str) else list(effects)
    known = ("ran_pars", "fixed", "ran_vals", "ran_coefs")
    unknown = [e for e in effects if e not in known]
    if unknown or not effects:
        raise ValueError(f"unknown effect type {unknown}; choose from {list(known)}")
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must lie strictly between 0 and 1, got {conf_level}")
    frames = []
    if "fixed" in effects:
        est = result.fixef
        se = result.fixef_se
        z = est / se
        fixed = pd.DataFrame(
            {
                "effect": "fixed",
                "group": None,
                "term": list(est.index),
                "estimate": est.to_numpy(),
                "std.error": se.to_numpy(),
                "statistic": z.to_numpy(),
                "p.value": 2.0 * stats.norm.sf(np.abs(z.to_numpy())),
            }
        )
        if conf_int:
            q = stats.norm.ppf(0.5 + conf_level / 2)
            fixed["conf.low"] = fixed["estimate"] - q * fixed["std.error"]
            fixed["conf.high"] = fixed["estimate"] + q * fixed["std.error"]
        frames.append(fixed)
    if "ran_pars" in effects:
        vc = result.varcorr()
        terms = [
            f"sd__{v1}" if v2 is None or pd.isna(v2) else f"cor__{v1}.{v2}"
            for v1, v2 in zip(vc["var1"].tolist(), vc["var2"].tolist(), strict=True)
        ]
        frames.append(
            pd.DataFrame(
                {
                    "effect": "ran_pars",
                    "group": vc["grp"].to_numpy(),
                    "term": terms,
                    "estimate": vc["sdcor"].to_numpy(),
                }
            )
        )
    if "ran_vals" in effects:
        from .tidiers import ran_vals_rows

        z_level = stats.norm.ppf(0.5 + conf_level / 2)
        frames.append(ran_vals_rows(result, z_level if conf_int else None))
    if "ran_coefs" in effects:
        from .tidiers import ran_coefs_rows

        frames.append(ran_coefs_rows(result))
    out = pd.concat(frames, ignore_index=True)
    if exponentiate:
        from .tidiers import exponentiate_fixed

        out = exponentiate_fixed(out)
    return out


def glance_glmm(result: Any) -> pd.DataFrame:
    """One row: nobs, sigma, logLik, AIC, BIC, deviance, df.residual."""
    return pd.DataFrame(
        {
            "nobs": [result.nobs],
            "sigma": [np.sqrt(result.dispersion) if result.dispersion else result.sigma],
            "logLik": [result.loglik],
            "AIC": [result.aic],
            "BIC": [result.bic],
            "deviance": [result.deviance],
            "df.residual": [result.nobs - result.df],
        }
    )


def augment_glmm(result: Any, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """The used rows with ``.fitted`` (response scale), ``.eta``, ``.resid`` (deviance),
    ``.pearson`` and ``.fixed`` (population-level linear predictor)."""
    frame = (result.model.data if data is None else data).loc[result.model.design.row_index]
    out = frame.copy()
    out[".fitted"] = result.fitted().to_numpy()
    out[".eta"] = result.linear_predictor().to_numpy()
    out[".resid"] = result.residuals("deviance").to_numpy()
    out[".pearson"] = result.residuals("pearson").to_numpy()
    out[".fixed"] = result.predict(re_form="~0").to_numpy()
    return out
