"""Fitting a GLMM: the Laplace approximation, adaptive quadrature and the fast mode
(lme4's nAGQ = 0).  The fitting functions return a :class:`GLMMFit`, the state at the
optimum; the estimators above wrap it into a :class:`~mixedmodels.results.GLMMResult`.

As lme4's ``glmer``: a first stage optimises ``theta`` with ``beta`` updated inside
PIRLS (this alone is the ``fast`` estimator); the second stage optimises ``theta`` and
``beta`` together on the Laplace (or adaptive quadrature) criterion, starting there.
The covariance of the fixed effects comes from the Hessian of that criterion over
``(theta, beta)`` (lme4's default ``use.hessian = TRUE``), computed by the same central
differences as the scale-free convergence check.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import ModelSpecificationError
from ..interfaces import FloatArray
from ..linear.fit import START_SCALES
from ..linear.layout import model_term_data
from ..linear.standardize import standardize
from ..model import Model
from ..numerics.blas import THREADED_BLAS_MIN, blas_limit
from ..numerics.derivatives import finite_difference_derivatives, gradient_differences
from ..numerics.optimize import (
    OptimizeResult,
    OptimizerSummary,
    check_convergence,
    escape_saddle,
    minimize_bounded,
    newton_polish,
    newton_refine,
    probe_zero_bounds,
)
from .criterion import GLMMProblem, PirlsResult
from .separation import (
    SeparationWarning,
    separated_columns,
    separation_message,
    shows_divergence,
)
from .standardized import StandardizedGLMMProblem

__all__ = ["GLMMFit", "build_glmm_problem", "fit_glmm", "standardized_glmm_problem"]

# lme4 accepts up to 25 quadrature nodes; more are accurate too but slow for nothing.
_MAX_NAGQ = 100
# Relative finite-difference step for the Hessian of the (PIRLS-evaluated) criterion.
_HESSIAN_STEP = 1e-3
# Forward-difference step of the optimiser's gradient, for the same reason.
_FD_STEP = 1e-6
# L-BFGS-B's relative-reduction stop: the criterion is only as exact as PIRLS.
_FTOL = 1e-10
# The first stage only provides a start for the second: a loose stop is enough.
_STAGE1_FTOL = 1e-7
# Largest first-term x other-terms block of Omega^-1 that the analytic gradient forms
# (its leverages gather from it); beyond it, forward differences.
_GRADIENT_MAX_ENTRIES = 20_000_000


@dataclass
class GLMMFit:
    """The state of a GLMM fit at the optimum.

    Attributes
    ----------
    model, problem
        The fitted model and its PIRLS machinery (with the family of the fit).
    theta, beta
        Covariance parameters and fixed effects.
    minus2loglik
        The criterion at the estimates (Laplace or quadrature ``-2 log L``).
    nagq
        Quadrature nodes: 0 for the fast mode, 1 for the Laplace approximation.
    vcov
        Covariance of the fixed effects (``None`` where it could not be computed).
    optimizer
        Method, number of evaluations, stop message, and the convergence check's
        gradient and Hessian over ``(theta, beta)``.
    converged, messages
        The convergence check's verdict and warnings.
    modes
        PIRLS at the estimates (conditional modes, linear predictor, means).
    nb_size, dispersion, family_parameter
        An estimated negative binomial size or dispersion, and that parameter on the
        log scale it was optimised on (``None`` where not estimated).
    """

    model: Model
    problem: GLMMProblem
    theta: FloatArray
    beta: FloatArray
    minus2loglik: float
    nagq: int
    vcov: FloatArray | None
    optimizer: OptimizerSummary
    converged: bool
    messages: list[str]
    modes: PirlsResult
    nb_size: float | None = None
    dispersion: float | None = None
    family_parameter: float | None = None


def _state(
    model: Model,
    P: GLMMProblem,
    theta: FloatArray,
    beta: FloatArray,
    minus2loglik: float,
    nagq: int,
    vcov: FloatArray | None,
    optimizer: OptimizerSummary,
    converged: bool,
    messages: list[str],
) -> GLMMFit:
    """The fit's state, with PIRLS run at the estimates (which also leaves its modes in
    ``P`` as the warm start of a later fit)."""
    theta = np.asarray(theta, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    modes = P.pirls(theta, beta)
    if modes is None:
        raise P.pirls_failure("at the estimates", theta)
    return GLMMFit(
        model,
        P,
        theta,
        beta,
        float(minus2loglik),
        nagq,
        vcov,
        optimizer,
        converged,
        list(messages),
        modes,
    )


def build_glmm_problem(model: Model, family: Any = None) -> GLMMProblem:
    """The PIRLS machinery for ``model`` (optionally with another family instance)."""
    terms = model_term_data(model)
    return GLMMProblem(
        model.X,
        np.asarray(model.y, dtype=np.float64),
        terms,
        model.prior_weights,
        model.offset,
        family if family is not None else model.family,
        model.link,
    )


def standardized_glmm_problem(
    model: Model, family: Any = None
) -> tuple[GLMMProblem, StandardizedGLMMProblem | None]:
    """The problem the optimiser works on and, where the matrices are standardised
    (decision 0014), the same problem in the user's coordinates (else ``None``: the
    first one is then in the user's coordinates)."""
    terms = model_term_data(model)
    transform = standardize(model.X, terms)
    if transform.is_identity:
        return build_glmm_problem(model, family), None
    inner = GLMMProblem(
        transform.X,
        np.asarray(model.y, dtype=np.float64),
        transform.terms,
        model.prior_weights,
        model.offset,
        family if family is not None else model.family,
        model.link,
    )
    return inner, StandardizedGLMMProblem(inner, transform, model.X, terms)


