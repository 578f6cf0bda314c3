"""Observation- and group-level influence (R's influence.ME and HLMdiag).

Two ways to get the fixed effects without an observation (or a level of a grouping
factor):

``method="exact"``
    Refit the model without it (influence.ME's ``influence()``, HLMdiag's
    ``case_delete``), starting from the full fit's variance parameters.  Gives every
    measure, including the relative change of the variance components (RVC).
``method="approx"``
    HLMdiag's closed-form one-step updates for ``lmerMod`` (Christensen, Pearson &
    Johnson 1992): the variance components are held at the full-data estimates, so the
    deleted-data estimates are the generalised-least-squares ones, exact for that fixed
    marginal covariance ``V``.  For a GLMM the same formulas are applied to the
    linearised model at the final PIRLS iteration (working response and weights), and
    the fixed-effect covariance is that model's ``(X' V^-1 X)^-1``.

Measures (``p`` fixed effects, ``V`` the full-data and ``V_(i)`` the deleted-data
covariance of the fixed effects):

* ``cooks_distance``: ``(b - b_(i))' V^-1 (b - b_(i)) / p`` (full-data ``V``, HLMdiag).
* ``mdffits``: the same with ``V_(i)``.  This is what influence.ME's
  ``cooks.distance()`` computes: its source uses the vcov of each deleted-data refit.
* ``covratio``: ``det(V_(i)) / det(V)``; ``covtrace``: ``|tr(V^-1 V_(i)) - p|``.
* ``rvc_*``: each variance component of the refit over the full-data one, minus 1
  (HLMdiag's ``rvc``; exact method only).
* ``leverage`` (``leverage_fixef`` + ``leverage_ranef``): the diagonal of Demidenko &
  Stukel's ``H1 = X (X'V^-1 X)^-1 X' V^-1`` and ``H2 = Z D Z' V^-1 (I - H1)``;
  ``leverage_ranef_uc`` is Nobre & Singer's ``diag(Z D Z') / sigma^2``.  At the group
  level, the trace of the group's diagonal block (HLMdiag reports the mean over the
  group's observations instead: divide by the group size).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mixedmodels.interfaces import Diagnostic, FloatArray

__all__ = ["DIAGNOSTICS", "InfluenceDiagnostic", "InfluenceResult", "influence"]

MEASURES = ["cooks_distance", "mdffits", "covratio", "covtrace"]
# Largest dense n x q random-effect design built for the one-step formulas.
_MAX_DENSE_ENTRIES = 50_000_000


# --- what can be analysed -----------------------------------------------------------------
def _unsupported(result: Any) -> str | None:
    """Why ``result`` cannot be analysed (``None`` if it can); never raises."""
    try:
        from mixedmodels import GLMMResult, LMMResult
    except ImportError:  # pragma: no cover - the core always exports both
        return "mixedmodels is not importable"
    if not isinstance(result, LMMResult | GLMMResult):
        return f"influence needs a fitted LMMResult or GLMMResult, not a {type(result).__name__}"
    model = getattr(result, "model", None)
    if model is None or not getattr(model, "terms", None):
        return "the model has no random-effect terms"
    if getattr(model, "extras", None):
        return (
            "models with residual correlation or variance structures "
            f"({sorted(model.extras)}) are not supported"
        )
    return None


def _is_glmm(result: Any) -> bool:
    from mixedmodels import GLMMResult

    return isinstance(result, GLMMResult)


# --- the units deleted ----------------------------------------------------------------------
def _units(result: Any, group: str | None) -> tuple[str, pd.Index, list[np.ndarray]]:
    """Name of the level, labels of the units, and the row positions of each unit."""
    model = result.model
    n = int(result.nobs)
    if group is None:
        index = pd.Index(model.design.row_index, name="observation")
        return "observation", index, [np.array([i]) for i in range(n)]
    if not isinstance(group, str):
        raise TypeError(f"group must be a grouping-factor name or None, got {group!r}")
    terms = [t for t in model.terms if t.group_name == group]
    if not terms:
        known = list(dict.fromkeys(t.group_name for t in model.terms))
        raise ValueError(
            f"unknown grouping factor {group!r}; the model's grouping factors are {known}"
        )
    term = terms[0]
    codes = np.asarray(term.codes)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(term.n_levels + 1))
    rows = [order[bounds[k] : bounds[k + 1]] for k in range(term.n_levels)]
    return group, pd.Index(list(term.levels), name=group), rows


# --- variance components ----------------------------------------------------------------------
def _varcomp(fit: Any) -> pd.Series:
    """Each random-effect covariance's lower triangle (column-major, as HLMdiag's
    ``varcomp.mer``), then the residual variance or dispersion."""
    names: list[str] = []
    values: list[float] = []
    for group, cov in fit.covariance_matrices().items():
        c = cov.to_numpy()
        cols = list(cov.columns)
        for j in range(len(cols)):
            for i in range(j, len(cols)):
                kind = f"var_{cols[i]}" if i == j else f"cov_{cols[i]}.{cols[j]}"
                names.append(f"{kind}|{group}")
                values.append(float(c[i, j]))
    if not _is_glmm(fit):
        names.append("sigma2")
        values.append(float(fit.sigma) ** 2)
    elif getattr(fit, "dispersion", None) is not None:
        names.append("dispersion")
        values.append(float(fit.dispersion))
    return pd.Series(values, index=names, dtype=float)


# --- the random-effect design and the linearised model -------------------------------------
def _lambdas(result: Any) -> list[FloatArray]:
    """Relative covariance factor of each term, from the structures and theta."""
    model = result.model
    theta = np.asarray(result.theta, dtype=np.float64)
    out, k = [], 0
    for s in model.structures:
        out.append(np.asarray(s.factor(theta[k : k + s.n_params]), dtype=np.float64))
        k += s.n_params
    return out


def _z_lambda(result: Any) -> FloatArray:
    """Dense ``Z Lambda`` (n x q), columns level-major within each term."""
    model = result.model
    n = int(result.nobs)
    lams = _lambdas(result)
    q = sum(t.n_levels * t.dim for t in model.terms)
    if n * q > _MAX_DENSE_ENTRIES:
        raise MemoryError(
            f"method='approx' builds a dense {n} x {q} random-effect design; "
            "use method='exact' for a model this large"
        )
    A = np.zeros((n, q))
    rows = np.arange(n)
    offset = 0
    for t, lam in zip(model.terms, lams, strict=True):
        zl = np.asarray(t.Z, dtype=np.float64) @ lam  # (n, dim)
        codes = np.asarray(t.codes)
        for j in range(t.dim):  # a loop over the term's columns (few)
            A[rows, offset + codes * t.dim + j] = zl[:, j]
        offset += t.n_levels * t.dim
    return A


@dataclass
class _Linear:
    """The (linearised) model in whitened coordinates: ``Var(y) = scale (I + A A')``."""

    X: FloatArray
    y: FloatArray
    A: FloatArray
    scale: float
    A_raw: FloatArray  # Z Lambda before whitening, for Nobre & Singer's leverage


def _linearise(result: Any) -> _Linear:
    model = result.model
    X = np.asarray(model.X, dtype=np.float64)
    A = _z_lambda(result)
    offset = 0.0 if model.offset is None else np.asarray(model.offset, dtype=np.float64)
    if _is_glmm(result):
        eta = result.linear_predictor().to_numpy(dtype=np.float64)
        mu = result.fitted().to_numpy(dtype=np.float64)
        y = np.asarray(model.y, dtype=np.float64)
        mu_eta = result.link.mu_eta(eta)
        pw = model.prior_weights
        pw = np.ones_like(mu) if pw is None else np.asarray(pw, dtype=np.float64)
        # PIRLS's last iteration: working response and weights (lme4's `weights(fit,
        # "working")`); the dispersion, where there is one, scales the residual part.
        w = pw * mu_eta**2 / result.family.variance(mu)
        z = eta - offset + (y - mu) / mu_eta
        scale = float(result.dispersion) if getattr(result, "dispersion", None) else 1.0
    else:
        z = np.asarray(model.response, dtype=np.float64) - offset
        w = np.ones(X.shape[0]) if model.weights is None else np.asarray(model.weights)
        scale = float(result.sigma) ** 2
    sw = np.sqrt(w)
    # Whitening by the prior/working weights leaves every deletion measure unchanged.
    return _Linear(sw[:, None] * X, sw * z, sw[:, None] * A, scale, A)


@dataclass
class _Pieces:
    XVXinv: FloatArray
    XVX: FloatArray
    G: FloatArray  # A L^-T, so that A (I + A'A)^-1 A' = G G'
    W: FloatArray  # V^-1 X
    r: FloatArray  # V^-1 (y - X b) = P y
    scale: float


def _pieces(lin: _Linear) -> _Pieces:
    """``V^-1`` applied by Woodbury: ``V^-1 = (I - A (I + A'A)^-1 A') / scale``."""
    q = lin.A.shape[1]
    L = np.linalg.cholesky(np.eye(q) + lin.A.T @ lin.A)
    G = np.asarray(np.linalg.solve(L, lin.A.T).T, dtype=np.float64)

    def vinv(M: FloatArray) -> FloatArray:
        return (M - G @ (G.T @ M)) / lin.scale

    W = vinv(lin.X)
    XVX = lin.X.T @ W
    XVXinv = np.asarray(np.linalg.inv(XVX), dtype=np.float64)
    beta = XVXinv @ (W.T @ lin.y)
    r = vinv(lin.y - lin.X @ beta)
    return _Pieces(XVXinv, XVX, G, W, r, lin.scale)


def _leverage(lin: _Linear, pc: _Pieces) -> pd.DataFrame:
    """HLMdiag's ``leverage.lmerMod`` per observation, without forming ``n x n``.

    With ``V = s (I + A A')`` and ``Z D Z' = V - s I``: ``diag(H1) = diag(X B W')``,
    ``diag(H2) = |g_i|^2 - diag(H1) + s diag(W B W')`` (``B = (X'V^-1X)^-1``)."""
    XB = lin.X @ pc.XVXinv
    h1 = np.einsum("ij,ij->i", XB, pc.W)
    g2 = np.einsum("ij,ij->i", pc.G, pc.G)
    m = np.einsum("ij,ij->i", pc.W @ pc.XVXinv, pc.W)
    h2 = g2 - h1 + pc.scale * m
    uc = np.einsum("ij,ij->i", lin.A_raw, lin.A_raw)
    return pd.DataFrame(
        {"leverage": h1 + h2, "leverage_fixef": h1, "leverage_ranef": h2, "leverage_ranef_uc": uc}
    )


def _one_step(pc: _Pieces, rows: Sequence[np.ndarray], p: int) -> pd.DataFrame:
    """HLMdiag's one-step measures, batched over units of equal size."""
    k = len(rows)
    out = np.full((k, 4), np.nan)
    sizes = np.array([len(r) for r in rows])
    for s in np.unique(sizes):  # a loop over distinct unit sizes
        which = np.flatnonzero(sizes == s)
        idx = np.stack([rows[int(i)] for i in which])  # (m, s)
        G_I = pc.G[idx]  # (m, s, q)
        W_I = pc.W[idx]  # (m, s, p)
        r_I = pc.r[idx]  # (m, s)
        eye = np.eye(int(s))
        vinv_II = (eye - G_I @ np.swapaxes(G_I, 1, 2)) / pc.scale
        WB = W_I @ pc.XVXinv  # (m, s, p)
        P_II = vinv_II - WB @ np.swapaxes(W_I, 1, 2)
        # b - b_(I) = B W_I' P_II^-1 r_I
        t = np.linalg.solve(P_II, r_I[..., None])[..., 0]  # (m, s)
        cdd = np.einsum("msp,ms->mp", WB, t)
        cooks = np.einsum("mp,pq,mq->m", cdd, pc.XVX, cdd) / p
        # X' N X = X'V^-1X - W_I' vinv_II^-1 W_I (the deleted data's information)
        Wc = np.einsum("msp,mp->ms", W_I, cdd)
        u = np.linalg.solve(vinv_II, Wc[..., None])[..., 0]
        mdffits = (cooks * p - np.einsum("ms,ms->m", Wc, u)) / p
        # B_(I) = B + B W_I' P_II^-1 W_I B: det ratio and trace by the small s x s side
        S = np.linalg.solve(P_II, W_I @ np.swapaxes(WB, 1, 2))  # P^-1 W_I B W_I'
        covratio = np.linalg.det(eye + S)
        covtrace = np.abs(np.trace(S, axis1=1, axis2=2))
        out[which] = np.column_stack([cooks, mdffits, covratio, covtrace])
    return pd.DataFrame(out, columns=MEASURES)


# --- exact refits -----------------------------------------------------------------------------
def _refit_spec(result: Any) -> tuple[str, dict[str, Any]]:
    """The estimator name and options that fit ``result`` again."""
    if _is_glmm(result):
        nagq = int(result.nagq)
        if nagq == 0:
            return "fast", {}
        return ("laplace" if nagq == 1 else "agq"), {"nagq": nagq}
    # As lme4's refit: start from the fitted theta moved off a zero bound (where the
    # criterion is flat), which saves most of the optimiser's iterations.
    lower = np.concatenate([s.bounds()[0] for s in result.model.structures])
    start = np.asarray(result.theta, dtype=np.float64).copy()
    start[(lower == 0) & (start < 0.05)] = 0.05
    return ("reml" if result.reml else "ml"), {"start": start, "check": False}


def _refit_without(result: Any, drop: np.ndarray, method: str, options: dict[str, Any]) -> Any:
    """``result``'s model fitted again without the used rows at positions ``drop``."""
    import mixedmodels as mm

    model = result.model
    used = model.data.loc[model.design.row_index]
    keep = np.ones(len(used), dtype=bool)
    keep[drop] = False
    extra: dict[str, Any] = {}
    if model.weights is not None:
        extra["weights"] = np.asarray(model.weights)[keep]
    if model.offset is not None:
        # model.offset adds the formula's offset() terms, which the new design rebuilds.
        formula_offset = model.design.offset
        rest = np.asarray(model.offset) - (0.0 if formula_offset is None else formula_offset)
        if np.any(rest != 0):
            extra["offset"] = rest[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        new = mm.Model(
            model.formula, used.iloc[keep], family=model.family, link=model.link, **extra
        )
        return new.fit(method=method, **options)


def _exact(
    result: Any, rows: Sequence[np.ndarray], n_jobs: int | None, progress: Any
) -> tuple[FloatArray, list[FloatArray], FloatArray]:
    """Deleted-data fixed effects (k x p), their covariances and variance components."""
    from mixedmodels.extending import parallel_map

    p = len(result.fixef)
    nvc = len(_varcomp(result))
    method, options = _refit_spec(result)
    width = p + p * p + nvc

    def one(i: int) -> FloatArray:
        try:
            fit = _refit_without(result, rows[i], method, options)
            return np.concatenate(
                [
                    fit.fixef.to_numpy(dtype=np.float64),
                    fit.vcov.to_numpy(dtype=np.float64).ravel(),
                    _varcomp(fit).to_numpy(dtype=np.float64),
                ]
            )
        except (ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError):
            return np.full(width, np.nan)

    out = np.vstack(parallel_map(one, len(rows), n_jobs, progress, "influence"))
    fixef = out[:, :p]
    vcovs = [v.reshape(p, p) for v in out[:, p : p + p * p]]
    return fixef, vcovs, out[:, p + p * p :]


def _case_measures(
    beta: FloatArray, V: FloatArray, fixef_del: FloatArray, vcov_del: Sequence[FloatArray]
) -> pd.DataFrame:
    """HLMdiag's case-deletion measures from refits (a loop over the k refits)."""
    p = beta.size
    Vinv = np.linalg.inv(V)
    logdet_V = np.linalg.slogdet(V)[1]
    d = beta[None, :] - fixef_del
    cooks = np.einsum("kp,pq,kq->k", d, Vinv, d) / p
    rows = []
    for di, Vd in zip(d, vcov_del, strict=True):
        if not np.all(np.isfinite(Vd)):
            rows.append((np.nan, np.nan, np.nan))
            continue
        sign, logdet = np.linalg.slogdet(Vd)
        rows.append(
            (
                float(di @ np.linalg.solve(Vd, di)) / p,
                float(sign * math.exp(logdet - logdet_V)),
                abs(float(np.trace(Vinv @ Vd)) - p),
            )
        )
    other = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return pd.DataFrame(
        {
            "cooks_distance": cooks,
            "mdffits": other[:, 0],
            "covratio": other[:, 1],
            "covtrace": other[:, 2],
        }
    )


# --- the result ---------------------------------------------------------------------------------
@dataclass
class InfluenceResult:
    """Influence of each observation or group on a fitted mixed model.

    Attributes
    ----------
    table
        One row per observation (index: the data's row labels) or per level of the
        grouping factor, columns ``cooks_distance``, ``mdffits``, ``covratio``,
        ``covtrace``, ``rvc_<component>`` (exact method; ``NaN`` for the one-step one,
        which holds the variance components fixed), ``leverage``, ``leverage_fixef``,
        ``leverage_ranef``, ``leverage_ranef_uc`` and ``n_obs`` (rows deleted).
    level
        ``"observation"`` or the grouping factor's name.
    method
        ``"exact"`` or ``"approx"``.
    fixef, vcov
        The full-data fixed effects and their covariance used by the measures.
    deleted_fixef
        Fixed effects without each unit (rows as ``table``); for ``"approx"`` the
        one-step estimates.
    deleted_vcov
        Covariance of the fixed effects without each unit (exact method), else ``None``.
    n_failed
        Refits that failed (their rows are ``NaN``).
    """

    table: pd.DataFrame
    level: str
    method: str
    fixef: pd.Series
    vcov: pd.DataFrame
    deleted_fixef: pd.DataFrame
    deleted_vcov: list[pd.DataFrame] | None = None
    n_failed: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def n_units(self) -> int:
        """Number of observations or groups deleted in turn."""
        return len(self.table)

    def cutoff(self) -> float:
        """influence.ME's rule of thumb for Cook's distance: ``4 / n`` (``n`` units)."""
        return 4.0 / self.n_units

    def to_frame(self) -> pd.DataFrame:
        """The table with the unit as a column and the deleted fixed effects as
        ``fixef_<name>`` columns (one flat frame, e.g. for plotting or export)."""
        fixef = self.deleted_fixef.add_prefix("fixef_")
        return self.table.join(fixef).reset_index()

    def influential(
        self, threshold: float | None = None, measure: str = "cooks_distance"
    ) -> pd.DataFrame:
        """Rows of :attr:`table` whose ``measure`` exceeds ``threshold``.

        Parameters
        ----------
        threshold
            Cut-off; default ``4 / n`` (influence.ME's rule for Cook's distance, ``n``
            the number of observations or groups).
        measure
            A column of :attr:`table`.

        Returns
        -------
        pandas.DataFrame
            The rows above the cut-off, largest first.
        """
        if measure not in self.table.columns:
            raise ValueError(
                f"unknown measure {measure!r}; choose one of {list(self.table.columns)}"
            )
        cut = self.cutoff() if threshold is None else float(threshold)
        above = self.table[self.table[measure] > cut]
        return above.sort_values(measure, ascending=False)

    def __repr__(self) -> str:
        return (
            f"<InfluenceResult {self.method} deletion of {self.n_units} "
            f"{'observations' if self.level == 'observation' else self.level + ' levels'}, "
            f"{len(self.influential())} above 4/n>"
        )


def influence(
    fit: Any,
    group: str | None = None,
    method: str = "exact",
    n_jobs: int | None = 1,
    progress: Any = False,
) -> InfluenceResult:
    """Influence of each observation or group on the fixed effects (influence.ME,
    HLMdiag).

    Parameters
    ----------
    fit
        A fitted :class:`~mixedmodels.LMMResult` or :class:`~mixedmodels.GLMMResult`.
    group
        ``None`` deletes one observation at a time; the name of a grouping factor
        deletes each of its levels in turn (influence.ME's ``group=``).
    method
        ``"exact"`` refits without each unit (from the full fit's variance parameters;
        same estimator, REML or ML, Laplace or quadrature); ``"approx"`` uses HLMdiag's
        one-step formulas with the variance components held fixed (for a GLMM, on the
        linearised model at the final PIRLS weights).
    n_jobs
        Worker processes for the refits (``-1``: one per CPU); the result does not
        depend on it.
    progress
        Progress bar on stderr for the refits (``True``, ``"always"`` or ``False``).

    Returns
    -------
    InfluenceResult
        ``.table`` of measures, ``.deleted_fixef``, ``.influential()``.

    Raises
    ------
    TypeError
        ``fit`` is not a supported result.
    ValueError
        Unknown ``group`` (the message lists the model's grouping factors) or ``method``.

    Notes
    -----
    ``cooks_distance`` uses the full-data covariance of the fixed effects (HLMdiag,
    the textbook definition); influence.ME's ``cooks.distance()`` uses each refit's
    covariance, which is ``mdffits`` here.

    Examples
    --------
    >>> import mixedmodels as mm  # doctest: +SKIP
    >>> from mixedmodels_diagnostics import influence
    >>> fit = mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    >>> infl = influence(fit, group="Subject")
    >>> infl.influential()
    """
    reason = _unsupported(fit)
    if reason is not None:
        raise TypeError(f"influence: {reason}")
    if method not in ("exact", "approx"):
        raise ValueError(f"method must be 'exact' or 'approx', got {method!r}")
    level, index, rows = _units(fit, group)
    names = list(fit.fixef.index)
    p = len(names)
    beta = fit.fixef.to_numpy(dtype=np.float64)
    lin = _linearise(fit)
    pc = _pieces(lin)
    lev_obs = _leverage(lin, pc)
    unit_of = np.empty(int(fit.nobs), dtype=np.int64)
    for k, r in enumerate(rows):  # a loop over units, assigning index arrays
        unit_of[r] = k
    lev = lev_obs.groupby(unit_of).sum() if level != "observation" else lev_obs
    lev.index = index
    vc_names = [f"rvc_{n}" for n in _varcomp(fit).index]
    messages: list[str] = []
    n_failed = 0
    deleted_vcov: list[pd.DataFrame] | None = None
    if method == "exact":
        V = fit.vcov.to_numpy(dtype=np.float64)
        fixef_del, vcov_del, vc_del = _exact(fit, rows, n_jobs, progress)
        table = _case_measures(beta, V, fixef_del, vcov_del)
        base = _varcomp(fit).to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            rvc = np.where(base != 0, vc_del / base - 1.0, np.nan)
        for j, name in enumerate(vc_names):
            table[name] = rvc[:, j]
        deleted_vcov = [pd.DataFrame(v, index=names, columns=names) for v in vcov_del]
        n_failed = int(np.isnan(fixef_del).all(axis=1).sum())
        if n_failed:
            messages.append(f"{n_failed} of {len(rows)} refits failed (rows of NaN)")
            warnings.warn(messages[-1], UserWarning, stacklevel=2)
    else:
        V = pc.XVXinv
        table = _one_step(pc, rows, p)
        # The one-step update of b itself, for deleted_fixef.
        fixef_del = beta[None, :] - _one_step_delta(pc, rows)
        for name in vc_names:
            table[name] = np.nan
        if _is_glmm(fit):
            messages.append(
                "one-step approximation on the linearised model at the final PIRLS "
                "weights; the fixed-effect covariance is (X'V^-1X)^-1 of that model"
            )
    table.index = index
    table = table.join(lev)
    table["n_obs"] = np.array([len(r) for r in rows])
    return InfluenceResult(
        table=table,
        level=level,
        method=method,
        fixef=fit.fixef.astype(float),
        vcov=pd.DataFrame(V, index=names, columns=names),
        deleted_fixef=pd.DataFrame(fixef_del, index=index, columns=names),
        deleted_vcov=deleted_vcov,
        n_failed=n_failed,
        messages=messages,
    )


def _one_step_delta(pc: _Pieces, rows: Sequence[np.ndarray]) -> FloatArray:
    """``b - b_(I)`` for each unit by the one-step formula (batched by unit size)."""
    k, p = len(rows), pc.XVX.shape[0]
    out = np.full((k, p), np.nan)
    sizes = np.array([len(r) for r in rows])
    for s in np.unique(sizes):  # a loop over distinct unit sizes
        which = np.flatnonzero(sizes == s)
        idx = np.stack([rows[int(i)] for i in which])
        G_I, W_I, r_I = pc.G[idx], pc.W[idx], pc.r[idx]
        WB = W_I @ pc.XVXinv
        P_II = (np.eye(int(s)) - G_I @ np.swapaxes(G_I, 1, 2)) / pc.scale - WB @ np.swapaxes(
            W_I, 1, 2
        )
        t = np.linalg.solve(P_II, r_I[..., None])[..., 0]
        out[which] = np.einsum("msp,ms->mp", WB, t)
    return out


# --- the registered check -------------------------------------------------------------------------
class InfluenceDiagnostic(Diagnostic):
    """Groups whose deletion moves the fixed effects most (Cook's distance > 4/n)."""

    name: ClassVar[str] = "influence"
    description: ClassVar[str] = (
        "influential groups: Cook's distance from refits without each level (influence.ME)"
    )

    def supports(self, result: Any) -> str | None:
        try:
            return _unsupported(result)
        except Exception as exc:  # supports must never raise
            return f"cannot inspect the result: {exc}"

    def run(
        self,
        result: Any,
        group: str | None = None,
        method: str = "exact",
        n_jobs: int | None = 1,
        **options: Any,
    ) -> pd.DataFrame:
        """One row per group whose Cook's distance exceeds ``4 / n_groups`` (verdict
        ``"warning"``), or one ``"ok"`` row; ``group`` defaults to the model's first
        grouping factor."""
        reason = _unsupported(result)
        if reason is not None:
            raise TypeError(f"check {self.name!r}: {reason}")
        if group is None:
            group = result.model.terms[0].group_name
        infl = influence(result, group=group, method=method, n_jobs=n_jobs, progress=False)
        cut = infl.cutoff()
        above = infl.influential(cut)
        columns = ["check", "statistic", "p_value", "verdict", "message", "level"]
        if above.empty:
            top = infl.table["cooks_distance"]
            worst = float(top.max()) if top.notna().any() else math.nan
            return pd.DataFrame(
                [
                    {
                        "check": f"influence ({group})",
                        "statistic": worst,
                        "p_value": math.nan,
                        "verdict": "ok",
                        "message": (
                            f"no level of {group!r} has Cook's distance above 4/n = {cut:.3g}"
                        ),
                        "level": None,
                    }
                ],
                columns=columns,
            )
        rows = [
            {
                "check": f"influence ({group} = {label})",
                "statistic": float(value),
                "p_value": math.nan,
                "verdict": "warning",
                "message": (
                    f"deleting {group} {label} moves the fixed effects by Cook's distance "
                    f"{float(value):.3g} > 4/n = {cut:.3g}"
                ),
                "level": label,
            }
            for label, value in above["cooks_distance"].items()
        ]
        return pd.DataFrame(rows, columns=columns)


DIAGNOSTICS: list[Diagnostic] = [InfluenceDiagnostic()]
