"""The per-partition work of GEE on a Dask frame and the passes over the held
partitions (decision 0029): the partitions' workspaces, the sums of one pass, the
sums at a solution, and the driver's iteration (:class:`_Engine`).

The gee plugin is an optional dependency (the ``gee`` extra): it is imported here
only inside functions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.errors import ModelSpecificationError

from ._reduce import map_reduce, tree_reduce

__all__ = ["check_whole_clusters"]


def _gee_modules() -> Any:
    try:
        from mixedmodels_gee import _clusters, _correlation, _fit, _inference, _variance
    except ImportError as err:  # pragma: no cover - the extra is missing
        raise ImportError(
            "GEE on Dask frames needs the gee plugin: pip install 'mixedmodels-dask[gee]'"
        ) from err
    return _clusters, _correlation, _fit, _variance, _inference


def _combine(a: Any, b: Any) -> Any:
    """Add two partial sums (``None``: an empty partition)."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


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
class _Local:
    """One partition's rows of the fit (complete rows, clusters in a layout)."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    offset: np.ndarray
    layout: Any
    n_missing: int


def _used_rows(
    frame: pd.DataFrame, index: int, design: Any, groups: str, time: str | None
) -> tuple[Any, np.ndarray, int]:
    """The design's rows of a partition, the mask of those with a cluster (and time),
    and how many lack one."""
    r = design.rows(frame, index)
    sub = frame.iloc[r.rows]
    ok = np.array(sub[groups].notna().to_numpy(), dtype=bool)
    if time is not None:
        ok = ok & sub[time].notna().to_numpy()
    return r, ok, int(np.sum(~ok))


def _local_rows(
    frame: pd.DataFrame, index: int, design: Any, groups: str, time: str | None
) -> _Local | None:
    clusters, _, _, _, _ = _gee_modules()
    m = design.model
    r, ok, n_missing = _used_rows(frame, index, design, groups, time)
    if not np.any(ok):
        if n_missing == 0:
            return None
        empty = np.empty(0)
        return _Local(empty, empty, empty, empty, None, n_missing)
    sub = frame.iloc[r.rows[ok]].reset_index(drop=True)
    layout, _ = clusters.build_layout(groups, time, sub, sub.index, min_clusters=1)
    X = np.asarray(r.X, dtype=np.float64)[ok]
    y = np.asarray(r.y_raw, dtype=np.float64)[ok]
    n = X.shape[0]
    w = np.ones(n) if r.weights is None else np.asarray(r.weights, float)[ok]
    off = np.zeros(n) if r.offset is None else np.asarray(r.offset, float)[ok]
    if y.ndim == 2:
        # cbind(successes, failures): a proportion with the trials as weights, as glm.
        if m.family.name != "binomial" or y.shape[1] != 2:
            raise ValueError(
                f"a two-column response (cbind) needs the binomial family, not {m.family.name!r}"
            )
        trials = y[:, 0] + y[:, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(trials > 0, y[:, 0] / trials, 0.0)
        w = w * trials
    m.family.validate_response(y, w)
    return _Local(X, y, w, off, layout, n_missing)


@dataclass
class _Facts:
    """Counts and time points of all partitions (added over partitions)."""

    n_obs: int
    n_clusters: int
    n_missing: int
    sum_w: float
    unit_w: bool
    max_size: int
    times: np.ndarray
    pairs: np.ndarray | None

    def __add__(self, other: _Facts) -> _Facts:
        pairs = None
        if self.pairs is not None and other.pairs is not None:
            pairs = np.unique(np.concatenate([self.pairs, other.pairs]), axis=0)
        return _Facts(
            self.n_obs + other.n_obs,
            self.n_clusters + other.n_clusters,
            self.n_missing + other.n_missing,
            self.sum_w + other.sum_w,
            self.unit_w and other.unit_w,
            max(self.max_size, other.max_size),
            np.union1d(self.times, other.times),
            pairs,
        )


def _facts_of(local: _Local | None, pairs: bool) -> _Facts | None:
    if local is None:
        return None
    if local.layout is None:
        none = np.empty((0, 2)) if pairs else None
        return _Facts(0, 0, local.n_missing, 0.0, True, 0, np.empty(0), none)
    _, correlation, _, _, _ = _gee_modules()
    lay = local.layout
    return _Facts(
        n_obs=int(local.X.shape[0]),
        n_clusters=lay.n_clusters,
        n_missing=local.n_missing,
        sum_w=float(np.sum(local.w)),
        unit_w=bool(np.all(local.w == 1.0)),
        max_size=lay.max_size,
        times=lay.time_values,
        pairs=correlation.Unstructured.seen_pairs(lay) if pairs else None,
    )


@dataclass
class _Part:
    ws: Any  # the gee plugin's Workspace of this partition's clusters


def _workspace(local: _Local | None, corr: Any, time_values: np.ndarray) -> _Part | None:
    """The partition's workspace under the structure bound to all the data's times."""
    if local is None or local.layout is None:
        return None
    _, _, fit, _, _ = _gee_modules()
    layout = replace(local.layout, time_values=time_values)
    ws = fit.build_workspace(local.X, local.y, local.w, local.offset, layout, corr, bind=False)
    return _Part(ws)


def _columns(ws: Any, cols: list[int] | None) -> Any:
    return ws if cols is None else replace(ws, X=np.ascontiguousarray(ws.X[:, cols]))


# ------------------------------------------------------------- sums of one pass


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
    gee: Any = None  # the gee plugin's GEEMomentSums

    def __add__(self, b: _Sums) -> _Sums:
        a = self

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
            gee=plus(a.gee, b.gee),
        )


def _task(
    part: _Part | None,
    beta: np.ndarray,
    alpha: np.ndarray | None,
    cols: list[int] | None,
    family: Any,
    link: Any,
    score: bool,
    moments: bool,
    pairs: bool,
    gee_lags: int | None,
) -> _Sums | None:
    """One partition's sums at ``beta``: the scoring system (``score``) and the moment
    sums (``moments``; the pair sums with ``pairs``; R's gee's with ``gee_lags``)."""
    if part is None:
        return None
    _, _, fit, _, _ = _gee_modules()
    ws = _columns(part.ws, cols)
    rows = fit._rows(ws, beta, family, link)
    if not rows.valid:
        return _Sums(valid=False)
    out = _Sums(valid=True)
    if score:
        identity: list[Any] = [None] * len(ws.blocks)
        factors = identity if alpha is None else fit.correlation_factors(ws, alpha)
        out.H, out.G = fit._score(ws, factors, rows)
    if moments:
        pr = rows.pearson(ws.y)
        out.wpr2 = float(np.sum(ws.w * pr * pr))
        if pairs and ws.class_keys.size:
            S, N = fit.class_sums(ws, ws.w * pr, ws.w)
            out.keys, out.S, out.N = ws.class_keys.copy(), S, N
        if gee_lags is not None:
            out.gee = fit.gee_moment_sums(ws, pr, gee_lags)
    return out


@dataclass
class _Start:
    """Counts and the weighted least-squares system of R's glm.fit start."""

    A: np.ndarray
    b: np.ndarray

    def __add__(self, other: _Start) -> _Start:
        return _Start(self.A + other.A, self.b + other.b)