def start_to_standard(user: StandardizedGLMMProblem | None, start: Any) -> Any:
    """A start theta given in the user's coordinates, in the optimised problem's."""
    if user is None or start is None:
        return start
    theta = np.array(start, dtype=np.float64).ravel()
    if theta.size != user.n_theta or not np.all(np.isfinite(theta)):
        return start  # refused with its message by _start_theta
    return user.transform.theta_to_standard(theta)[0]


def fit_to_user(fit: GLMMFit, user: StandardizedGLMMProblem | None) -> GLMMFit:
    """A fit of the standardised problem stated in the user's coordinates: theta and
    beta mapped back, their covariance and the convergence check's derivatives with
    them, the modes at the estimates, and the problem that evaluates there."""
    if user is None:
        return fit
    transform = user.transform
    theta = transform.theta_from_standard(fit.theta)
    beta = transform.beta_from_standard(fit.beta)
    vcov = None if fit.vcov is None else transform.vcov_from_standard(fit.vcov)
    summary = fit.optimizer
    if summary.gradient is not None and summary.hessian is not None:
        with_beta = np.size(summary.gradient) == theta.size + beta.size
        g, H = transform.derivatives_from_standard(
            theta, summary.gradient, summary.hessian, with_beta=with_beta
        )
        summary = replace(summary, gradient=g, hessian=H)
    return replace(
        fit,
        problem=user,
        theta=theta,
        beta=beta,
        vcov=vcov,
        optimizer=summary,
        modes=user.user_modes(theta, fit.modes),
    )


def _check_nagq(model: Model, nagq: int) -> None:
    if not isinstance(nagq, int | np.integer) or nagq < 0 or nagq > _MAX_NAGQ:
        raise ModelSpecificationError(
            f"nagq must be an integer between 0 and {_MAX_NAGQ}, got {nagq!r}"
        )
    if nagq > 1 and (len(model.terms) != 1 or model.terms[0].dim != 1):
        terms = ", ".join(f"({t.expr})" for t in model.terms)
        raise ModelSpecificationError(
            "adaptive Gauss-Hermite quadrature (nagq > 1) needs a single scalar random-effect "
            f"term, e.g. (1 | g); this model has {terms}. Use the Laplace approximation "
            "(nagq=1)."
        )


