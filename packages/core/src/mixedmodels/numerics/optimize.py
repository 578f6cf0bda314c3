"""Bounded optimisation of a profiled criterion and a scale-free convergence check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from ..errors import ModelSpecificationError
from ..interfaces import FloatArray
from .derivatives import finite_difference_derivatives, richardson_central

__all__ = [
    "OptimizeResult",
    "OptimizerSummary",
    "check_convergence",
    "minimize_bounded",
    "newton_refine",
]

#: ``method="auto"`` without a gradient: COBYQA above this size of the system factorised
#: per evaluation (an LMM's dense block ``m``), L-BFGS-B on differences below it.
AUTO_COBYQA_MIN_SIZE = 400


@dataclass
class OptimizeResult:
    """Outcome of :func:`minimize_bounded`."""

    x: FloatArray
    fun: float
    n_evaluations: int
    method: str
    success: bool
    message: str
    gradient: FloatArray | None = None
    hessian: FloatArray | None = None
    converged: bool = True
    convergence_messages: list[str] = field(default_factory=list)


@dataclass
class OptimizerSummary:
    """What a fitted model keeps of its optimisation (its ``optimizer`` attribute).

    Attributes
    ----------
    method
        The optimiser that produced the estimates (``"lbfgsb"``, ``"cobyqa"``).
    n_evaluations
        Number of evaluations of the criterion, all stages together.
    message
        The optimiser's stop message (``None`` where there is none).
    gradient, hessian
        Of the criterion at the estimates, from the convergence check (``None``
        without it).
    """

    method: str
    n_evaluations: int
    message: str | None = None
    gradient: FloatArray | None = None
    hessian: FloatArray | None = None


def minimize_bounded(
    fun: Callable[[FloatArray], float],
    x0: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    method: str = "auto",
    max_evaluations: int = 10_000,
    fun_and_grad: Callable[[FloatArray], tuple[float, FloatArray | None]] | None = None,
    fd_step: float = 1e-8,
    ftol: float = 1e-15,
    initial_radius: float = 1.0,
    size: int | None = None,
    final_radius: float = 1e-5,
) -> OptimizeResult:
    """Minimise ``fun`` over a box.

    ``"lbfgsb"`` is L-BFGS-B, with the analytic gradient from ``fun_and_grad`` when
    given (falling back to forward differences where it returns ``None``), else with
    forward differences: fewest Python-level overheads, best for cheap criteria.
    ``"cobyqa"`` (a trust-region quadratic-model method, like lme4's BOBYQA) needs the
    fewest evaluations without a gradient, best for expensive criteria.  ``fd_step`` is
    L-BFGS-B's forward-difference step when no gradient is given (larger for criteria
    with an inner iteration, whose noise must stay small against it);
    ``initial_radius`` and ``final_radius`` are COBYQA's first and last trust-region
    radii (a larger last radius for a caller that finishes with Newton steps).  ``"auto"``:
    L-BFGS-B when a gradient is given, else COBYQA when ``size`` (the order of the
    system one evaluation factorises, a measure of its cost) is at least
    :data:`AUTO_COBYQA_MIN_SIZE`, else L-BFGS-B.  The choice depends on the problem
    only, never on a measured time: the same model gives the same estimates on a quiet
    machine and a loaded one.
    """
    n_calls = 0

    def counted(x: FloatArray) -> float:
        nonlocal n_calls
        n_calls += 1
        value = fun(np.asarray(x, dtype=np.float64))
        return float(value) if np.isfinite(value) else 1e300

    x0 = np.clip(np.asarray(x0, dtype=np.float64), lower, upper)
    if x0.size == 0:  # nothing to optimise (e.g. gls with no correlation or variance)
        return OptimizeResult(x0, counted(x0), n_calls, "none", True, "no parameters")
    bounds = list(zip(lower.tolist(), upper.tolist(), strict=True))
    if method == "auto":
        expensive = size is not None and size >= AUTO_COBYQA_MIN_SIZE
        method = "cobyqa" if fun_and_grad is None and expensive else "lbfgsb"
    if method == "lbfgsb" and fun_and_grad is not None:

        def with_gradient(x: FloatArray) -> tuple[float, FloatArray]:
            nonlocal n_calls
            n_calls += 1
            x = np.asarray(x, dtype=np.float64)
            value, grad = fun_and_grad(x)
            if not np.isfinite(value):
                return 1e300, np.zeros_like(x)
            if grad is None:  # boundary: forward differences into the box
                grad = np.empty_like(x)
                for i in range(x.size):
                    h = max(fd_step, 1e-7) * max(1.0, abs(x[i]))
                    if x[i] + h > upper[i]:
                        h = -h
                    y = x.copy()
                    y[i] += h
                    grad[i] = (counted(y) - value) / h
            return float(value), grad

        res = minimize(
            with_gradient,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": max(ftol, 1e-11), "gtol": 1e-6, "maxfun": max_evaluations},
        )
    elif method == "lbfgsb":
        res = minimize(
            counted,
            x0,
            method="L-BFGS-B",
            bounds=bounds,
            options={"ftol": ftol, "gtol": 1e-9, "maxfun": max_evaluations, "eps": fd_step},
        )
    elif method == "cobyqa":
        res = minimize(
            counted,
            x0,
            method="COBYQA",
            bounds=bounds,
            options={
                "maxfev": max_evaluations,
                "final_tr_radius": final_radius,
                "initial_tr_radius": initial_radius,
            },
        )
    else:
        raise ModelSpecificationError(
            f"unknown optimizer {method!r}; use 'auto', 'lbfgsb' or 'cobyqa'"
        )
    return OptimizeResult(
        x=np.asarray(res.x, dtype=np.float64),
        fun=float(res.fun),
        n_evaluations=n_calls,
        method=method,
        success=bool(res.success),
        message=str(res.message),
    )


# Probe points (relative-factor values) for a parameter that ended on a zero bound.
_BOUNDARY_PROBES = (0.01, 0.03, 0.1, 0.3, 1.0)


def probe_zero_bounds(
    fun: Callable[[FloatArray], float],
    x: FloatArray,
    value: float,
    lower: FloatArray,
    upper: FloatArray,
    mirror: NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, float, int]:
    """The best of a few points inside the box along each parameter on a zero bound.

    A criterion that is even in a parameter (a scalar random-effect term's theta, for
    LMMs and GLMMs) has zero derivative on that bound whether or not it is the optimum,
    so a gradient-based optimiser can stop there; only values tell.  ``mirror`` marks
    the covariance factors' off-diagonal parameters: a factor's column can be negated
    without changing the covariance, so with a diagonal element at zero the other side
    of the bound is the same diagonal value with that column's off-diagonals negated
    (a binary random slope stopped 0.0025 short with the intercept's SD at zero and the
    slope's loading of the wrong sign); each probe is also tried with them negated.
    Returns the best point, its value and the number of evaluations (``x`` and
    ``value`` when no probe is lower).
    """
    best_x, best_f, count = np.asarray(x, dtype=np.float64), float(value), 0
    flips = [False] if mirror is None or not np.any(mirror) else [False, True]
    for i in np.flatnonzero((lower == 0.0) & (best_x - lower < 1e-6)):
        base = best_x.copy()
        for probe in _BOUNDARY_PROBES:  # parameters on a bound (few) x 5 probes x 2
            if probe > upper[i]:
                break
            for flip in flips:
                trial = base.copy()
                trial[i] = probe
                if flip:
                    trial[mirror] = -trial[mirror]
                f = fun(trial)
                count += 1
                if np.isfinite(f) and f < best_f:
                    best_x, best_f = trial, float(f)
    return best_x, best_f, count


def escape_saddle(
    fun: Callable[[FloatArray], float],
    x: FloatArray,
    value: float,
    derivatives: tuple[FloatArray, FloatArray] | None,
    lower: FloatArray,
    upper: FloatArray,
) -> tuple[FloatArray, float, int] | None:
    """A lower point along the direction of negative curvature, if the Hessian at ``x``
    has one (over the parameters not held on a bound); ``None`` otherwise.

    An optimiser can stop on a saddle of a covariance's parameters (a poisson random
    slope ended 0.40 deviance units above lme4's optimum with a negative Hessian
    eigenvalue, the check saying so): the eigenvector of the most negative eigenvalue is
    the way out.  Tries both signs at a few step lengths.  Returns the point, its value
    and the number of evaluations.
    """
    if derivatives is None:
        return None
    grad, hess = derivatives
    # A zero variance with a zero derivative (the criterion is even there) is free to
    # move inwards: its curvature may be the way out.  Others on a bound are held.
    even = (lower == 0.0) & (x - lower <= 1e-8) & (np.abs(grad) <= 1e-6 * max(1.0, abs(value)))
    free = ~(
        (np.isfinite(lower) & (x - lower <= 1e-8) & (grad >= 0) & ~even)
        | (np.isfinite(upper) & (upper - x <= 1e-8) & (grad <= 0))
    )
    if not np.any(free):
        return None
    H = hess[np.ix_(free, free)]
    eig, vec = np.linalg.eigh((H + H.T) / 2.0)
    if not eig[0] < -1e-6 * max(1.0, abs(eig[-1])):
        return None
    direction = np.zeros(x.size)
    direction[free] = vec[:, 0]
    best_x, best_f, count = x, value, 0
    for step in (0.01, 0.03, 0.1, 0.3, 1.0):
        for sign in (1.0, -1.0):
            move = sign * step * direction
            move[even] = np.abs(move[even])  # into the box (the criterion is even there)
            trial = np.clip(x + move, lower, upper)
            f = fun(trial)
            count += 1
            if np.isfinite(f) and f < best_f:
                best_x, best_f = trial, float(f)
    if not best_f < value - 1e-8 * max(1.0, abs(value)):
        return None
    return best_x, best_f, count


def newton_polish(
    fun: Callable[[FloatArray], float],
    derivatives_at: Callable[[FloatArray], tuple[FloatArray, FloatArray] | None],
    x: FloatArray,
    value: float,
    lower: FloatArray,
    upper: FloatArray,
    derivatives: tuple[FloatArray, FloatArray] | None = None,
    tol: float = 1e-7,
    max_steps: int = 6,
) -> tuple[FloatArray, float, tuple[FloatArray, FloatArray] | None]:
    """Newton steps with backtracking while they predict a decrease above ``tol`` (in
    criterion units: scale-free).

    ``derivatives_at(x)`` returns the gradient and Hessian (e.g. by
    :func:`gradient_differences` of an exact gradient, or
    :func:`finite_difference_derivatives`), or ``None``.  Quasi-Newton methods can stop
    early: L-BFGS-B on a stale curvature memory ("relative reduction" with a large
    gradient; VerbAgg with a probit link stopped 0.1 deviance units short), on long
    flat ridges of residual-structure criteria; from there a Newton step or two converge
    quadratically.  Parameters on a bound whose gradient points out of the box are
    held.  Returns the point, its value and the derivatives there, for the convergence
    check.
    """
    x = np.asarray(x, dtype=np.float64)
    derivs = derivatives or derivatives_at(x)
    for _ in range(max_steps):
        if derivs is None:
            break
        grad, hess = derivs
        free = ~(
            (np.isfinite(lower) & (x - lower <= 1e-8) & (grad >= 0))
            | (np.isfinite(upper) & (upper - x <= 1e-8) & (grad <= 0))
        )
        if not np.any(free):
            break
        g, H = grad[free], hess[np.ix_(free, free)]
        try:
            if np.linalg.eigvalsh(H).min() <= 0:
                break
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if not 0.5 * float(g @ step) > tol:
            break
        t, moved = 1.0, False
        while t > 1e-4:
            trial = x.copy()
            trial[free] = np.clip(x[free] - t * step, lower[free], upper[free])
            f_trial = fun(trial)
            if f_trial < value:
                x, value, moved = trial, float(f_trial), True
                break
            t *= 0.5
        if not moved:
            break
        derivs = derivatives_at(x)
    return x, value, derivs


def newton_refine(
    fun: Callable[[FloatArray], float],
    x: FloatArray,
    value: float,
    lower: FloatArray,
    upper: FloatArray,
    derivatives: tuple[FloatArray, FloatArray] | None,
    se_fraction: float = 0.25,
    max_steps: int = 4,
    step_tol: float = 1e-10,
    final_hessian: bool = True,
) -> tuple[FloatArray, float, tuple[FloatArray, FloatArray] | None, int]:
    """Locate a minimum of a criterion without an exact gradient to rounding, and its
    Hessian there, both insensitive to the criterion's rounding noise.

    From ``derivatives`` (gradient and Hessian near the minimum, e.g. the last of
    :func:`newton_polish`): each interior coordinate's step is ``se_fraction`` of its
    standard error ``sqrt(2 / H_ii)`` (at most half the distance to a bound), the
    gradient is :func:`~mixedmodels.numerics.derivatives.richardson_central`'s, and
    Newton steps with the given Hessian are taken until they are below ``step_tol``
    standard errors (a step that raises the criterion beyond its rounding stops).  Then
    the gradient and Hessian at the point by the same scheme replace those coordinates'
    entries of ``derivatives`` (with ``final_hessian=False`` only the gradient's: the
    point alone is wanted).

    Why: each difference then changes a deviance by ~``se_fraction**2`` against
    rounding of ~1e-14 relative, so the Hessian carries ~1e-11 relative noise instead
    of the ~1e-9 of ``1e-3``-relative steps, and the point is the zero of a gradient
    accurate to ``O(h^4)`` rather than wherever a decrease test stops: two evaluations
    of the same criterion that differ only in rounding (rows summed in another order,
    e.g. by partitions) reach the same point and Hessian to ~1e-11.  Coordinates on or
    next to a bound keep their entries.  Returns the point, its value, the derivatives
    and the number of evaluations.
    """
    if derivatives is None:
        return x, value, None, 0
    x = np.asarray(x, dtype=np.float64).copy()
    grad0, hess0 = derivatives
    diag = np.diag(hess0)
    room = np.minimum(x - lower, upper - x)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(np.isfinite(diag) & (diag > 0), np.sqrt(2.0 / diag), np.nan)
    h = np.minimum(se_fraction * se, 0.5 * room)
    free = np.isfinite(h) & (h > 1e-8 * np.maximum(1.0, np.abs(x)))
    if not np.any(free):
        return x, value, derivatives, 0
    H = hess0[np.ix_(free, free)]
    try:
        np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return x, value, derivatives, 0
    count = 0
    for _ in range(max_steps):
        g, _, n = richardson_central(fun, x, h, free, value=value, hessian=False)
        count += n
        step = np.linalg.solve(H, g[free])
        if not np.all(np.isfinite(step)) or np.max(np.abs(step) / se[free]) < step_tol:
            break
        trial = x.copy()
        trial[free] = np.clip(x[free] - step, lower[free], upper[free])
        f_trial = float(fun(trial))
        count += 1
        if not f_trial <= value + 1e-12 * max(1.0, abs(value)):
            break
        x, value = trial, f_trial
    g, Hn, n = richardson_central(fun, x, h, free, value=value, hessian=final_hessian)
    count += n
    if not final_hessian:
        Hn = hess0
    grad = np.asarray(grad0, dtype=np.float64).copy()
    hess = np.asarray(hess0, dtype=np.float64).copy()
    grad[free] = g[free]
    hess[np.ix_(free, free)] = Hn[np.ix_(free, free)]
    return x, value, (grad, hess), count


def check_convergence(
    fun: Callable[[FloatArray], float],
    x: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    tol: float = 1e-6,
    value: float | None = None,
    step: float = 1e-4,
    derivatives: tuple[FloatArray, FloatArray] | None = None,
) -> tuple[bool, list[str], FloatArray, FloatArray]:
    """Scale-free check that ``x`` is a local minimum of ``fun`` (a deviance).

    Parameters on a bound whose gradient points out of the box are held fixed.  For the
    others the Newton step ``H^-1 g`` predicts the decrease ``g' H^-1 g / 2`` still
    available, in deviance units whatever the scale of the data or the parameters; it
    must be below ``tol``.  A Hessian that is not positive definite is reported.  Unlike
    lme4's absolute-gradient test this does not raise false alarms on large data.
    ``derivatives`` (gradient, Hessian) computed otherwise (e.g. by
    :func:`gradient_differences`) replace the finite differences of ``fun``.
    """
    if derivatives is None:
        grad, hess = finite_difference_derivatives(fun, x, lower, upper, value, step)
    else:
        grad, hess = derivatives
    messages: list[str] = []
    # (An infinite bound is never reached: inf - x <= inf must not count.)
    at_lower = (
        np.isfinite(lower) & (x - lower <= 1e-8 * np.maximum(1.0, np.abs(lower))) & (grad >= 0)
    )
    at_upper = (
        np.isfinite(upper) & (upper - x <= 1e-8 * np.maximum(1.0, np.abs(upper))) & (grad <= 0)
    )
    free = ~(at_lower | at_upper)
    if not np.any(free):
        return True, messages, grad, hess
    g = grad[free]
    H = hess[np.ix_(free, free)]
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
        # The criterion is not finite next to the optimum (a boundary of the parameter
        # space the optimiser cannot see, or overflow): nothing to check with.
        messages.append(
            "the criterion's derivatives at the optimum are not finite (the criterion "
            "overflows or cannot be evaluated next to the estimates): the fit may not be "
            "a minimum; simplify the model or rescale the data"
        )
        return False, messages, grad, hess
    try:
        eig = np.linalg.eigvalsh(H) if H.size else np.zeros(0)
    except np.linalg.LinAlgError:
        messages.append(
            "the Hessian of the criterion at the optimum could not be decomposed: the fit "
            "may not be a minimum"
        )
        return False, messages, grad, hess
    if eig.size and eig.min() <= -1e-6 * max(1.0, abs(eig.max())):
        messages.append(
            "the Hessian of the criterion is not positive definite at the optimum "
            f"(smallest eigenvalue {eig.min():.3g}): the fit may not be a minimum"
        )
        return False, messages, grad, hess
    try:
        newton = np.linalg.solve(H, g)
        decrease = 0.5 * float(g @ newton)
    except np.linalg.LinAlgError:
        decrease = float("inf")
    if not np.isfinite(decrease) or decrease > tol:
        messages.append(
            f"the optimizer stopped short of the optimum: a Newton step would lower the "
            f"criterion by {decrease:.3g} (tolerance {tol:g})"
        )
        return False, messages, grad, hess
    return True, messages, grad, hess
