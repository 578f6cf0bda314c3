"""The general Laplace engine (glmmTMB's, TMB's): any conditional family, several linear
predictors.

The random effects ``u`` (spherical, ``b = Lambda u``) of the conditional and the
zero-inflation predictors are integrated out by the Laplace approximation

    -log L(phi) = -sum_i l_i(eta(phi, u^)) + |u^|^2 / 2 + log|H| / 2,
    H = I + Lambda' Z' W Z Lambda,   W = -d^2 l / d eta d eta',

at the conditional mode ``u^`` (inner Newton iterations, warm-started).  Unlike lme4,
nothing is profiled: the outer optimiser works on every fixed parameter together (the
fixed effects of each component, the dispersion model, theta and the family's extra
parameters), as glmmTMB does.  The gradient is analytic (the implicit-function
theorem; the third derivatives of the density by differences of the family's second
derivatives, row by row; central differences of the objective only where the random
effects' design is too large for the joint solver's dense algebra), the Hessian at the
optimum by central differences of that gradient; its inverse is the Wald covariance of
every fixed parameter (TMB's ``sdreport``).

Two inner solvers: random effects in one predictor use the blocked penalised system of
the GLMM path (:class:`~mixedmodels.generalized.pwls.PenalizedSystem`: ``O(n)`` per
factorisation, crossed factors included); random effects in the conditional and the
zero-inflation predictors together (their Hessian couples them) use a dense
factorisation of the joint ``H``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, cast

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.optimize import minimize

from ..interfaces import ConditionalFamily, FloatArray
from ..linear.layout import TermData
from ..numerics.derivatives import central_hessian
from .components import Component
from .conditional import RowDerivatives, row_loglik, zero_inflation_parts
from .pwls import PenalizedSystem

__all__ = ["LaplaceFit", "LaplaceProblem", "fit_laplace"]

_DENSE_LIMIT = 6000  # random effects in the joint dense solver


@dataclass
class _Block:
    name: str  # "beta", "betazi", "betad", "theta", "thetazi", "psi"
    start: int
    stop: int


class _Blocked:
    """Random effects in one predictor: the blocked penalised system."""

    def __init__(self, terms: list[TermData], n: int) -> None:
        self.system = PenalizedSystem(np.zeros((n, 0)), terms, augment=False)
        self.q1 = self.system.q1
        self.q = self.q1 + self.system.q_rest
        self.lambdas: list[FloatArray] = []
        self._factor: Any = None  # the last factorisation (a pwls.Factor)

    def set_lambdas(self, lambdas: list[FloatArray]) -> None:
        self.lambdas = lambdas

    def _split(self, u: FloatArray) -> tuple[FloatArray, FloatArray]:
        s = self.system
        return u[: self.q1].reshape(s.n1, s.p1), u[self.q1 :]

    def random_part(self, u: FloatArray) -> FloatArray:
        u1, uR = self._split(u)
        return self.system.random_part(self.lambdas, u1, uR)

    def gradient(self, d: FloatArray, u: FloatArray) -> FloatArray:
        r1, rR = self.system.rhs(self.lambdas, d, np.ones_like(d))
        return np.concatenate([r1.ravel(), rR]) - u

    def factor(self, w: FloatArray) -> float | None:
        """Factor ``H`` for weights ``w``; returns ``log|H|`` or ``None`` if not PD."""
        with np.errstate(invalid="ignore", divide="ignore"):  # not PD: None below
            f = self.system.factor(self.lambdas, w)
        if f is None:
            return None
        if not np.isfinite(f.logdet_re) or np.any(f.Tinv[:, 0, 0] <= 0):
            return None
        if self.system.p1 > 1 and np.any(np.linalg.eigvalsh(np.linalg.inv(f.Tinv)) <= 0):
            return None
        self._factor = f
        return float(f.logdet_re)

    def solve(self, g: FloatArray) -> FloatArray:
        g1, gR = self._split(g)
        u1, uR = self.system.solve(self._factor, g1, gR)
        return np.concatenate([np.asarray(u1).ravel(), np.asarray(uR)])

    def conditional_covariances(self) -> list[FloatArray]:
        return self.system.conditional_variances(self._factor)


def _term_matrix(t: TermData, n: int) -> sp.csr_matrix:
    """The sparse ``(n, n_levels * dim)`` model matrix of one term."""
    rows = np.repeat(np.arange(n), t.dim)
    cols = (t.codes[:, None] * t.dim + np.arange(t.dim)[None, :]).ravel()
    return sp.csr_matrix((t.Z.ravel(), (rows, cols)), shape=(n, t.q))


class _Dense:
    """Random effects in several predictors: the joint ``H`` factored densely."""

    def __init__(self, per_predictor: list[list[TermData]], n: int) -> None:
        self.Zs = [
            sp.hstack([_term_matrix(t, n) for t in terms]).tocsr() for terms in per_predictor
        ]
        self.terms = per_predictor
        self.sizes = [Z.shape[1] for Z in self.Zs]
        self.offsets = np.cumsum([0, *self.sizes]).tolist()
        self.q = int(self.offsets[-1])
        if self.q > _DENSE_LIMIT:
            raise ValueError(
                f"{self.q} random effects in the conditional and zero-inflation models "
                f"together: the joint solver is limited to {_DENSE_LIMIT}"
            )
        self.ZL: list[Any] = []
        self._chol: Any = None  # cho_factor's (factor, lower)
        # Z Lambda has Z's pattern by levels: row i of term t fills the columns of its
        # level with Z_i Lambda_t, so it is built from these positions, not by products.
        self._pos: list[list[tuple[np.ndarray, np.ndarray]]] = []
        for terms in per_predictor:
            pos: list[tuple[np.ndarray, np.ndarray]] = []
            off = 0
            for t in terms:
                rows = np.repeat(np.arange(n), t.dim)
                cols = (off + t.codes[:, None] * t.dim + np.arange(t.dim)[None, :]).ravel()
                pos.append((rows, cols))
                off += t.q
            self._pos.append(pos)
        self.n = n

    def _build(self, k: int, values: list[FloatArray | None]) -> Any:
        """``Z Lambda``-patterned matrix of predictor ``k`` with per-term row values
        ``values`` (``(n, dim)``; ``None``: the term's columns are zero); dense when small
        (dense products beat sparse ones' overhead there)."""
        pos = [p for p, v in zip(self._pos[k], values, strict=True) if v is not None]
        vals = [v.ravel() for v in values if v is not None]
        shape = (self.n, self.sizes[k])
        if self.n * self.sizes[k] <= 4_000_000:
            out = np.zeros(shape)
            for (rows, cols), v in zip(pos, vals, strict=True):
                out[rows, cols] = v
            return out
        rows = np.concatenate([p[0] for p in pos])
        cols = np.concatenate([p[1] for p in pos])
        return sp.csr_matrix((np.concatenate(vals), (rows, cols)), shape=shape)

    def set_lambdas(self, lambdas: list[list[FloatArray]]) -> None:
        self.ZL = [
            self._build(k, [t.Z @ lam for t, lam in zip(terms, lams, strict=True)])
            for k, (terms, lams) in enumerate(zip(self.terms, lambdas, strict=True))
        ]

    def random_parts(self, u: FloatArray) -> list[FloatArray]:
        return [
            ZL @ u[a:b]
            for ZL, a, b in zip(self.ZL, self.offsets[:-1], self.offsets[1:], strict=True)
        ]

    def gradient(self, ds: list[FloatArray], u: FloatArray) -> FloatArray:
        return np.concatenate([ZL.T @ d for ZL, d in zip(self.ZL, ds, strict=True)]) - u

    def factor(self, W: list[list[FloatArray]]) -> float | None:
        """``W[k][l]``: the weights coupling predictors ``k`` and ``l``."""
        H = np.eye(self.q)
        o = self.offsets
        for k in range(len(self.ZL)):
            for m in range(k, len(self.ZL)):
                A: Any = self.ZL[k]
                B: Any = self.ZL[m]
                if k != m and not np.any(W[k][m]):
                    continue  # uncoupled predictors (a hurdle): a zero block
                if isinstance(A, np.ndarray):
                    blk = A.T @ (W[k][m][:, None] * B)
                else:
                    blk = (A.T @ sp.diags(W[k][m]) @ B).toarray()
                H[o[k] : o[k + 1], o[m] : o[m + 1]] += blk
                if m != k:
                    H[o[m] : o[m + 1], o[k] : o[k + 1]] += blk.T
        try:
            c = sla.cho_factor(H, lower=True)
        except (np.linalg.LinAlgError, ValueError):
            return None
        self._chol = c
        return 2.0 * float(np.sum(np.log(np.diag(c[0]))))

    def solve(self, g: FloatArray) -> FloatArray:
        return np.asarray(sla.cho_solve(self._chol, g))

    def inverse(self) -> FloatArray:
        return np.asarray(sla.cho_solve(self._chol, np.eye(self.q)))


@dataclass
class InnerState:
    """The conditional mode at one parameter vector."""

    objective: float
    u: FloatArray
    loglik_rows: FloatArray
    logdet: float
    converged: bool


class LaplaceProblem:
    """The Laplace objective of a multi-predictor model over all fixed parameters.

    Parameters
    ----------
    y
        Response.
    family
        The conditional family.
    components
        ``cond`` and optionally ``zi`` and ``disp``
        (:func:`~mixedmodels.generalized.components.build_components`).
    """

    def __init__(
        self,
        y: FloatArray,
        family: ConditionalFamily,
        components: dict[str, Component],
        weights: FloatArray | None = None,
    ) -> None:
        # a read-only copy: families may keep per-response values for the same array
        self.y = np.array(y, dtype=np.float64)
        self.y.flags.writeable = False
        # prior weights multiply each row's log-likelihood (glmmTMB's ``weights``)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        self.n = self.y.size
        self.family = family
        self.components = components
        blocks: list[_Block] = []
        pos = 0

        def add(name: str, size: int) -> None:
            nonlocal pos
            blocks.append(_Block(name, pos, pos + size))
            pos += size

        add("beta", components["cond"].p)
        if "zi" in components:
            add("betazi", components["zi"].p)
        if "disp" in components:
            add("betad", components["disp"].p)
        self.re_names = [k for k in ("cond", "zi") if k in components and components[k].terms]
        for k in self.re_names:
            add(
                "theta" if k == "cond" else "thetazi",
                sum(t.structure.n_params for t in components[k].terms),
            )
        add("psi", len(family.shape_names))
        self.blocks = {b.name: b for b in blocks}
        self.n_params = pos
        self.solver: _Blocked | _Dense | None
        if len(self.re_names) == 1:
            self.solver = _Blocked(components[self.re_names[0]].terms, self.n)
        elif len(self.re_names) == 2:
            self.solver = _Dense([components[k].terms for k in self.re_names], self.n)
        else:
            self.solver = None
        self.q = 0 if self.solver is None else self.solver.q
        self.u = np.zeros(self.q)  # warm start of the inner iterations
        self.n_evaluations = 0
        self.inner_failures = 0
        # whether the last gradient was exact up to rounding: no row derivative and no
        # component taken by differences (the Hessian then takes forward differences)
        self.exact_gradient = False
        # the last converged inner state and its parameters' bytes
        self._last: tuple[bytes, InnerState] | None = None
        # the last fixed predictors, phi and zero-inflation parts (inner iterations)
        self._fixed: tuple[bytes, dict[str, FloatArray]] | None = None
        self._phi: tuple[FloatArray, FloatArray] | None = None
        self._zi: tuple[FloatArray, Any] | None = None
        # the last gradient: parameters' bytes, whether exact, the gradient
        self._last_gradient: tuple[bytes, bool, FloatArray] | None = None

    # --- parameters -----------------------------------------------------------------
    def part(self, params: FloatArray, name: str) -> FloatArray:
        b = self.blocks.get(name)
        return np.zeros(0) if b is None else params[b.start : b.stop]

    def lambdas(self, params: FloatArray, comp: str) -> list[FloatArray]:
        theta = self.part(params, "theta" if comp == "cond" else "thetazi")
        out, i = [], 0
        for t in self.components[comp].terms:
            k = t.structure.n_params
            out.append(t.structure.factor(theta[i : i + k]))
            i += k
        return out

    def start(self) -> FloatArray:
        x = np.zeros(self.n_params)
        cond = self.components["cond"]
        if "(Intercept)" in cond.fixef_names:
            ypos = self.y[self.y > 0] if self.family.truncated else self.y
            m = float(np.mean(ypos)) if ypos.size else 1.0
            mu0 = self.family.starting_mu(np.array([m]))[0]
            off = 0.0 if cond.offset is None else float(np.mean(cond.offset))
            x[self.blocks["beta"].start + cond.fixef_names.index("(Intercept)")] = (
                float(cond.link.link(np.array([mu0]))[0]) - off
            )
        if "disp" in self.components and "(Intercept)" in self.components["disp"].fixef_names:
            b = self.blocks["betad"]
            x[b.start + self.components["disp"].fixef_names.index("(Intercept)")] = (
                self.family.dispersion_start(self.y)
            )
        for k in self.re_names:
            b = self.blocks["theta" if k == "cond" else "thetazi"]
            x[b.start : b.stop] = np.concatenate(
                [t.structure.start() for t in self.components[k].terms]
            )
        b = self.blocks["psi"]
        x[b.start : b.stop] = self.family.shape_start()
        return x

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        lo = np.full(self.n_params, -np.inf)
        hi = np.full(self.n_params, np.inf)
        for k in self.re_names:
            b = self.blocks["theta" if k == "cond" else "thetazi"]
            lo[b.start : b.stop] = np.concatenate(
                [t.structure.bounds()[0] for t in self.components[k].terms]
            )
            hi[b.start : b.stop] = np.concatenate(
                [t.structure.bounds()[1] for t in self.components[k].terms]
            )
        return lo, hi

    def independent_groups(self) -> list[np.ndarray]:
        """Groups of parameters between which the objective's Hessian is exactly zero.

        A hurdle (a truncated family with a ``ziformula``) is two models in one: the
        zeros' rows depend on the zero-inflation predictor only, the positive rows'
        log-likelihood is ``log(1 - pi)`` plus the truncated density's, so the Laplace
        objective is a sum of a function of ``(betazi, thetazi)`` and one of the other
        parameters (``H`` is block diagonal, its log-determinant a sum).  Differences
        of the gradient then move one parameter of each group at once."""
        every = np.arange(self.n_params)
        if not (self.family.truncated and "zi" in self.components):
            return [every]
        zi = np.zeros(self.n_params, dtype=bool)
        for name in ("betazi", "thetazi"):
            b = self.blocks.get(name)
            if b is not None:
                zi[b.start : b.stop] = True
        if zi.all() or not zi.any():
            return [every]
        return [np.flatnonzero(zi), np.flatnonzero(~zi)]

    # --- linear predictors ----------------------------------------------------------
    def fixed_predictors(self, params: FloatArray) -> dict[str, FloatArray]:
        out = {"cond": self.components["cond"].fixed_part(self.part(params, "beta"))}
        if "zi" in self.components:
            out["zi"] = self.components["zi"].fixed_part(self.part(params, "betazi"))
        if "disp" in self.components:
            out["disp"] = self.components["disp"].fixed_part(self.part(params, "betad"))
        return out

    def _set_lambdas(self, params: FloatArray) -> list[list[FloatArray]]:
        lams = [self.lambdas(params, k) for k in self.re_names]
        if isinstance(self.solver, _Blocked):
            self.solver.set_lambdas(lams[0])
        elif isinstance(self.solver, _Dense):
            self.solver.set_lambdas(lams)
        return lams

    def _fixed_cached(self, params: FloatArray) -> dict[str, FloatArray]:
        """:meth:`fixed_predictors` kept for the last ``params`` (the inner iterations
        change ``u`` only), read-only so that no caller can change the kept arrays."""
        key = np.ascontiguousarray(params, dtype=np.float64).tobytes()
        if self._fixed is None or self._fixed[0] != key:
            out = self.fixed_predictors(params)
            for v in out.values():
                v.flags.writeable = False
            self._fixed = (key, out)
        return dict(self._fixed[1])

    def predictors(
        self, params: FloatArray, u: FloatArray, _cached: bool = False
    ) -> dict[str, FloatArray]:
        """Every linear predictor at ``params`` and spherical effects ``u`` (with the
        relative factors already set by :meth:`_set_lambdas`)."""
        eta = self._fixed_cached(params) if _cached else self.fixed_predictors(params)
        if isinstance(self.solver, _Blocked):
            eta[self.re_names[0]] = eta[self.re_names[0]] + self.solver.random_part(u)
        elif isinstance(self.solver, _Dense):
            for k, part in zip(self.re_names, self.solver.random_parts(u), strict=True):
                eta[k] = eta[k] + part
        return eta

    def phi(self, eta: dict[str, FloatArray]) -> FloatArray:
        if "disp" not in eta:
            return np.ones(self.n)
        d = eta["disp"]
        # the same read-only dispersion predictor (the inner iterations): the same phi
        if self._phi is not None and self._phi[0] is d:
            return self._phi[1]
        phi = np.exp(d)
        if not d.flags.writeable:
            phi.flags.writeable = False
            self._phi = (d, phi)
        return phi

    def _zi_parts(self, eta: dict[str, FloatArray]) -> Any:
        """``pi``, ``log pi``, ``log(1 - pi)`` of the zero-inflation predictor, kept
        for the same read-only predictor (the inner iterations without random effects
        in ``zi``)."""
        z = eta.get("zi")
        if z is None:
            return None
        if self._zi is not None and self._zi[0] is z:
            return self._zi[1]
        parts = zero_inflation_parts(z)
        if not z.flags.writeable:
            for v in parts:
                v.flags.writeable = False
            self._zi = (z, parts)
        return parts

    def rows(
        self,
        params: FloatArray,
        eta: dict[str, FloatArray],
        derivatives: bool = True,
        higher: bool = False,
    ) -> RowDerivatives:
        # Trial points of the line searches can overflow the mean: the non-finite
        # values that follow make the objective infinite (rejected), not an error.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            r = self._rows(params, eta, derivatives, higher)
        return r if self.weights is None else _weighted(r, self.weights)

    def _rows(
        self, params: FloatArray, eta: dict[str, FloatArray], derivatives: bool, higher: bool
    ) -> RowDerivatives:
        return row_loglik(
            self.family,
            self.components["cond"].link,
            self.y,
            eta["cond"],
            self.phi(eta),
            self.part(params, "psi"),
            eta.get("zi"),
            derivatives,
            zi_parts=self._zi_parts(eta),
            higher=higher,
        )

    def rows_many(
        self, params: FloatArray, etas: list[dict[str, FloatArray]]
    ) -> list[RowDerivatives]:
        """:meth:`rows` at several predictor sets (the differenced derivatives of the
        gradient), in one call on the rows stacked: for a few hundred rows numpy's
        per-operation overhead, not the rows, is most of an evaluation's cost."""
        if len(etas) < 2 or not self.family.rows_stackable or self.family.uses_trials:
            return [self.rows(params, e) for e in etas]
        m, n = len(etas), self.n
        stacked = {key: np.concatenate([e[key] for e in etas]) for key in etas[0]}
        phi = np.exp(stacked["disp"]) if "disp" in stacked else np.ones(m * n)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            r = row_loglik(
                self.family,
                self.components["cond"].link,
                np.tile(self.y, m),
                stacked["cond"],
                phi,
                self.part(params, "psi"),
                stacked.get("zi"),
            )
        if self.weights is not None:
            r = _weighted(r, np.tile(self.weights, m))
        names = ("ll", "d_c", "d_cc", "d_z", "d_zz", "d_cz", "d_ccz")
        parts: dict[str, Any] = {a: getattr(r, a) for a in names}
        out = []
        for i in range(m):
            piece: dict[str, Any] = {
                a: None if v is None else v[i * n : (i + 1) * n] for a, v in parts.items()
            }
            out.append(RowDerivatives(**piece))
        return out

    # --- the inner problem ----------------------------------------------------------
    def _derivs(self, r: RowDerivatives) -> tuple[list[FloatArray], list[list[FloatArray]]]:
        first = {"cond": r.d_c, "zi": r.d_z}
        second: dict[tuple[str, str], Any] = {
            ("cond", "cond"): r.d_cc,
            ("zi", "zi"): r.d_zz,
            ("cond", "zi"): r.d_cz,
        }
        ds = [first[k] for k in self.re_names]
        W = [
            [-second[(a, b)] if (a, b) in second else None for b in self.re_names]
            for a in self.re_names
        ]
        return ds, W  # type: ignore[return-value]

    def _factor(self, W: list[list[FloatArray]]) -> float | None:
        if isinstance(self.solver, _Blocked):
            return self.solver.factor(W[0][0])
        assert isinstance(self.solver, _Dense)
        return self.solver.factor(W)

    def inner(
        self, params: FloatArray, u0: FloatArray | None = None, tol: float = 1e-10
    ) -> InnerState:
        """The conditional mode and the Laplace objective at ``params``."""
        key = np.ascontiguousarray(params, dtype=np.float64).tobytes()
        if u0 is None and self._last is not None and self._last[0] == key:
            # the objective's point again (L-BFGS-B asks for the gradient after the
            # value): the mode and the solver's factorisation are those of this point
            return self._last[1]
        self._last = None
        self.n_evaluations += 1
        if self.solver is None:
            r = self.rows(params, self.fixed_predictors(params), derivatives=False)
            val = -float(np.sum(r.ll))
            return InnerState(val if np.isfinite(val) else np.inf, np.zeros(0), r.ll, 0.0, True)
        self._set_lambdas(params)
        u = (self.u if u0 is None else u0).copy()

        def objective_at(u: FloatArray) -> tuple[float, RowDerivatives]:
            r = self.rows(params, self.predictors(params, u, _cached=True))
            return -float(np.sum(r.ll)) + 0.5 * float(u @ u), r

        h, r = objective_at(u)
        if not np.isfinite(h):
            u = np.zeros(self.q)
            h, r = objective_at(u)
            if not np.isfinite(h):
                return InnerState(np.inf, u, r.ll, 0.0, False)
        converged = False
        logdet: float | None = None
        t_next = 1.0
        for _ in range(100):
            ds, W = self._derivs(r)
            solver: Any = self.solver
            g = solver.gradient(ds if isinstance(solver, _Dense) else ds[0], u)
            logdet = self._factor(W)
            exact = logdet is not None
            if not exact:
                # Off the mode W can be indefinite: a Fisher-like step with clipped weights.
                Wc = [
                    [
                        None if w is None else (np.maximum(w, 1e-8) if i == j else np.zeros_like(w))
                        for j, w in enumerate(row)
                    ]
                    for i, row in enumerate(W)
                ]
                if self._factor(Wc) is None:
                    break
            step = self.solver.solve(g)
            if exact and float(np.max(np.abs(step), initial=0.0)) < tol:
                # the last Newton step, too small to change the objective (second
                # order) or the factor, still moves the mode: the gradient, which
                # assumes a zero inner gradient, is then free of the tolerance's noise
                u = u + step
                converged = True
                break
            # Far from the mode (a trial point of the outer line search) the Newton
            # step can overshoot by orders of magnitude iteration after iteration:
            # the halving starts from four times the last accepted fraction, not from
            # the full step each time (one to three evaluations of the rows, not eight)
            t = t_next
            while t > 1e-10:
                u_new = u + t * step
                h_new, r_new = objective_at(u_new)
                if np.isfinite(h_new) and h_new <= h + 1e-12 * abs(h):
                    break
                t *= 0.5
            else:
                logdet = None if not exact else logdet
                converged = exact and float(np.max(np.abs(g))) < 1e-6
                break
            t_next = min(1.0, 4.0 * t)
            u, h, r = u_new, h_new, r_new
        if logdet is None:
            ds, W = self._derivs(r)
            logdet = self._factor(W)
        if logdet is None or not np.isfinite(h):
            self.inner_failures += 1
            return InnerState(np.inf, u, r.ll, np.nan, False)
        self.u = u
        state = InnerState(h + 0.5 * logdet, u, r.ll, logdet, converged)
        self._last = (key, state)
        return state

    def objective(self, params: FloatArray) -> float:
        """``-log L`` by the Laplace approximation (glmmTMB's objective)."""
        return self.inner(params).objective

    # --- the analytic gradient ----------------------------------------------------------
    def _row_partials(
        self, params: FloatArray, eta: dict[str, FloatArray], k: str, h: float = 1e-4
    ) -> dict[str, Any]:
        """Per-row derivatives the gradient needs, for random effects in predictor
        ``k``: first derivatives of ``l`` in every predictor, derivatives of ``d_k``
        (``dl/deta_k``) and of ``w = -d2l/deta_k2`` in every predictor and in ``psi``.
        Third derivatives and those in the dispersion predictor from the family where
        it gives them (:meth:`~mixedmodels.interfaces.ConditionalFamily.
        logpdf_higher_derivatives`), else, and in ``psi``, by central differences of the
        family's second derivatives, row by row (no refit)."""
        r = self.rows(params, eta, higher=k == "cond")
        first = {"cond": r.d_c, "zi": r.d_z}
        second = {("cond", "cond"): r.d_cc, ("zi", "zi"): r.d_zz, ("cond", "zi"): r.d_cz}
        second[("zi", "cond")] = r.d_cz

        def dk_of(rr: RowDerivatives) -> FloatArray:
            return rr.d_c if k == "cond" else rr.d_z  # type: ignore[return-value]

        def dkk_of(rr: RowDerivatives) -> FloatArray:
            return rr.d_cc if k == "cond" else rr.d_zz  # type: ignore[return-value]

        out: dict[str, Any] = {"ll": r.ll, "dk": dk_of(r), "w": -dkk_of(r)}
        d1, dk, wp = {}, {}, {}
        # analytic where the composition (zi) or the family (cond, disp) gives the
        # derivatives: no rows re-evaluated for those predictors
        analytic = {
            "zi": k == "cond" and r.d_ccz is not None,
            "cond": k == "cond" and r.d_ccc is not None,
            "disp": k == "cond" and r.ll_p is not None,
        }
        shifted = [a for a in eta if not analytic[a]]
        moved: list[dict[str, FloatArray]] = []
        for a in shifted:
            for sign in (h, -h):
                e = dict(eta)
                e[a] = eta[a] + sign
                moved.append(e)
        got = self.rows_many(params, moved)
        evaluated = {a: (got[2 * i], got[2 * i + 1]) for i, a in enumerate(shifted)}
        for a in eta:
            if a == "zi" and a not in evaluated:
                assert r.d_ccz is not None
                wp[a] = -r.d_ccz
                d1[a] = first[a]
                dk[a] = second[(k, a)]
                continue
            if a == "cond" and a not in evaluated:
                assert r.d_ccc is not None
                wp[a] = -r.d_ccc
                d1[a] = first[a]
                dk[a] = second[(k, a)]
                continue
            if a == "disp" and a not in evaluated:
                assert r.ll_p is not None and r.d_c_p is not None and r.d_cc_p is not None
                wp[a] = -r.d_cc_p
                d1[a] = r.ll_p
                dk[a] = r.d_c_p
                continue
            ru, rd = evaluated[a]
            wp[a] = -(dkk_of(ru) - dkk_of(rd)) / (2 * h)
            if a in first:
                d1[a] = first[a]
                dk[a] = second[(k, a)]
            else:
                d1[a] = (ru.ll - rd.ll) / (2 * h)
                dk[a] = (dk_of(ru) - dk_of(rd)) / (2 * h)
        out.update(d1=d1, dk=dk, wp=wp)
        b = self.blocks["psi"]
        # the extra parameters: from the family where it gives their derivatives
        shape_d = r.shape_d if k == "cond" and b.stop > b.start else None
        if shifted or (b.stop > b.start and shape_d is None):
            self.exact_gradient = False
        if shape_d is not None:
            out["psi"] = [(a, c1, -c2) for a, c1, c2 in shape_d]
            return out
        psi_parts = []
        for j in range(b.start, b.stop):
            pu, pd = params.copy(), params.copy()
            pu[j] += h
            pd[j] -= h
            ru, rd = self.rows(pu, eta), self.rows(pd, eta)
            psi_parts.append(
                (
                    (ru.ll - rd.ll) / (2 * h),
                    (dk_of(ru) - dk_of(rd)) / (2 * h),
                    -(dkk_of(ru) - dkk_of(rd)) / (2 * h),
                )
            )
        out["psi"] = psi_parts
        return out

    def analytic_gradient(self, params: FloatArray) -> FloatArray | None:
        """The gradient of :meth:`objective` by the implicit-function theorem (random
        effects in one predictor): ``dF/dphi = dF/dphi|_u + s' dg/dphi`` with
        ``s = H^-1 r``, ``r = d(log|H| / 2)/du = Lambda' Z' (h * w') / 2`` (``h`` the
        leverages, ``w'`` third derivatives) and ``g = Lambda' Z' dl/deta - u``.
        ``None`` where it does not apply (joint random effects in two predictors)."""
        if isinstance(self.solver, _Dense):
            return self._dense_gradient(params)
        state = self.inner(params)
        if not np.isfinite(state.objective):
            return None
        grad = np.zeros(self.n_params)
        if self.solver is None:
            eta = self.fixed_predictors(params)
            rp = self._row_partials(params, eta, "cond")
            for a, blk in (("cond", "beta"), ("zi", "betazi"), ("disp", "betad")):
                if a in eta:
                    b = self.blocks[blk]
                    grad[b.start : b.stop] = -self.components[a].X.T @ rp["d1"][a]
            b = self.blocks["psi"]
            for j, (dll, _, _) in enumerate(rp["psi"]):
                grad[b.start + j] = -float(np.sum(dll))
            return grad
        solver = self.solver
        k = self.re_names[0]
        u = state.u
        eta = self.predictors(params, u)
        rp = self._row_partials(params, eta, k)
        # the factor at the mode (the partials' row evaluations do not touch it)
        system, f = solver.system, solver._factor
        lambdas = solver.lambdas
        lev = system.leverages(f)
        w, wpk = rp["w"], rp["wp"][k]
        r1, rR = system.rhs(lambdas, 0.5 * lev * wpk, np.ones(self.n))
        s = solver.solve(np.concatenate([r1.ravel(), rR]))
        v = solver.random_part(s)
        for a, blk in (("cond", "beta"), ("zi", "betazi"), ("disp", "betad")):
            if a not in eta:
                continue
            b = self.blocks[blk]
            rows = -rp["d1"][a] + 0.5 * lev * rp["wp"][a] + v * rp["dk"][a]
            grad[b.start : b.stop] = self.components[a].X.T @ rows
        # theta: the relative factors' derivatives, term by term
        b = self.blocks["theta" if k == "cond" else "thetazi"]
        sel = system.selected_inverse(f)
        rows_a = system.row_vectors(lambdas)
        terms = self.components[k].terms
        theta = self.part(params, "theta" if k == "cond" else "thetazi")
        u1, uR = solver._split(u)
        s1, sR = solver._split(s)
        j, ti = b.start, 0
        for t_idx, t in enumerate(terms):
            npar = t.structure.n_params
            jac = t.structure.factor_jacobian(theta[ti : ti + npar])
            for q in range(npar):
                dl = [np.zeros_like(lam) for lam in lambdas]
                dl[t_idx] = jac[q]
                m = system.random_part(dl, u1, uR)
                bil = system.row_bilinear(sel, rows_a, system.row_vectors(dl))
                ms = system.random_part(dl, s1, sR)
                grad[j] = (
                    -float(rp["d1"][k] @ m)
                    + float(w @ bil)
                    + 0.5 * float((lev * wpk) @ m)
                    + float(ms @ rp["d1"][k])
                    - float(v @ (w * m))
                )
                j += 1
            ti += npar
        bp = self.blocks["psi"]
        for q, (dll, ddk, dw) in enumerate(rp["psi"]):
            grad[bp.start + q] = -float(np.sum(dll)) + 0.5 * float(lev @ dw) + float(v @ ddk)
        return grad

    def _all_partials(
        self, params: FloatArray, eta: dict[str, FloatArray], h: float = 1e-4
    ) -> dict[str, Any]:
        """Per-row derivatives for random effects in both the conditional and the
        zero-inflation predictors: ``d1[e]``, ``second[(a, e)]``, ``wp[(a, b)][e]``
        (derivatives of ``w_ab = -d2 l / deta_a deta_b``) and the ``psi`` parts."""

        def sec(rr: RowDerivatives) -> dict[tuple[str, str], FloatArray]:
            out: dict[tuple[str, str], Any] = {
                ("cond", "cond"): rr.d_cc,
                ("zi", "zi"): rr.d_zz,
                ("cond", "zi"): rr.d_cz,
            }
            out[("zi", "cond")] = rr.d_cz
            return out

        def first(rr: RowDerivatives) -> dict[str, Any]:
            return {"cond": rr.d_c, "zi": rr.d_z}

        pairs = [(a, b) for a in self.re_names for b in self.re_names]
        hurdle = self.family.truncated and self.blocks["psi"].stop == self.blocks["psi"].start
        r = self.rows(params, eta, higher=hurdle)
        if hurdle and r.d_ccc is not None and ("disp" not in eta or r.ll_p is not None):
            # A hurdle: the zeros' rows depend on eta_zi only, the positive rows' on
            # log(1 - pi) and the truncated density: no cross derivatives, and the
            # third derivatives from the family's (d_zz = -pi (1 - pi) on every row,
            # so d_zzz = (1 - 2 pi) d_zz, prior weights included)
            zero = np.zeros(self.n)
            pi = zero_inflation_parts(eta["zi"])[0]
            hd: Any = r  # every derivative is given (checked above)
            h1: dict[str, Any] = {"cond": hd.d_c, "zi": hd.d_z}
            h2: dict[tuple[str, str], Any] = {
                ("cond", "cond"): hd.d_cc,
                ("zi", "zi"): hd.d_zz,
                ("cond", "zi"): zero,
                ("zi", "cond"): zero,
            }
            hw: dict[tuple[str, str], dict[str, Any]] = {
                pr: dict.fromkeys(eta, zero) for pr in pairs
            }
            hw[("cond", "cond")]["cond"] = -hd.d_ccc
            hw[("zi", "zi")]["zi"] = -(1.0 - 2.0 * pi) * hd.d_zz
            if "disp" in eta:
                h1["disp"] = hd.ll_p
                h2[("cond", "disp")] = hd.d_c_p
                h2[("zi", "disp")] = zero
                hw[("cond", "cond")]["disp"] = -hd.d_cc_p
            return {"d1": h1, "second": h2, "wp": hw, "psi": [], "s0": sec(r)}
        self.exact_gradient = False  # third derivatives by differences
        d1: dict[str, FloatArray] = {}
        second: dict[tuple[str, str], FloatArray] = {}
        wp: dict[tuple[str, str], dict[str, FloatArray]] = {pr: {} for pr in pairs}
        s0 = sec(r)
        moved: list[dict[str, FloatArray]] = []
        for e in eta:
            for sign in (h, -h):
                m = dict(eta)
                m[e] = eta[e] + sign
                moved.append(m)
        got = self.rows_many(params, moved)
        evaluated = {e: (got[2 * i], got[2 * i + 1]) for i, e in enumerate(eta)}
        for e in eta:
            ru, rd = evaluated[e]
            su, sd = sec(ru), sec(rd)
            for pr in pairs:
                wp[pr][e] = -(su[pr] - sd[pr]) / (2 * h)
            if e in ("cond", "zi"):
                d1[e] = first(r)[e]
                for a in self.re_names:
                    second[(a, e)] = s0[(a, e)]
            else:
                d1[e] = (ru.ll - rd.ll) / (2 * h)
                for a in self.re_names:
                    second[(a, e)] = (first(ru)[a] - first(rd)[a]) / (2 * h)
        psi = []
        b = self.blocks["psi"]
        for j in range(b.start, b.stop):
            pu, pd = params.copy(), params.copy()
            pu[j] += h
            pd[j] -= h
            ru, rd = self.rows(pu, eta), self.rows(pd, eta)
            su, sd = sec(ru), sec(rd)
            psi.append(
                (
                    (ru.ll - rd.ll) / (2 * h),
                    {a: (first(ru)[a] - first(rd)[a]) / (2 * h) for a in self.re_names},
                    {pr: -(su[pr] - sd[pr]) / (2 * h) for pr in pairs},
                )
            )
        return {"d1": d1, "second": second, "wp": wp, "psi": psi, "s0": s0}

    def _dense_gradient(self, params: FloatArray) -> FloatArray | None:
        """:meth:`analytic_gradient` for the joint solver (random effects in two coupled
        predictors), with ``H^-1`` dense: the same implicit-function argument, sums over
        the pairs of predictors ``(a, b)`` of ``H = I + sum A_a' diag(w_ab) A_b``."""
        solver = self.solver
        assert isinstance(solver, _Dense)
        if any(not isinstance(A, np.ndarray) for A in solver.ZL):
            return None
        state = self.inner(params)
        if not np.isfinite(state.objective):
            return None
        u = state.u
        R = self.re_names
        eta = self.predictors(params, u)
        rp = self._all_partials(params, eta)
        d1, second, wp = rp["d1"], rp["second"], rp["wp"]
        Hinv = solver.inverse()
        o = solver.offsets
        A = dict(zip(R, solver.ZL, strict=True))
        blk = {a: slice(o[i], o[i + 1]) for i, a in enumerate(R)}
        AH = {(a, b): A[a] @ Hinv[blk[a], blk[b]] for a in R for b in R}
        Q = {(a, b): np.einsum("ij,ij->i", AH[(a, b)], A[b]) for a in R for b in R}
        pairs = list(Q)
        r = np.concatenate([0.5 * A[c].T @ sum(Q[pr] * wp[pr][c] for pr in pairs) for c in R])
        s = Hinv @ r
        v = {a: A[a] @ s[blk[a]] for a in R}
        grad = np.zeros(self.n_params)
        for e, name in (("cond", "beta"), ("zi", "betazi"), ("disp", "betad")):
            if e not in eta:
                continue
            rows = -d1[e] + 0.5 * sum(Q[pr] * wp[pr][e] for pr in pairs)
            rows = rows + sum(v[a] * second[(a, e)] for a in R)
            bb = self.blocks[name]
            grad[bb.start : bb.stop] = self.components[e].X.T @ rows
        for ci, c in enumerate(R):
            bb = self.blocks["theta" if c == "cond" else "thetazi"]
            terms = self.components[c].terms
            theta = self.part(params, "theta" if c == "cond" else "thetazi")
            j, ti = bb.start, 0
            for t_idx, t in enumerate(terms):
                jac = t.structure.factor_jacobian(theta[ti : ti + t.structure.n_params])
                for dlam in jac:
                    dA = np.asarray(
                        solver._build(
                            ci, [t.Z @ dlam if k == t_idx else None for k in range(len(terms))]
                        )
                    )
                    m = dA @ u[blk[c]]
                    tr = sum(
                        float(np.sum(-self._w(rp, c, b) * np.einsum("ij,ij->i", AH[(b, c)], dA)))
                        for b in R
                    )
                    tr += 0.5 * float(sum(Q[pr] * wp[pr][c] for pr in pairs) @ m)
                    g_s = float((dA @ s[blk[c]]) @ d1[c]) + sum(
                        float(v[a] @ (second[(a, c)] * m)) for a in R
                    )
                    grad[j] = -float(d1[c] @ m) + tr + g_s
                    j += 1
                ti += t.structure.n_params
        bp = self.blocks["psi"]
        for q, (dll, dd, dw) in enumerate(rp["psi"]):
            grad[bp.start + q] = (
                -float(np.sum(dll))
                + 0.5 * float(sum(Q[pr] @ dw[pr] for pr in pairs))
                + sum(float(v[a] @ dd[a]) for a in R)
            )
        return grad

    @staticmethod
    def _w(rp: dict[str, Any], a: str, b: str) -> FloatArray:
        """``-w_ab = d2 l / deta_a deta_b`` at the mode."""
        return rp["s0"][(a, b)]  # type: ignore[no-any-return]

    def gradient(self, params: FloatArray) -> FloatArray:
        """The gradient of :meth:`objective`: analytic where it applies, else by
        central differences.  Kept for the last ``params`` (the optimiser's last point
        is where the Hessian starts)."""
        key = np.ascontiguousarray(params, dtype=np.float64).tobytes()
        if self._last_gradient is not None and self._last_gradient[0] == key:
            self.exact_gradient = self._last_gradient[1]
            return self._last_gradient[2].copy()
        g = self._gradient(params)
        self._last_gradient = (key, self.exact_gradient, g.copy())
        return g

    def _gradient(self, params: FloatArray) -> FloatArray:
        self.exact_gradient = True  # cleared by any part taken by differences
        g = self.analytic_gradient(params)
        if g is None or not np.all(np.isfinite(g)):
            self.exact_gradient = False
            return self.fd_gradient(params)
        # At a variance of zero the Laplace objective is even in the relative factor:
        # its derivative is 0 there and the optimiser would stop on that stationary
        # point; the one-sided difference (negative when the variance should grow)
        # says which way to go.
        lo, _ = self.bounds()
        at = np.flatnonzero(np.isfinite(lo) & (params - lo <= 1e-8))
        if at.size:
            self.exact_gradient = False
            base = self.inner(params).objective
            u0 = self.u.copy()
            for i in at:
                h = 1e-5 * max(1.0, abs(params[i]))
                b = params.copy()
                b[i] += h
                g[i] = (self.inner(b, u0).objective - base) / h
            self.u = u0
        return g

    def fd_gradient(self, params: FloatArray, step: float = 1e-5) -> FloatArray:
        """Central differences of :meth:`objective`, warm-started at the centre's mode."""
        base = self.inner(params)
        u0 = base.u
        lo, hi = self.bounds()
        g = np.zeros(self.n_params)
        for i in range(self.n_params):  # a loop over parameters (few)
            h = step * max(1.0, abs(params[i]))
            a, b = params.copy(), params.copy()
            a[i] = max(params[i] - h, lo[i])
            b[i] = min(params[i] + h, hi[i])
            fa = self.inner(a, u0).objective if a[i] < params[i] else base.objective
            fb = self.inner(b, u0).objective
            g[i] = (fb - fa) / (b[i] - a[i])
        self.u = u0
        return g


def _weighted(r: RowDerivatives, w: FloatArray) -> RowDerivatives:
    """Every row's log-likelihood and derivatives times its prior weight."""
    scaled: dict[str, Any] = {
        f.name: None if getattr(r, f.name) is None else getattr(r, f.name) * w
        for f in fields(RowDerivatives)
        if f.name != "shape_d"
    }
    if r.shape_d is not None:
        scaled["shape_d"] = [(a * w, b * w, c * w) for a, b, c in r.shape_d]
    return RowDerivatives(**scaled)


def _hessian(
    problem: Any, fun: Any, x: FloatArray, lo: FloatArray, hi: FloatArray, free: np.ndarray
) -> tuple[FloatArray, FloatArray | None]:
    """The Hessian at ``x`` and the gradient there (``None`` if not computed).

    Where the gradient is exact up to rounding (every row derivative analytic: the
    family's higher derivatives, no ``psi``), forward differences of it with a small
    step (``k`` gradients, accurate to about 1e-7 relative); otherwise central
    differences (``2k`` gradients; accurate to ``O(h^2)``, the differenced row
    derivatives' rounding kept out by the larger step), or differences of the
    objective where there is no analytic gradient."""
    base = getattr(problem, "base", problem)
    if isinstance(base.solver, _Dense) and any(
        not isinstance(A, np.ndarray) for A in base.solver.ZL
    ):
        return central_hessian(fun, x, lo, hi, free), None
    g0 = np.asarray(problem.gradient(x), dtype=np.float64)
    H = _forward_hessian(problem, x, g0, lo, hi) if base.exact_gradient else None
    if H is None:
        H = _gradient_columns(problem, x, g0, lo, hi, 1e-4, central=True)
        if H is None:
            return central_hessian(fun, x, lo, hi, free), None
        H = (H + H.T) / 2.0
    H[~free, :] = 0.0
    H[:, ~free] = 0.0
    return H, g0


def _gradient_columns(
    problem: Any,
    x: FloatArray,
    g0: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    step: float,
    central: bool,
    exact: bool = False,
) -> FloatArray | None:
    """The Hessian at ``x`` by differences of the gradient (``g0`` there), steps
    ``step * max(1, |x_i|)``: forward (``k`` gradients; away from an upper bound) or
    central (``2k``; second-order one-sided next to a bound).  Parameters of
    independent groups (:meth:`LaplaceProblem.independent_groups`: the Hessian between
    them is zero) move together, one of each group per gradient.  ``exact``: ``None``
    if a gradient on the way was not exact (a variance reaching its bound).  Not
    symmetrised."""
    base = getattr(problem, "base", problem)
    k = x.size
    h = step * np.maximum(np.abs(x), 1.0)
    groups = problem.independent_groups() if hasattr(problem, "independent_groups") else []
    if not groups:
        groups = [np.arange(k)]
    owner = np.zeros(k, dtype=np.int64)
    for gi, g in enumerate(groups):
        owner[g] = gi
    alone = np.zeros(k, dtype=bool)
    if central:  # next to a bound: one-sided, one parameter at a time
        alone = (x - h < lo) | (x + h > hi)
    lists = [[int(i) for i in g if not alone[i]] for g in groups]
    rounds = [
        [lst[r] for lst in lists if r < len(lst)] for r in range(max(map(len, lists), default=0))
    ]
    H = np.zeros((k, k))

    def grad(z: FloatArray) -> FloatArray | None:
        g = problem.gradient(z)
        if g is None or (exact and not base.exact_gradient):
            return None
        return np.asarray(g, dtype=np.float64)

    for moved in rounds:  # a loop over parameters (few)
        e = np.zeros(k)
        for i in moved:
            e[i] = -h[i] if (not central and x[i] + h[i] > hi[i]) else h[i]
        if central:
            gp, gm = grad(x + e), grad(x - e)
            if gp is None or gm is None:
                return None
            diff = gp - gm
            denom = 2.0 * e
        else:
            gp = grad(x + e)
            if gp is None:
                return None
            diff = gp - g0
            denom = e
        for i in moved:
            rows = groups[owner[i]]
            H[rows, i] = diff[rows] / denom[i]
    for i in (int(j) for j in np.flatnonzero(alone)):
        e = np.zeros(k)
        e[i] = h[i]
        sgn = 1.0 if x[i] - h[i] < lo[i] else -1.0
        g1, g2 = grad(x + sgn * e), grad(x + 2 * sgn * e)
        if g1 is None or g2 is None:
            return None
        H[:, i] = (-3 * g0 + 4 * g1 - g2) / (2 * sgn * h[i])
    return H


def _forward_hessian(
    problem: Any, x: FloatArray, g0: FloatArray, lo: FloatArray, hi: FloatArray
) -> FloatArray | None:
    """Forward differences of an exact gradient (step 1e-7 relative), symmetrised;
    ``None`` if a gradient on the way was not exact (a variance reaching its bound)."""
    H = _gradient_columns(problem, x, g0, lo, hi, 1e-7, central=False, exact=True)
    return None if H is None else (H + H.T) / 2.0


def _diagonal_scale(
    fun: Any, x0: FloatArray, f0: float, lo: FloatArray, hi: FloatArray
) -> FloatArray:
    """``1 / sqrt(d2f/dx_i^2)`` at the start (1 where not positive and finite)."""
    scale = np.ones(x0.size)
    for i in range(x0.size):  # a loop over parameters (few)
        h = 1e-3 * max(1.0, abs(x0[i]))
        if x0[i] - h < lo[i] or x0[i] + h > hi[i]:
            continue
        e = np.zeros(x0.size)
        e[i] = h
        fp, fm = fun(x0 + e), fun(x0 - e)
        d2 = (fp - 2.0 * f0 + fm) / (h * h)
        if np.isfinite(d2) and d2 > 0 and fp < 1e299 and fm < 1e299:
            scale[i] = 1.0 / np.sqrt(d2)
    return scale


def _preconditioner(
    problem: Any, fun: Any, x0: FloatArray, f0: float, lo: FloatArray, hi: FloatArray
) -> FloatArray:
    """``C`` with ``C' H C`` close to the identity, ``H`` the Hessian at the start by
    forward differences of the analytic gradient (``k`` gradients): the optimiser works
    on ``z``, ``x = x0 + C z``.  Bounded parameters (the relative factors' diagonals)
    keep a diagonal scale, so that their bounds stay bounds on single coordinates; the
    unbounded ones are decorrelated from each other and from the bounded ones.  Where
    that Hessian is not positive definite, the diagonal scale of :func:`_diagonal_scale`.
    """
    k = x0.size
    g0 = problem.gradient(x0)
    H = np.full((k, k), np.nan)
    if np.all(np.isfinite(g0)):
        cols = _gradient_columns(problem, x0, g0, lo, hi, 1e-4, central=False)
        if cols is not None:
            H = (cols + cols.T) / 2.0
    bnd = np.isfinite(lo) | np.isfinite(hi)
    u, b = np.flatnonzero(~bnd), np.flatnonzero(bnd)
    try:
        if not np.all(np.isfinite(H)):
            raise np.linalg.LinAlgError("not finite")
        # Far from the optimum H can be indefinite: its eigenvalues' magnitudes (a
        # modified Newton metric), floored at 1e-2 of the largest.
        lam, V = np.linalg.eigh(H[np.ix_(u, u)])
        lam = np.maximum(np.abs(lam), 1e-2 * np.max(np.abs(lam), initial=0.0))
        Huu = (V * lam) @ V.T
        Luu = np.linalg.cholesky(Huu)
        M = -np.linalg.solve(Huu, H[np.ix_(u, b)])
        S = H[np.ix_(b, b)] + H[np.ix_(b, u)] @ M
        d = np.diag(S).copy()
        bad = ~(d > 0)
        d[bad] = np.abs(np.diag(H)[b][bad])
        d[~(d > 0)] = 1.0
        C = np.zeros((k, k))
        C[np.ix_(u, u)] = np.linalg.inv(Luu).T
        C[np.ix_(u, b)] = M / np.sqrt(d)[None, :]
        C[b, b] = 1.0 / np.sqrt(d)
        return C
    except np.linalg.LinAlgError:
        return np.diag(_diagonal_scale(fun, x0, f0, lo, hi))


@dataclass
class LaplaceFit:
    """The state of a fitted multi-predictor model."""

    problem: LaplaceProblem
    params: FloatArray
    objective: float
    u: FloatArray
    hessian: FloatArray
    vcov: FloatArray  # of every fixed parameter (NaN where not free)
    free: np.ndarray
    converged: bool
    messages: list[str] = field(default_factory=list)
    n_evaluations: int = 0

    @property
    def loglik(self) -> float:
        return -self.objective


def fit_laplace(
    problem: Any,
    start: FloatArray | None = None,
    maxiter: int = 1000,
    hessian: bool = True,
) -> LaplaceFit:
    """Minimise the Laplace objective over every fixed parameter; the Wald covariance
    from the central-difference Hessian at the optimum (``hessian=False``: neither the
    Hessian nor the Newton steps, for profiles)."""
    x0 = problem.start() if start is None else np.asarray(start, dtype=np.float64)
    lo, hi = problem.bounds()
    messages: list[str] = []
    f0 = problem.objective(x0)
    if not np.isfinite(f0):
        raise ValueError("the Laplace objective is not finite at the starting values")

    def fun(x: FloatArray) -> float:
        v = problem.objective(x)
        return v if np.isfinite(v) else 1e300

    # L-BFGS-B is not scale invariant: its first step is along the gradient, which for
    # an uncentred covariate (values in the hundreds) throws the linear predictor out
    # of range, and correlated parameters (interactions) take it dozens of iterations.
    # It works on z with x = x0 + C z, C from the Hessian at the start.
    C = _preconditioner(problem, fun, x0, f0, lo, hi)
    scale = np.diag(C)  # bounded coordinates: C is diagonal there
    zlo = np.where(np.isfinite(lo), (lo - x0) / scale, -np.inf)
    zhi = np.where(np.isfinite(hi), (hi - x0) / scale, np.inf)

    def scaled(z: FloatArray) -> tuple[float, FloatArray]:
        x = x0 + C @ z
        return fun(x), C.T @ problem.gradient(x)

    zbounds = [
        (float(a) if np.isfinite(a) else None, float(b) if np.isfinite(b) else None)
        for a, b in zip(zlo, zhi, strict=True)
    ]
    res = minimize(
        cast(Any, scaled),
        np.zeros(x0.size),
        jac=True,
        method="L-BFGS-B",
        bounds=zbounds,
        options={"maxiter": maxiter, "ftol": 1e-13, "gtol": 1e-6, "maxcor": 20},
    )
    res.x = np.clip(x0 + C @ res.x, lo, hi)
    x, value = np.asarray(res.x, dtype=np.float64), float(res.fun)
    if not hessian:
        nan = np.full((x.size, x.size), np.nan)
        return LaplaceFit(
            problem, x, value, problem.u, nan, nan, np.ones(x.size, bool), bool(res.success)
        )

    def free_at(z: FloatArray) -> np.ndarray:
        return ~((np.isfinite(lo) & (z - lo <= 1e-8)) | (np.isfinite(hi) & (hi - z <= 1e-8)))

    # Newton steps with the central-difference Hessian (computed once: it changes
    # negligibly over the last small steps) and central-difference gradients.
    free = free_at(x)
    H, grad0 = _hessian(problem, fun, x, lo, hi, free)
    grad = problem.gradient(x) if grad0 is None else grad0
    for _ in range(4):
        free = free_at(x)
        Hf = H[np.ix_(free, free)]
        try:
            if np.linalg.eigvalsh(Hf).min() <= 0:
                break
            step = np.linalg.solve(Hf, grad[free])
        except np.linalg.LinAlgError:
            break
        if not 0.5 * float(grad[free] @ step) > 1e-10:
            break
        t, moved = 1.0, False
        while t > 1e-3:
            trial = x.copy()
            trial[free] = np.clip(x[free] - t * step, lo[free], hi[free])
            f_trial = fun(trial)
            if f_trial < value:
                x, value, moved = trial, float(f_trial), True
                break
            t *= 0.5
        if not moved:
            break
        grad = problem.gradient(x)
    state = problem.inner(x)
    value = state.objective
    free = free_at(x)
    vcov = np.full((x.size, x.size), np.nan)
    Hf = H[np.ix_(free, free)]
    converged = bool(res.success) or float(np.max(np.abs(grad[free]), initial=0.0)) < 1e-3
    try:
        ev = np.linalg.eigvalsh(Hf)
        if ev.size and ev.min() <= 0:
            messages.append(
                "non-positive-definite Hessian matrix: the model may be overparameterised "
                "or the random-effect variances zero (glmmTMB's warning)"
            )
        vcov[np.ix_(free, free)] = np.linalg.inv(Hf)
    except np.linalg.LinAlgError:
        messages.append("the Hessian is singular: no Wald covariance")
    if not converged:
        messages.append(f"the optimiser did not converge: {res.message}")
    if not state.converged:
        messages.append("the inner Newton iterations for the random effects did not converge")
    return LaplaceFit(
        problem, x, value, state.u, H, vcov, free, converged, messages, problem.n_evaluations
    )


class HeldProblem:
    """A :class:`LaplaceProblem` with parameter ``index`` held at ``value`` (profiles)."""

    def __init__(self, problem: LaplaceProblem, index: int, value: float) -> None:
        self.base = problem
        self.index = index
        self.value = value
        self.n_params = problem.n_params - 1
        self.n_evaluations = 0

    @property
    def u(self) -> FloatArray:
        return self.base.u

    def full(self, x: FloatArray) -> FloatArray:
        return np.insert(np.asarray(x, dtype=np.float64), self.index, self.value)

    def start(self) -> FloatArray:
        return np.delete(self.base.start(), self.index)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        lo, hi = self.base.bounds()
        return np.delete(lo, self.index), np.delete(hi, self.index)

    def independent_groups(self) -> list[np.ndarray]:
        out = []
        for g in self.base.independent_groups():
            g = g[g != self.index]
            out.append(g - (g > self.index))
        return [g for g in out if g.size]

    def objective(self, x: FloatArray) -> float:
        return self.base.objective(self.full(x))

    def gradient(self, x: FloatArray) -> FloatArray:
        return np.delete(self.base.gradient(self.full(x)), self.index)

    def inner(self, x: FloatArray, u0: FloatArray | None = None) -> InnerState:
        return self.base.inner(self.full(x), u0)