def fit_glmm(
    model: Model,
    nagq: int = 1,
    fast: bool = False,
    check: bool = True,
    family: Any = None,
    problem: GLMMProblem | None = None,
    start: Any = None,
    user: StandardizedGLMMProblem | None = None,
) -> GLMMFit:
    """Fit a GLMM by Laplace (``nagq=1``), adaptive quadrature (``nagq>1``) or the fast
    first stage only (``fast=True``, lme4's ``nAGQ = 0``).

    Parameters
    ----------
    model
        The model specification.
    nagq
        Number of adaptive Gauss-Hermite nodes; 1 is the Laplace approximation.
    fast
        Stop after the first stage (beta estimated inside PIRLS).
    check
        Run the scale-free convergence check (and compute the Hessian-based vcov).
    family, problem
        Internal: another family instance (negative binomial size) or a problem to reuse
        (its warm starts speed up repeated fits).
    start
        Starting covariance parameters ``theta`` of the first stage (e.g. those of an
        earlier fit, as lme4's ``refit``); the structures' default start otherwise.
        Values on a zero lower bound are moved to 0.05, where the criterion is not flat.
    user
        With ``problem`` on standardised matrices: the same problem in the user's
        coordinates (the fit is stated in them), as :func:`standardized_glmm_problem`.
    """

    _check_nagq(model, nagq)
    if problem is not None:
        P = problem
    else:
        P, user = standardized_glmm_problem(model, family)
    # One BLAS thread below a large dense block: oversubscribed threads make small
    # factorisations ~50x slower on a busy 2-core machine (measured).
    with blas_limit(None if P.fixed.m >= THREADED_BLAS_MIN else 1):
        fit = _fit(model, P, nagq, fast, check, start_to_standard(user, start))
    return fit_to_user(fit, user)


def _start_theta(model: Model, start: Any) -> FloatArray:
    default = np.concatenate([s.start() for s in model.structures])
    if start is None:
        return default
    theta = np.array(start, dtype=np.float64).ravel()
    if theta.shape != default.shape or not np.all(np.isfinite(theta)):
        raise ModelSpecificationError(
            f"start must hold {default.size} finite covariance parameters (theta), got "
            f"{np.asarray(start).shape}"
        )
    lower = np.concatenate([s.bounds()[0] for s in model.structures])
    upper = np.concatenate([s.bounds()[1] for s in model.structures])
    theta[(lower == 0) & (theta < 0.05)] = 0.05
    return np.clip(theta, lower, upper)


