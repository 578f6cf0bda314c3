"""A GLMM whose rows live in chunks (the partitions of a Dask frame, files): PIRLS, the
Laplace criterion and its gradient from sums over chunks (decision 0029).

Every quantity :class:`~mixedmodels.generalized.criterion.GLMMProblem` reads from the
rows is a sum over rows: the weighted cross-products of a PIRLS step, the deviance, the
terms of the Laplace gradient, the quadrature's per-level deviances.
:class:`ChunkedGLMMProblem` runs the same algorithm as ``GLMMProblem`` (line for line,
so that a fit is the in-memory fit up to the order of the sums), but each such sum is one
pass: a task applied to each chunk's own ``GLMMProblem`` (built on the chunk's rows with
the global levels) and the results added (:func:`combine`).  Nothing per row is kept
between passes: each recomputes the linear predictor from ``(beta, u)``.

The executor is the caller's: ``reduce(task)`` returns the :func:`combine`-sum of
``task(chunk)`` over the chunks (a Dask tree reduction, a loop over files, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from ..interfaces import Family, FloatArray, Link
from ..linear.criterion import TermData
from . import criterion as _c
from .criterion import GLMMProblem, PirlsResult
from .pwls import Factor, PenalizedSystem, SelectedInverse

__all__ = ["ChunkedGLMMProblem", "combine"]

Reduce = Callable[[Callable[[GLMMProblem], Any]], Any]
_EMPTY = np.zeros(0)


def combine(a: Any, b: Any) -> Any:
    """The sum of two chunk results: arrays and numbers add, flags (bools) and, lists and
    tuples add elementwise, ``None`` is the empty chunk."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, bool | np.bool_):
        return bool(a) and bool(b)
    if isinstance(a, tuple | list):
        return type(a)(combine(x, y) for x, y in zip(a, b, strict=True))
    return a + b


# --- per-chunk tasks (module level: they travel to other processes) ----------------------
def _set_state(local: GLMMProblem, state: tuple[Family, float, bool, bool]) -> None:
    family, dispersion, binary, observed = state
    local.family, local.dispersion, local.observed_information = family, dispersion, observed
    if not binary:
        local._binary = None  # the in-memory fit's deviance formula for all rows


