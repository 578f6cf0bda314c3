"""Summary statistics and model checks, as R's ``performance`` / ``insight`` give them.

* :func:`variance_decomposition` is ``insight::get_variance`` (insight 0.19): the
  variance of the fixed-effect linear predictor, of the random effects (Johnson 2014 for
  random slopes), and the distribution-specific ("residual") variance on the latent
  scale.
* :func:`icc` and :func:`r2_nakagawa` are ``performance::icc`` and
  ``performance::r2_nakagawa`` (performance 0.10) built on it.
* :func:`check_singularity`, :func:`check_overdispersion`, :func:`check_collinearity`,
  :func:`check_convergence` and :func:`check_zero_inflation` are the ``performance``
  checks of the same names (``check_zeroinflation`` in R).

Each is also registered as a :class:`~mixedmodels.interfaces.Diagnostic` (module-level
``DIAGNOSTICS``), so ``mixedmodels.check(fit)`` reports them.

Distribution-specific variances (insight 0.19, ``.compute_variance_distribution``):

=====================  ===================================================================
gaussian (LMM)         ``sigma**2``
binomial               logit ``pi**2 / 3``; probit ``1``; cloglog ``pi**2 / 6``
poisson                log: ``log1p(1 / mu)`` (lognormal approximation), ``mu = exp(b0)``
                       with ``b0`` the intercept of the *null model* (response ``~ 1`` with
                       the same random effects, offset and weights, refitted); sqrt:
                       ``0.25``
negative binomial      log: ``log1p(1 / mu + 1 / size)``, ``mu`` as for the poisson; the
                       null model keeps the fitted ``size`` (glmer.nb stores its call with
                       the family fixed at the final size, so insight's refit does too);
                       sqrt: ``0.25``
Gamma                  ``sigma**2`` (insight's ``family$variance(sigma)``), i.e. the
                       dispersion ``phi = 1 / shape`` (glmmTMB's ``sigma(fit)**2``), for
                       every link
=====================  ===================================================================

Random-effect terms with one level per observation (observation-level random effects)
go to ``var.dispersion`` for GLMMs and are left out for LMMs, as in insight.  A singular
fit (a diagonal element of a relative covariance factor below ``tolerance``) gives no
``var.random``: insight refuses it, so the ICC and the conditional R² are NaN.
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
import weakref
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from mixedmodels.interfaces import Diagnostic

__all__ = [
    "DIAGNOSTICS",
    "check_collinearity",
    "check_convergence",
    "check_overdispersion",
    "check_singularity",
    "check_zero_inflation",
    "icc",
    "icc_beta",
    "r2_nakagawa",
    "variance_decomposition",
]

FloatArray = NDArray[np.float64]

# insight's default tolerance for a singular fit when computing variances.
_VARIANCE_TOL = 1e-5
# Latent-scale variance of the binomial by link (insight 0.19).
_BINOMIAL_LINK_VARIANCE = {"logit": math.pi**2 / 3, "probit": 1.0, "cloglog": math.pi**2 / 6}
_COUNT_FAMILIES = ("poisson", "negative_binomial")


# --------------------------------------------------------------------------------------
# what a result is


def _kind(result: Any) -> str | None:
    """``"lmm"``, ``"glmm"`` or ``None`` (not a mixed-model result this module reads)."""
    try:
        from mixedmodels import GLMMResult, LMMResult
    except ImportError:  # pragma: no cover - the core always has both
        return None
    if isinstance(result, LMMResult | GLMMResult) and not getattr(result.model, "terms", None):
        return None  # a GLS fit (an LMMResult subclass) has no random effects
    if isinstance(result, LMMResult):
        return "lmm"
    if isinstance(result, GLMMResult):
        return "glmm"
    return None


def _no_random_effects(result: Any) -> str:
    """`` (it has no random effects)`` for a result of a result class without them."""
    model = getattr(result, "model", None)
    if model is not None and hasattr(model, "terms") and not model.terms:
        return " (it has no random effects)"
    return ""


def _type_name(result: Any) -> str:
    """The result's class, noting a result class without random effects (GLS)."""
    return type(result).__name__ + _no_random_effects(result)