def _fit(
    model: Model, P: GLMMProblem, nagq: int, fast: bool, check: bool, start_theta: Any = None
) -> GLMMFit:
    k = P.n_theta
    lower_t = np.concatenate([s.bounds()[0] for s in model.structures])
    upper_t = np.concatenate([s.bounds()[1] for s in model.structures])
    start = _start_theta(model, start_theta)
    # The analytic gradient is of lme4's Laplace criterion (Fisher weights): the first
    # stage always, the second for nAGQ = 1.
    use_gradient = (
        not P.observed_information and P.fixed.q_rest * P.fixed.q1 <= _GRADIENT_MAX_ENTRIES
    )

    def stage1_value_and_gradient(th: FloatArray) -> tuple[float, FloatArray | None]:
        value, g_theta, _ = P.laplace_gradient(th, None)
        return value, g_theta

    if start_theta is None:
        # As for LMMs: the default start scaled down is often much closer (random effects
        # with SDs of 0.1-0.3 on the link scale are common); three evaluations choose the
        # scale (a poisson random slope reached a local optimum 0.36 above the best one
        # from lambda = I, and the best one from lambda = I / 4).
        values = [P.laplace(c * start, None) for c in START_SCALES]
        start = START_SCALES[int(np.argmin(values))] * start
    # Covariance factors' off-diagonal parameters (unbounded; see probe_zero_bounds).
    off_diagonal = ~np.isfinite(lower_t)
    stage1 = _minimize_off_flat_boundary(
        lambda th: P.laplace(th, None),
        start,
        lower_t,
        upper_t,
        "lbfgsb",
        fd_step=_FD_STEP,
        ftol=_STAGE1_FTOL,
        fun_and_grad=stage1_value_and_gradient if use_gradient else None,
        mirror=off_diagonal,
    )
    res1 = P.pirls(stage1.x, None)
    if res1 is None:
        raise P.pirls_failure("at the first-stage estimates", stage1.x)
    messages: list[str] = []
    if fast:
        messages += _separation_messages(model, P, res1.beta)
        vcov = P.fisher_fixed_effects_vcov(res1)
        return _state(
            model,
            P,
            stage1.x,
            res1.beta,
            stage1.fun,
            nagq=0,
            vcov=vcov,
            optimizer=OptimizerSummary(stage1.method, stage1.n_evaluations),
            converged=True,
            messages=messages,
        )

    def objective(x: FloatArray) -> float:
        if nagq > 1:
            return P.agq(x[:k], x[k:], nagq)
        return P.laplace(x[:k], x[k:])

    lower = np.concatenate([lower_t, np.full(model.X.shape[1], -np.inf)])
    upper = np.concatenate([upper_t, np.full(model.X.shape[1], np.inf)])
    x0 = np.concatenate([stage1.x, res1.beta])
    use_gradient = use_gradient and nagq == 1

    def objective_and_gradient(x: FloatArray) -> tuple[float, FloatArray | None]:
        value, g_theta, g_beta = P.laplace_gradient(x[:k], x[k:])
        if g_theta is None or g_beta is None or not np.isfinite(value):
            return value, None
        return value, np.concatenate([g_theta, g_beta])

    stage2 = _minimize_off_flat_boundary(
        objective,
        x0,
        lower,
        upper,
        "lbfgsb",
        fd_step=_FD_STEP,
        # With the exact beta gradient the criterion can be driven further down.
        ftol=_FTOL / 100 if use_gradient else _FTOL,
        fun_and_grad=objective_and_gradient if use_gradient else None,
        mirror=np.concatenate([off_diagonal, np.zeros(model.X.shape[1], dtype=bool)]),
    )
    x, value = stage2.x, objective(stage2.x)
    derivatives, extra = None, 0
    if use_gradient:
        x, value, derivatives, extra = _finish_stage2(
            objective, objective_and_gradient, x, value, lower, upper, check
        )
    elif check:
        # No exact gradient (adaptive quadrature, glmmTMB's Laplace): Newton steps on the
        # check's finite differences where they predict a decrease.
        def differences_at(z: FloatArray) -> tuple[FloatArray, FloatArray]:
            return finite_difference_derivatives(objective, z, lower, upper, step=_HESSIAN_STEP)

        x, value, derivatives = newton_polish(objective, differences_at, x, value, lower, upper)
        # Then to the zero of a noise-insensitive gradient, with the vcov's Hessian by the
        # same scheme (Dask and in-memory fits agree to ~1e-11; decision 0037).
        x, value, derivatives, extra = newton_refine(objective, x, value, lower, upper, derivatives)
    converged, gradient, hessian = True, None, None
    if check:
        converged, msgs, gradient, hessian = check_convergence(
            objective, x, lower, upper, value=value, step=_HESSIAN_STEP, derivatives=derivatives
        )
        messages += msgs
    vcov = _hessian_vcov(hessian, k) if hessian is not None else None
    if vcov is None:
        res = P.pirls(x[:k], None)
        if res is not None:
            vcov = P.joint.fixed_effects_vcov(res.factor)
            messages.append("vcov of the fixed effects from the PIRLS system (Hessian not PD)")
    P.pirls(x[:k], x[k:])  # leave the modes of the optimum in the problem
    messages += _separation_messages(model, P, x[k:])
    return _state(
        model,
        P,
        x[:k],
        x[k:],
        value,
        nagq=nagq,
        vcov=vcov,
        optimizer=OptimizerSummary(
            method=stage2.method,
            n_evaluations=stage1.n_evaluations + stage2.n_evaluations + extra,
            message=stage2.message,
            # Of -2 log L in (theta, beta), from the convergence check (None without it).
            gradient=gradient,
            hessian=hessian,
        ),
        converged=converged,
        messages=messages,
    )


