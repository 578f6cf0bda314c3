"""Standard errors and intervals of predictions of linear and generalized linear mixed
models (``predict(..., se_fit=True, interval=...)``).

What each accounts for (documented on :meth:`mixedmodels.LMMResult.predict`):

- population-level predictions (``re_form="NA"``): the uncertainty of the fixed effects
  only, ``x' V x`` with ``V`` the fixed effects' covariance (a hand computation with
  lme4's ``vcov``; glmmTMB's ``se.fit`` for ``re.form = NA``);
- conditional predictions (random effects included): the prediction error variance of
  ``x' beta + z' b`` from the mixed-model equations (Henderson), ``s^2 a' C^-1 a`` with
  ``a = [x; Lambda' z]`` and ``C = [[X'WX, X'WZL], [L'Z'WX, L'Z'WZL + I]]`` (``W`` the
  prior weights for an LMM, the PIRLS weights at the modes for a GLMM, the Laplace
  approximation), the covariance parameters taken as known;
- prediction intervals (LMMs): the above plus the residual variance ``sigma^2`` and,
  for random-effect terms not in the prediction (or levels not seen in fitting), the
  variance of a new group's random effects ``z' Sigma z``;
- ``method="bootstrap"``: percentiles of the predictions of parametric-bootstrap refits
  (lme4's ``bootMer(fit, function(f) predict(f, newdata, re.form))``), which also
  carry the uncertainty of the covariance parameters; confidence intervals only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..interfaces import FloatArray

__all__ = ["INTERVALS", "prediction_table"]

INTERVALS = ("none", "confidence", "prediction")
#: Largest number of random effects for the dense mixed-model equations.
_MAX_Q = 20_000


def _z_lambda(terms: Any, lambdas: list[FloatArray], Zs: list[FloatArray], codes: list[Any]) -> Any:
    """Dense ``Z Lambda`` (rows of ``Zs``), columns level-major within each term; rows
    with an unseen level (code -1) get zeros."""
    n = Zs[0].shape[0] if Zs else 0
    blocks = []
    for t, lam, Z, c in zip(terms, lambdas, Zs, codes, strict=True):
        dim, L = t.dim, t.n_levels
        block = np.zeros((n, L * dim))
        known = np.flatnonzero(np.asarray(c) >= 0)
        zl = np.asarray(Z, dtype=np.float64)[known] @ lam  # (n_known, dim)
        cols = np.asarray(c)[known][:, None] * dim + np.arange(dim)[None, :]
        block[known[:, None], cols] = zl
        blocks.append(block)
    return np.hstack(blocks) if blocks else np.zeros((n, 0))


def _conditional_variance(
    result: Any, X: FloatArray, Zs: list[FloatArray], codes: list[Any], include: list[bool]
) -> FloatArray:
    """Prediction error variance of ``x' beta + z' b`` for each row (Henderson)."""
    m = result.model
    if not hasattr(result, "family") and (m.extras.get("correlation") or m.extras.get("variance")):
        raise ValueError(
            "intervals of conditional predictions (and prediction intervals) are not available "
            "with residual correlation or variance structures; use re_form='NA' with "
            "interval='confidence', or method='bootstrap'"
        )
    terms = m.terms
    q = sum(t.n_levels * t.dim for t in terms)
    if q > _MAX_Q:
        raise ValueError(
            f"conditional prediction intervals need the mixed-model equations of {q} random "
            f"effects (more than {_MAX_Q}); use re_form='NA' or method='bootstrap'"
        )
    lambdas = result._lambdas()
    train_Z = [t.Z for t in terms]
    train_codes = [t.codes for t in terms]
    A0 = np.hstack([m.X, _z_lambda(terms, lambdas, train_Z, train_codes)])
    if hasattr(result, "family"):  # GLMM: PIRLS weights at the conditional modes
        P = result._problem
        eta = np.asarray(result.predict(type="link"), dtype=np.float64)
        mu = result.link.inverse(eta)
        dmu = result.link.mu_eta(eta)
        w = P.pw * dmu**2 / (P.family.variance(mu) * P.dispersion)
        s2 = 1.0
    else:
        w = np.ones(A0.shape[0]) if m.weights is None else np.asarray(m.weights, dtype=float)
        s2 = float(result.sigma) ** 2
    p = m.X.shape[1]
    C = (A0 * w[:, None]).T @ A0
    C[p:, p:] += np.eye(C.shape[0] - p)
    kept = [c if on else np.full(len(c), -1) for c, on in zip(codes, include, strict=True)]
    A = np.hstack([X, _z_lambda(terms, lambdas, Zs, kept)])
    sol = np.linalg.solve(C, A.T)
    return np.asarray(s2 * np.einsum("ij,ji->i", A, sol), dtype=np.float64)


def _new_group_variance(
    result: Any, Zs: list[FloatArray], codes: list[Any], include: list[bool]
) -> FloatArray:
    """Variance of the random effects a prediction leaves out: terms not included and
    levels not seen in fitting (a new group's ``z' Sigma z``)."""
    n = Zs[0].shape[0] if Zs else 0
    out = np.zeros(n)
    s2 = float(result.sigma) ** 2
    for Z, c, on, lam in zip(Zs, codes, include, result._lambdas(), strict=True):
        new = np.ones(n, dtype=bool) if not on else np.asarray(c) < 0
        if new.any():
            Sigma = s2 * lam @ lam.T
            z = np.asarray(Z, dtype=np.float64)[new]
            out[new] += np.einsum("ij,jk,ik->i", z, Sigma, z)
    return out


def prediction_table(
    result: Any,
    design: tuple[FloatArray, Any, list[FloatArray], list[Any], Any, list[bool]],
    newdata: Any,
    re_form: str | None,
    allow_new_levels: bool,
    se_fit: bool,
    interval: str | None,
    level: float,
    type: str,
    method: str,
    nsim: int,
    seed: Any,
) -> pd.DataFrame:
    """The ``fit`` / ``se.fit`` / ``lwr`` / ``upr`` table of ``predict`` (see the module
    docstring for what each interval accounts for)."""
    interval = "none" if interval is None else str(interval).lower()
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {list(INTERVALS)}, got {interval!r}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    if method not in ("wald", "bootstrap"):
        raise ValueError(f"method must be 'wald' or 'bootstrap', got {method!r}")
    glmm = hasattr(result, "family")
    X, offset, Zs, codes, index, include = design
    eta = X @ result._beta
    if offset is not None:
        eta = eta + offset
    if any(include):
        eta = eta + result._random_part(Zs, codes, include)
    response = glmm and type == "response"
    if method == "bootstrap":
        if interval == "prediction":
            raise ValueError(
                "method='bootstrap' gives confidence intervals of the predictions (refits); "
                "use interval='confidence', or method='wald' for prediction intervals of LMMs"
            )
        from .bootstrap import bootstrap

        def statistic(fit: Any) -> FloatArray:
            kwargs: dict[str, Any] = {"type": type} if glmm else {}
            pred = fit.predict(
                newdata, re_form=re_form, allow_new_levels=allow_new_levels, **kwargs
            )
            return np.asarray(pred, dtype=np.float64)

        boot = bootstrap(result, nsim=nsim, statistic=statistic, seed=seed, progress=False)
        reps = boot.replicates.to_numpy(dtype=np.float64)
        fit_values = result.link.inverse(eta) if response else eta
        out = pd.DataFrame({"fit": fit_values}, index=index)
        if se_fit:
            out["se.fit"] = np.nanstd(reps, axis=0, ddof=1)
        if interval == "confidence":
            a = (1.0 - level) / 2.0
            out["lwr"] = np.nanquantile(reps, a, axis=0)
            out["upr"] = np.nanquantile(reps, 1.0 - a, axis=0)
        out.attrs["n_failed"] = boot.n_failed
        return out
    if any(include):
        var = _conditional_variance(result, X, Zs, codes, include)
    else:
        V = result.vcov.to_numpy()
        var = np.einsum("ij,jk,ik->i", X, V, X)
    se = np.sqrt(np.maximum(var, 0.0))
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    if interval == "prediction":
        m = result.model
        if not glmm and (m.extras.get("correlation") or m.extras.get("variance")):
            raise ValueError(
                "prediction intervals are not available with residual correlation or "
                "variance structures"
            )
        if glmm:
            raise ValueError(
                "prediction intervals are for linear mixed models (a GLMM's new response is "
                "not normal); use interval='confidence' or simulate() for new responses"
            )
        extra = float(result.sigma) ** 2 + _new_group_variance(result, Zs, codes, include)
        half = z * np.sqrt(var + extra)
    else:
        half = z * se
    if response:
        mu = result.link.inverse(eta)
        out = pd.DataFrame({"fit": mu}, index=index)
        if se_fit:
            out["se.fit"] = se * np.abs(result.link.mu_eta(eta))
        if interval != "none":
            ends = np.sort(
                np.column_stack([result.link.inverse(eta - half), result.link.inverse(eta + half)]),
                axis=1,
            )
            out["lwr"], out["upr"] = ends[:, 0], ends[:, 1]
        return out
    out = pd.DataFrame({"fit": eta}, index=index)
    if se_fit:
        out["se.fit"] = se
    if interval != "none":
        out["lwr"] = eta - half
        out["upr"] = eta + half
    return out