def _eta(
    local: GLMMProblem,
    lambdas: list[FloatArray],
    beta: FloatArray,
    u1: FloatArray,
    uR: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    fixed_eta = local.offset + local.X @ beta
    return fixed_eta, fixed_eta + local.fixed.random_part(lambdas, u1, uR)


def _point_task(
    local: GLMMProblem,
    state: Any,
    lambdas: list[FloatArray],
    beta: FloatArray,
    u1: FloatArray,
    uR: FloatArray,
    joint: bool,
    newton: bool = False,
) -> Any:
    """At ``(beta, u)``: finite flags, the deviance, and the PIRLS system's weighted
    cross-products and right-hand side there: Fisher's, and with ``newton`` also those
    of the observed weights (:meth:`GLMMProblem.pirls`'s Newton step), whether these are
    finite and positive here, and whether they equal Fisher's (a canonical link)."""
    if local is None:
        return None
    _set_state(local, state)
    fixed_eta, eta = _eta(local, lambdas, beta, u1, uR)
    eta_ok = bool(np.all(np.isfinite(eta)))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mu, dmu, w = local._weights(eta)
    if not np.all(np.isfinite(mu)):
        return (eta_ok, False, 0.0, True, None)
    deviance = local._deviance(mu)
    if not np.all(np.isfinite(w)):
        return (eta_ok, True, deviance, False, None)
    system = local.joint if joint else local.fixed
    shift = 0.0 if joint else (fixed_eta - local.offset)
    z = (eta - local.offset) + (local.y - mu) / dmu - shift
    fisher = (*system.weighted(w), *system.crossprod(w, z))
    if not newton:
        return (eta_ok, True, deviance, True, (fisher, True, True, None))
    obs = local._observed_weights(eta, mu, dmu, w)
    if obs is None:  # (None adds as an empty chunk; the flag discards the sum)
        return (eta_ok, True, deviance, True, (fisher, False, False, None))
    same = bool(np.allclose(obs, w, rtol=1e-6, atol=1e-12))
    z_obs = (eta - local.offset) + local._score(mu, dmu) / obs - shift
    observed = (*system.weighted(obs), *system.crossprod(obs, z_obs))
    return (eta_ok, True, deviance, True, (fisher, True, same, observed))


def _start_task(local: GLMMProblem, state: Any) -> Any:
    """``X'X`` and ``X' (link(mu0) - offset)``: glm.fit's start of the fixed effects."""
    if local is None:
        return None
    _set_state(local, state)
    mu0 = local.family.starting_mu(local.y, local.pw)
    start = local.link.link(mu0) - local.offset
    return (local.X.T @ local.X, local.X.T @ start, bool(np.all(local._binary is not None)))


def _loglik_task(
    local: GLMMProblem,
    state: Any,
    point: tuple[Any, ...],
    mean_mu: float | None,
) -> Any:
    """``-2 log p(y | mu)`` and the deviance at the point's means (or, with
    ``mean_mu``, at ``(mu + mean_mu) / 2``), and the sum of the means."""
    if local is None:
        return None
    _set_state(local, state)
    mu = local.link.inverse(_eta(local, *point)[1])
    if mean_mu is not None:
        mu = 0.5 * (mu + mean_mu)
    return (local._full_minus2_loglik(mu), local._deviance(mu), float(np.sum(mu)), local.n)


def _observed_task(local: GLMMProblem, state: Any, point: tuple[Any, ...], joint: bool) -> Any:
    """The weighted cross-products at the observed weights (finite flag first)."""
    if local is None:
        return None
    _set_state(local, state)
    eta = _eta(local, *point)[1]
    w_obs = local._score_terms(eta)[1]
    if not np.all(np.isfinite(w_obs)):
        return (False, None)
    system = local.joint if joint else local.fixed
    return (True, system.weighted(w_obs))


def _gradient_rows(
    local: GLMMProblem,
    point: tuple[Any, ...],
    sel: SelectedInverse,
    joint: bool,
    token: int,
    keep: bool,
) -> tuple[Any, ...]:
    """The per-row terms of the gradient at ``point``; kept on the chunk between the two
    passes of one gradient (``token``), so that the second does not recompute them
    (where the chunk is another copy, they are recomputed: the same values)."""
    cached = local.__dict__.get("_gradient_rows")
    if cached is not None and cached[0] == token:
        if not keep:
            local.__dict__["_gradient_rows"] = None
        return cached[1]  # type: ignore[no-any-return]
    out = _compute_gradient_rows(local, point, sel, joint)
    local.__dict__["_gradient_rows"] = (token, out) if keep else None
    return out


def _compute_gradient_rows(
    local: GLMMProblem, point: tuple[Any, ...], sel: SelectedInverse, joint: bool
) -> tuple[Any, ...]:
    lambdas = point[0]
    eta = _eta(local, *point)[1]
    r, w_obs, w, dw = local._gradient_terms(eta)
    system = local.joint if joint else local.fixed
    rows = system.row_vectors(lambdas)
    lev = system.row_bilinear(sel, rows, rows)
    return r, w_obs, w, dw * lev, rows, system


def _leverage_task(
    local: GLMMProblem,
    state: Any,
    point: tuple[Any, ...],
    sel: SelectedInverse,
    joint: bool,
    token: int,
) -> Any:
    """Whether the observed weights are Fisher's here, and ``[Z X]' g_lev``."""
    if local is None:
        return None
    _set_state(local, state)
    _, w_obs, w, g_lev, _, system = _gradient_rows(local, point, sel, joint, token, keep=True)
    canonical = bool(np.allclose(w_obs, w, rtol=1e-6, atol=1e-12))
    return (canonical, system.crossprod(np.ones(local.n), g_lev))


def _gradient_task(
    local: GLMMProblem,
    state: Any,
    point: tuple[Any, ...],
    sel: SelectedInverse,
    joint: bool,
    s: tuple[FloatArray, FloatArray],
    jacobians: list[tuple[int, FloatArray]],
    token: int,
) -> Any:
    """The dot products over rows that make up the gradient (see
    :meth:`GLMMProblem.laplace_gradient`)."""
    if local is None:
        return None
    _set_state(local, state)
    lambdas, _, u1, uR = point
    r, w_obs, w, g_lev, rows, system = _gradient_rows(local, point, sel, joint, token, keep=False)
    q = local.fixed.q_rest
    s1, sR = s
    v = system.random_part(lambdas, s1, sR[:q])
    if joint:
        v += local.X @ sR[q:]
    parts = np.empty((len(jacobians), 5))
    for i, (t_i, jac) in enumerate(jacobians):
        dl = [np.zeros_like(lam) for lam in lambdas]
        dl[t_i] = jac
        zdu = system.random_part(dl, u1, uR)
        zds = system.random_part(dl, s1, sR[:q])
        trace = float(w @ system.row_bilinear(sel, rows, system.row_vectors(dl)))
        parts[i] = (trace, g_lev @ zdu, r @ zds, v @ (w_obs * zdu), r @ zdu)
    if joint:
        return (parts,)
    return (parts, local.X.T @ r, local.X.T @ (g_lev - w_obs * v))


def _agq_task(
    local: GLMMProblem,
    state: Any,
    point: tuple[Any, ...],
    lam: float,
    sd: FloatArray,
    nodes: FloatArray,
) -> Any:
    """Per level and node, the deviance of the level's rows with its effect moved."""
    if local is None:
        return None
    _set_state(local, state)
    term = local.terms[0]
    eta0 = _eta(local, *point)[1]
    shift = (term.Z[:, 0] * lam * sd[term.codes])[:, None] * nodes[None, :]
    eta = eta0[:, None] + shift
    mu = local.link.inverse(eta)
    dev = local.pw[:, None] * local.family.unit_deviance(local.y[:, None], mu)
    D = np.zeros((term.n_levels, nodes.size))
    for k in range(nodes.size):  # a loop over nodes (<= 100), not over rows or levels
        D[:, k] = np.bincount(term.codes, dev[:, k], term.n_levels)
    return D


# --- the problem -----------------------------------------------------------------------
class ChunkedGLMMProblem(GLMMProblem):
    """:class:`GLMMProblem` over rows held in chunks, evaluated by sums over chunks.

    Parameters
    ----------
    reduce
        ``reduce(task)``: the :func:`combine`-sum over the chunks of ``task(chunk)``,
        ``chunk`` being the ``GLMMProblem`` of the chunk's rows (the same matrices and
        term levels as this problem's, the chunk's rows only), or ``None`` for a chunk
        without rows.
    terms
        The random-effect terms' layout (levels, dimensions, structures; no rows).
    p, n
        Number of fixed effects and of rows (all chunks).
    family, link
        The response distribution and link.

    ``eta`` and ``mu`` of the :class:`PirlsResult` it returns are empty (they are per
    row); the criterion, modes, factor and gradient are the in-memory problem's.
    """

    def __init__(
        self,
        reduce: Reduce,
        terms: list[TermData],
        p: int,
        n: int,
        family: Family,
        link: Link,
    ) -> None:
        # One placeholder row of zeros: the layout is what counts (no rows are read).
        placeholder = [
            TermData(np.zeros(1, dtype=np.int64), t.n_levels, np.zeros((1, t.dim)), t.structure)
            for t in terms
        ]
        super().__init__(np.zeros((1, p)), np.zeros(1), placeholder, None, None, family, link)
        self._reduce = reduce
        self.n = int(n)
        xtx, _, binary = self._reduce(partial(_start_task, state=self._state(True)))
        self.binary = bool(binary) and family.name == "binomial"
        self._xtx = xtx
        self._point: tuple[Any, ...] | None = None
        # Names one gradient's two passes (their per-row terms are kept in between).
        self._token = int(np.random.default_rng().integers(1 << 62))

    def _last_point(self) -> tuple[Any, ...]:
        """``(lambdas, beta, u1, uR)`` of the last PIRLS: where the rows are evaluated."""
        assert self._point is not None, "PIRLS has not run"
        return self._point

    def _state(self, binary: bool | None = None) -> tuple[Family, float, bool, bool]:
        b = self.binary if binary is None else binary
        return (self.family, self.dispersion, b, self.observed_information)

    # --- one pass at a point --------------------------------------------------------------
    def _at(
        self,
        lambdas: list[FloatArray],
        beta: FloatArray,
        u1: FloatArray,
        uR: FloatArray,
        joint: bool,
        check_eta: bool = True,
        newton: bool = False,
    ) -> tuple[float, Any]:
        """The penalised deviance at ``(beta, u)`` (``inf`` where the mean, or with
        ``check_eta`` the linear predictor, overflows) and the PIRLS system's sums there
        (``None`` where the weights are not finite): ``(Fisher's, observed weights
        usable, observed equal to Fisher's, the observed weights' sums)``."""
        out = self._reduce(
            partial(
                _point_task,
                state=self._state(),
                lambdas=lambdas,
                beta=beta,
                u1=u1,
                uR=uR,
                joint=joint,
                newton=newton,
            )
        )
        eta_ok, mu_ok, deviance, w_ok, sums = out
        if not mu_ok or (check_eta and not eta_ok):
            return np.inf, None
        return float(deviance) + float(np.sum(u1**2) + np.sum(uR**2)), (sums if w_ok else None)

    def _start_beta(self) -> FloatArray:
        _, xty, _ = self._reduce(partial(_start_task, state=self._state()))
        return np.asarray(np.linalg.solve(self._xtx, xty), dtype=np.float64)

    @staticmethod
    def _factor(system: PenalizedSystem, lambdas: list[FloatArray], sums: Any) -> Factor | None:
        """The factor of Fisher's weights' sums (an item of :meth:`_at`'s sums)."""
        if sums is None:
            return None
        return system.factor_from(lambdas, sums[0], sums[1], sums[2])

    @staticmethod
    def _rhs(
        system: PenalizedSystem, lambdas: list[FloatArray], r1: FloatArray, rR: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        r1 = r1 @ lambdas[0]
        rR = system._scale_rows(rR[:, None].copy(), lambdas)[:, 0]
        return r1, rR

    # --- PIRLS (GLMMProblem.pirls, with each pass over the rows a reduction) -----------
    def pirls(self, theta: FloatArray, beta: FloatArray | None = None) -> PirlsResult | None:
        lambdas = self.lambdas(np.asarray(theta, dtype=np.float64))
        joint = beta is None
        system = self.joint if joint else self.fixed
        q = self.fixed.q_rest
        u1, uR = self._u1.copy(), self._uR.copy()
        cur_beta: FloatArray
        if beta is not None:
            cur_beta = np.asarray(beta, dtype=np.float64)
        elif self._beta is not None:
            cur_beta = self._beta
        else:
            cur_beta = self._start_beta()
            u1[:], uR[:] = 0.0, 0.0
        # (As GLMMProblem.pirls: the start's deviance is judged on the means only; Newton
        # steps, with the observed weights, for a link that is not canonical, decided
        # once per problem at the first start.)
        newton = self._newton is not False
        pdev, sums = self._at(lambdas, cur_beta, u1, uR[:q], joint, False, newton)
        if not np.isfinite(pdev) and (np.any(u1) or np.any(uR)):
            u1, uR = np.zeros_like(u1), np.zeros_like(uR)
            pdev, sums = self._at(lambdas, cur_beta, u1, uR[:q], joint, False, newton)
        if not np.isfinite(pdev):
            return None
        if self._newton is None and sums is not None:
            self._newton = newton = bool(sums[1]) and not bool(sums[2])
        converged = observed = False
        iterations = stalled = 0
        f: Factor | None = None
        for iterations in range(1, _c._MAX_PIRLS + 1):
            if sums is None:
                return None
            observed = newton and bool(sums[1])
            step_sums = sums[3] if observed else sums[0]
            f = self._factor(system, lambdas, step_sums)
            if f is None and observed:
                observed, step_sums = False, sums[0]
                f = self._factor(system, lambdas, step_sums)
            if f is None:
                return None
            r1, rR = self._rhs(system, lambdas, step_sums[3], step_sums[4])
            new_u1, new_xR = system.solve(f, r1, rR)
            new_uR = new_xR[:q]
            new_beta = new_xR[q:] if joint else cur_beta
            for _ in range(_c._MAX_HALVINGS):
                new_pdev, new_sums = self._at(
                    lambdas, new_beta, new_u1, new_uR, joint, newton=newton
                )
                if new_pdev <= pdev * (1 + 1e-12) + 1e-12:
                    break
                new_u1 = 0.5 * (new_u1 + u1)
                new_uR = 0.5 * (new_uR + uR[:q])
                new_beta = 0.5 * (new_beta + cur_beta)
            else:
                return None
            step, scale = _c.mode_step(u1, new_u1, uR[:q], new_uR, cur_beta, new_beta, joint)
            u1, uR, cur_beta, sums = new_u1, new_uR, new_beta, new_sums
            stalled = stalled + 1 if pdev - new_pdev <= _c._STALL_TOL * (1.0 + abs(pdev)) else 0
            pdev = new_pdev
            if step < _c._PIRLS_TOL * scale or (
                iterations >= _c._STALL_AFTER and stalled >= _c._STALL_COUNT
            ):
                converged = True
                break
        if not converged or observed:
            # As in memory: the Laplace criterion takes Fisher's weights at the modes.
            f = self._factor(system, lambdas, None if sums is None else sums[0])
        if f is None:
            return None
        self._u1, self._uR = u1, uR[:q]
        if joint:
            self._beta = cur_beta
        self._point = (lambdas, cur_beta, u1, uR[:q])
        deviance = pdev - float(np.sum(u1**2) + np.sum(uR[:q] ** 2))
        return PirlsResult(u1, uR[:q], cur_beta, _EMPTY, _EMPTY, f, converged, iterations, deviance)

    # --- criteria ---------------------------------------------------------------------------
    def minus2_loglik(self, mu: FloatArray, deviance: float | None = None) -> float:
        """``-2 sum log p(y | mu)`` at the means of the last PIRLS (``mu`` is not used:
        the rows are in the chunks)."""
        assert self._point is not None
        cache = self._loglik_constant
        if cache is None or cache[0] is not self.family or cache[1] != self.dispersion:
            full1, dev1, sum_mu, n = self._reduce(
                partial(_loglik_task, state=self._state(), point=self._last_point(), mean_mu=None)
            )
            full2, dev2, _, _ = self._reduce(
                partial(
                    _loglik_task, state=self._state(), point=self._last_point(), mean_mu=sum_mu / n
                )
            )
            c1, c2 = full1 - dev1, full2 - dev2
            scale = 1.0 + abs(c1) + abs(dev1)
            constant = c1 if np.isfinite(c1) and abs(c1 - c2) <= 1e-11 * scale else None
            cache = (self.family, self.dispersion, constant)
            self._loglik_constant = cache
        if cache[2] is None or deviance is None:
            full, dev, _, _ = self._reduce(
                partial(_loglik_task, state=self._state(), point=self._last_point(), mean_mu=None)
            )
            return float(full) if cache[2] is None else float(dev) + cache[2]
        return deviance + cache[2]

    @staticmethod
    def _point_of(modes: PirlsResult) -> tuple[Any, ...]:
        """``(lambdas, beta, u1, uR)`` of a PIRLS result: where its rows are evaluated."""
        return (modes.factor.lambdas, modes.beta, modes.u1, modes.uR)

    def modes_minus2_loglik(self, modes: PirlsResult) -> float:
        """``-2 sum log p(y | mu)`` at the means of ``modes``: one pass."""
        full, _, _, _ = self._reduce(
            partial(_loglik_task, state=self._state(), point=self._point_of(modes), mean_mu=None)
        )
        return float(full)

    def fisher_fixed_effects_vcov(self, modes: PirlsResult) -> FloatArray | None:
        """The fast fit's vcov at ``modes`` (Fisher's weights): one pass."""
        lambdas, beta, u1, uR = self._point_of(modes)
        _, sums = self._at(lambdas, beta, u1, uR, joint=True, check_eta=False)
        f = self._factor(self.joint, lambdas, None if sums is None else sums[0])
        return self.joint.fixed_effects_vcov(f) if f is not None else None

    def laplace(self, theta: FloatArray, beta: FloatArray | None = None) -> float:
        res = self.pirls(theta, beta)
        if res is None:
            return np.inf
        logdet = res.factor.logdet_re
        if self.observed_information:
            f = self._observed_factor(self.fixed, res.factor.lambdas, joint=False)
            if f is None:
                return np.inf
            logdet = f.logdet_re
        return logdet + res.ussq + self.minus2_loglik(_EMPTY, res.deviance)

    def _observed_factor(
        self, system: PenalizedSystem, lambdas: list[FloatArray], joint: bool
    ) -> Factor | None:
        ok, sums = self._reduce(
            partial(_observed_task, state=self._state(), point=self._last_point(), joint=joint)
        )
        return system.factor_from(lambdas, *sums) if ok else None

    def laplace_gradient(
        self, theta: FloatArray, beta: FloatArray | None
    ) -> tuple[float, FloatArray | None, FloatArray | None]:
        joint = beta is None
        res = self.pirls(theta, beta)
        if res is None:
            return np.inf, None, None
        value = float(res.factor.logdet_re + res.ussq + self.minus2_loglik(_EMPTY, res.deviance))
        system = self.joint if joint else self.fixed
        lambdas = res.factor.lambdas
        point = self._last_point()
        sel = system.selected_inverse(res.factor)
        state = self._state()
        self._token += 1
        token = self._token
        canonical, (c1, cR) = self._reduce(
            partial(_leverage_task, state=state, point=point, sel=sel, joint=joint, token=token)
        )
        f_obs = res.factor if canonical else self._observed_factor(system, lambdas, joint)
        if f_obs is None:
            return value, None, None
        s1, sR = system.solve(f_obs, *self._rhs(system, lambdas, c1, cR))
        idx = self._theta_index
        jacobians: list[tuple[int, FloatArray]] = []
        for t_i, term in enumerate(self.terms):
            jac = term.structure.factor_jacobian(np.asarray(theta)[idx[t_i] : idx[t_i + 1]])
            jacobians.extend((t_i, jac[j]) for j in range(jac.shape[0]))
        out = self._reduce(
            partial(
                _gradient_task,
                state=state,
                point=point,
                sel=sel,
                joint=joint,
                s=(s1, sR),
                jacobians=jacobians,
                token=token,
            )
        )
        parts = out[0]
        g_theta = 2.0 * parts[:, 0] + parts[:, 1] + parts[:, 2] - parts[:, 3] - 2.0 * parts[:, 4]
        if joint:
            return value, g_theta, None
        g_beta = -2.0 * out[1] + out[2]
        return value, g_theta, g_beta

    def agq(self, theta: FloatArray, beta: FloatArray, nagq: int) -> float:
        res = self.pirls(theta, beta)
        if res is None:
            return np.inf
        lam = float(res.factor.lambdas[0][0, 0])
        T = 1.0 / res.factor.Tinv[:, 0, 0]
        sd = 1.0 / np.sqrt(T)
        nodes, weights = hermegauss(nagq)
        weights = weights / np.sqrt(2.0 * np.pi)
        u_hat = res.u1[:, 0]
        D = self._reduce(
            partial(
                _agq_task,
                state=self._state(),
                point=self._last_point(),
                lam=lam,
                sd=sd,
                nodes=nodes,
            )
        )
        u = u_hat[:, None] + sd[:, None] * nodes[None, :]
        expo = -0.5 * (u**2 + D - nodes[None, :] ** 2) + np.log(weights)[None, :]
        top = expo.max(axis=1)
        log_sum = top + np.log(np.exp(expo - top[:, None]).sum(axis=1))
        return float(np.sum(np.log(T)) - 2.0 * np.sum(log_sum))