def _family_link(result: Any) -> tuple[str, str]:
    if _kind(result) == "lmm":
        return "gaussian", "identity"
    return str(result.family.name), str(result.link.name)


def _is_bernoulli(result: Any) -> bool:
    """A binomial model with one trial per row (performance's ``is_bernoulli``)."""
    model = result.model
    w = model.prior_weights
    return w is None or bool(np.all(w == 1))


def _variance_reason(result: Any, check: str) -> str | None:
    """Why :func:`variance_decomposition` cannot handle ``result`` (``None`` if it can)."""
    kind = _kind(result)
    if kind is None:
        return f"{check} needs an LMMResult or GLMMResult, got {_type_name(result)}"
    if kind == "lmm":
        return None
    family, link = _family_link(result)
    ok = {
        "binomial": tuple(_BINOMIAL_LINK_VARIANCE),
        "poisson": ("log", "sqrt"),
        "negative_binomial": ("log", "sqrt"),
        "gamma": ("log", "inverse", "identity"),
    }
    if family.lower() not in ok:
        return (
            f"{check} has no distribution-specific variance for the {family!r} family "
            "(supported: gaussian, binomial, poisson, negative_binomial, Gamma)"
        )
    if link not in ok[family.lower()]:
        return f"{check} has no distribution-specific variance for {family}({link})"
    return None


def _require(result: Any, check: str, reason: str | None) -> None:
    if reason is not None:
        raise TypeError(f"{check}: cannot check a {type(result).__name__}: {reason}")


# --------------------------------------------------------------------------------------
# pieces of the fit


def _covariances(result: Any) -> list[tuple[str, list[str], FloatArray, int]]:
    """``(group name, column names, absolute covariance, n_levels)`` per random term,
    in lme4's order (VarCorr's names: a repeated grouping factor gets ``.1``...)."""
    model = result.model
    covs = result.covariance_matrices()
    return [
        (name, list(t.column_names), covs[name].to_numpy(dtype=np.float64), int(t.n_levels))
        for t, name in zip(model.terms, model.group_names, strict=True)
    ]


def _singular(result: Any, tol: float) -> tuple[bool, float, list[str]]:
    """lme4's test: a theta with lower bound 0 (a diagonal element of a Cholesky factor)
    below ``tol``; returns (singular, the smallest such theta, the terms concerned)."""
    model = result.model
    smallest = math.inf
    terms: list[str] = []
    for name, structure, th in zip(
        model.group_names, model.structures, _split_theta(result), strict=True
    ):
        lower = structure.bounds()[0]
        diag = np.isfinite(lower) & (lower == 0)
        if not np.any(diag):
            continue
        vals = np.abs(np.asarray(th)[diag])
        smallest = min(smallest, float(vals.min()))
        if np.any(vals < tol):
            terms.append(name)
    return bool(terms), smallest, terms


def _split_theta(result: Any) -> list[FloatArray]:
    """Each random-effect term's parameters (a residual structure's parameters, which
    follow them in ``theta``, are left out)."""
    sizes = [int(s.n_params) for s in result.model.structures]
    theta = np.asarray(result.theta, dtype=np.float64)[: sum(sizes)]
    return list(np.split(theta, np.cumsum(sizes)[:-1]))


# Null-model intercepts by fit: icc and r2 of one fit refit the null model once.
_NULL_INTERCEPTS: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def _null_intercept(result: Any) -> float:
    """The intercept of insight's null model: the response on ``1`` and the same random
    effects (offset and weights kept), refitted; the negative binomial keeps its size."""
    try:
        return _NULL_INTERCEPTS[result]
    except (KeyError, TypeError):
        pass
    value = _fit_null_intercept(result)
    with contextlib.suppress(TypeError):  # not weakly referenceable: no cache
        _NULL_INTERCEPTS[result] = value
    return value


