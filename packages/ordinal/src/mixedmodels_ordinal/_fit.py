"""Maximise the approximate likelihood of a clmm over (alpha, beta, log SDs, T).

The outer problem has few parameters.  The gradient is exact for one scalar term
(Laplace and AGQ) and for several scalar terms (Laplace); the optimiser is then a lean
BFGS started from the exact curvature (one scalar term: a batched difference pass),
and the Hessian for ``vcov`` is forward differences of the exact gradient (batched for
one scalar term).  Otherwise the gradient is central differences of the criterion (each
evaluation re-finds the mode, warm-started at the centre's), the optimiser scipy's
BFGS, finished by Newton steps with a second-difference Hessian (as ordinal's
``deriv12``), whose inverse is ``vcov``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from mixedmodels import ConvergenceWarning
from mixedmodels.interfaces import FloatArray

from ._criterion import (
    ClmmProblem,
    agq_gradient_at,
    laplace_gradient_at,
    laplace_gradient_terms,
)

__all__ = ["ClmmConvergenceWarning", "FitOutcome", "fit_clmm", "hessian"]


class ClmmConvergenceWarning(ConvergenceWarning):
    """The clmm optimiser stopped before the gradient was small."""


@dataclass
class FitOutcome:
    par: FloatArray
    nll: float
    gradient: FloatArray
    hessian: FloatArray
    n_eval: int
    converged: bool
    message: str
    mode: Any = None  # the conditional mode at ``par`` (a criterion.Mode), if kept


def _gradient(fn: Callable[[FloatArray], float], x: FloatArray, h: float = 1e-5) -> FloatArray:
    g = np.empty_like(x)
    for i in range(x.size):
        step = h * max(1.0, abs(x[i]))
        e = np.zeros_like(x)
        e[i] = step
        g[i] = (fn(x + e) - fn(x - e)) / (2 * step)
    return g


def hessian(fn: Callable[[FloatArray], float], x: FloatArray, h: float = 1e-4) -> FloatArray:
    """Central second differences with step ``h`` (ordinal's ``deriv12``)."""
    k = x.size
    H = np.empty((k, k))
    f0 = fn(x)
    E = np.eye(k) * h
    fp = np.array([fn(x + E[i]) for i in range(k)])
    fm = np.array([fn(x - E[i]) for i in range(k)])
    for i in range(k):
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / h**2
        for j in range(i):
            v = (
                fn(x + E[i] + E[j])
                - fn(x + E[i] - E[j])
                - fn(x - E[i] + E[j])
                + fn(x - E[i] - E[j])
            ) / (4 * h**2)
            H[i, j] = H[j, i] = v
    return H


@dataclass
class _BFGSResult:
    x: FloatArray
    fun: float
    jac: FloatArray
    hess_inv: FloatArray
    message: str


def _bfgs(
    fg: Callable[[FloatArray], tuple[float, FloatArray]],
    x0: FloatArray,
    hess_inv0: FloatArray | None,
    gtol: float,
    maxiter: int,
    first: tuple[float, FloatArray] | None = None,
    refresh: Callable[[FloatArray, FloatArray], FloatArray | None] | None = None,
) -> _BFGSResult:
    """BFGS on max|gradient| < ``gtol`` with a backtracking (Armijo) line search.

    scipy's BFGS costs ~0.1 ms of bookkeeping per iteration, as much as a clmm
    criterion on a small data set; this loop does what the outer problem needs: unit
    steps are accepted almost always (the start's curvature is the fixed-effects
    fit's), and curvature pairs with ``s'y <= 0`` are skipped.  ``first``: the value
    and gradient at ``x0`` if already known.  ``refresh(x, g)``: a new inverse Hessian
    (or ``None``), asked for once when max|gradient| first falls below 1e-2 (unless
    already below 1e-4), so that the last steps are Newton's."""
    x = np.asarray(x0, dtype=np.float64).copy()
    k = x.size
    H = np.eye(k) if hess_inv0 is None else np.array(hess_inv0, dtype=np.float64)
    f, g = fg(x) if first is None else first
    if not np.isfinite(f):
        return _BFGSResult(x, f, g, H, "the criterion is not finite at the start")
    message = "maximum number of iterations"
    for _ in range(maxiter):
        gmax = float(np.max(np.abs(g)))
        if gmax < gtol:
            message = "max|gradient| < gtol"
            break
        if refresh is not None and gmax < 1e-2:
            # below 1e-4 already: BFGS's curvature finishes it
            Hn = refresh(x, g) if gmax >= 1e-4 else None
            refresh = None
            if Hn is not None:
                H = Hn
        d = -(H @ g)
        slope = float(g @ d)
        if not slope < 0:
            H = np.eye(k)
            d, slope = -g, -float(g @ g)
        t = 1.0
        for _ls in range(40):
            fn, gn = fg(x + t * d)
            if np.isfinite(fn) and fn <= f + 1e-4 * t * slope:
                break
            if np.isfinite(fn):
                # minimum of the quadratic through f, slope and fn, kept in [t/10, t/2]
                tq = -slope * t * t / (2.0 * (fn - f - slope * t))
                t = min(max(tq, 0.1 * t), 0.5 * t)
            else:
                t *= 0.1
        else:
            message = "the line search found no decrease"
            break
        step = t * d
        y = gn - g
        sy = float(step @ y)
        x, f, g = x + step, float(fn), gn
        if sy > 1e-12 * float(np.sqrt((step @ step) * (y @ y))):
            Hy = H @ y
            H = (
                H
                + ((sy + y @ Hy) / sy**2) * np.outer(step, step)
                - (np.outer(Hy, step) + np.outer(step, Hy)) / sy
            )
        if np.max(np.abs(step)) < 1e-14 * (1.0 + np.max(np.abs(x))):
            message = "no progress"
            break
    return _BFGSResult(x, f, g, H, message)


def fit_clmm(
    problem: ClmmProblem,
    start: FloatArray,
    nagq: int = 1,
    gtol: float = 1e-6,
    maxiter: int = 1000,
    quiet: bool = False,
    hess_inv0: FloatArray | None = None,
    finish: bool = True,
) -> FitOutcome:
    """Minimise the Laplace (``nagq == 1``) or AGQ criterion from ``start``.

    ``hess_inv0``: BFGS's starting inverse Hessian (the fixed-effects fit's, or the
    Laplace fit's for quadrature), which saves most of its early iterations.
    ``finish=False`` stops after BFGS (no Newton finish, no Hessian): the outcome's
    ``hessian`` is then BFGS's *inverse* Hessian, to start another stage."""
    if nagq > 1:
        x, w = np.polynomial.hermite.hermgauss(nagq)

        def crit(par: FloatArray) -> float:
            return problem.agq(par, x, w, u0=centre[0])
    else:

        def crit(par: FloatArray) -> float:
            return problem.laplace(par, u0=centre[0])

    centre: list[FloatArray | None] = [None]
    n_eval = [0]

    def fun(par: FloatArray) -> float:
        n_eval[0] += 1
        return crit(par)

    # exact gradients: one scalar term (Laplace and quadrature), several scalar terms
    # (Laplace); otherwise central differences
    exact = problem.scalar_single or (problem.scalar_terms and nagq == 1)

    # one scalar term: the last mode, its parameters and du/dtheta there, whose
    # first-order prediction warm-starts the next mode
    last: list[Any] = []

    def fun_and_grad(par: FloatArray) -> tuple[float, FloatArray]:
        centre[0] = None
        if exact:
            # one scalar term: the Laplace or quadrature criterion's exact gradient
            n_eval[0] += 1
            u0 = None
            if last:
                lp, lu, ldu = last
                u0 = lu + ldu @ (par - lp)
            last.clear()
            try:
                m = problem.mode(par, u0)
            except (np.linalg.LinAlgError, ValueError):
                return np.inf, np.zeros_like(par)
            slope: list[FloatArray] | None = [] if problem.scalar_single else None
            if nagq > 1:
                D = np.asarray(m.extra["factor"][1])
                if not np.isfinite(m.nll) or np.any(D <= 0):
                    return np.inf, np.zeros_like(par)
                # value and gradient from the same quadrature nodes
                e1f, e2f = m.extra["eta"]
                f, g = agq_gradient_at(problem, par, m.u, e1f, e2f, m.extra["derivs"], x, w, slope)
            else:
                f = m.nll + m.logdet
            if not np.isfinite(f):
                return np.inf, np.zeros_like(par)
            centre[0] = problem._u_start.copy()
            if nagq > 1:
                g = np.asarray(g, dtype=np.float64)
            elif not problem.scalar_single:
                g = laplace_gradient_terms(problem, par, m)
            else:
                e1f, e2f = m.extra["eta"]
                g = laplace_gradient_at(problem, par, m.u, e1f, e2f, m.extra["derivs"], slope)
            if slope and np.all(np.isfinite(slope[0])):
                last.extend([par.copy(), m.u.copy(), slope[0]])
            return float(f), g
        f = fun(par)
        centre[0] = problem._u_start.copy()
        g = _gradient(fun, par)
        return f, g

    def hess(par: FloatArray, g0: FloatArray) -> FloatArray:
        """``g0``: the gradient at ``par``, evaluated last (its mode warm-starts the
        differences)."""
        if not exact:
            return hessian(fun, par)
        # forward differences of the exact gradient, symmetrised: the gradient is
        # smooth, so the O(h) error (~1e-5 relative) is far below what the standard
        # errors are compared to, at half the evaluations of central differences
        k = par.size
        steps = 1e-5 * np.maximum(1.0, np.abs(par))
        # quadrature batches hold (rows x nodes x k) arrays: one by one beyond ~32 MB
        small = nagq == 1 or problem.n * nagq * k <= 4_000_000
        if centre[0] is not None and problem.scalar_single and small:
            # the k differences at once, (rows x k) arrays, modes warm-started at the
            # centre's: one pass of array operations instead of k
            P = par[None, :] + np.diag(steps)
            batch = problem.modes_batch(P, np.repeat(centre[0][:, None], k, axis=1))
            if batch is not None:
                U, (e1f, e2f), dv = batch
                if nagq > 1:
                    fb, G = agq_gradient_at(problem, P, U, e1f, e2f, dv, x, w)
                    ok = bool(np.all(np.isfinite(fb)))
                else:
                    G, ok = laplace_gradient_at(problem, P, U, e1f, e2f, dv), True
                n_eval[0] += k
            if batch is not None and ok and np.all(np.isfinite(G)):
                H = ((G - g0[None, :]) / steps[:, None]).T
                return (H + H.T) / 2
        H = np.empty((k, k))
        for i in range(k):
            e = np.zeros(k)
            e[i] = steps[i]
            H[:, i] = (fun_and_grad(par + e)[1] - g0) / e[i]
        return (H + H.T) / 2

    def refresh(par: FloatArray, g0: FloatArray) -> FloatArray | None:
        """The inverse of the exact curvature at BFGS's current point (its mode is
        the last evaluated), or ``None`` if not positive definite."""
        H = hess(par, g0)
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            return None
        return np.asarray(np.linalg.inv(H), dtype=np.float64)

    # with difference gradients BFGS only gets close: the Newton finish below (with
    # the finite-difference Hessian computed anyway for vcov) converges from there
    opts: Any = {"gtol": gtol if exact else max(gtol, 1e-4), "maxiter": maxiter}
    if hess_inv0 is not None and np.all(np.isfinite(hess_inv0)):
        h0 = (hess_inv0 + hess_inv0.T) / 2
        try:
            np.linalg.cholesky(h0)
            opts["hess_inv0"] = h0
        except np.linalg.LinAlgError:
            pass  # not positive definite (a boundary fit): BFGS's identity
    first: tuple[float, FloatArray] | None = None
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if problem.scalar_single:
            # the exact curvature at the start (one batched difference pass) makes
            # BFGS's steps Newton's from the first
            f0, g0 = fun_and_grad(np.asarray(start, dtype=np.float64))
            if np.isfinite(f0):
                first = (f0, g0)
                H0 = hess(np.asarray(start, dtype=np.float64), g0)
                try:
                    np.linalg.cholesky(H0)
                    opts["hess_inv0"] = np.linalg.inv(H0)
                except np.linalg.LinAlgError:
                    pass  # not convex there: keep the fixed fit's curvature
        res: Any
        if exact:
            res = _bfgs(
                fun_and_grad,
                start,
                opts.get("hess_inv0"),
                opts["gtol"],
                maxiter,
                first,
                refresh if problem.scalar_single and finish else None,
            )
        else:
            # difference gradients: scipy's Wolfe line search copes better with their
            # noise than backtracking does
            res = optimize.minimize(fun_and_grad, start, jac=True, method="BFGS", options=opts)
        par = res.x
        if exact and np.isfinite(res.fun):
            # BFGS's last evaluation is at its result
            f, g = float(res.fun), np.asarray(res.jac, dtype=np.float64)
        else:
            f, g = fun_and_grad(par)
        if not finish:
            # a stage (the Laplace start of quadrature): BFGS's own inverse Hessian
            # is curvature enough to start the next stage
            return FitOutcome(
                par, float(f), g, np.asarray(res.hess_inv), n_eval[0], True, str(res.message)
            )
        H = hess(par, g)
        # Newton finish: BFGS stops on gtol; a few steps with the finite-difference
        # Hessian tighten the optimum (and the Hessian is reused for vcov unless the
        # steps moved the estimates).
        moved = False
        for _ in range(3):
            if np.max(np.abs(g)) < 1e-7:
                break
            try:
                step = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            f_new, g_new = fun_and_grad(par - step)
            if not np.isfinite(f_new) or f_new > f + 1e-12:
                break
            par, f, g = par - step, f_new, g_new
            # the Hessian is recomputed only if the estimates moved beyond its own
            # difference step (it changes by O(|step|))
            moved = moved or bool(np.max(np.abs(step)) > 1e-5)
        if moved:
            H = hess(par, fun_and_grad(par)[1])
        final_mode = problem.mode(par, centre[0])  # leave the mode at the optimum
    converged = bool(np.max(np.abs(g)) < 1e-3)
    message = "max|gradient| small" if converged else f"optimizer stopped: {res.message}"
    if not converged and not quiet:
        warnings.warn(
            f"clmm: the optimiser did not converge (max|gradient| = {np.max(np.abs(g)):.3g})",
            ClmmConvergenceWarning,
            stacklevel=3,
        )
    return FitOutcome(par, float(f), g, H, n_eval[0], converged, message, final_mode)
