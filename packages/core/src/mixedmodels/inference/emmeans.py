"""Estimated marginal means and their contrasts (emmeans' ``emmeans`` and ``pairs``).

The reference grid has every level of every factor of the fixed effects and each
numeric covariate at its mean over the rows used (or the values given in ``at``); the
marginal mean of a level of the ``specs`` factors is the equally weighted average of
the predictions over the other factors' levels (emmeans' default), a linear function
``L beta`` of the fixed effects.  Standard errors, denominator df (Satterthwaite or
Kenward-Roger, the latter with the adjusted covariance) and tests are those of
:func:`mixedmodels.contest`; pairwise contrasts get Tukey, Holm, Bonferroni or no
adjustment within each ``by`` group, as emmeans (confidence intervals of Holm-adjusted
contrasts use Bonferroni's, as emmeans does).
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

_ADJUST = ("tukey", "holm", "bonferroni", "none")


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


def _emmeans_table(
    result: Any,
    specs: Any,
    by: Any,
    at: dict[str, Any] | None,
    ddf: str | None,
    level: float,
) -> tuple[pd.DataFrame, FloatArray]:
    """The means table of :func:`emmeans` and the matrix of its linear functions."""
    from .ddf import normalize_ddf

    method = normalize_ddf(ddf)
    spec_list, by_list = _as_list(specs), _as_list(by)
    if "|" in str(specs):
        left, right = str(specs).split("|", 1)
        spec_list, by_list = _as_list(left), by_list + _as_list(right)
    if not spec_list:
        raise ValueError("specs must name at least one factor")
    levels, L = _means_matrix(result, spec_list, by_list, at)
    est, se, df = _tests(result, L, method)
    crit = stats.t.ppf(0.5 + level / 2.0, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    out = levels.copy()
    out["emmean"] = est
    out["SE"] = se
    out["df"] = df
    out["lower.CL"] = est - crit * se
    out["upper.CL"] = est + crit * se
    out["t.ratio"] = t
    out["p.value"] = 2.0 * stats.t.sf(np.abs(t), df)
    return out, L


def emmeans(
    result: Any,
    specs: Any,
    by: Any = None,
    at: dict[str, Any] | None = None,
    ddf: str | None = "satterthwaite",
    level: float = 0.95,
) -> pd.DataFrame:
    """Estimated marginal means (emmeans' ``emmeans(fit, specs, by)``).

    Parameters
    ----------
    result
        A fitted linear mixed model (or any result with ``fixef``, ``vcov`` and a
        formula-built model, with ``ddf="none"``).
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
        ``"satterthwaite"`` (default), ``"kenward-roger"`` (emmeans' default for lmer
        fits; adjusted covariance) or ``"none"`` (asymptotic, df ``inf``).
    level
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        The levels, then ``emmean``, ``SE``, ``df``, ``lower.CL``, ``upper.CL``,
        ``t.ratio`` and ``p.value`` (test of a zero mean), as emmeans'
        ``summary(..., infer = TRUE)``, the first factor varying fastest.
    """
    return _emmeans_table(result, specs, by, at, ddf, level)[0]


def _adjust(p: FloatArray, t: FloatArray, df: FloatArray, k: int, method: str) -> FloatArray:
    m = p.size
    if method == "none" or m == 0:
        return p
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    if method == "holm":
        order = np.argsort(p)
        adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
        out = np.empty(m)
        out[order] = adj
        return out
    # Tukey: studentized range of k means.
    return np.asarray(
        [
            _ptukey_upper(abs(ti) * np.sqrt(2.0), k, di) if np.isfinite(ti) else np.nan
            for ti, di in zip(t, df, strict=True)
        ]
    )


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


def _critical(df: FloatArray, k: int, m: int, level: float, method: str) -> FloatArray:
    if method == "tukey":
        return _qtukey(level, k, df) / np.sqrt(2.0)
    if method in ("bonferroni", "holm"):
        return np.asarray(stats.t.ppf(1.0 - (1.0 - level) / (2.0 * m), df))
    return np.asarray(stats.t.ppf(0.5 + level / 2.0, df))


def contrasts(
    result: Any,
    specs: Any,
    method: str | dict[str, Sequence[float]] = "pairwise",
    by: Any = None,
    adjust: str | None = None,
    at: dict[str, Any] | None = None,
    ddf: str | None = "satterthwaite",
    level: float = 0.95,
) -> pd.DataFrame:
    """Contrasts of estimated marginal means (emmeans' ``pairs`` / ``contrast``).

    Parameters
    ----------
    result, specs, by, at, ddf, level
        As for :func:`emmeans`.
    method
        ``"pairwise"`` (every difference ``a - b``, first level first, as emmeans'
        ``pairs``) or a dict of named contrast weights over the means (in
        :func:`emmeans`' row order within each ``by`` group).
    adjust
        Multiplicity adjustment within each ``by`` group: ``"tukey"`` (default for
        pairwise), ``"holm"``, ``"bonferroni"`` or ``"none"`` (default for custom
        contrasts).  Intervals: Tukey's studentized range, Bonferroni for ``"holm"``
        and ``"bonferroni"``.

    Returns
    -------
    pandas.DataFrame
        ``contrast`` (and the ``by`` columns), ``estimate``, ``SE``, ``df``,
        ``lower.CL``, ``upper.CL``, ``t.ratio``, ``p.value``;
        ``attrs["adjust"]`` names the adjustment.
    """
    from .ddf import normalize_ddf

    ddf_method = normalize_ddf(ddf)
    pairwise = isinstance(method, str)
    if pairwise and method not in ("pairwise", "revpairwise"):
        raise ValueError(f"unknown contrast method {method!r}; use 'pairwise' or a dict")
    adj = ("tukey" if pairwise else "none") if adjust is None else str(adjust).lower()
    if adj not in _ADJUST:
        raise ValueError(f"unknown adjustment {adjust!r}; use one of {list(_ADJUST)}")
    if adj == "tukey" and not pairwise:
        raise ValueError("the Tukey adjustment is for pairwise comparisons; use holm or bonferroni")
    means, L = _emmeans_table(result, specs, by, at, ddf_method, level)
    spec_list = _as_list(specs)
    by_list = _as_list(by)
    if "|" in str(specs):
        left, right = str(specs).split("|", 1)
        spec_list, by_list = _as_list(left), by_list + _as_list(right)
    labels = _labels(means, spec_list, {})
    group_keys = (
        means[by_list].astype(str).agg("\x1f".join, axis=1).tolist()
        if by_list
        else [""] * len(means)
    )
    frames = []
    for key in dict.fromkeys(group_keys):
        rows = [i for i, g in enumerate(group_keys) if g == key]
        k = len(rows)
        names: list[str] = []
        weights: list[FloatArray] = []
        if pairwise:
            for i1, i2 in itertools.combinations(range(k), 2):
                first, second = (i1, i2) if method == "pairwise" else (i2, i1)
                w = np.zeros(len(means))
                w[rows[first]], w[rows[second]] = 1.0, -1.0
                names.append(f"{labels[rows[first]]} - {labels[rows[second]]}")
                weights.append(w)
        else:
            assert isinstance(method, dict)
            for name, wts in method.items():
                wv = np.asarray(wts, dtype=np.float64)
                if wv.size != k:
                    raise ValueError(f"contrast {name!r} has {wv.size} weights for {k} means")
                w = np.zeros(len(means))
                w[rows] = wv
                names.append(str(name))
                weights.append(w)
        C = np.vstack(weights) @ L
        est, se, df = _tests(result, C, ddf_method)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = est / se
        p_raw = np.asarray(2.0 * stats.t.sf(np.abs(t), df), dtype=np.float64)
        p = _adjust(p_raw, t, df, k, adj)
        crit = _critical(df, k, len(names), level, adj)
        frame = pd.DataFrame({"contrast": names})
        for name in by_list:
            frame[name] = means[name].iloc[rows[0]]
        frame["estimate"] = est
        frame["SE"] = se
        frame["df"] = df
        frame["lower.CL"] = est - crit * se
        frame["upper.CL"] = est + crit * se
        frame["t.ratio"] = t
        frame["p.value"] = p
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out.attrs["adjust"] = adj
    return out
