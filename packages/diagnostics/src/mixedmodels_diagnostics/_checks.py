"""``performance``'s model checks beyond singularity: overdispersion, collinearity
(variance inflation factors), convergence (lme4's scaled gradient) and zero inflation.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ._result_kind import (
    COUNT_FAMILIES,
    is_bernoulli,
    mixed_reason,
    require,
    result_kind,
    type_name,
)

__all__ = [
    "check_collinearity",
    "check_convergence",
    "check_overdispersion",
    "check_zero_inflation",
    "collinearity_reason",
    "overdispersion_reason",
    "zero_inflation_reason",
]

FloatArray = NDArray[np.float64]


def overdispersion_reason(result: Any) -> str | None:
    kind = result_kind(result)
    if kind is None:
        return f"check_overdispersion needs a GLMMResult, got {type_name(result)}"
    if kind == "lmm":
        return (
            "check_overdispersion applies to poisson, negative binomial and binomial "
            "GLMMs, not to a linear mixed model (its residual variance is estimated)"
        )
    family = result.family.name
    if family not in (*COUNT_FAMILIES, "binomial"):
        return (
            f"check_overdispersion applies to poisson, negative binomial and binomial "
            f"GLMMs (families without a dispersion parameter), not to {family!r}"
        )
    if family == "binomial" and is_bernoulli(result):
        return "check_overdispersion cannot be used for binary (Bernoulli) responses"
    return None


def check_overdispersion(fit: Any) -> dict[str, float]:
    """Pearson chi-square test of overdispersion, as ``performance::check_overdispersion``.

    Parameters
    ----------
    fit
        A poisson, negative binomial or binomial (more than one trial) GLMM.

    Returns
    -------
    dict
        ``chisq`` (sum of squared Pearson residuals), ``ratio`` (``chisq / df``), ``df``
        (residual degrees of freedom: observations less estimated parameters, lme4's
        ``df.residual``) and ``p_value`` (upper tail of the chi-square).

    Raises
    ------
    TypeError
        ``fit`` is not such a GLMM (the message names the check and the type).
    """
    require(fit, "check_overdispersion", overdispersion_reason(fit))
    r = np.asarray(fit.residuals(type="pearson"), dtype=np.float64)
    chisq = float(np.sum(r**2))
    df = int(fit.nobs - fit.df)
    return {
        "chisq": chisq,
        "ratio": chisq / df,
        "df": float(df),
        "p_value": float(stats.chi2.sf(chisq, df)),
    }


def _fixed_terms(fit: Any) -> tuple[list[str], NDArray[np.int64], bool]:
    """R's fixed-term labels, each kept column's term (0: intercept, else 1-based) and
    whether there is an intercept (R's ``attr(X, "assign")``)."""
    from mixedmodels.extending import fixed_term_assignment

    names = list(fit.model.fixef_names)
    try:
        terms = fixed_term_assignment(fit)
        labels = [str(label) for label in terms.labels]
        assign = terms.assign + 1  # 0: the intercept
        has_intercept = terms.has_intercept
    except ValueError:  # an unusual design: one term per column
        has_intercept = "(Intercept)" in names
        labels = [c for c in names if c != "(Intercept)"]
        assign = np.array(
            [0 if c == "(Intercept)" else labels.index(c) + 1 for c in names], dtype=np.int64
        )
    return labels, assign, has_intercept


def collinearity_reason(result: Any) -> str | None:
    reason = mixed_reason(result, "check_collinearity")
    if reason is not None:
        return reason
    try:
        assign = _fixed_terms(result)[1]
    except Exception as exc:  # supports() must not raise
        return f"check_collinearity could not read the fixed-effect terms: {exc}"
    if len(set(assign.tolist()) - {0}) < 2:
        return "check_collinearity needs at least two fixed-effect terms"
    return None


def check_collinearity(fit: Any, ci: float = 0.95) -> pd.DataFrame:
    """Variance inflation factors per fixed term, as ``performance::check_collinearity``.

    The (generalised) VIF of a term with columns ``S`` is
    ``det(R[S, S]) det(R[-S, -S]) / det(R)`` with ``R`` the correlation matrix of the
    fixed-effect estimates (their covariance without the intercept): Fox & Monette's
    GVIF, computed from the fit's ``vcov`` as performance does for mixed models.

    Parameters
    ----------
    fit
        A fitted LMM or GLMM with at least two fixed-effect terms.
    ci
        Level of performance's confidence interval of the VIF (``None``: no interval).

    Returns
    -------
    pandas.DataFrame
        One row per term: ``term``, ``df`` (its number of columns), ``vif``,
        ``vif_ci_low``, ``vif_ci_high``, ``se_factor`` (``sqrt(vif)``, performance's
        "increased SE"), ``adjusted_vif`` (``vif ** (1 / (2 df))``, car's
        ``GVIF^(1/(2 Df))``, comparable across terms of different ``df``),
        ``tolerance`` (``1 / vif``), ``tolerance_ci_low``, ``tolerance_ci_high``.

    Raises
    ------
    TypeError
        ``fit`` is not a mixed-model result or has fewer than two terms.
    """
    require(fit, "check_collinearity", collinearity_reason(fit))
    labels, assign, has_intercept = _fixed_terms(fit)
    v = np.asarray(fit.vcov, dtype=np.float64)
    if has_intercept:
        keep = assign != 0
        v, assign = v[np.ix_(keep, keep)], assign[keep]
    else:
        warnings.warn(
            "check_collinearity: the model has no intercept; VIFs may not be sensible",
            UserWarning,
            stacklevel=2,
        )
    sd = np.sqrt(np.diag(v))
    R = v / np.outer(sd, sd)
    det_r = np.linalg.det(R)
    present = [t for t in range(1, len(labels) + 1) if np.any(assign == t)]
    vif = np.empty(len(present))
    for k, t in enumerate(present):  # a loop over terms (few)
        s = assign == t
        vif[k] = np.linalg.det(R[np.ix_(s, s)]) * np.linalg.det(R[np.ix_(~s, ~s)]) / det_r
    df = np.array([int(np.sum(assign == t)) for t in present])
    # performance's interval: Fisher-type SE of r = 1 - 1/VIF on the logit scale.
    n, p = fit.nobs, len(fit.fixef)
    r = 1.0 - 1.0 / vif
    if ci is not None:
        z = stats.norm.ppf((1 + ci) / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            se = np.sqrt((1 - r**2) ** 2 * (n - p - 1) ** 2 / ((n**2 - 1) * (n + 3)))
            se_log = se / (r * (1 - r))
            logit_r = np.log(r / (1 - r))
            lo = 1 / (1 + np.exp(-(logit_r - z * se_log)))
            hi = 1 / (1 + np.exp(-(logit_r + z * se_log)))
    else:
        lo = hi = np.full(len(present), np.nan)
    with np.errstate(divide="ignore"):
        return pd.DataFrame(
            {
                "term": [labels[t - 1] for t in present],
                "df": df,
                "vif": vif,
                "vif_ci_low": 1 / (1 - lo),
                "vif_ci_high": 1 / (1 - hi),
                "se_factor": np.sqrt(vif),
                "adjusted_vif": vif ** (1 / (2 * df)),
                "tolerance": 1 / vif,
                "tolerance_ci_low": 1 - hi,
                "tolerance_ci_high": 1 - lo,
            }
        )


def _derivatives(fit: Any) -> tuple[FloatArray, FloatArray]:
    """Gradient and Hessian of the criterion (``-2 log L``) at the estimates: over
    ``theta`` for an LMM (the profiled criterion), over ``(theta, beta)`` for a GLMM, as
    lme4's ``optinfo$derivs``."""
    from mixedmodels.extending import finite_difference_derivatives

    gradient = getattr(fit.optimizer, "gradient", None)
    hessian = getattr(fit.optimizer, "hessian", None)
    lower = np.concatenate([s.bounds()[0] for s in fit.model.structures])
    upper = np.concatenate([s.bounds()[1] for s in fit.model.structures])
    theta = np.asarray(fit.theta, dtype=np.float64)
    if result_kind(fit) == "lmm":
        if gradient is not None and hessian is not None:
            return np.asarray(gradient, float), np.asarray(hessian, float)
        return finite_difference_derivatives(fit.deviance_function(), theta, lower, upper)
    if gradient is not None and hessian is not None:
        # The core keeps the derivatives of its own convergence check.
        g, H = np.asarray(gradient, float), np.asarray(hessian, float)
        if g.size == theta.size + len(fit.fixef):
            return g, H
    beta = np.asarray(fit.fixef, dtype=np.float64)
    objective = fit.deviance_function()
    p = beta.size
    # The step of a criterion with an inner PIRLS iteration (as the core's check).
    return finite_difference_derivatives(
        objective,
        np.concatenate([theta, beta]),
        np.concatenate([lower, np.full(p, -np.inf)]),
        np.concatenate([upper, np.full(p, np.inf)]),
        step=1e-3,
    )


def check_convergence(fit: Any, tolerance: float = 0.001) -> dict[str, Any]:
    """Convergence by lme4's scaled gradient, as ``performance::check_convergence``.

    ``max |H^-1 g|`` with ``g`` and ``H`` the gradient and Hessian of the criterion at the
    estimates (over ``theta`` for an LMM, ``(theta, beta)`` for a GLMM).  LMM fits carry
    them from the optimiser; for GLMMs (and LMM fits without them) they are computed
    here by central differences, so tiny values differ from lme4's (its own
    finite-difference noise); only the comparison with ``tolerance`` is meaningful.

    Parameters
    ----------
    fit
        A fitted LMM or GLMM.
    tolerance
        performance's tolerance for the scaled gradient.

    Returns
    -------
    dict
        ``converged`` (scaled gradient below ``tolerance``), ``gradient`` (the largest
        scaled gradient), ``tolerance``, ``optimizer_converged`` (the fit's own verdict,
        ``fit.converged``), ``optimizer`` (method name) and ``messages`` (the fit's).

    Raises
    ------
    TypeError
        ``fit`` is not an LMM or GLMM result.
    """
    require(fit, "check_convergence", mixed_reason(fit, "check_convergence"))
    g, H = _derivatives(fit)
    try:
        scaled = float(np.max(np.abs(np.linalg.solve(H, g)))) if g.size else 0.0
    except np.linalg.LinAlgError:
        scaled = math.inf
    return {
        "converged": bool(scaled < tolerance),
        "gradient": scaled,
        "tolerance": tolerance,
        "optimizer_converged": bool(fit.converged),
        "optimizer": str(getattr(fit.optimizer, "method", "")),
        "messages": list(fit.messages),
    }


def zero_inflation_reason(result: Any) -> str | None:
    kind = result_kind(result)
    if kind != "glmm":
        return (
            "check_zero_inflation needs a poisson or negative binomial GLMMResult, got "
            f"{type_name(result)}"
        )
    if result.family.name not in COUNT_FAMILIES:
        return (
            "check_zero_inflation applies to count models (poisson, negative binomial), "
            f"not to the {result.family.name!r} family"
        )
    return None


def check_zero_inflation(fit: Any, tolerance: float = 0.05) -> dict[str, Any]:
    """Observed against predicted zeros, as ``performance::check_zeroinflation``.

    Predicted zeros are ``round(sum P(y_i = 0 | mu_i))`` with the conditional means
    (random effects included); the negative binomial uses the fitted size.

    Parameters
    ----------
    fit
        A poisson or negative binomial GLMM.
    tolerance
        The ratio predicted / observed may differ from 1 by this much.

    Returns
    -------
    dict
        ``observed``, ``predicted``, ``ratio`` (predicted / observed; NaN without
        observed zeros), ``tolerance`` and ``verdict``: ``"ok"``, ``"underfitting"``
        (ratio below ``1 - tolerance``: probable zero-inflation) or ``"overfitting"``.

    Raises
    ------
    TypeError
        ``fit`` is not a count GLMM.
    """
    require(fit, "check_zero_inflation", zero_inflation_reason(fit))
    y = np.asarray(fit.model.y, dtype=np.float64)
    mu = np.asarray(fit.fitted(), dtype=np.float64)
    observed = int(np.sum(y == 0))
    if fit.family.name == "negative_binomial":
        size = float(fit.family.theta)
        p0 = np.exp(size * (np.log(size) - np.log(size + mu)))
    else:
        p0 = np.exp(-mu)
    # R's round() rounds half to even, as numpy does.
    predicted = int(np.round(np.sum(p0)))
    ratio = predicted / observed if observed else math.nan
    if math.isnan(ratio):
        verdict = "ok"
    elif ratio < 1 - tolerance:
        verdict = "underfitting"
    elif ratio > 1 + tolerance:
        verdict = "overfitting"
    else:
        verdict = "ok"
    return {
        "observed": observed,
        "predicted": predicted,
        "ratio": ratio,
        "tolerance": tolerance,
        "verdict": verdict,
    }
