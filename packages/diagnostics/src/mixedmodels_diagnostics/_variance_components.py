"""Variance components of a mixed model, as ``insight::get_variance`` gives them.

:func:`variance_decomposition` is ``insight::get_variance`` (insight 0.19): the variance
of the fixed-effect linear predictor, of the random effects (Johnson 2014 for random
slopes), and the distribution-specific ("residual") variance on the latent scale.  The
ICC and Nakagawa's R² (:mod:`._variance_ratios`) are built on it.

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
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._result_kind import family_link, require, result_kind, type_name
from ._singularity import singular_terms

__all__ = ["VARIANCE_TOL", "variance_decomposition", "variance_reason"]

FloatArray = NDArray[np.float64]

VARIANCE_TOL = 1e-5


_BINOMIAL_LINK_VARIANCE = {"logit": math.pi**2 / 3, "probit": 1.0, "cloglog": math.pi**2 / 6}


def variance_reason(result: Any, check: str) -> str | None:
    """Why :func:`variance_decomposition` cannot handle ``result`` (``None`` if it can)."""
    kind = result_kind(result)
    if kind is None:
        return f"{check} needs an LMMResult or GLMMResult, got {type_name(result)}"
    if kind == "lmm":
        return None
    family, link = family_link(result)
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


def _covariances(result: Any) -> list[tuple[str, list[str], FloatArray, int]]:
    """``(group name, column names, absolute covariance, n_levels)`` per random term,
    in lme4's order (VarCorr's names: a repeated grouping factor gets ``.1``...)."""
    model = result.model
    covs = result.covariance_matrices()
    return [
        (name, list(t.column_names), covs[name].to_numpy(dtype=np.float64), int(t.n_levels))
        for t, name in zip(model.terms, model.group_names, strict=True)
    ]


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
    family, link = family_link(result)
    if result_kind(result) == "lmm":
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


def variance_decomposition(fit: Any, tolerance: float = VARIANCE_TOL) -> dict[str, Any]:
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
    require(fit, "variance_decomposition", variance_reason(fit, "variance_decomposition"))
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
    singular = singular_terms(fit, tolerance)[0]
    var_random = math.nan if singular else random_part
    var_distribution = _distribution_variance(fit)
    var_dispersion = 0.0 if result_kind(fit) == "lmm" else dispersion_part

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