def _finish_stage2(
    objective: Callable[[FloatArray], float],
    objective_and_gradient: Callable[[FloatArray], tuple[float, FloatArray | None]],
    x: FloatArray,
    value: float,
    lower: FloatArray,
    upper: FloatArray,
    check: bool,
) -> tuple[FloatArray, float, tuple[FloatArray, FloatArray] | None, int]:
    """Make sure the second stage ended at a minimum (decision 0012).

    Without the convergence check (refits): restart L-BFGS-B afresh while the projected
    gradient is large (a stale curvature memory; cheap when it had converged, as for
    LMMs).  With it: Newton steps on the Hessian from 2k exact gradients (the check's
    Hessian, accurate to ~1e-8) where they predict a decrease, and a step off a saddle
    along negative curvature.  Returns the point, its value, the derivatives there (for
    the check) and the number of extra evaluations.
    """
    extra = 0

    def exact_gradient(z: FloatArray) -> FloatArray | None:
        return objective_and_gradient(z)[1]

    def restart(z: FloatArray) -> OptimizeResult:
        return minimize_bounded(
            objective,
            z,
            lower,
            upper,
            "lbfgsb",
            ftol=_FTOL / 100,
            fun_and_grad=objective_and_gradient,
        )

    if not check:
        for _ in range(3):
            grad = exact_gradient(x)
            extra += 1
            if grad is None:
                break
            outward = (np.isfinite(lower) & (x - lower < 1e-8) & (grad > 0)) | (
                np.isfinite(upper) & (upper - x < 1e-8) & (grad < 0)
            )
            if np.max(np.abs(np.where(outward, 0.0, grad)), initial=0.0) < 1e-3:
                break
            again = restart(x)
            extra += again.n_evaluations
            if not again.fun < value:
                break
            x, value = again.x, again.fun
        return x, value, None, extra

    def derivatives_at(z: FloatArray) -> tuple[FloatArray, FloatArray] | None:
        return gradient_differences(exact_gradient, z, lower, upper)

    x, value, derivatives = newton_polish(objective, derivatives_at, x, value, lower, upper)
    for _ in range(2):  # a saddle (negative curvature): step off it, optimise again
        out = escape_saddle(objective, x, value, derivatives, lower, upper)
        if out is None:
            break
        again = restart(out[0])
        extra += out[2] + again.n_evaluations
        if not again.fun < value:
            break
        x, value, derivatives = newton_polish(
            objective, derivatives_at, again.x, again.fun, lower, upper
        )
    return x, value, derivatives, extra


def _minimize_off_flat_boundary(
    fun: Callable[[FloatArray], float],
    x0: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    method: str,
    mirror: Any = None,
    **options: Any,
) -> OptimizeResult:
    """:func:`minimize_bounded`, restarted from inside the box when it ends on a zero
    lower bound that is not the optimum.

    The Laplace criterion is even in a scalar term's theta, so ``theta = 0`` is always a
    stationary point: a step that lands there (a large gradient at the start) stops
    L-BFGS-B on a singular fit that is not the optimum (a cbpp bootstrap sample:
    -2 log L 165.53 at theta = 0 against 162.13 at theta = 0.35).  Each parameter on
    such a bound is probed at a few values inside the box (the criterion is flat to
    first order there, so only values tell) and the optimisation restarts from a lower
    point; a fit still on the bound is restarted from inside the box as for LMMs.  The
    best optimum is kept.
    """
    first = minimize_bounded(fun, x0, lower, upper, method, **options)
    best, evaluations = first, first.n_evaluations
    probe_x, probe_f, probes = probe_zero_bounds(
        fun, first.x, first.fun, lower, upper, mirror=mirror
    )
    evaluations += probes
    if probe_f < best.fun - 1e-8 * max(1.0, abs(best.fun)):
        again = minimize_bounded(fun, probe_x, lower, upper, method, **options)
        evaluations += again.n_evaluations
        if again.fun < best.fun:
            best = again
    # Still on a zero bound: a move of several parameters together may be needed (a
    # correlated term's variance and covariance); restart with those at 0.5.
    on_bound = (lower == 0.0) & (best.x - lower < 1e-6)
    if np.any(on_bound):
        retry = minimize_bounded(
            fun, np.where(on_bound, lower + 0.5, best.x), lower, upper, method, **options
        )
        evaluations += retry.n_evaluations
        if retry.fun < best.fun - 1e-8 * max(1.0, abs(best.fun)):
            best = retry
    return replace(best, n_evaluations=evaluations)


def _separation_messages(model: Model, P: GLMMProblem, beta: FloatArray) -> list[str]:
    """Warn (and report) when the fixed effects diverge because the data separate."""
    kind = {"binomial": "binomial", "poisson": "count", "negative_binomial": "count"}.get(
        P.family.name
    )
    # P.X and beta are the optimised problem's (standardised or not): X beta is the same.
    if kind is None or not shows_divergence(P.X @ beta):
        return []
    columns = separated_columns(model.X, P.y, kind)
    if not columns:
        return []
    message = separation_message(model, columns)
    warnings.warn(message, SeparationWarning, stacklevel=4)
    return [message]


def _hessian_vcov(hessian: FloatArray, k: int) -> FloatArray | None:
    """``2 H^-1`` restricted to beta, if the Hessian of ``-2 log L`` is PD."""
    try:
        np.linalg.cholesky(hessian)
    except np.linalg.LinAlgError:
        return None
    return np.asarray(2.0 * np.linalg.inv(hessian)[k:, k:])
