"""Generalized estimating equations on a Dask frame (decision 0029).

Clusters must sit whole in one partition: then each partition builds the gee plugin's
own per-cluster workspace of its clusters (held on the workers) and every quantity of
the fit is a sum over partitions: the Fisher-scoring system ``sum D'V^-1 D``,
``sum D'V^-1 r``, the scale's ``sum w r^2``, the correlation's pair sums per class
(merged by class key: partitions see different time pairs), and, at the solution, the
model-based precision ``sum W'W`` and the meat ``sum U_k U_k'`` of the robust variance.
The driver runs the same iteration as :func:`mixedmodels_gee._fit.fit_gee` (the
default ``algorithm="converge"``, ``moments="geepack"``) on those sums.

The gee plugin is an optional dependency (the ``gee`` extra): it is imported here only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.errors import ModelSpecificationError

from ._lmm import _add_moments, _column_name, _design_of, _kept_columns, _moments
from ._reduce import map_reduce, persist_partitions, resolve_client, tree_reduce

__all__ = ["DaskGEEResult", "gee"]

#: Working correlations whose moment equations are sums over pair classes that do
#: not depend on the set of all times (``bind`` is a no-op for them).
_STRUCTURES = ("independence", "exchangeable", "ar1")


def _gee_modules() -> Any:
    try:
        from mixedmodels_gee import _clusters, _correlation, _fit, _variance
    except ImportError as err:  # pragma: no cover - the extra is missing
        raise ImportError(
            "GEE on Dask frames needs the gee plugin: pip install 'mixedmodels-dask[gee]'"
        ) from err
    return _clusters, _correlation, _fit, _variance


# ------------------------------------------------------------------ whole clusters


def _cluster_values(frame: pd.DataFrame, index: int, groups: str) -> tuple[int, np.ndarray]:
    values = frame[groups].dropna().unique()
    return index, np.asarray(values)


def check_whole_clusters(ddf: Any, groups: str, client: Any) -> Any:
    """The frame with ``groups`` as a column, after checking that no cluster spans two
    partitions.  The cluster column as the index with known divisions needs no pass;
    otherwise one pass collects each partition's cluster values."""
    if groups not in ddf.columns:
        if ddf.index.name != groups:
            raise ModelSpecificationError(
                f"groups: column {groups!r} is not in the Dask frame (nor its index)"
            )
        if ddf.known_divisions:
            return ddf.reset_index()
        ddf = ddf.reset_index()
    parts = map_reduce(
        ddf,
        lambda frame, i: [_cluster_values(frame, i, groups)],
        lambda a, b: [*a, *b],
        client,
    )
    labels = np.concatenate([np.asarray(v, dtype=object) for _, v in parts])
    owner = np.concatenate([np.full(len(v), i) for i, v in parts])
    series = pd.Series(owner, index=pd.Index(labels, dtype=object))
    split = series.index.duplicated(keep=False)
    if np.any(split):
        first = series.index[split][0]
        where = sorted(int(i) for i in series[series.index == first])
        raise ModelSpecificationError(
            f"groups: cluster {first!r} of column {groups!r} has rows in partitions "
            f"{where}; GEE on a Dask frame needs each cluster whole in one partition: "
            f"use ddf.set_index({groups!r}) (or read_parquet(..., index={groups!r}, "
            "calculate_divisions=True))"
        )
    return ddf


# ------------------------------------------------------------- per-partition state


@dataclass
class _Part:
    ws: Any  # the gee plugin's Workspace of this partition's clusters
    sum_w: float