def _start_sums(
    part: _Part | None, cols: list[int] | None, family: Any, link: Any
) -> _Start | None:
    """The gee plugin's ``_glm_start`` as sums (one weighted least-squares step from
    the family's starting means)."""
    if part is None:
        return None
    ws = _columns(part.ws, cols)
    mu = family.starting_mu(ws.y, ws.w)
    eta = link.link(mu)
    mu_eta = link.mu_eta(eta)
    var = family.variance(mu)
    z = eta - ws.offset + (ws.y - mu) / mu_eta
    wt = ws.w * mu_eta**2 / var
    Xw = ws.X * wt[:, None]
    return _Start(Xw.T @ ws.X, Xw.T @ z)


# ------------------------------------------------------------- at the solution


@dataclass
class _State:
    """A solution: what the tasks need to recompute every row's quantities."""

    beta: np.ndarray
    alpha: np.ndarray  # NaN when there are no pairs
    has_alpha: bool
    scale: float
    scale_fixed: bool
    converged: bool
    n_iter: int
    cols: list[int] | None = None


@dataclass
class _Bag:
    """Named partial sums (added name by name; cluster sizes are concatenated)."""

    items: dict[str, Any] = field(default_factory=dict)

    def __add__(self, other: _Bag) -> _Bag:
        out = dict(self.items)
        for k, v in other.items.items():
            if k not in out:
                out[k] = v
            elif k == "sizes":
                out[k] = pd.concat([out[k], v])
            else:
                out[k] = out[k] + v
        return _Bag(out)


