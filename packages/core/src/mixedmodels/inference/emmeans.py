"""Estimated marginal means and their contrasts (emmeans' ``emmeans`` and ``pairs``).

The reference grid has every level of every factor of the fixed effects and each
numeric covariate at its mean over the rows used (or the values given in ``at``); the
marginal mean of a level of the ``specs`` factors is the equally weighted average of
the predictions over the other factors' levels (emmeans' default), a linear function
``L beta`` of the fixed effects.  Standard errors, denominator df (Satterthwaite or
Kenward-Roger, the latter with the adjusted covariance) and tests are those of
:func:`mixedmodels.contest`; fits other than linear mixed models (GLMMs) get asymptotic
inference (z tests, df ``inf``), as emmeans does for ``glmer`` fits.  ``type="response"``
back-transforms means through the inverse link (delta-method standard errors, intervals
back-transformed from the link scale, tests on the link scale) and contrasts on the log
or logit scale to ratios or odds ratios, as emmeans' ``summary(..., type = "response")``.

Contrasts: emmeans' families ``pairwise``, ``revpairwise``, ``trt.vs.ctrl`` (``ref``),
``consec``, ``poly``, ``eff``, ``del.eff`` or custom weights, with emmeans' default
adjustments within each ``by`` group (Tukey, Dunnett's approximation ``dunnettx``, the
multivariate t ``mvt``, none, FDR).  Intervals of p-value adjustments without an
interval counterpart (Holm, FDR) use Bonferroni's, as emmeans does.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, special, stats

from ..interfaces import FloatArray

__all__ = ["contrasts", "emmeans", "reference_grid"]

_ADJUST = ("tukey", "dunnettx", "mvt", "sidak", "holm", "fdr", "bonferroni", "none")
_ADJUST_ALIASES = {"bh": "fdr", "benjamini-hochberg": "fdr", "dunnett": "dunnettx"}
#: emmeans' default adjustment of each contrast family.
_FAMILY_ADJUST = {
    "pairwise": "tukey",
    "revpairwise": "tukey",
    "trt.vs.ctrl": "dunnettx",
    "consec": "mvt",
    "poly": "none",
    "eff": "fdr",
    "del.eff": "fdr",
}
#: Seed of the quasi-Monte Carlo integration of the multivariate t (``mvt``), so that
#: repeated calls agree.
_MVT_SEED = 20240611


def _as_list(x: Any) -> list[str]:
    if x is None:
        return []
    if isinstance(x, str):
        text = x.replace("~", " ").replace("+", " ").replace("*", " ").replace(":", " ")
        return [t for t in text.split() if t]
    return [str(v) for v in x]


def reference_grid(result: Any, at: dict[str, Any] | None = None) -> pd.DataFrame:
    """The reference grid of a fitted model (emmeans' ``ref_grid``): every combination
    of the factors' levels, numeric covariates at their means over the rows used (or
    at the values in ``at``; a list gives several)."""
    model = result.model
    part = model.design.spec.fixed
    data = model.data
    rows = data.loc[model.design.row_index] if data.index.is_unique else data
    at = dict(at or {})
    unknown = [k for k in at if k not in part.columns]
    if unknown:
        raise ValueError(
            f"at= names {unknown} that are not variables of the fixed effects ({part.columns})"
        )
    axes: dict[str, list[Any]] = {}
    for col in part.columns:
        factor = part.factors.get(col)
        if col in at:
            vals = at[col]
            axes[col] = list(vals) if isinstance(vals, list | tuple | np.ndarray) else [vals]
        elif factor is not None and factor.categorical:
            axes[col] = list(factor.levels)
        elif factor is None and not pd.api.types.is_numeric_dtype(rows[col]):
            codes = pd.Categorical(rows[col])
            axes[col] = [str(v) for v in codes.categories]
        else:
            axes[col] = [float(np.mean(np.asarray(rows[col], dtype=np.float64)))]
    combos = list(itertools.product(*axes.values()))
    grid = pd.DataFrame(combos, columns=list(axes))
    for col in grid.columns:
        source = data[col]
        if isinstance(source.dtype, pd.CategoricalDtype) and col not in at:
            grid[col] = pd.Categorical(
                grid[col], categories=source.cat.categories, ordered=source.cat.ordered
            )
    return grid


def _grid_matrix(result: Any, grid: pd.DataFrame) -> FloatArray:
    model = result.model
    full = np.asarray(model.design.fixed_matrix(grid), dtype=np.float64)
    keep = [list(model.design.fixef_names).index(c) for c in model.fixef_names]
    return full[:, keep]


def _labels(grid: pd.DataFrame, cols: Sequence[str], factors: dict[str, Any]) -> list[str]:
    """emmeans' level labels: values joined by a space; numeric-looking factor levels
    prefixed with the factor's name (in contrasts)."""
    parts = []
    for col in cols:
        values = [str(v) for v in grid[col]]
        numeric = all(_is_number(v) for v in values)
        parts.append([f"{col}{v}" for v in values] if numeric else values)
    return [" ".join(p) for p in zip(*parts, strict=True)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _means_matrix(
    result: Any, specs: list[str], by: list[str], at: dict[str, Any] | None
) -> tuple[pd.DataFrame, FloatArray]:
    """The levels of ``specs`` (within ``by``) and the matrix of their means."""
    part = result.model.design.spec.fixed
    grid = reference_grid(result, at)
    for name in specs + by:
        if name not in grid.columns:
            raise ValueError(
                f"{name!r} is not a variable of the fixed effects; choose from {list(grid.columns)}"
            )
        if len(grid[name].unique()) < 2 and name not in (at or {}):
            factor = part.factors.get(name)
            if factor is None or not factor.categorical:
                raise ValueError(
                    f"{name!r} is a numeric covariate (held at its mean); marginal means "
                    "are by factors, or give its values in at="
                )
    X = _grid_matrix(result, grid)
    keys = by + [s for s in specs if s not in by]
    cells = grid[keys].astype(str).agg("\x1f".join, axis=1) if keys else pd.Series([""] * len(grid))
    order = list(dict.fromkeys(cells))
    index = {c: i for i, c in enumerate(order)}
    groups = cells.map(index).to_numpy()
    counts = np.bincount(groups, minlength=len(order)).astype(float)
    L = np.zeros((len(order), X.shape[1]))
    np.add.at(L, groups, X)
    L /= counts[:, None]
    first = [int(np.flatnonzero(groups == i)[0]) for i in range(len(order))]
    levels = grid.iloc[first][keys].reset_index(drop=True)
    # emmeans' order: expand.grid over specs then by, the first varying fastest.
    codes = {k: levels[k].map({v: i for i, v in enumerate(dict.fromkeys(grid[k]))}) for k in keys}
    sort_keys = list(dict.fromkeys([*specs, *by]))
    order_idx = np.lexsort([codes[k].to_numpy() for k in sort_keys])
    levels = levels.iloc[order_idx].reset_index(drop=True)
    return levels[[*specs, *[b for b in by if b not in specs]]], L[order_idx]


def _tests(result: Any, L: FloatArray, ddf: str) -> tuple[FloatArray, FloatArray, FloatArray]:
    from .ddf import _t_rows

    return _t_rows(result, L, ddf, np.zeros(len(L)))


def _is_lmm(result: Any) -> bool:
    from ..linear.interface import is_linear_criterion

    return bool(is_linear_criterion(getattr(result, "_problem", None)))


def _ddf_method(result: Any, ddf: str | None) -> str:
    """``"auto"``: Satterthwaite for linear mixed models, asymptotic otherwise."""
    from .ddf import _require_lmm, normalize_ddf

    if ddf == "auto":
        return "satterthwaite" if _is_lmm(result) else "none"
    method = normalize_ddf(ddf)
    if method != "none":
        _require_lmm(result, f"ddf={ddf!r}")
    return method


def _link(result: Any) -> Any:
    """The fit's link, ``None`` for an identity link or a linear model."""
    link = getattr(result, "link", None)
    if link is None or getattr(link, "name", "identity") == "identity":
        return None
    return link


def _response_name(link: Any) -> str:
    """emmeans' name of a back-transformed mean."""
    if link.name in ("logit", "probit", "cloglog", "cauchit"):
        return "prob"
    if link.name == "log":
        return "rate"
    return "response"


def _check_type(type: str) -> str:
    key = str(type).lower()
    if key not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', got {type!r}")
    return key


def _finish(
    frame: pd.DataFrame,
    name: str,
    est: FloatArray,
    se: FloatArray,
    df: FloatArray,
    crit: FloatArray,
    p: FloatArray,
    inverse: Any = None,
    derivative: Any = None,
    null: float | None = None,
    response_name: str | None = None,
) -> pd.DataFrame:
    """Add emmeans' columns: the estimate (back-transformed with ``inverse`` and its
    ``derivative`` when given), SE, df, confidence limits, the test statistic and p."""
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    lower, upper = est - crit * se, est + crit * se
    asymptotic = bool(np.all(np.isinf(df)))
    lo_name, hi_name = ("asymp.LCL", "asymp.UCL") if asymptotic else ("lower.CL", "upper.CL")
    out = frame
    if inverse is None:
        out[name] = est
        out["SE"] = se
    else:
        out[response_name or name] = inverse(est)
        out["SE"] = se * np.abs(derivative(est))
        lower, upper = inverse(lower), inverse(upper)
    out["df"] = df
    out[lo_name] = lower
    out[hi_name] = upper
    if inverse is not None:
        out["null"] = null
    out["z.ratio" if asymptotic else "t.ratio"] = stat
    out["p.value"] = p
    return out


def _emmeans_table(
    result: Any,
    specs: Any,
    by: Any,
    at: dict[str, Any] | None,
    ddf: str | None,
    level: float,
    type: str = "link",
) -> tuple[pd.DataFrame, FloatArray, str]:
    """The means table of :func:`emmeans`, the matrix of its linear functions and the
    df method used."""
    method = _ddf_method(result, ddf)
    spec_list, by_list = _as_list(specs), _as_list(by)
    if "|" in str(specs):
        left, right = str(specs).split("|", 1)
        spec_list, by_list = _as_list(left), by_list + _as_list(right)
    if not spec_list:
        raise ValueError("specs must name at least one factor")
    levels, L = _means_matrix(result, spec_list, by_list, at)
    est, se, df = _tests(result, L, method)
    crit = np.asarray(stats.t.ppf(0.5 + level / 2.0, df), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.asarray(2.0 * stats.t.sf(np.abs(est / se), df), dtype=np.float64)
    link = _link(result) if _check_type(type) == "response" else None
    if link is None:
        out = _finish(levels.copy(), "emmean", est, se, df, crit, p)
    else:
        out = _finish(
            levels.copy(),
            "emmean",
            est,
            se,
            df,
            crit,
            p,
            inverse=link.inverse,
            derivative=link.mu_eta,
            null=float(link.inverse(np.zeros(1))[0]),
            response_name=_response_name(link),
        )
    return out, L, method


def emmeans(
    result: Any,
    specs: Any,
    by: Any = None,
    at: dict[str, Any] | None = None,
    ddf: str | None = "auto",
    level: float = 0.95,
    type: str = "link",
) -> pd.DataFrame:
    """Estimated marginal means (emmeans' ``emmeans(fit, specs, by)``).

    Parameters
    ----------
    result
        A fitted linear or generalized linear mixed model (or any result with
        ``fixef``, ``vcov`` and a formula-built model).
    specs
        Factor name(s) whose levels get a mean: ``"recipe"``, ``["recipe",
        "temperature"]``, ``"~ recipe"`` or ``"~ recipe | temperature"``.
    by
        Factor name(s) within whose levels the means are computed (reported as
        columns).
    at
        Values of covariates (or factor levels) to use in the grid instead of means
        (all levels).
    ddf
        ``"auto"`` (default: ``"satterthwaite"`` for linear mixed models, ``"none"``
        otherwise, as emmeans uses asymptotic inference for ``glmer`` fits),
        ``"satterthwaite"``, ``"kenward-roger"`` (emmeans' default for lmer fits;
        adjusted covariance; both for linear mixed models only) or ``"none"``
        (asymptotic, df ``inf``).
    level
        Confidence level.
    type
        ``"link"`` (default: the linear predictor's scale) or ``"response"``: means
        back-transformed through the inverse link, named ``prob`` (logit, probit,
        cloglog, cauchit links), ``rate`` (log) or ``response``, with delta-method
        standard errors, limits back-transformed from the link scale, and the tests
        (against ``null``, the inverse link of 0) on the link scale, as emmeans'
        ``type = "response"``.  No change for an identity link.

    Returns
    -------
    pandas.DataFrame
        The levels, then ``emmean``, ``SE``, ``df``, ``lower.CL``, ``upper.CL``,
        ``t.ratio`` and ``p.value`` (test of a zero mean), as emmeans'
        ``summary(..., infer = TRUE)``, the first factor varying fastest; with df
        ``inf`` (GLMMs, ``ddf="none"``) the limits are ``asymp.LCL``, ``asymp.UCL``
        and the statistic ``z.ratio``, as emmeans names them.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> fit = mm.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...               mm.datasets.load("cbpp"), family="binomial")
    >>> round(float(mm.emmeans(fit, "period", type="response")["prob"][0]), 3)
    0.198
    """
    return _emmeans_table(result, specs, by, at, ddf, level, type)[0]


def _adjust(
    p: FloatArray, t: FloatArray, df: FloatArray, k: int, method: str, corr: FloatArray
) -> FloatArray:
    """Adjusted p-values of one family of ``m`` tests (emmeans' ``.adj.p.value``);
    ``k`` is the number of means (Tukey), ``corr`` the tests' correlation (mvt)."""
    m = p.size
    if method == "none" or m == 0:
        return p
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    if method == "sidak":
        return np.asarray(-np.expm1(m * np.log1p(-p)))
    if method == "holm":
        order = np.argsort(p)
        adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
        out = np.empty(m)
        out[order] = adj
        return out
    if method == "fdr":  # Benjamini-Hochberg, R's p.adjust(p, "fdr")
        order = np.argsort(p)[::-1]
        adj = np.minimum(1.0, np.minimum.accumulate(p[order] * m / np.arange(m, 0, -1)))
        out = np.empty(m)
        out[order] = adj
        return out
    if method == "dunnettx":
        return np.asarray([_pdunnx_upper(abs(ti), m, di) for ti, di in zip(t, df, strict=True)])
    if method == "mvt":
        return np.asarray(
            [1.0 - _pmvt_band(abs(ti), di, corr) for ti, di in zip(t, df, strict=True)]
        )
    # Tukey: studentized range of k means.
    return np.asarray(
        [
            _ptukey_upper(abs(ti) * np.sqrt(2.0), k, di) if np.isfinite(ti) else np.nan
            for ti, di in zip(t, df, strict=True)
        ]
    )


def _dunnett_k(m: int) -> float:
    """emmeans' number of means whose range approximates ``m`` comparisons with a
    control: ``(1 + sqrt(1 + 8 m)) / 2`` (not an integer in general)."""
    return float((1.0 + np.sqrt(1.0 + 8.0 * m)) / 2.0)


def _pdunnx_upper(x: float, m: int, df: float) -> float:
    """Upper tail of emmeans' approximate Dunnett distribution (``1 - .pdunnx``): a
    mix of the studentized range (weight ``(m - 1) / m``) and Sidak's bound."""
    if not np.isfinite(x):
        return float("nan")
    twt = (m - 1.0) / m
    tukey = _ptukey_upper(np.sqrt(2.0) * x, _dunnett_k(m), df)  # type: ignore[arg-type]
    p1 = 2.0 * stats.t.sf(x, df)
    sidak = -np.expm1(m * np.log1p(-p1))
    return float(twt * tukey + (1.0 - twt) * sidak)


def _qdunnx(level: float, m: int, df: float) -> float:
    """emmeans' ``.qdunnx``: the quantile of the approximate Dunnett distribution,
    found between the Tukey and Sidak quantiles (solved to 1e-10 here; emmeans stops at
    ``uniroot``'s tolerance 5e-4, so its limits can differ in the fourth digit)."""
    from scipy import optimize

    x_sid = float(stats.t.ppf(1.0 - (1.0 - level ** (1.0 / m)) / 2.0, df))
    x_one = float(stats.t.ppf(0.5 + level / 2.0, df))
    # The root lies between the unadjusted and Sidak's quantiles (emmeans brackets it
    # more tightly by the Tukey quantile, slow to compute).
    f = lambda x: (1.0 - level) - _pdunnx_upper(x, m, df)  # noqa: E731
    if f(x_one) * f(x_sid) > 0:
        return float(stats.studentized_range.ppf(level, _dunnett_k(m), df)) / np.sqrt(2.0)
    return float(optimize.brentq(f, x_one, x_sid, xtol=1e-9, rtol=1e-12))


def _pmvt_band(x: float, df: float, corr: FloatArray) -> float:
    """``P(|T_j| < x for all j)`` for a multivariate t with correlation ``corr`` (the
    multivariate normal for df ``inf``): emmeans' ``mvt`` adjustment through mvtnorm's
    ``pmvt``, which like scipy integrates by randomised quasi-Monte Carlo (emmeans'
    figures vary by about 1e-3 from run to run; these by less, with a fixed seed).
    Like emmeans, a finite df is truncated to an integer."""
    m = corr.shape[0]
    if not np.isfinite(x):
        return float("nan")
    dof = np.inf if not np.isfinite(df) else max(1.0, float(np.floor(df)))
    upper = np.full(m, x)
    if m == 1:
        return float(1.0 - 2.0 * stats.t.sf(x, dof))
    value: Any
    if np.isinf(dof):  # scipy's multivariate t with df = inf returns 0
        value = stats.multivariate_normal.cdf(  # type: ignore[call-overload]
            upper,
            cov=corr,
            lower_limit=-upper,
            allow_singular=True,
            maxpts=20_000 * m,
            abseps=1e-7,
            releps=1e-7,
            rng=_MVT_SEED,
        )
    else:
        value = stats.multivariate_t.cdf(
            upper,
            shape=corr,
            df=dof,  # type: ignore[arg-type]
            lower_limit=-upper,
            allow_singular=True,
            maxpts=20_000 * m,
            random_state=_MVT_SEED,
        )
    return float(np.clip(value, 0.0, 1.0))


def _qmvt(level: float, df: float, corr: FloatArray) -> float:
    """The two-sided multivariate t quantile: ``P(max |T_j| < c) = level``."""
    from scipy import optimize

    m = corr.shape[0]
    dof = np.inf if not np.isfinite(df) else max(1.0, float(np.floor(df)))
    lo = float(stats.t.ppf(0.5 + level / 2.0, dof))
    hi = float(stats.t.ppf(1.0 - (1.0 - level) / (2.0 * m), dof)) + 1e-6
    return float(optimize.brentq(lambda c: _pmvt_band(c, df, corr) - level, lo, hi, xtol=1e-7))


_GL_Z, _GL_W = np.polynomial.legendre.leggauss(64)


def _range_upper(w: FloatArray, k: int) -> FloatArray:
    """``P(range of k standard normals > w)`` for each ``w``, integrated as the upper
    tail itself, ``k int phi(z) (Phi(z)^(k-1) - (Phi(z) - Phi(z - w))^(k-1)) dz``, so
    that a tail of 1e-10 keeps its relative accuracy (``1 - cdf`` keeps 1e-14 absolute)."""
    w = np.asarray(w, dtype=np.float64)[:, None, None]
    lo, hi = np.minimum(-9.0, w / 2 - 9.0), np.maximum(9.0, w / 2 + 9.0)
    edges = lo + (hi - lo) * np.linspace(0.0, 1.0, 5)[None, :, None]  # 4 panels of 64 nodes
    a_, b_ = edges[:, :-1], edges[:, 1:]
    z = (a_ + b_) / 2 + (b_ - a_) / 2 * _GL_Z[None, None, :]
    a = special.ndtr(z)
    b = special.ndtr(z - w)
    n = k - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = a**n * -np.expm1(n * np.log1p(-np.where(a > 0, b / a, 0.0)))
    f = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi) * np.nan_to_num(tail)
    return np.asarray(k * np.sum(f * (b_ - a_) / 2 * _GL_W[None, None, :], axis=(1, 2)))


def _ptukey_upper(q: float, k: int, df: float) -> float:
    """Upper tail of the studentized range (R's ``ptukey(q, k, df, lower.tail =
    FALSE)``), integrating the tail over ``s = chi_df / sqrt(df)``; scipy's
    ``studentized_range.sf`` is ``1 - cdf`` with ``epsabs = 1e-11`` and is 3e-4 off at
    p = 1e-10 (R's ptukey: 2e-5)."""
    if not np.isfinite(q) or not df > 0:
        return float("nan")
    if q <= 0:
        return 1.0
    if not np.isfinite(df) or df > 1e5:
        return float(_range_upper(np.array([q]), k)[0])
    log_c = (df / 2) * np.log(df / 2) + np.log(2.0) - special.gammaln(df / 2)

    def g(s: float) -> float:
        if s <= 0:
            return 0.0
        dens = np.exp(log_c + (df - 1) * np.log(s) - df * s * s / 2)
        return float(dens * _range_upper(np.array([q * s]), k)[0]) if dens > 0 else 0.0

    sd = 1.0 / np.sqrt(2.0 * df)
    pts = sorted({0.0, *[max(0.0, 1.0 + c * sd) for c in (-12, -6, -3, 0, 3, 6, 12)]})
    total = sum(
        integrate.quad(g, lo, hi, epsabs=0.0, epsrel=1e-10, limit=200)[0]
        for lo, hi in itertools.pairwise(pts)
    )
    total += integrate.quad(g, pts[-1], np.inf, epsabs=0.0, epsrel=1e-10, limit=200)[0]
    return float(min(1.0, total))


def _qtukey(level: float, k: int, df: FloatArray) -> FloatArray:
    """Studentized-range quantiles for each df.  scipy's quantile function is slow; the
    quantile is smooth in ``1 / df``, so for df within 1 % of each other it is
    interpolated (linearly in ``1 / df``, error far below 1e-8) between the ends."""
    df = np.asarray(df, dtype=np.float64)
    lo, hi = float(np.min(df)), float(np.max(df))
    if hi <= lo * (1.0 + 1e-10) or hi > lo * 1.01:
        qs = {d: float(stats.studentized_range.ppf(level, k, d)) for d in set(df.tolist())}
        return np.array([qs[d] for d in df.tolist()])
    q_lo = float(stats.studentized_range.ppf(level, k, lo))
    q_hi = float(stats.studentized_range.ppf(level, k, hi))
    frac = (1.0 / df - 1.0 / lo) / (1.0 / hi - 1.0 / lo)
    return np.asarray(q_lo + frac * (q_hi - q_lo))


def _critical(
    df: FloatArray, k: int, m: int, level: float, method: str, corr: FloatArray
) -> FloatArray:
    """Critical values of the intervals (emmeans' ``.adj.critval``): Holm and FDR, which
    have no interval counterpart, use Bonferroni's; one contrast is not adjusted."""
    if m == 1 and method != "none":
        method = "none"
    if method == "tukey":
        return _qtukey(level, k, df) / np.sqrt(2.0)
    if method in ("bonferroni", "holm", "fdr"):
        return np.asarray(stats.t.ppf(1.0 - (1.0 - level) / (2.0 * m), df))
    if method == "sidak":
        return np.asarray(stats.t.ppf(1.0 - (1.0 - level ** (1.0 / m)) / 2.0, df))
    if method == "dunnettx":
        # Satterthwaite df of one family differ in the ninth digit: one quantile for all.
        cache: dict[float, float] = {}
        keys = np.round(df, 6).tolist()
        for key, d in zip(keys, df.tolist(), strict=True):
            if key not in cache:
                cache[key] = _qdunnx(level, m, d)
        return np.asarray([cache[key] for key in keys])
    if method == "mvt":
        cache = {}
        return np.asarray(
            [cache.setdefault(d, _qmvt(level, d, corr)) for d in np.floor(df).tolist()]
        )
    return np.asarray(stats.t.ppf(0.5 + level / 2.0, df))


def _poly_weights(k: int) -> tuple[list[str], FloatArray]:
    """emmeans' ``poly.emmc``: orthogonal polynomials up to degree ``min(6, k - 1)``
    scaled to integers."""
    from ..design.contrasts import contr_poly

    names = ["linear", "quadratic", "cubic", "quartic", *[f"degree {d}" for d in range(5, 21)]]
    M = contr_poly(k)[:, : min(6, k - 1)]
    cols = []
    for j in range(M.shape[1]):
        con = M[:, j].copy()
        con = con / np.min(con[con > 0.01])
        z = np.max(np.abs(con - np.round(con)))
        while z > 0.05:
            con = con / z
            z = np.max(np.abs(con - np.round(con)))
        cols.append(np.round(con))
    return names[: M.shape[1]], np.column_stack(cols).T


def _ref_position(ref: Any, levels: list[str], raw: list[str]) -> int:
    """The 0-based position of the control level: a level (its value or label) or an
    int, a 1-based position as emmeans' ``ref =``."""
    if isinstance(ref, int | np.integer) and not isinstance(ref, bool):
        if not 1 <= int(ref) <= len(levels):
            raise ValueError(
                f"ref={ref} is out of range: give 1..{len(levels)} (1-based, as emmeans)"
            )
        return int(ref) - 1
    for pool in (raw, levels):
        if str(ref) in pool:
            return pool.index(str(ref))
    raise ValueError(f"ref={ref!r} is not one of the levels {raw}")


def _family_weights(
    method: str, labels: list[str], raw: list[str], ref: Any
) -> tuple[list[str], FloatArray]:
    """Names and weights (one row per contrast) of an emmeans contrast family over
    ``k`` means."""
    k = len(labels)
    eye = np.eye(k)
    if method in ("pairwise", "revpairwise"):
        pairs = list(itertools.combinations(range(k), 2))
        if method == "revpairwise":
            pairs = [(j, i) for i, j in pairs]
        names = [f"{labels[i]} - {labels[j]}" for i, j in pairs]
        return names, np.array([eye[i] - eye[j] for i, j in pairs]).reshape(-1, k)
    if method == "trt.vs.ctrl":
        r = _ref_position(1 if ref is None else ref, labels, raw)
        others = [i for i in range(k) if i != r]
        names = [f"{labels[i]} - {labels[r]}" for i in others]
        return names, np.array([eye[i] - eye[r] for i in others]).reshape(-1, k)
    if method == "consec":
        names = [f"{labels[i + 1]} - {labels[i]}" for i in range(k - 1)]
        return names, np.array([eye[i + 1] - eye[i] for i in range(k - 1)]).reshape(-1, k)
    if method == "poly":
        if k < 2:
            return [], np.zeros((0, k))
        return _poly_weights(k)
    if method in ("eff", "del.eff"):
        W = eye - 1.0 / k
        if method == "del.eff":
            W = W / np.diag(W)[:, None]
        return [f"{lab} effect" for lab in labels], W
    raise ValueError(
        f"unknown contrast method {method!r}; use one of {list(_FAMILY_ADJUST)} or a dict"
    )


def _normalize_adjust(adjust: str) -> str:
    key = str(adjust).lower()
    key = _ADJUST_ALIASES.get(key, key)
    if key not in _ADJUST:
        raise ValueError(f"unknown adjustment {adjust!r}; use one of {list(_ADJUST)}")
    return key


def contrasts(
    result: Any,
    specs: Any,
    method: str | dict[str, Sequence[float]] = "pairwise",
    by: Any = None,
    adjust: str | None = None,
    at: dict[str, Any] | None = None,
    ddf: str | None = "auto",
    level: float = 0.95,
    type: str = "link",
    ref: Any = None,
) -> pd.DataFrame:
    """Contrasts of estimated marginal means (emmeans' ``pairs`` / ``contrast``).

    Parameters
    ----------
    result, specs, by, at, ddf, level
        As for :func:`emmeans`.
    method
        An emmeans contrast family: ``"pairwise"`` (every difference ``a - b``, first
        level first, as ``pairs``), ``"revpairwise"``, ``"trt.vs.ctrl"`` (each level
        minus the control ``ref``), ``"consec"`` (each level minus the previous one),
        ``"poly"`` (orthogonal polynomials scaled to integers, up to degree 6),
        ``"eff"`` (each mean minus the mean of all), ``"del.eff"`` (each mean minus
        the mean of the others); or a dict of named contrast weights over the means
        (in :func:`emmeans`' row order within each ``by`` group).
    adjust
        Multiplicity adjustment within each ``by`` group; emmeans' default by family:
        ``"tukey"`` (pairwise), ``"dunnettx"`` (trt.vs.ctrl; emmeans' approximation of
        Dunnett's), ``"mvt"`` (consec; the multivariate t, by quasi-Monte Carlo with
        a fixed seed, accurate to about 1e-4), ``"fdr"`` (eff, del.eff), ``"none"``
        (poly, custom).  Also ``"holm"``, ``"bonferroni"``, ``"sidak"``.  Intervals:
        Tukey's studentized range, Dunnett's, the multivariate t or Sidak's for
        those, Bonferroni's for ``"holm"``, ``"fdr"`` and ``"bonferroni"``; a family
        of one contrast is not adjusted.
    type
        ``"link"`` (default) or ``"response"``: on a log link the contrasts are
        back-transformed to ratios (column ``ratio``; labels ``a / b``), on a logit
        link to odds ratios (``odds.ratio``), with delta-method standard errors,
        back-transformed limits and the tests (``null`` 1) on the link scale, as
        emmeans' ``summary(..., type = "response")``; on other links they stay on the
        link scale.
    ref
        The control of ``"trt.vs.ctrl"``: a level (e.g. ``"3"``), or an int, the
        1-based position as emmeans' ``ref =`` (default 1, the first level).

    Returns
    -------
    pandas.DataFrame
        ``contrast`` (and the ``by`` columns), ``estimate`` (or ``ratio`` /
        ``odds.ratio``), ``SE``, ``df``, ``lower.CL``, ``upper.CL``, ``t.ratio``,
        ``p.value`` (``asymp.LCL``, ``asymp.UCL``, ``z.ratio`` with df ``inf``);
        ``attrs["adjust"]`` names the adjustment.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> fit = mm.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...               mm.datasets.load("cbpp"), family="binomial")
    >>> odds = mm.contrasts(fit, "period", method="trt.vs.ctrl", type="response")
    >>> odds["contrast"].tolist()
    ['period2 / period1', 'period3 / period1', 'period4 / period1']
    """
    custom = not isinstance(method, str)
    if custom:
        family = "custom"
    else:
        family = str(method)
        if family not in _FAMILY_ADJUST:
            raise ValueError(
                f"unknown contrast method {method!r}; use one of {list(_FAMILY_ADJUST)} "
                "or a dict of weights"
            )
    if ref is not None and family != "trt.vs.ctrl":
        raise ValueError("ref= is for method='trt.vs.ctrl'")
    adj = _FAMILY_ADJUST.get(family, "none") if adjust is None else _normalize_adjust(adjust)
    if adj == "tukey" and family not in ("pairwise", "revpairwise"):
        raise ValueError(
            "the Tukey adjustment is for pairwise comparisons; use holm, bonferroni, sidak, "
            "mvt or fdr"
        )
    type = _check_type(type)
    means, L, ddf_method = _emmeans_table(result, specs, by, at, ddf, level)
    spec_list = _as_list(specs)
    by_list = _as_list(by)
    if "|" in str(specs):
        left, right = str(specs).split("|", 1)
        spec_list, by_list = _as_list(left), by_list + _as_list(right)
    labels = _labels(means, spec_list, {})
    raw = means[spec_list].astype(str).agg(" ".join, axis=1).tolist()
    link = _link(result) if type == "response" else None
    ratio_name = None
    if link is not None and link.name in ("log", "logit"):
        ratio_name = "odds.ratio" if link.name == "logit" else "ratio"
    group_keys = (
        means[by_list].astype(str).agg("\x1f".join, axis=1).tolist()
        if by_list
        else [""] * len(means)
    )
    V: FloatArray | None = None
    frames = []
    for key in dict.fromkeys(group_keys):
        rows = [i for i, g in enumerate(group_keys) if g == key]
        k = len(rows)
        if custom:
            assert isinstance(method, dict)
            names: list[str] = []
            wrows = []
            for name, wts in method.items():
                wv = np.asarray(wts, dtype=np.float64)
                if wv.size != k:
                    raise ValueError(f"contrast {name!r} has {wv.size} weights for {k} means")
                names.append(str(name))
                wrows.append(wv)
            W = np.vstack(wrows)
        else:
            names, W = _family_weights(
                family, [labels[i] for i in rows], [raw[i] for i in rows], ref
            )
        if ratio_name is not None and family in (
            "pairwise",
            "revpairwise",
            "trt.vs.ctrl",
            "consec",
        ):
            names = [n.replace(" - ", " / ") for n in names]
        C = W @ L[rows]
        est, se, df = _tests(result, C, ddf_method)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = est / se
        corr = np.eye(len(names))
        if adj == "mvt":
            # The tests' correlation, from the covariance the standard errors use.
            if V is None:
                V = _kr_vcov(result) if ddf_method == "kenward-roger" else result.vcov.to_numpy()
            cov = C @ V @ C.T
            sd = np.sqrt(np.diag(cov))
            corr = cov / np.outer(sd, sd)
        p_raw = np.asarray(2.0 * stats.t.sf(np.abs(t), df), dtype=np.float64)
        this_adj = "none" if len(names) == 1 else adj
        p = _adjust(p_raw, t, df, k, this_adj, corr)
        crit = _critical(df, k, len(names), level, this_adj, corr)
        frame = pd.DataFrame({"contrast": names})
        for name in by_list:
            frame[name] = means[name].iloc[rows[0]]
        if ratio_name is None:
            frames.append(_finish(frame, "estimate", est, se, df, crit, p))
        else:
            frames.append(
                _finish(
                    frame,
                    ratio_name,
                    est,
                    se,
                    df,
                    crit,
                    p,
                    inverse=np.exp,
                    derivative=np.exp,
                    null=1.0,
                )
            )
    out = pd.concat(frames, ignore_index=True)
    out.attrs["adjust"] = adj
    return out


def _kr_vcov(result: Any) -> FloatArray:
    from .ddf import vcov_kenward_roger

    return np.asarray(vcov_kenward_roger(result).to_numpy(), dtype=np.float64)