def _local_workspace(
    frame: pd.DataFrame, index: int, design: Any, groups: str, time: str | None, corstr: Any
) -> _Part | None:
    clusters, correlation, fit, _ = _gee_modules()
    m = design.model
    r = design.rows(frame, index)
    if r.rows.size == 0:
        return None
    sub = frame.iloc[r.rows].reset_index(drop=True)
    layout, keep = clusters.build_layout(groups, time, sub, sub.index)
    if not np.any(keep):
        return None
    X = np.asarray(r.X, dtype=np.float64)[keep]
    y = np.asarray(r.y_raw, dtype=np.float64)[keep]
    n = X.shape[0]
    w = np.ones(n) if r.weights is None else np.asarray(r.weights, float)[keep]
    off = np.zeros(n) if r.offset is None else np.asarray(r.offset, float)[keep]
    if y.ndim == 2:
        trials = y[:, 0] + y[:, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(trials > 0, y[:, 0] / trials, 0.0)
        w = w * trials
    m.family.validate_response(y, w)
    corr = correlation.resolve_corstr(corstr)
    ws = fit.build_workspace(X, y, w, off, layout, corr)
    return _Part(ws, float(np.sum(w)))


@dataclass
class _Sums:
    """Sums over partitions at one ``beta`` (and working correlation)."""

    valid: bool
    H: np.ndarray | None = None
    G: np.ndarray | None = None
    wpr2: float = 0.0
    keys: np.ndarray | None = None
    S: np.ndarray | None = None
    N: np.ndarray | None = None
    omega: np.ndarray | None = None
    meat: np.ndarray | None = None


def _add(a: _Sums | None, b: _Sums | None) -> _Sums | None:
    if a is None:
        return b
    if b is None:
        return a

    def plus(u: Any, v: Any) -> Any:
        return v if u is None else u if v is None else u + v

    keys = S = N = None
    if a.keys is not None or b.keys is not None:
        keys = np.concatenate([k for k in (a.keys, b.keys) if k is not None])
        S = np.concatenate([k for k in (a.S, b.S) if k is not None])
        N = np.concatenate([k for k in (a.N, b.N) if k is not None])
        keys, inv = np.unique(keys, return_inverse=True)
        S = np.bincount(inv, weights=S, minlength=keys.size)
        N = np.bincount(inv, weights=N, minlength=keys.size)
    return _Sums(
        valid=a.valid and b.valid,
        H=plus(a.H, b.H),
        G=plus(a.G, b.G),
        wpr2=a.wpr2 + b.wpr2,
        keys=keys,
        S=S,
        N=N,
        omega=plus(a.omega, b.omega),
        meat=plus(a.meat, b.meat),
    )


def _task(
    part: _Part | None,
    beta: np.ndarray,
    alpha: np.ndarray | None,
    family: Any,
    link: Any,
    score: bool,
    moments: bool,
    scale: float | None = None,
) -> _Sums | None:
    """One partition's sums at ``beta``: the scoring system (``score``), the moment
    sums (``moments``), or, with ``scale``, the variance's sums at the solution."""
    if part is None:
        return None
    _, _, fit, variance = _gee_modules()
    ws = part.ws
    rows = fit._rows(ws, beta, family, link)
    if not rows.valid:
        return _Sums(valid=False)
    identity: list[Any] = [None] * len(ws.blocks)
    factors = identity if alpha is None else fit.correlation_factors(ws, alpha)
    out = _Sums(valid=True)
    if scale is not None:
        state = fit.GEEFit(
            beta=beta,
            alpha=np.zeros(0) if alpha is None else alpha,
            scale=scale,
            scale_fixed=False,
            converged=True,
            n_iter=0,
            ws=ws,
            eta=rows.eta,
            mu=rows.mu,
            mu_eta=rows.mu_eta,
            var=rows.var,
            factors=factors,
        )
        cs = variance.cluster_scores(state)
        out.omega = cs.omega
        out.meat = cs.U.T @ cs.U
        return out
    if score:
        out.H, out.G = fit._score(ws, factors, rows)
    if moments:
        pr = rows.pearson(ws.y)
        out.wpr2 = float(np.sum(ws.w * pr * pr))
        if ws.class_keys.size:
            S, N = fit.class_sums(ws, ws.w * pr, ws.w)
            out.keys, out.S, out.N = ws.class_keys.copy(), S, N
    return out


@dataclass
class _Start:
    """Counts and the weighted least-squares system of R's glm.fit start."""

    n_obs: int
    n_clusters: int
    sum_w: float
    A: np.ndarray
    b: np.ndarray


def _start_sums(part: _Part | None, family: Any, link: Any) -> _Start | None:
    """The gee plugin's ``_glm_start`` as sums (one weighted least-squares step from
    the family's starting means)."""
    if part is None:
        return None
    ws = part.ws
    mu = family.starting_mu(ws.y, ws.w)
    eta = link.link(mu)
    mu_eta = link.mu_eta(eta)
    var = family.variance(mu)
    z = eta - ws.offset + (ws.y - mu) / mu_eta
    wt = ws.w * mu_eta**2 / var
    Xw = ws.X * wt[:, None]
    return _Start(ws.X.shape[0], ws.layout.n_clusters, part.sum_w, Xw.T @ ws.X, Xw.T @ z)


def _add_start(a: _Start | None, b: _Start | None) -> _Start | None:
    if a is None:
        return b
    if b is None:
        return a
    return _Start(
        a.n_obs + b.n_obs, a.n_clusters + b.n_clusters, a.sum_w + b.sum_w, a.A + b.A, a.b + b.b
    )


# --------------------------------------------------------------------- the result


@dataclass
class DaskGEEResult:
    """A GEE fit on a Dask frame: coefficients, robust and naive variances, the
    working-correlation parameters and the scale (what the in-memory
    :class:`mixedmodels_gee.GEEResult` gives for them)."""

    fixef_names: list[str]
    beta: np.ndarray
    vcov_robust: np.ndarray
    vcov_naive: np.ndarray
    alpha: np.ndarray
    alpha_names: list[str]
    scale: float
    converged: bool
    n_iter: int
    nobs: int
    n_clusters: int
    corstr: str

    @property
    def coef(self) -> pd.Series:
        return pd.Series(self.beta, index=self.fixef_names)

    fixef = coef

    def get_vcov(self, kind: str = "robust") -> pd.DataFrame:
        """``"robust"`` (sandwich) or ``"naive"``."""
        if kind not in ("robust", "naive"):
            raise ValueError(
                f"only the robust and naive variances are available on Dask frames, not {kind!r}"
            )
        v = self.vcov_robust if kind == "robust" else self.vcov_naive
        return pd.DataFrame(v, index=self.fixef_names, columns=self.fixef_names)

    @property
    def vcov(self) -> pd.DataFrame:
        return self.get_vcov("robust")

    @property
    def corr_params(self) -> pd.Series:
        return pd.Series(self.alpha, index=self.alpha_names, dtype=np.float64)


# --------------------------------------------------------------------- the driver


def gee(
    formula: str,
    data: Any,
    groups: Any,
    time: Any = None,
    family: Any = "gaussian",
    link: Any = None,
    corstr: Any = "independence",
    weights: Any = None,
    offset: Any = None,
    scale_fix: Any = None,
    std_err: str = "robust",
    contrasts: dict[str, str] | None = None,
    client: Any = None,
    **options: Any,
) -> DaskGEEResult:
    """Fit a GEE to a ``dask.dataframe.DataFrame``: the fit of
    :func:`mixedmodels_gee.gee` on all its rows in memory.

    Parameters
    ----------
    formula, family, link, weights, offset, contrasts
        As :func:`mixedmodels_gee.gee` (weights and offset as column names).
    data
        The Dask frame.  Each cluster must sit whole in one partition: make the
        cluster column the index (``ddf.set_index(groups)``, known divisions), or keep
        each cluster's rows in one partition (checked in one pass; an error otherwise).
    groups
        The cluster column's name.
    time
        Within-cluster time column.  Required for ``"ar1"``: a Dask frame does not keep
        the order of rows within a cluster (in memory the default is that order).
    corstr
        ``"independence"``, ``"exchangeable"`` or ``"ar1"``.
    scale_fix, std_err
        Only the defaults (``None``, ``"robust"``) on Dask frames.
    client
        A ``distributed.Client``; default as in :func:`mixedmodels_dask.lmm`.
    **options
        ``tol``, ``maxiter``.

    Returns
    -------
    DaskGEEResult
    """
    _, correlation, fit, variance = _gee_modules()
    unknown = sorted(set(options) - {"tol", "maxiter"})
    if unknown:
        raise ModelSpecificationError(
            f"options {unknown} are not available for GEE on a Dask frame (accepted: tol, maxiter)"
        )
    if not isinstance(groups, str):
        raise ModelSpecificationError("groups must be a column name on a Dask frame")
    if time is not None and not isinstance(time, str):
        raise ModelSpecificationError("time must be a column name on a Dask frame")
    corr = correlation.resolve_corstr(corstr)
    if corr.name not in _STRUCTURES:
        raise ModelSpecificationError(
            f"corstr {corr.describe()!r} is not available on Dask frames yet; "
            f"use one of {list(_STRUCTURES)}"
        )
    if corr.name == "ar1" and time is None:
        # In memory, ar1 pairs rows by their order within a cluster; a Dask frame's row
        # order within a cluster is not kept by set_index or a shuffle, so the fit would
        # silently depend on how the frame was partitioned.
        raise ModelSpecificationError(
            f"corstr 'ar1' on a Dask frame needs time=: the order of rows within a cluster "
            f"({groups!r}) is not kept by set_index or a shuffle; give the column that "
            f"orders observations within a cluster"
        )
    if scale_fix is not None or std_err != "robust":
        raise ModelSpecificationError(
            "scale_fix= and std_err= other than the defaults are not available on Dask "
            "frames yet (the robust and naive variances are: get_vcov('naive'))"
        )
    client = resolve_client(client)
    weights = _column_name(weights, "weights")
    offset = _column_name(offset, "offset")
    data = check_whole_clusters(data, groups, client)
    design = _design_of(formula, data, weights, offset, contrasts, client, family, link)
    model = design.model
    if model.terms:
        raise ModelSpecificationError(
            "GEE models the marginal mean: remove the random-effect terms ((...|...)) "
            "from the formula and give the clusters as groups="
        )
    x_full, _, _ = map_reduce(data, _moments(design), _add_moments, client)
    keep = _kept_columns(x_full, list(model.design.fixef_names))
    design.set_kept_columns(keep)
    held = persist_partitions(
        data,
        partial(_local_workspace, design=design, groups=groups, time=time, corstr=corstr),
        client,
    )
    fam, lnk = model.family, model.link

    def reduce(task: Any) -> Any:
        return tree_reduce(held, task, _add, client)

    def sums(beta: np.ndarray, alpha: np.ndarray | None, score: bool, moments: bool) -> _Sums:
        out = reduce(
            partial(
                _task, beta=beta, alpha=alpha, family=fam, link=lnk, score=score, moments=moments
            )
        )
        if out is None:
            raise ModelSpecificationError("no complete rows in the Dask frame: nothing to fit")
        return out

    start = tree_reduce(held, partial(_start_sums, family=fam, link=lnk), _add_start, client)
    if start is None:
        raise ModelSpecificationError("no complete rows in the Dask frame: nothing to fit")
    n_obs, n_clusters, sum_w = start.n_obs, start.n_clusters, start.sum_w
    beta = fit._solve(start.A, start.b)
    tol = options.get("tol") or 1e-10
    maxiter = options.get("maxiter") or 100

    def step(beta: np.ndarray, current: _Sums, score_next: bool) -> tuple[np.ndarray, _Sums, float]:
        """One Fisher-scoring step, halved while it leaves the valid range; the
        candidate's pass also gives the moment sums (and the next identity-correlation
        scoring system)."""
        assert current.H is not None and current.G is not None
        delta = fit._solve(current.H, current.G)
        t = 1.0
        for _ in range(40):
            new = beta + t * delta
            nxt = sums(new, None, score=score_next, moments=True)
            if nxt.valid:
                d = np.abs(t * delta)
                return new, nxt, float(np.max(d / (1.0 + np.abs(new)), initial=0.0))
            t *= 0.5
        raise fit.GEEError(
            "no step keeps the linear predictor in the link's domain and the means in the "
            "family's range; check the model or give start values"
        )

    current = sums(beta, None, score=True, moments=False)
    if not current.valid:
        raise fit.GEEError("the starting values give means outside the family's range")
    # The GLM fit is the start for every structure and the answer for independence.
    glm_tol = 1e-12 if corr.is_independence else 1e-6
    glm_ok = False
    n_iter = 0
    for _ in range(max(maxiter, 100)):
        n_iter += 1
        beta, current, change = step(beta, current, score_next=True)
        if change <= glm_tol:
            glm_ok = True
            break
    scale = current.wpr2 / sum_w
    alpha = corr.start()
    keys = current.keys if current.keys is not None else np.empty(0)
    has_alpha = not corr.is_independence and keys.size > 0
    if has_alpha:
        alpha = corr.estimate(keys, current.S / scale, current.N, alpha)
    converged = corr.is_independence and glm_ok
    if not converged:
        for _ in range(maxiter):
            n_iter += 1
            a = alpha if has_alpha else None
            beta, current, change = step(beta, sums(beta, a, score=True, moments=False), False)
            new_scale = current.wpr2 / sum_w
            change = max(change, abs(new_scale - scale) / max(new_scale, 1e-300))
            scale = new_scale
            if has_alpha:
                new_alpha = corr.estimate(current.keys, current.S / scale, current.N, alpha)
                change = max(change, float(np.max(np.abs(new_alpha - alpha), initial=0.0)))
                alpha = new_alpha
            if change <= tol:
                converged = True
                break
    if not converged:
        warnings.warn(
            f"GEE did not converge in {maxiter} iterations; estimates may be inaccurate",
            fit.GEEConvergenceWarning,
            stacklevel=2,
        )
    if not has_alpha and corr.n_params:
        alpha = np.full(corr.n_params, np.nan)
    final = reduce(
        partial(
            _task,
            beta=beta,
            alpha=alpha if has_alpha else None,
            family=fam,
            link=lnk,
            score=False,
            moments=False,
            scale=scale,
        )
    )
    omega = 0.5 * (final.omega + final.omega.T)
    bread = variance._inv_sym(omega)
    robust = bread @ final.meat @ bread
    robust = 0.5 * (robust + robust.T)
    names = list(model.fixef_names)
    return DaskGEEResult(
        fixef_names=names,
        beta=beta,
        vcov_robust=robust,
        vcov_naive=bread,
        alpha=np.asarray(alpha, dtype=np.float64),
        alpha_names=list(corr.param_names),
        scale=float(scale),
        converged=converged,
        n_iter=n_iter,
        nobs=int(n_obs),
        n_clusters=int(n_clusters),
        corstr=corr.describe(),
    )