def _fit_null_intercept(result: Any) -> float:
    import mixedmodels as mm

    model = result.model
    bars = [
        t.expr if t.structure == "us" else f"{t.structure}({t.expr})" for t in model.design.terms
    ]
    formula = f"{model.design.response_name} ~ 1 + " + " + ".join(f"({b})" for b in bars)
    data = model.data.loc[model.design.row_index]
    family = result.family
    options: dict[str, Any] = {}
    if family.name == "negative_binomial":
        # glmer.nb's stored call has the family at the final size: the refit keeps it.
        options["estimate_size"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = mm.Model(
            formula,
            data,
            family=family,
            link=result.link,
            weights=model.weights,
            offset=model.offset,
        ).fit(method="laplace", **options)
    return float(null.fixef.iloc[0])


def _distribution_variance(result: Any) -> float:
    """insight's distribution-specific variance (see the module docstring)."""
    family, link = _family_link(result)
    if _kind(result) == "lmm":
        return float(result.sigma) ** 2
    if family == "binomial":
        return _BINOMIAL_LINK_VARIANCE[link]
    if family.lower() == "gamma":
        return float(result.dispersion if result.dispersion is not None else 1.0)
    if link == "sqrt":
        return 0.25
    mu = math.exp(_null_intercept(result))
    if mu < 6:
        # insight warns here too: the lognormal approximation is poor for small means.
        warnings.warn(
            f"mu of {mu:.1f} is too close to zero, estimate of the distribution-specific "
            "variance may be unreliable",
            UserWarning,
            stacklevel=4,
        )
    cv2 = 1.0 / mu
    if family == "negative_binomial":
        cv2 += 1.0 / float(result.family.theta)
    return math.log1p(cv2)


# --------------------------------------------------------------------------------------
# variance decomposition, ICC, R2


def variance_decomposition(fit: Any, tolerance: float = _VARIANCE_TOL) -> dict[str, Any]:
    """Variance components of a mixed model, as ``insight::get_variance`` (insight 0.19).

    Parameters
    ----------
    fit
        A fitted :class:`~mixedmodels.LMMResult` or :class:`~mixedmodels.GLMMResult`
        (gaussian, binomial, poisson, negative binomial or Gamma family).
    tolerance
        A fit whose relative covariance factor has a diagonal element below this is
        singular: ``var.random`` is then NaN, as insight omits it.

    Returns
    -------
    dict
        ``var.fixed`` (variance of the fixed-effect linear predictor ``X beta``),
        ``var.random`` (mean of ``z_i' Sigma z_i`` over the rows, summed over terms, with
        ``z_i`` the row's fixed-effect columns named as the term's columns: Johnson
        2014), ``var.residual`` (= ``var.distribution + var.dispersion``),
        ``var.distribution``, ``var.dispersion`` (observation-level random effects of a
        GLMM), and the dicts ``var.intercept`` (by group), ``var.slope`` (by
        ``group.column``) and ``cor.slope_intercept``.  See the module docstring for the
        distribution-specific variances.  The poisson and negative binomial ones refit
        the null model.

    Raises
    ------
    TypeError
        ``fit`` is not a supported result (the message names the check and the type).
    """
    _require(fit, "variance_decomposition", _variance_reason(fit, "variance_decomposition"))
    model = fit.model
    X = np.asarray(model.X, dtype=np.float64)
    n = X.shape[0]
    eta_fixed = X @ np.asarray(fit.fixef, dtype=np.float64)
    # R's var() (n - 1 denominator); exactly 0 for a constant predictor, as R gives.
    constant = n < 2 or bool(np.all(eta_fixed == eta_fixed[0]))
    var_fixed = 0.0 if constant else float(np.var(eta_fixed, ddof=1))

    names = list(model.fixef_names)
    if not any(c.startswith("(Intercept)") for c in names):
        X = np.column_stack([np.ones(n), X])
        names = ["(Intercept)", *names]
    column = {c: i for i, c in enumerate(names)}
    covs = _covariances(fit)
    random_part, dispersion_part = 0.0, 0.0
    for (name, cols, sigma, n_levels), term in zip(covs, model.terms, strict=True):
        # A loop over terms (few).  insight selects VarCorr entries by the names of
        # ranef(), one per grouping factor: a factor's second term ("Subject.1" of
        # (Days || Subject)) is left out of var.random, as insight 0.19 does.
        if name != term.group_name:
            continue
        keep = [i for i, c in enumerate(cols) if c in column]
        Z = X[:, [column[cols[i]] for i in keep]]
        S = sigma[np.ix_(keep, keep)]
        # trace(Z Sigma Z') / n without forming the n x n matrix.
        value = float(np.einsum("ij,ij->", Z @ S, Z)) / n
        if n_levels == n:  # observation-level random effect
            dispersion_part += value
        else:
            random_part += value
    singular = _singular(fit, tolerance)[0]
    var_random = math.nan if singular else random_part
    var_distribution = _distribution_variance(fit)
    var_dispersion = 0.0 if _kind(fit) == "lmm" else dispersion_part

    intercept: dict[str, float] = {}
    slope: dict[str, float] = {}
    cor: dict[str, float] = {}
    with_intercept = [c[0] == "(Intercept)" for _, c, _, _ in covs]
    for (name, cols, sigma, _), has_icpt in zip(covs, with_intercept, strict=True):
        if has_icpt:
            intercept[name] = float(sigma[0, 0])
            for j in range(1, len(cols)):
                slope[f"{name}.{cols[j]}"] = float(sigma[j, j])
            sd = np.sqrt(np.diag(sigma))
            if len(cols) > 1:
                with np.errstate(invalid="ignore", divide="ignore"):
                    r = sigma[1:, 0] / (sd[1:] * sd[0])
                if len(cols) == 2:
                    cor[name] = float(r[0])
                else:
                    cor.update({f"{name}.{c}": float(v) for c, v in zip(cols[1:], r, strict=True)})
        else:
            # insight names a slope-only term by its grouping factor without the ".1"
            # that VarCorr adds to a repeated one (unless no term has an intercept).
            base = name if not any(with_intercept) else re.sub(r"\.\d+$", "", name)
            slope.update({f"{base}.{c}": float(sigma[j, j]) for j, c in enumerate(cols)})
    return {
        "var.fixed": var_fixed,
        "var.random": var_random,
        "var.residual": var_distribution + var_dispersion,
        "var.distribution": var_distribution,
        "var.dispersion": var_dispersion,
        "var.intercept": intercept,
        "var.slope": slope,
        "cor.slope_intercept": cor,
    }


def _warn_singular(var_random: float, what: str) -> None:
    if math.isnan(var_random):
        # insight's warning: the random-effect variance is not computed for such fits.
        warnings.warn(
            f"can't compute the {what} with its random-effect variance: some variance "
            "components are (near) zero; the fit may be singular (see check_singularity)",
            UserWarning,
            stacklevel=3,
        )


def icc(fit: Any, by_group: bool = False, tolerance: float = _VARIANCE_TOL) -> Any:
    """Intraclass correlation coefficient, as ``performance::icc``.

    Parameters
    ----------
    fit
        A fitted LMM or GLMM (see :func:`variance_decomposition`).
    by_group
        Per grouping factor: ``var.intercept[group] / (var.random + var.residual)``
        (performance's ``by_group = TRUE``; not meaningful with random slopes).
    tolerance
        Singularity tolerance (see :func:`variance_decomposition`).

    Returns
    -------
    dict or pandas.DataFrame
        ``{"adjusted": ..., "conditional": ...}``: adjusted ``var.random / (var.random +
        var.residual)``, conditional (performance's "unadjusted")
        ``var.random / (var.fixed + var.random + var.residual)``; NaN for a singular
        fit.  With ``by_group=True`` a DataFrame with columns ``group`` and ``icc``.

    Raises
    ------
    TypeError
        ``fit`` is not a supported result.
    """
    _require(fit, "icc", _variance_reason(fit, "icc"))
    v = variance_decomposition(fit, tolerance=tolerance)
    rnd, res, fix = v["var.random"], v["var.residual"], v["var.fixed"]
    _warn_singular(rnd, "ICC")
    if by_group:
        if v["var.slope"]:
            warnings.warn(
                "icc: the model has random slopes; ICCs by group factor are not accurate",
                UserWarning,
                stacklevel=2,
            )
        groups = list(v["var.intercept"])
        values = np.array([v["var.intercept"][g] for g in groups], dtype=float)
        return pd.DataFrame({"group": groups, "icc": values / (rnd + res)})
    return {"adjusted": rnd / (rnd + res), "conditional": rnd / (fix + rnd + res)}


def r2_nakagawa(fit: Any, tolerance: float = _VARIANCE_TOL) -> dict[str, float]:
    """Nakagawa's marginal and conditional R², as ``performance::r2_nakagawa``.

    Parameters
    ----------
    fit
        A fitted LMM or GLMM (see :func:`variance_decomposition`).
    tolerance
        Singularity tolerance (see :func:`variance_decomposition`).

    Returns
    -------
    dict
        ``marginal = var.fixed / total`` and ``conditional = (var.fixed + var.random) /
        total`` with ``total = var.fixed + var.random + var.residual``.  For a singular
        fit, as performance: ``marginal = var.fixed / (var.fixed + var.residual)`` and
        ``conditional`` NaN.

    Raises
    ------
    TypeError
        ``fit`` is not a supported result.
    """
    _require(fit, "r2_nakagawa", _variance_reason(fit, "r2_nakagawa"))
    v = variance_decomposition(fit, tolerance=tolerance)
    rnd, res, fix = v["var.random"], v["var.residual"], v["var.fixed"]
    _warn_singular(rnd, "R2")
    if math.isnan(rnd):
        return {"marginal": fix / (fix + res), "conditional": math.nan}
    total = fix + rnd + res
    return {"marginal": fix / total, "conditional": (fix + rnd) / total}


# --------------------------------------------------------------------------------------
# checks


def check_singularity(fit: Any, tol: float = 1e-4) -> dict[str, Any]:
    """Whether the fit is singular, as ``lme4::isSingular`` / ``performance::check_singularity``.

    Parameters
    ----------
    fit
        A fitted LMM or GLMM.
    tol
        Threshold for a diagonal element of a relative covariance factor (lme4's
        ``isSingular`` default ``1e-4``; performance's default is ``1e-5``).

    Returns
    -------
    dict
        ``singular`` (bool), ``min_theta`` (the smallest such element), ``terms`` (the
        random-effect terms at the boundary) and ``tolerance``.

    Raises
    ------
    TypeError
        ``fit`` is not an LMM or GLMM result.
    """
    _require(fit, "check_singularity", _mixed_reason(fit, "check_singularity"))
    singular, smallest, terms = _singular(fit, tol)
    return {"singular": singular, "min_theta": smallest, "terms": terms, "tolerance": tol}


def icc_beta(fit: Any, group: str | None = None) -> float:
    """Share of the response's variance due to heterogeneity in slopes, as
    ``iccbeta::icc_beta`` (Aguinis & Culpepper 2015).

    ``rho_beta = tr(T S_w) / var(y)`` with ``T`` the covariance of the grouping
    factor's random effects, ``S_w`` the pooled within-group cross-product of the
    corresponding columns of the fixed-effects matrix (group means removed, divided by
    ``N - 1``) and ``var(y)`` the response's sample variance.

    Parameters
    ----------
    fit
        A linear mixed model whose random-effect term for ``group`` has columns that
        are fixed-effect columns too (e.g. ``y ~ x + (x | g)``).
    group
        The grouping factor (default: the first term with a random slope).

    Returns
    -------
    float

    Raises
    ------
    TypeError
        Not a linear mixed model.
    ValueError
        No term with a random slope, an unknown group, or a random-effect column that
        is not a fixed-effect column.
    """
    if _kind(fit) != "lmm":
        raise TypeError(f"icc_beta needs a linear mixed model (LMMResult), got {_type_name(fit)}")
    model = fit.model
    names = list(model.group_names)
    if group is None:
        slopes = [i for i, t in enumerate(model.terms) if t.dim > 1]
        if not slopes:
            raise ValueError("icc_beta needs a random-slope term, e.g. (x | g)")
        index = slopes[0]
    else:
        plain = [str(t.group_name) for t in model.terms]
        if group not in names and group not in plain:
            raise ValueError(f"icc_beta: unknown group {group!r}; the model's groups are {names}")
        index = names.index(group) if group in names else plain.index(group)
    term = model.terms[index]
    columns = [str(c) for c in term.column_names]
    fixef_names = [str(c) for c in model.fixef_names]
    missing = [c for c in columns if c not in fixef_names]
    if missing:
        raise ValueError(
            f"icc_beta: the random-effect columns {missing} of ({term.expr}) are not "
            "fixed-effect columns; iccbeta assumes the same columns in both"
        )
    X = np.asarray(model.X, dtype=np.float64)[:, [fixef_names.index(c) for c in columns]]
    codes = np.asarray(term.codes)
    counts = np.bincount(codes, minlength=term.n_levels).astype(np.float64)
    sums = np.stack(
        [np.bincount(codes, X[:, j], minlength=term.n_levels) for j in range(X.shape[1])],
        axis=1,
    )
    centred = X - (sums / np.maximum(counts, 1.0)[:, None])[codes]
    within = centred.T @ centred / (X.shape[0] - 1.0)
    T = fit.covariance_matrices()[names[index]].to_numpy(dtype=np.float64)
    y = np.asarray(model.response, dtype=np.float64)
    return float(np.trace(T @ within) / np.var(y, ddof=1))


def _mixed_reason(result: Any, check: str) -> str | None:
    if _kind(result) is None:
        return f"{check} needs an LMMResult or GLMMResult, got {_type_name(result)}"
    return None


def _overdispersion_reason(result: Any) -> str | None:
    kind = _kind(result)
    if kind is None:
        return f"check_overdispersion needs a GLMMResult, got {_type_name(result)}"
    if kind == "lmm":
        return (
            "check_overdispersion applies to poisson, negative binomial and binomial "
            "GLMMs, not to a linear mixed model (its residual variance is estimated)"
        )
    family = result.family.name
    if family not in (*_COUNT_FAMILIES, "binomial"):
        return (
            f"check_overdispersion applies to poisson, negative binomial and binomial "
            f"GLMMs (families without a dispersion parameter), not to {family!r}"
        )
    if family == "binomial" and _is_bernoulli(result):
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
    _require(fit, "check_overdispersion", _overdispersion_reason(fit))
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


def _collinearity_reason(result: Any) -> str | None:
    reason = _mixed_reason(result, "check_collinearity")
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
    _require(fit, "check_collinearity", _collinearity_reason(fit))
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
    if _kind(fit) == "lmm":
        if gradient is not None and hessian is not None:
            return np.asarray(gradient, float), np.asarray(hessian, float)
        problem = fit._problem
        return finite_difference_derivatives(
            lambda th: problem.objective(th, fit.reml), theta, lower, upper
        )
    if gradient is not None and hessian is not None:
        # The core keeps the derivatives of its own convergence check.
        g, H = np.asarray(gradient, float), np.asarray(hessian, float)
        if g.size == theta.size + len(fit.fixef):
            return g, H
    P = fit._problem
    k = theta.size
    beta = np.asarray(fit.fixef, dtype=np.float64)
    nagq = int(getattr(fit, "nagq", 1))

    def objective(x: FloatArray) -> float:
        if nagq > 1:
            return float(P.agq(x[:k], x[k:], nagq))
        return float(P.laplace(x[:k], x[k:]))

    p = beta.size
    try:
        # The step of a criterion with an inner PIRLS iteration (as the core's check).
        return finite_difference_derivatives(
            objective,
            np.concatenate([theta, beta]),
            np.concatenate([lower, np.full(p, -np.inf)]),
            np.concatenate([upper, np.full(p, np.inf)]),
            step=1e-3,
        )
    finally:
        P.pirls(theta, beta)  # leave the modes of the optimum in the problem


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
    _require(fit, "check_convergence", _mixed_reason(fit, "check_convergence"))
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


def _zero_inflation_reason(result: Any) -> str | None:
    kind = _kind(result)
    if kind != "glmm":
        return (
            "check_zero_inflation needs a poisson or negative binomial GLMMResult, got "
            f"{_type_name(result)}"
        )
    if result.family.name not in _COUNT_FAMILIES:
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
    _require(fit, "check_zero_inflation", _zero_inflation_reason(fit))
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


# --------------------------------------------------------------------------------------
# registered diagnostics


def _safe(reason_fn: Any, result: Any) -> str | None:
    """``supports`` must never raise: an error becomes the reason."""
    try:
        reason: str | None = reason_fn(result)
    except Exception as exc:
        return f"cannot inspect a {_type_name(result)}: {type(exc).__name__}: {exc}"
    return reason


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(dict.fromkeys(k for r in rows for k in r)))