def _solution_task(
    part: _Part | None,
    state: _State,
    what: tuple[str, ...],
    omega: np.ndarray | None,
    bread: np.ndarray | None,
    family: Any,
    link: Any,
    fg_b: float,
) -> _Bag | None:
    """One partition's sums at a solution: ``"omega"`` (``sum W'W``), ``"meat:<kind>"``
    (needs the global ``omega`` and ``bread``), ``"nuisance"``, ``"quasi"`` (the
    quasi-likelihood), ``"sizes"`` (cluster sizes by label)."""
    if part is None:
        return None
    _, _, fit, variance, inference = _gee_modules()
    ws = _columns(part.ws, state.cols)
    rows = fit._rows(ws, state.beta, family, link)
    out: dict[str, Any] = {}
    if "quasi" in what:
        out["quasi"] = inference.quasi_likelihood(family, ws.y, rows.mu, ws.w)
    if "sizes" in what:
        lay = ws.layout
        out["sizes"] = pd.Series(lay.sizes, index=pd.Index(lay.labels, name="cluster"))
    needs_scores = [k for k in what if k not in ("quasi", "sizes")]
    if needs_scores:
        identity: list[Any] = [None] * len(ws.blocks)
        factors = fit.correlation_factors(ws, state.alpha) if state.has_alpha else identity
        at = fit.GEEFit(
            beta=state.beta,
            alpha=state.alpha,
            scale=state.scale,
            scale_fixed=state.scale_fixed,
            converged=True,
            n_iter=0,
            ws=ws,
            eta=rows.eta,
            mu=rows.mu,
            mu_eta=rows.mu_eta,
            var=rows.var,
            factors=factors,
        )
        cs = variance.cluster_scores(at)
        local_omega = cs.omega
        if omega is not None and bread is not None:
            cs = replace(cs, omega=omega, bread=bread)
        for key in needs_scores:
            if key == "omega":
                out[key] = local_omega
            elif key == "nuisance":
                out[key] = variance.nuisance_sums(at, cs.U, family)
            elif key.startswith("meat:"):
                out[key] = variance.cluster_meat(cs, key[5:], fg_b)
    return _Bag(out)


# --------------------------------------------------------------------- the engine


