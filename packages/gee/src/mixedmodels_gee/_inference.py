"""Wald tests, ``anova`` tables and the QIC family of criteria for GEE fits."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
from scipy import stats

from mixedmodels.interfaces import Family, FloatArray

from ._fit import build_workspace, fit_gee
from ._threads import single_blas_thread

if TYPE_CHECKING:
    from ._results import GEEResult

__all__ = ["anova", "anova_terms", "coef_table", "qic", "qic_of", "term_columns", "wald_test"]


# ---------------------------------------------------------------------------- terms


def term_columns(result: GEEResult) -> dict[str, list[int]]:
    """The model's terms (R's term labels) and the positions of their coefficients.

    The intercept is its own term ``"(Intercept)"``.  When the formula's terms cannot be
    recovered, every coefficient is its own term.
    """
    names = list(result.fixef_names)
    col_term: dict[str, str]
    try:
        col_term = _design_terms(result.model.design)
    except Exception:  # a design not built by build_design: one term per column
        col_term = {n: n for n in names}
    out: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        out.setdefault(col_term.get(n, n), []).append(i)
    return out


def _design_terms(design: Any) -> dict[str, str]:
    """Column name -> term label, from the fixed part of the design (R's ``assign``)."""
    part = design.spec.fixed
    labels: list[str] = []
    if part.mt.intercept:
        labels.append("(Intercept)")
    for term, coding in part.plan:
        n = 1
        for key, c in zip(term, coding, strict=True):
            f = part.factors[key]
            if c == 0:  # numeric
                n *= int(f.ncol)
            elif c == 2:  # indicator coding
                n *= len(f.levels)
            else:  # contrasts
                n *= len(f.levels) - 1
        labels.extend([":".join(part.factors[k].label for k in term)] * n)
    full = list(design.fixef_names)
    if len(labels) != len(full):
        raise ValueError("term assignment does not match the columns")
    return dict(zip(full, labels, strict=True))


def _select(result: GEEResult, terms: Any) -> list[int]:
    if isinstance(terms, str):
        terms = [terms]
    mapping = term_columns(result)
    names = list(result.fixef_names)
    cols: list[int] = []
    for t in terms:
        if t in mapping:
            cols.extend(mapping[t])
        elif t in names:
            cols.append(names.index(t))
        else:
            raise ValueError(
                f"{t!r} is neither a term ({', '.join(mapping)}) nor a coefficient "
                f"({', '.join(names)})"
            )
    return sorted(set(cols))


# ---------------------------------------------------------------------------- Wald


def _wald(beta: FloatArray, V: FloatArray, L: FloatArray, rhs: FloatArray) -> tuple[float, int]:
    d = L @ beta - rhs
    M = L @ V @ L.T
    stat = float(d @ np.linalg.lstsq(M, d, rcond=None)[0])
    df = int(np.linalg.matrix_rank(L))
    return stat, df


def coef_table(result: GEEResult, std_err: str | None = None) -> pd.DataFrame:
    """Estimate, Std.err, Wald (``(estimate / se)^2``) and ``Pr(>|W|)`` per coefficient."""
    est = result.fixef.to_numpy()
    se = result.std_errors(std_err).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        wald = (est / se) ** 2
    return pd.DataFrame(
        {"Estimate": est, "Std.err": se, "Wald": wald, "Pr(>|W|)": stats.chi2.sf(wald, 1)},
        index=result.fixef_names,
    )


def wald_test(
    result: GEEResult,
    L: Any = None,
    rhs: Any = None,
    terms: Any = None,
    std_err: str | None = None,
) -> pd.Series:
    """Joint Wald test (see :meth:`GEEResult.wald_test`)."""
    p = len(result.fixef_names)
    if (L is None) == (terms is None):
        raise ValueError("give exactly one of L (a contrast matrix) and terms")
    if terms is not None:
        cols = _select(result, terms)
        Lm = np.zeros((len(cols), p))
        Lm[np.arange(len(cols)), cols] = 1.0
    else:
        Lm = np.atleast_2d(np.asarray(L, dtype=np.float64))
        if Lm.shape[1] != p:
            raise ValueError(f"L must have {p} columns (one per coefficient), got {Lm.shape}")
    r = np.zeros(Lm.shape[0]) if rhs is None else np.asarray(rhs, dtype=np.float64).ravel()
    if r.shape[0] != Lm.shape[0]:
        raise ValueError("rhs must have one value per row of L")
    V = result.get_vcov(std_err).to_numpy()
    stat, df = _wald(result.fixef.to_numpy(), V, Lm, r)
    return pd.Series({"statistic": stat, "df": df, "p.value": float(stats.chi2.sf(stat, df))})


# ---------------------------------------------------------------------------- refits


def _refit(result: GEEResult, cols: Sequence[int], corr: Any = None) -> tuple[FloatArray, Any]:
    """Refit on a subset of the columns (or with another working correlation)."""
    d = result._data
    opts = d.options
    ws = build_workspace(
        d.X[:, list(cols)], d.y, d.w, d.offset, d.layout, result.corstr if corr is None else corr
    )
    with single_blas_thread():
        fit = fit_gee(
            ws,
            result.family,
            result.link,
            scale_fix=opts.get("scale_fix"),
            tol=opts.get("tol"),
            maxiter=opts.get("maxiter"),
            algorithm=opts.get("algorithm", "converge"),
            moments=opts.get("moments", "geepack"),
        )
    return fit.beta, fit


def anova_terms(
    result: GEEResult, type: str = "sequential", std_err: str | None = None
) -> pd.DataFrame:
    """Wald tests per term (see :meth:`GEEResult.anova`)."""
    if type not in ("sequential", "marginal"):
        raise ValueError(f"type must be 'sequential' or 'marginal', got {type!r}")
    mapping = term_columns(result)
    terms = [t for t in mapping if t != "(Intercept)"]
    kind = result.std_err if std_err is None else std_err
    rows = []
    for i, term in enumerate(terms):
        cols = mapping[term]
        if type == "marginal" or i == len(terms) - 1:
            stat, df = _wald(
                result.fixef.to_numpy(),
                result.get_vcov(kind).to_numpy(),
                np.eye(len(result.fixef_names))[cols],
                np.zeros(len(cols)),
            )
        else:
            keep = sorted(
                c
                for t, cs in mapping.items()
                if t == "(Intercept)" or t in terms[: i + 1]
                for c in cs
            )
            beta, V = result._subset_fit(keep, kind)
            pos = [keep.index(c) for c in cols]
            stat, df = _wald(beta, V, np.eye(len(keep))[pos], np.zeros(len(pos)))
        rows.append({"Df": df, "X2": stat, "P(>|Chi|)": float(stats.chi2.sf(stat, df))})
    table = pd.DataFrame(rows, index=terms, columns=["Df", "X2", "P(>|Chi|)"])
    table.attrs["heading"] = (
        "Analysis of 'Wald statistic' Table\n"
        f"Model: {result.family.name}, link: {result.link.name}\n"
        f"Response: {result.model.design.response_name}\n"
        + (
            "Terms added sequentially (first to last)"
            if type == "sequential"
            else "Each term tested jointly given all others"
        )
    )
    return table


def anova(
    *results: GEEResult, type: str = "sequential", std_err: str | None = None
) -> pd.DataFrame:
    """Wald tests for one GEE fit (per term) or two nested fits (geepack's ``anova``).

    With two fits of the same data, the coefficients of the larger model that the
    smaller one lacks (after projecting out the smaller model's columns, as geepack
    reparametrises) are tested jointly with the larger model's variance.

    Parameters
    ----------
    *results
        One fit, or two nested fits in either order.
    type
        For one fit: ``"sequential"`` or ``"marginal"`` (see :meth:`GEEResult.anova`).
    std_err
        Variance type (default: the larger fit's).

    Returns
    -------
    pandas.DataFrame
        ``Df``, ``X2``, ``P(>|Chi|)``.
    """
    if len(results) == 1:
        return anova_terms(results[0], type=type, std_err=std_err)
    if len(results) != 2:
        raise ValueError("anova takes one fit or two nested fits")
    a, b = results
    for r in results:
        if not r.rows_in_memory:
            raise ValueError(
                "anova of two nested fits needs both fits' rows in memory (it compares their "
                "model matrices); on a fit held in chunks test the extra terms of the larger "
                "fit with its wald_test(terms=...) or anova(type='marginal')"
            )
    Xa, Xb = a._data.X, b._data.X
    if Xa.shape[0] != Xb.shape[0] or not np.array_equal(a._data.y, b._data.y):
        raise ValueError("the two models were not fitted to the same observations")

    def inside(small: FloatArray, big: FloatArray) -> bool:
        coef, *_ = np.linalg.lstsq(big, small, rcond=None)
        resid = small - big @ coef
        return bool(np.all(np.var(resid, axis=0) < 1e-10 * np.maximum(np.var(small, axis=0), 1.0)))

    a_in_b, b_in_a = inside(Xa, Xb), inside(Xb, Xa)
    if a_in_b and b_in_a:
        raise ValueError("the two models are identical (same column space)")
    if not (a_in_b or b_in_a):
        raise ValueError("the two models are not nested")
    big, small = (b, a) if a_in_b else (a, b)
    X1, X2 = big._data.X, small._data.X
    Q, R = sla.qr(np.hstack([X2, X1]), mode="economic")
    rank = int(np.sum(np.abs(np.diag(R)) > 1e-10 * np.abs(R[0, 0])))
    Qe = Q[:, X2.shape[1] : rank]
    T = Qe.T @ X1
    stat, df = _wald(
        big.fixef.to_numpy(), big.get_vcov(std_err).to_numpy(), T, np.zeros(T.shape[0])
    )
    table = pd.DataFrame(
        [{"Df": df, "X2": stat, "P(>|Chi|)": float(stats.chi2.sf(stat, df))}],
        index=["1"],
        columns=["Df", "X2", "P(>|Chi|)"],
    )
    table.attrs["heading"] = (
        "Analysis of 'Wald statistic' Table\n"
        f"Model 1 {big.model.formula}\nModel 2 {small.model.formula}"
    )
    return table


# ---------------------------------------------------------------------------- QIC


def quasi_likelihood(family: Family, y: FloatArray, mu: FloatArray, w: FloatArray) -> float:
    """Quasi-likelihood ``sum w Q(y; mu)`` with geepack's constants.

    gaussian ``-(y - mu)^2 / 2``, binomial ``y log(mu / (1 - mu)) + log(1 - mu)``,
    poisson ``y log(mu) - mu``, Gamma ``-y / mu - log(mu)``; any other family
    ``-d(y, mu) / 2`` (its unit deviance), which differs from those only by terms in
    ``y`` that cancel in comparisons.
    """
    name = family.name
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "gaussian":
            q = -0.5 * (y - mu) ** 2
        elif name == "binomial":
            q = y * np.log(mu / (1.0 - mu)) + np.log1p(-mu)
        elif name == "poisson":
            q = y * np.log(mu) - mu
        elif name == "Gamma":
            q = -y / mu - np.log(mu)
        else:
            q = -0.5 * family.unit_deviance(y, mu)
    return float(np.sum(w * q))


def qic(*results: GEEResult, scaled: bool = False) -> pd.DataFrame:
    """QIC table of one or more fits (geepack's ``QIC(fit1, fit2, ...)``).

    Parameters
    ----------
    *results
        Fitted GEE models (of the same data, for the comparison to make sense).
    scaled
        Divide the quasi-likelihood by each fit's scale (see :meth:`GEEResult.qic`).

    Returns
    -------
    pandas.DataFrame
        One row per fit: ``QIC``, ``QICu``, ``QuasiLik``, ``CIC``, ``params``, ``QICC``.
    """
    if not results:
        raise ValueError("qic needs at least one fit")
    if len({r.nobs for r in results}) > 1:
        warnings.warn("models are not all fitted to the same number of observations", stacklevel=2)
    rows = [qic_of(r, scaled=scaled) for r in results]
    return pd.DataFrame(rows, index=[f"fit{i + 1}" for i in range(len(rows))])


def qic_of(result: GEEResult, scaled: bool = False) -> pd.Series:
    """QIC and friends of one fit (see :meth:`GEEResult.qic`)."""
    quasi = result._quasi_likelihood()
    if scaled:
        quasi /= result.scale
    omega_i = result._independence_precision()
    V_r = result.get_vcov("robust").to_numpy()
    trace = float(np.trace(omega_i @ V_r))
    p = len(result.fixef_names)
    kpm = p + result.corstr.n_params
    qic_value = -2.0 * (quasi - trace)
    return pd.Series(
        {
            "QIC": qic_value,
            "QICu": -2.0 * (quasi - p),
            "QuasiLik": quasi,
            "CIC": trace,
            "params": p,
            "QICC": qic_value + 2.0 * kpm * (kpm + 1) / (result.n_clusters - kpm - 1),
        }
    )