def _ratio_rows(compute: Any, result: Any, label: str, keys: tuple[str, str]) -> pd.DataFrame:
    """One row per variance ratio (ICC, R2); NaN on a singular fit, with a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the table's message says it
        values = compute(result)
    rows = []
    for key in keys:
        value = float(values[key])
        bad = math.isnan(value)
        rows.append(
            {
                "check": f"{label} ({key})",
                "statistic": value,
                "p_value": math.nan,
                "verdict": "warning" if bad else "ok",
                "message": "singular fit: the random-effect variance is not available"
                if bad
                else "",
            }
        )
    return _table(rows)


class ICCDiagnostic(Diagnostic):
    """Adjusted and conditional ICC (performance::icc)."""

    name: ClassVar[str] = "icc"
    description: ClassVar[str] = "intraclass correlation, adjusted and conditional (performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(lambda r: _variance_reason(r, "icc"), result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        return _ratio_rows(icc, result, "ICC", ("adjusted", "conditional"))


class R2Diagnostic(Diagnostic):
    """Nakagawa's marginal and conditional R² (performance::r2_nakagawa)."""

    name: ClassVar[str] = "r2"
    description: ClassVar[str] = "Nakagawa's marginal and conditional R2 (performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(lambda r: _variance_reason(r, "r2"), result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        return _ratio_rows(r2_nakagawa, result, "R2", ("marginal", "conditional"))