class _Engine:
    """The held partitions and the passes over them."""

    def __init__(
        self, held: list[Any], client: Any, family: Any, link: Any, facts: _Facts, p: int
    ) -> None:
        self.held = held
        self.client = client
        self.family = family
        self.link = link
        self.facts = facts
        self.p = p

    def reduce(self, task: Any) -> Any:
        return tree_reduce(self.held, task, _combine, self.client)

    def at_solution(
        self,
        state: _State,
        what: tuple[str, ...],
        omega: np.ndarray | None = None,
        bread: np.ndarray | None = None,
        fg_b: float = 0.75,
    ) -> dict[str, Any]:
        task = partial(
            _solution_task,
            state=state,
            what=what,
            omega=omega,
            bread=bread,
            family=self.family,
            link=self.link,
            fg_b=fg_b,
        )
        bag = self.reduce(task)
        return {} if bag is None else bag.items

    def fit(
        self,
        corr: Any,
        cols: list[int] | None = None,
        scale_fix: float | None = None,
        start: np.ndarray | None = None,
        tol: float | None = None,
        maxiter: int | None = None,
        algorithm: str = "converge",
        moments: str = "geepack",
        has_pairs: bool = False,
    ) -> _State:
        """:func:`mixedmodels_gee._fit.fit_gee`'s iteration on sums over partitions."""
        _, correlation, fitmod, _, _ = _gee_modules()
        if algorithm not in ("converge", "geepack"):
            raise ValueError(f"algorithm must be 'converge' or 'geepack', got {algorithm!r}")
        if moments not in fitmod.MOMENTS:
            raise ValueError(f"moments must be 'geepack' or 'gee', got {moments!r}")
        gee_like = moments == "gee"
        emulate = algorithm == "geepack"
        if gee_like and emulate:
            raise ValueError(
                "moments='gee' needs the default algorithm='converge' (algorithm='geepack' "
                "takes geepack's own steps)"
            )
        if gee_like and not self.facts.unit_w:
            raise ValueError(
                "moments='gee' takes no prior weights (gee::gee has none; a cbind() binomial "
                "response is weighted by its trials): use the default moments='geepack'"
            )
        fam, lnk = self.family, self.link
        n_coef = self.p if cols is None else len(cols)
        if tol is None:
            tol = 1e-4 if emulate else 1e-10
        if maxiter is None:
            maxiter = 25 if emulate else 100
        has_alpha = not corr.is_independence and has_pairs
        pairs = has_alpha and not gee_like
        gee_lags: int | None = None
        if gee_like:
            gee_lags = corr.m if isinstance(corr, correlation.MDependent) else 1
            pairs = has_alpha
        sum_w, n_obs = self.facts.sum_w, self.facts.n_obs

        def sums(beta: np.ndarray, alpha: np.ndarray | None, score: bool, mom: bool) -> _Sums:
            out = self.reduce(
                partial(
                    _task,
                    beta=beta,
                    alpha=alpha,
                    cols=cols,
                    family=fam,
                    link=lnk,
                    score=score,
                    moments=mom,
                    pairs=pairs,
                    gee_lags=gee_lags,
                )
            )
            if out is None:
                raise ModelSpecificationError("no complete rows in the Dask frame: nothing to fit")
            assert isinstance(out, _Sums)
            return out

        def step(
            beta: np.ndarray, current: _Sums, score_next: bool
        ) -> tuple[np.ndarray, _Sums, float, float]:
            """One Fisher-scoring step, halved while it leaves the valid range; the
            candidate's pass also gives the moment sums (and the next
            identity-correlation scoring system)."""
            assert current.H is not None and current.G is not None
            delta = fitmod._solve(current.H, current.G)
            t = 1.0
            for _ in range(40):
                new = beta + t * delta
                nxt = sums(new, None, score=score_next, mom=True)
                if nxt.valid:
                    d = np.abs(t * delta)
                    change = float(np.max(d / (1.0 + np.abs(new)), initial=0.0))
                    return new, nxt, change, float(np.max(d, initial=0.0))
                t *= 0.5
            raise fitmod.GEEError(
                "no step keeps the linear predictor in the link's domain and the means in "
                "the family's range; check the model or give start values"
            )

        def gee_estimates(current: _Sums) -> tuple[float, np.ndarray]:
            keys = current.keys if current.keys is not None else np.empty(0)
            S = current.S if current.S is not None else np.empty(0)
            out: tuple[float, np.ndarray] = fitmod.gee_moments_from_sums(
                corr, current.gee, keys, S, n_coef
            )
            return out

        n_iter = 0
        glm_ok = False
        if start is None:
            st = self.reduce(partial(_start_sums, cols=cols, family=fam, link=lnk))
            if st is None:
                raise ModelSpecificationError("no complete rows in the Dask frame: nothing to fit")
            beta = fitmod._solve(st.A, st.b)
        else:
            beta = np.asarray(start, dtype=np.float64).copy()
        current = sums(beta, None, score=True, mom=True)
        if not current.valid:
            raise fitmod.GEEError("the starting values give means outside the family's range")
        if start is None:
            glm_tol = 1e-12 if corr.is_independence or emulate else 1e-6
            for _ in range(max(maxiter, 100)):
                n_iter += 1
                beta, current, change, _ = step(beta, current, score_next=True)
                if change <= glm_tol:
                    glm_ok = True
                    break
        alpha = corr.start()
        gee_scale = 0.0
        gee_alpha = alpha
        if gee_like:
            gee_scale, gee_alpha = gee_estimates(current)
            scale = gee_scale if scale_fix is None else float(scale_fix)
            if has_alpha:
                alpha = gee_alpha
        elif scale_fix is not None:
            scale = float(scale_fix)
        elif emulate:
            scale = current.wpr2 / n_obs  # geepack: lm.fit of the squared GLM residuals
        else:
            scale = current.wpr2 / sum_w
        if has_alpha and not emulate and not gee_like:
            assert current.keys is not None and current.S is not None and current.N is not None
            alpha = corr.estimate(current.keys, current.S / scale, current.N, alpha)
        converged = corr.is_independence and not emulate and glm_ok
        if not converged:
            for _ in range(maxiter):
                n_iter += 1
                a = alpha if has_alpha else None
                system = sums(beta, a, score=True, mom=False)
                if not system.valid:  # pragma: no cover - beta was valid in the last pass
                    raise fitmod.GEEError("the GEE iterations left the family's range")
                beta, current, change, abs_change = step(beta, system, False)
                if emulate:
                    change = abs_change
                if gee_like:
                    gee_scale, gee_alpha = gee_estimates(current)
                if scale_fix is None:
                    new_scale = gee_scale if gee_like else current.wpr2 / sum_w
                    change = max(
                        change,
                        abs(new_scale - scale) / (1.0 if emulate else max(new_scale, 1e-300)),
                    )
                    scale = new_scale
                if has_alpha:
                    if gee_like:
                        new_alpha = gee_alpha
                    else:
                        assert current.keys is not None and current.S is not None
                        update = corr.fisher_step if emulate else corr.estimate
                        new_alpha = update(current.keys, current.S / scale, current.N, alpha)
                    change = max(change, float(np.max(np.abs(new_alpha - alpha), initial=0.0)))
                    alpha = new_alpha
                if change <= tol:
                    converged = True
                    break
        if not converged:
            warnings.warn(
                f"GEE did not converge in {maxiter} iterations; estimates may be inaccurate",
                fitmod.GEEConvergenceWarning,
                stacklevel=4,
            )
        if not np.all(np.isfinite(beta)):
            raise fitmod.GEEError("the GEE iterations diverged (non-finite coefficients)")
        if not has_alpha and corr.n_params:
            alpha = np.full(corr.n_params, np.nan)  # no pairs: nothing to estimate from
        return _State(
            beta=beta,
            alpha=np.asarray(alpha, dtype=np.float64),
            has_alpha=has_alpha,
            scale=float(scale),
            scale_fixed=scale_fix is not None,
            converged=converged,
            n_iter=n_iter,
            cols=cols,
        )


def _has_pairs(part: _Part | None) -> bool | None:
    """Whether the partition has a pair of rows with a class (``None``: empty)."""
    if part is None:
        return None
    return bool(part.ws.class_keys.size > 0)


def _any(a: bool | None, b: bool | None) -> bool | None:
    return b if a is None else a if b is None else a or b