class SingularityDiagnostic(Diagnostic):
    """A random-effect covariance on the boundary (lme4::isSingular)."""

    name: ClassVar[str] = "check_singularity"
    description: ClassVar[str] = "singular (boundary) random-effect covariance (lme4/performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(lambda r: _mixed_reason(r, "check_singularity"), result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        out = check_singularity(result, tol=float(options.get("tol", 1e-4)))
        message = (
            f"singular fit: a variance is (near) zero in {', '.join(out['terms'])}; "
            "simplify the random-effect structure"
            if out["singular"]
            else ""
        )
        return _table(
            [
                {
                    "check": "singularity (min theta)",
                    "statistic": out["min_theta"],
                    "p_value": math.nan,
                    "verdict": "problem" if out["singular"] else "ok",
                    "message": message,
                }
            ]
        )


class OverdispersionDiagnostic(Diagnostic):
    """Pearson chi-square overdispersion test (performance::check_overdispersion)."""

    name: ClassVar[str] = "check_overdispersion"
    description: ClassVar[str] = "Pearson chi-square test of overdispersion (performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(_overdispersion_reason, result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        out = check_overdispersion(result)
        over = out["p_value"] < 0.05
        return _table(
            [
                {
                    "check": "overdispersion (Pearson ratio)",
                    "statistic": out["ratio"],
                    "p_value": out["p_value"],
                    "verdict": "problem" if over else "ok",
                    "message": (
                        f"overdispersion detected: Pearson chi2 = {out['chisq']:.4g} on "
                        f"{out['df']:.0f} df, ratio {out['ratio']:.3g}"
                    )
                    if over
                    else "",
                    "chisq": out["chisq"],
                    "df": out["df"],
                }
            ]
        )


class CollinearityDiagnostic(Diagnostic):
    """Variance inflation factors of the fixed effects (performance::check_collinearity)."""

    name: ClassVar[str] = "check_collinearity"
    description: ClassVar[str] = "(generalised) variance inflation factors per fixed term"

    def supports(self, result: Any) -> str | None:
        return _safe(_collinearity_reason, result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        table = check_collinearity(result)
        vif = table["vif"].to_numpy(dtype=float)
        # performance's bands: low < 5 <= moderate < 10 <= high.
        verdict = np.where(vif >= 10, "problem", np.where(vif >= 5, "warning", "ok"))
        band = np.where(vif >= 10, "high", "moderate")
        message = [
            f"{band[i]} collinearity: VIF {vif[i]:.3g}" if verdict[i] != "ok" else ""
            for i in range(len(vif))
        ]
        return pd.DataFrame(
            {
                "check": "VIF " + table["term"].astype(str),
                "statistic": vif,
                "p_value": np.nan,
                "verdict": verdict,
                "message": message,
                "term": table["term"],
                "adjusted_vif": table["adjusted_vif"],
                "tolerance": table["tolerance"],
            }
        )


class ConvergenceDiagnostic(Diagnostic):
    """lme4's scaled-gradient convergence check (performance::check_convergence)."""

    name: ClassVar[str] = "check_convergence"
    description: ClassVar[str] = "scaled gradient at the estimates (lme4/performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(lambda r: _mixed_reason(r, "check_convergence"), result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        out = check_convergence(result, tolerance=float(options.get("tolerance", 0.001)))
        ok = out["converged"] and out["optimizer_converged"]
        notes = []
        if not out["converged"]:
            notes.append(
                f"scaled gradient {out['gradient']:.3g} exceeds the tolerance {out['tolerance']:g}"
            )
        if not out["optimizer_converged"]:
            notes.append("the optimizer reported no convergence")
        notes += [m for m in out["messages"] if m]
        return _table(
            [
                {
                    "check": "convergence (scaled gradient)",
                    "statistic": out["gradient"],
                    "p_value": math.nan,
                    "verdict": "ok" if ok else "problem",
                    "message": "; ".join(notes) if not ok else "",
                }
            ]
        )


class ZeroInflationDiagnostic(Diagnostic):
    """Observed vs predicted zeros of a count GLMM (performance::check_zeroinflation)."""

    name: ClassVar[str] = "check_zero_inflation"
    description: ClassVar[str] = "observed vs predicted zeros of a count model (performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(_zero_inflation_reason, result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        out = check_zero_inflation(result, tolerance=float(options.get("zi_tolerance", 0.05)))
        message = {
            "ok": "",
            "underfitting": "model is underfitting zeros (probable zero-inflation)",
            "overfitting": "model is overfitting zeros",
        }[out["verdict"]]
        if message:
            message += f": {out['observed']} observed, {out['predicted']} predicted"
        return _table(
            [
                {
                    "check": "zero inflation (predicted/observed zeros)",
                    "statistic": out["ratio"],
                    "p_value": math.nan,
                    "verdict": "ok" if out["verdict"] == "ok" else "warning",
                    "message": message,
                    "observed": out["observed"],
                    "predicted": out["predicted"],
                }
            ]
        )


DIAGNOSTICS: list[Diagnostic] = [
    ICCDiagnostic(),
    R2Diagnostic(),
    SingularityDiagnostic(),
    OverdispersionDiagnostic(),
    CollinearityDiagnostic(),
    ConvergenceDiagnostic(),
    ZeroInflationDiagnostic(),
]
