"""Fitting a linear mixed model (or a GLS): build the criterion, minimise it.

:func:`fit_lmm` returns an :class:`LMMFit`, the state of the fit at the optimum; the
result classes (:class:`~mixedmodels.results.LMMResult`, ``GLSResult``) are built from it
above this layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import FitError, ModelSpecificationError
from ..interfaces import FloatArray
from ..model import Model
from ..numerics.blas import THREADED_BLAS_MIN, blas_limit
from ..numerics.derivatives import finite_difference_derivatives, gradient_differences
from ..numerics.optimize import (
    OptimizeResult,
    OptimizerSummary,
    check_convergence,
    minimize_bounded,
    newton_polish,
    probe_zero_bounds,
)
from ..structures.residual import bind_residual
from ..structures.whitening import BoundResidual
from .criterion import Evaluation, LMMProblem, TermData
from .cross_products import DENSE_MAX_M, CrossProducts
from .dense import DenseLMMProblem
from .interface import ProfiledCriterion
from .layout import model_term_data
from .residual import ResidualLMMProblem
from .sparse import SparseLMMProblem, second_block
from .standardize import Standardization, standardize
from .standardized import StandardizedCriterion

__all__ = [
    "START_SCALES",
    "LMMFit",
    "build_problem",
    "conditional_fitted",
    "criterion_from_cross_products",
    "fit_lmm",
    "fit_lmm_criterion",
]

# (a module attribute: the tests force the blocked path by setting it to 0)
_DENSE_MAX_M = DENSE_MAX_M
# Largest dense block for which the optimiser uses the analytic gradient.
_GRADIENT_MAX_M = 400
# COBYQA's last trust radius when Newton steps on differences finish the fit, and the
# predicted decrease (deviance units) below which those steps stop.
_COARSE_RADIUS = 1e-3
# ... for the profiled coarse phase (its points are exact minima over the cheap
# parameters: InstEval 0.1% off at 3e-3, 37 -> 33 factorisations, one Newton step).
_PROFILED_RADIUS = 3e-3
# Most parameters for that finish: a set of differences costs k(k+3)/2 evaluations.
_FD_NEWTON_MAX_PARAMS = 3
_POLISH_TOL = 1e-7
#: Scalings of the default theta tried as starting points (small problems; the GLMM
#: fitter uses them too).
START_SCALES = (0.25, 0.5, 1.0)


@dataclass
class LMMFit:
    """The state of a linear mixed model (or GLS) fit at the optimum.

    Attributes
    ----------
    model
        The fitted model.
    problem
        Its criterion (with the cross-products and, for a residual structure, the
        fitted-value covariate of the last iteration).
    evaluation
        The criterion's evaluation at the estimates.
    reml
        REML criterion if true, else the ML deviance.
    optimizer
        Method, number of evaluations, stop message, and the convergence check's
        gradient and Hessian.
    converged, messages
        The convergence check's verdict and warnings.
    """

    model: Model
    problem: ProfiledCriterion
    evaluation: Evaluation
    reml: bool
    optimizer: OptimizerSummary
    converged: bool = True
    messages: list[str] = field(default_factory=list)

    @property
    def theta(self) -> FloatArray:
        """The estimated parameter vector (theta, then any residual parameters)."""
        return np.asarray(self.evaluation.theta, dtype=np.float64)

    def fitted_values(self) -> FloatArray:
        """Fitted values conditional on the random effects (offset included)."""
        beta, us, _ = self.problem.solve(self.evaluation)
        return conditional_fitted(self.model, beta, us, self.evaluation.lambdas)


def conditional_fitted(
    model: Model, beta: FloatArray, us: list[FloatArray], lambdas: list[FloatArray]
) -> FloatArray:
    """``X beta + offset + sum_k Z_k b_k`` with ``b_k = u_k Lambda_k'`` (per level).

    The fitted values of :class:`~mixedmodels.results.LMMResult` (``fitted()``), here so
    that the fitter can use them too (variance functions of the fitted values).
    """
    eta = model.X @ beta
    if model.offset is not None:
        eta = eta + model.offset
    if not model.terms:
        return np.asarray(eta, dtype=np.float64)
    total = np.zeros(model.X.shape[0])
    for t, u, lam in zip(model.terms, us, lambdas, strict=True):
        b = u @ lam.T
        known = t.codes >= 0
        contrib = np.zeros(total.size)
        contrib[known] = np.einsum("ij,ij->i", t.Z[known], b[t.codes[known]])
        total += contrib
    return np.asarray(eta + total, dtype=np.float64)


def build_problem(model: Model) -> ProfiledCriterion:
    """The stored cross-products of ``model`` (offset removed from the response).

    Small problems (all random effects, fixed effects and the response together at most
    ``_DENSE_MAX_M`` columns) use one dense matrix; the others the blocked form.  A
    residual structure (``correlation=``/``variance=`` in the model's extras) or a model
    without random-effect terms (a GLS) gives a
    :class:`~mixedmodels.linear.residual.ResidualLMMProblem`, whose parameters are theta then
    the residual structure's.
    """
    y = np.asarray(model.response, dtype=np.float64)
    if y.ndim != 1:
        raise ModelSpecificationError("a linear mixed model needs a single numeric response column")
    if model.offset is not None:
        y = y - model.offset
    terms = model_term_data(model)
    correlation = model.extras.get("correlation")
    variance = model.extras.get("variance")
    if correlation is not None or variance is not None or not terms:
        default_group = list(model.terms[0].spec.group.factors) if model.terms else None
        residual = _bound_residual(model, correlation, variance, default_group)
        return ResidualLMMProblem(model.X, y, terms, residual, list(model.group_names))
    return _unstructured_problem(model.X, y, terms, model.weights)


def _bound_residual(
    model: Model, correlation: Any, variance: Any, default_group: list[str] | None
) -> BoundResidual:
    """``bind_residual`` on the model's rows, remembered on the model: a model refitted
    with new weights and response on the same rows (glmmPQL's working fits, one per
    iteration) binds its structure once (groups, coordinates, batches) and only the
    prior weights are swapped in."""
    cached = getattr(model, "_bound_residual", None)
    if (
        cached is not None
        and cached[0] is correlation
        and cached[1] is variance
        and cached[2] is model.data
        and cached[3] is model.design.row_index
        and cached[4] == default_group
    ):
        return cached[5].with_weights(model.weights)
    residual = bind_residual(
        correlation, variance, model.data, model.design.row_index, default_group, model.weights
    )
    model._bound_residual = (  # type: ignore[attr-defined]
        correlation,
        variance,
        model.data,
        model.design.row_index,
        default_group,
        residual,
    )
    return residual


def _unstructured_problem(
    X: FloatArray, y: FloatArray, terms: list[TermData], weights: FloatArray | None
) -> ProfiledCriterion:
    """The dense or blocked criterion of matrices without a residual structure."""
    if sum(t.q for t in terms) + X.shape[1] + 1 <= _DENSE_MAX_M:
        return DenseLMMProblem(X, y, terms, weights)
    kind = second_block(terms, X.shape[1])  # two huge crossed factors (decision 0031)
    if kind != "blocked":
        return SparseLMMProblem(X, y, terms, weights, dense_factor=kind == "direct")
    return LMMProblem(X, y, terms, weights)


def criterion_from_cross_products(
    products: CrossProducts,
    terms: list[TermData],
    p: int,
    standardization: Standardization | None = None,
) -> ProfiledCriterion:
    """The criterion :func:`fit_lmm` would build, from cross-products summed over chunks
    of rows (:func:`~mixedmodels.linear.cross_products.lmm_cross_products`).

    With ``standardization`` (:func:`~mixedmodels.linear.standardize.standardize_from_moments`)
    the cross-products are those of the standardised matrices and the criterion is
    stated in the user's coordinates, as :func:`standardized_problem` does; ``terms``
    are the user's (layout and structures only).
    """
    std_terms = terms if standardization is None else standardization.terms
    if products.C is not None:
        inner: Any = DenseLMMProblem.from_cross_products(products, std_terms, p)
    else:
        inner = LMMProblem.from_cross_products(products, std_terms, p)
    if standardization is None or standardization.is_identity:
        return inner  # type: ignore[no-any-return]
    return StandardizedCriterion.from_sizes(
        inner, standardization, terms, products.n, p, products.log_weights_sum
    )


def standardized_problem(model: Model) -> StandardizedCriterion | None:
    """The criterion of ``model`` evaluated on standardised matrices (decision 0014),
    or ``None`` where nothing is standardised: a residual structure or a GLS, or
    matrices that the standardisation keeps as they are."""
    if not model.terms or any(model.extras.get(k) is not None for k in ("correlation", "variance")):
        return None
    terms = model_term_data(model)
    transform = standardize(model.X, terms)
    if transform.is_identity:
        return None
    y = np.asarray(model.response, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError("a linear mixed model needs a single numeric response column")
    if model.offset is not None:
        y = y - model.offset
    inner = _unstructured_problem(transform.X, y, transform.terms, model.weights)
    return StandardizedCriterion(inner, transform, terms, model.X, model.weights)


def fit_lmm(
    model: Model,
    reml: bool = True,
    optimizer: str = "auto",
    start: Any = None,
    check: bool = True,
) -> LMMFit:
    """Fit a linear mixed model by minimising the profiled deviance or REML criterion.

    Parameters
    ----------
    model
        The model (gaussian family, identity link).
    reml
        REML criterion if true, else the ML deviance.
    optimizer
        ``"auto"``, ``"lbfgsb"`` or ``"cobyqa"`` (see :func:`minimize_bounded`).
    start
        Start values of theta (lme4's parameterisation); defaults to each structure's.
    check
        Run the scale-free convergence check at the optimum.
    """
    problem: ProfiledCriterion | None = standardized_problem(model)
    if problem is None:
        problem = build_problem(model)
    return fit_lmm_criterion(model, problem, reml, optimizer, start, check)


def fit_lmm_criterion(
    model: Model,
    problem: ProfiledCriterion,
    reml: bool = True,
    optimizer: str = "auto",
    start: Any = None,
    check: bool = True,
) -> LMMFit:
    """:func:`fit_lmm` on a criterion built already (e.g. from cross-products summed
    over the partitions of a distributed frame: :func:`criterion_from_cross_products`);
    ``model`` gives names and layout to the fit."""
    if isinstance(problem, StandardizedCriterion):
        return _fit_standardized(model, problem, reml, optimizer, start, check)
    x_start = problem.start()
    lower, upper = problem.bounds()
    x0 = x_start if start is None else np.asarray(start, dtype=np.float64)
    if x0.shape != lower.shape:
        raise ModelSpecificationError(
            f"start must have {lower.size} values (theta, then any residual "
            f"parameters), got {x0.size}"
        )
    if problem.residual is not None and problem.residual.uses_fitted:
        return _fit_fitted_variance(model, problem, reml, optimizer, x0, lower, upper, check)
    return _fit_problem(
        model, problem, reml, optimizer, x0, lower, upper, check, scan_start=start is None
    )


def _fit_standardized(
    model: Model,
    problem: StandardizedCriterion,
    reml: bool,
    optimizer: str,
    start: Any,
    check: bool,
) -> LMMFit:
    """Optimise the standardised criterion, then state the fit in the user's
    coordinates (theta mapped back, the criterion that evaluates there)."""
    inner, transform = problem.inner, problem.transform
    lower, upper = inner.bounds()
    if start is None:
        x0 = inner.start()
    else:
        x0 = np.asarray(start, dtype=np.float64)
        if x0.shape != lower.shape:
            raise ValueError(f"start must have {lower.size} values (theta), got {x0.size}")
        x0 = np.clip(transform.theta_to_standard(x0)[0], lower, upper)
    fit = _fit_problem(
        model,
        inner,
        reml,
        optimizer,
        x0,
        lower,
        upper,
        check,
        scan_start=start is None,
        polish=True,
    )
    theta = transform.theta_from_standard(fit.theta)
    ev = problem.evaluate(theta, reml)
    if ev is None:
        raise FitError(
            "the criterion is not defined at the optimum found (its random-effects "
            "system is not positive definite there): the random-effects model is likely "
            "too rich for these data; simplify it (fewer terms or uncorrelated slopes)"
        )
    summary = fit.optimizer
    if summary.gradient is not None and summary.hessian is not None:
        g, H = transform.derivatives_from_standard(
            theta, summary.gradient, summary.hessian, with_beta=False
        )
        summary = replace(summary, gradient=g, hessian=H)
    return LMMFit(model, problem, ev, reml, summary, fit.converged, fit.messages)


def _fit_fitted_variance(
    model: Model,
    problem: ProfiledCriterion,
    reml: bool,
    optimizer: str,
    x0: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    check: bool,
    max_iter: int = 100,
) -> LMMFit:
    """Variance functions of the fitted values (nlme's ``varPower()``).

    As nlme does, the fitted values enter as a covariate held fixed during one
    optimisation and updated between optimisations, until they reproduce themselves
    (a fixed point).  The first covariate is the fitted values of the fit with the
    fitted-value functions' parameters held at their start (a homoscedastic fit).
    """
    res = problem.residual
    assert isinstance(problem, ResidualLMMProblem) and res is not None
    fixed = np.zeros(lower.size, dtype=bool)
    offset = problem.n_theta + (0 if res.correlation is None else res.correlation.n_params)
    for f in res.variances:
        if f.uses_fitted:
            fixed[offset : offset + f.n_params] = True
        offset += f.n_params
    x = np.asarray(x0, dtype=np.float64)
    lo0 = np.where(fixed, x, lower)
    hi0 = np.where(fixed, x, upper)
    result = _fit_problem(model, problem, reml, optimizer, x, lo0, hi0, check=False)
    for _ in range(max_iter):
        fitted = np.asarray(result.fitted_values(), dtype=np.float64)
        if model.offset is not None:
            fitted = fitted - model.offset
        assert problem.fitted is not None  # set by the problem for such functions
        change = float(np.max(np.abs(fitted - problem.fitted)))
        problem.fitted = fitted
        problem._cache.clear()
        if change <= 1e-8 * (1.0 + float(np.max(np.abs(fitted)))):
            break
        x = np.clip(result.theta, lower, upper)
        result = _fit_problem(model, problem, reml, optimizer, x, lower, upper, check=False)
    else:
        result.messages.append(
            f"the fitted values used by the variance function did not settle in {max_iter} "
            "iterations"
        )
        result.converged = False
    if check:
        result = _fit_problem(model, problem, reml, optimizer, result.theta, lower, upper, check)
    return result


def _guarded(
    objective: Callable[[FloatArray], float],
    fun_and_grad: Callable[[FloatArray], tuple[float, FloatArray | None]],
) -> tuple[Callable[[FloatArray], float], Callable[[FloatArray], tuple[float, FloatArray | None]]]:
    """Criteria that are finite everywhere: where a residual structure's parameters
    leave the region where its matrices are numerically positive definite (a
    correlation of 1), the value is the best one seen plus a large margin, with a zero
    gradient, so that a line search steps back instead of stopping there."""
    best = [np.inf]

    def penalty() -> float:
        b = best[0]
        return 1e10 if not np.isfinite(b) else b + 1e3 * (1.0 + abs(b))

    def guarded_objective(x: FloatArray) -> float:
        v = objective(x)
        if np.isfinite(v):
            best[0] = min(best[0], v)
            return v
        return penalty()

    def guarded_gradient(x: FloatArray) -> tuple[float, FloatArray | None]:
        v, g = fun_and_grad(x)
        if np.isfinite(v):
            best[0] = min(best[0], v)
            return v, g
        return penalty(), np.zeros_like(np.asarray(x, dtype=np.float64))

    return guarded_objective, guarded_gradient


def _newton_polish(
    objective: Callable[[FloatArray], float],
    x: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    max_steps: int = 6,
    tol: float = 1e-8,
) -> tuple[FloatArray, tuple[FloatArray, FloatArray, FloatArray] | None]:
    """Newton steps on finite-difference derivatives after the optimiser.

    Residual structures can leave long, flat ridges (a variance power against the
    profiled residual scale) on which quasi-Newton methods stop early; a few Newton
    steps with backtracking finish the job.  Parameters on a bound are held there.
    Returns the point and the derivatives there (the convergence check's own scheme,
    so the check reuses them), with the point: ``(grad, hess, x)``.
    """
    x, _, derivs = newton_polish(
        objective,
        lambda z: finite_difference_derivatives(objective, z, lower, upper),
        x,
        objective(x),
        lower,
        upper,
        tol=tol,
        max_steps=max_steps,
    )
    return x, None if derivs is None else (derivs[0], derivs[1], x)


def _gradient_newton(
    objective: Callable[[FloatArray], float],
    fun_and_grad: Callable[[FloatArray], tuple[float, FloatArray | None]],
    x: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    max_steps: int = 2,
    hessian_at: Callable[[FloatArray], tuple[float, FloatArray, FloatArray] | None] | None = None,
) -> tuple[FloatArray, tuple[FloatArray, FloatArray, FloatArray] | None]:
    """Newton steps on the exact gradient (Hessian by its differences, or exact from
    ``hessian_at`` where it gives one) after L-BFGS-B.

    L-BFGS-B stops on a relative reduction of the criterion, which near the optimum is
    below its rounding noise while the parameters are still ~1e-7 off; the exact
    gradient resolves them.  A step is kept when it shrinks the Newton decrement and
    does not raise the criterion beyond its noise (the Hessian, from differences of
    the gradient at the first point, is kept: it moves by O(step)).  Returns the point
    and the gradient, Hessian and point of the last derivatives (for the convergence
    check), or ``None`` where the gradient is unavailable (a boundary fit).
    """

    def exact_gradient(z: FloatArray) -> FloatArray | None:
        return fun_and_grad(z)[1]

    def derivatives_at(z: FloatArray) -> tuple[FloatArray, FloatArray] | None:
        exact = None if hessian_at is None else hessian_at(z)
        if exact is not None:
            return exact[1], exact[2]
        return gradient_differences(exact_gradient, z, lower, upper)

    x = np.asarray(x, dtype=np.float64)
    value = objective(x)
    derivs = derivatives_at(x)
    if derivs is None:
        return x, None
    for _ in range(max_steps):
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
        decrement = float(g @ step)
        if not decrement > 1e-20:
            break
        trial = x.copy()
        trial[free] = np.clip(x[free] - step, lower[free], upper[free])
        f_trial = objective(trial)
        if not f_trial <= value + 1e-10 * max(1.0, abs(value)):
            break
        # The Hessian moves by O(step) ~ 1e-7 relative: the gradient alone tells (an
        # exact Hessian costs no more than the gradient: taken afresh).
        exact = None if hessian_at is None else hessian_at(trial)
        g_trial = exact_gradient(trial) if exact is None else exact[1]
        if g_trial is None:
            break
        new_decrement = float(g_trial[free] @ np.linalg.solve(H, g_trial[free]))
        if not new_decrement < decrement:
            break
        x, value, derivs = trial, f_trial, (g_trial, hess if exact is None else exact[2])
    return x, (derivs[0], derivs[1], x)


def _gradient_step(
    hessian_at: Callable[[FloatArray], tuple[float, FloatArray, FloatArray] | None],
    x: FloatArray,
    step: FloatArray,
    eig: FloatArray,
    decrement: float,
    lower: FloatArray,
    upper: FloatArray,
) -> tuple[Any, Any] | None:
    """A Newton step judged by the exact gradient alone, where the criterion's values
    no longer resolve a decrease (~1e-15 relative) but the gradient still resolves the
    optimum (~1e-12): taken if the Hessian is positive definite at both ends, the step
    stays well inside the box (a step toward a bound is the singular fits' path) and the
    Newton decrement shrinks.  Decision 0037: otherwise where the values stopped the
    iteration depends on rounding; theta of the same rows summed in another order moved
    by 5e-8 (Pastes, ML).  ``None`` if not tried, ``(None, None)`` if tried and not
    taken (one evaluation), else the new point and its value, gradient and Hessian."""
    inside = bool(np.all(x + 2.0 * step > lower) and np.all(x + 2.0 * step < upper))
    if not (inside and float(np.min(eig)) > 0 and float(np.max(np.abs(step))) > 1e-13):
        return None
    trial = x + step
    new = hessian_at(trial)
    if (
        new is not None
        and np.all(np.isfinite(new[1]))
        and np.linalg.eigvalsh(new[2])[0] > 0
        and float(new[1] @ np.linalg.solve(new[2], new[1])) < decrement
    ):
        return trial, new
    return None, None


def _exact_newton(
    objective: Callable[[FloatArray], float],
    hessian_at: Callable[[FloatArray], tuple[float, FloatArray, FloatArray] | None],
    x0: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    max_iter: int = 40,
) -> tuple[OptimizeResult, tuple[FloatArray, FloatArray, FloatArray]] | None:
    """Newton's method on the exact gradient and Hessian (the dense criterion's), with
    the Hessian's eigenvalues made positive and a backtracking line search in the box.

    A small dense fit costs little per point but much per optimiser iteration in Python:
    from the start scan's point, sleepstudy needs 5-6 Newton steps against L-BFGS-B's
    13 gradients, 2 more for the finish and scipy's own overhead.  ``None`` (the caller
    then runs L-BFGS-B from the start) as soon as the Hessian is unavailable, i.e. an
    iterate within a hair of a bound: boundary (singular) fits keep their own path.
    Returns the optimum and the gradient, Hessian and point of the last derivatives.
    """
    x = np.asarray(x0, dtype=np.float64)
    derivs = hessian_at(x)
    count = 1
    if derivs is None:
        return None
    value, grad, hess = derivs
    for _ in range(max_iter):
        eig, vec = np.linalg.eigh(hess)
        top = float(np.max(np.abs(eig)))
        if not (np.isfinite(top) and top > 0):
            return None
        # Modified Newton: |eigenvalues|, floored, so that the step always descends.
        step = -vec @ ((vec.T @ grad) / np.maximum(np.abs(eig), 1e-10 * top))
        decrement = -float(grad @ step)
        if not decrement > 1e-15 * max(1.0, abs(value)):  # at the values' rounding noise
            moved_on = _gradient_step(hessian_at, x, step, eig, decrement, lower, upper)
            count += moved_on is not None
            if moved_on is None or moved_on[0] is None:
                break
            x, (value, grad, hess) = moved_on
            continue
        # Large steps far from the optimum: at most 1 per coordinate (theta is O(1) on
        # standardised matrices), or a doubling of an SD ratio above 1 (a smooth's
        # penalised coefficients, gamm4: theta ~ 36, reached in 12 steps, not 38).
        allowed = np.where((lower == 0.0) & (x > 1.0), x, 1.0)
        step *= min(1.0, float(np.min(allowed / np.maximum(np.abs(step), 1e-300))))
        # Iterates stay inside the box (the Hessian needs it): at most half-way to a
        # bound per step; heading for a bound (a singular fit), leave it to L-BFGS-B.
        room = np.where(step < 0, x - lower, np.where(step > 0, upper - x, np.inf))
        with np.errstate(divide="ignore"):
            reach = np.where(step != 0, room / np.abs(step), np.inf)
        if float(np.min(reach)) < 1.0 and float(np.min(room)) < 1e-3:
            return None
        t, moved = min(1.0, 0.5 * float(np.min(reach))), False
        while t > 1e-6:
            trial = x + t * step
            f_trial = objective(trial)
            count += 1
            if f_trial <= value - 1e-4 * t * decrement or (
                t == 1.0 and f_trial <= value and decrement < 1e-8 * max(1.0, abs(value))
            ):
                moved = True
                break
            t *= 0.5
        if not moved:
            if decrement < 1e-8 * max(1.0, abs(value)):
                # The line search cannot resolve what is left: converged, up to the
                # gradient's own Newton steps.
                moved_on = _gradient_step(hessian_at, x, step, eig, decrement, lower, upper)
                count += moved_on is not None
                if moved_on is None or moved_on[0] is None:
                    break
                x, (value, grad, hess) = moved_on
                continue
            return None
        new = hessian_at(trial)
        count += 1
        if new is None:
            return None
        x = trial
        value, grad, hess = new
    else:
        return None
    return (
        OptimizeResult(x, float(value), count, "newton", True, "Newton decrement below noise"),
        (grad, hess, x),
    )


def _profiled_cobyqa(
    objective: Callable[[FloatArray], float],
    x0: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    cheap: NDArray[np.bool_],
    radius: float,
) -> OptimizeResult:
    """Coarse COBYQA over the parameters that are expensive to change, the ``cheap``
    ones minimised out at each of its points (decision 0036: a change of the trailing
    terms' theta alone refactors only a small block).  Fewer costly evaluations: one
    dimension less for the derivative-free optimiser."""
    lo_c, up_c = lower[cheap], upper[cheap]
    inner = x0[cheap].copy()  # warm start: the last point's inner optimum
    best: list[Any] = [np.inf, x0.copy()]

    def joined(outer: FloatArray, values: FloatArray) -> FloatArray:
        z = np.empty_like(x0)
        z[~cheap], z[cheap] = outer, values
        return z

    def profiled(outer: FloatArray) -> float:
        def at(values: FloatArray) -> float:
            return objective(joined(outer, values))

        def derivatives(z: FloatArray) -> tuple[FloatArray, FloatArray]:
            return finite_difference_derivatives(at, z, lo_c, up_c)

        # Newton from the last point's inner optimum (it moves little between COBYQA's
        # points); L-BFGS-B first where that does not settle.
        v, fv, derivs = newton_polish(
            at, derivatives, inner, at(inner), lo_c, up_c, tol=1e-10, max_steps=8
        )
        settled = (
            derivs is not None
            and check_convergence(at, v, lo_c, up_c, tol=1e-10, value=fv, derivatives=derivs)[0]
        )
        if not settled:
            first = minimize_bounded(at, v, lo_c, up_c, method="lbfgsb", fd_step=1e-7)
            if first.fun < fv:
                v, fv, _ = newton_polish(
                    at, derivatives, first.x, first.fun, lo_c, up_c, tol=1e-10, max_steps=3
                )
        inner[:] = v
        if fv < best[0]:
            best[0], best[1] = fv, joined(outer, v)
        return float(fv)

    res = minimize_bounded(
        profiled,
        x0[~cheap],
        lower[~cheap],
        upper[~cheap],
        method="cobyqa",
        initial_radius=radius,
        final_radius=_PROFILED_RADIUS,
    )
    return OptimizeResult(
        np.asarray(best[1], dtype=np.float64),
        float(best[0]),
        res.n_evaluations,
        "cobyqa",
        res.success,
        res.message,
    )


def _fd_newton_finish(
    objective: Callable[[FloatArray], float],
    opt: OptimizeResult,
    lower: FloatArray,
    upper: FloatArray,
) -> tuple[OptimizeResult, tuple[FloatArray, FloatArray, FloatArray] | None]:
    """Finish a coarse COBYQA run by Newton steps on central differences (the
    convergence check's scheme), or by COBYQA's own end game where they do not settle.
    Returns the optimum and the gradient, Hessian and point of the last derivatives
    (``None`` where there are none for the optimum)."""
    count = [0]
    known = {opt.x.tobytes(): opt.fun}  # the optimiser's last point is not its best

    def counted(z: FloatArray) -> float:
        count[0] += 1
        value = objective(z)
        known[np.asarray(z, dtype=np.float64).tobytes()] = value
        return value

    def derivatives_at(z: FloatArray) -> tuple[FloatArray, FloatArray] | None:
        value = known.get(np.asarray(z, dtype=np.float64).tobytes())
        grad, hess = finite_difference_derivatives(counted, z, lower, upper, value)
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(hess))):
            return None
        return grad, hess

    x, value, derivs = newton_polish(
        counted, derivatives_at, opt.x, opt.fun, lower, upper, tol=_POLISH_TOL, max_steps=3
    )
    settled = (
        derivs is not None
        and check_convergence(
            counted, x, lower, upper, tol=_POLISH_TOL, value=value, derivatives=derivs
        )[0]
    )
    if not settled:
        # Newton could not finish (an indefinite Hessian, a flat direction): COBYQA's
        # own end game from the best point, as without the finish.
        again = minimize_bounded(
            counted, x, lower, upper, method="cobyqa", initial_radius=_COARSE_RADIUS
        )
        if again.fun <= value:
            x, value = again.x, again.fun
        derivs = None
    out = replace(opt, x=x, fun=float(value), n_evaluations=opt.n_evaluations + count[0])
    return out, None if derivs is None else (derivs[0], derivs[1], x)


def _fit_problem(
    model: Model,
    problem: ProfiledCriterion,
    reml: bool,
    optimizer: str,
    x0: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    check: bool,
    scan_start: bool = False,
    polish: bool = False,
) -> LMMFit:
    threads = None if problem.m >= THREADED_BLAS_MIN else 1
    with blas_limit(threads):
        last: list[Any] = [None, 0.0]

        def raw_objective(theta: FloatArray) -> float:
            # The optimiser's first point is the start scan's best, and the checks
            # revisit the optimum: one remembered value saves an evaluation each
            # (a factorisation of the whole dense block for large problems).
            key = np.asarray(theta, dtype=np.float64).tobytes()
            if key != last[0]:
                last[0], last[1] = key, float(problem.objective(theta, reml))
            return float(last[1])

        def raw_gradient(theta: FloatArray) -> tuple[float, FloatArray | None]:
            return problem.gradient(theta, reml)  # type: ignore[no-any-return]

        # Residual structures: a guarded criterion, no start scan, Newton steps at the end.
        structured = problem.residual is not None
        objective: Callable[[FloatArray], float] = raw_objective
        fun_and_grad: Callable[[FloatArray], tuple[float, FloatArray | None]] = raw_gradient
        if structured:
            objective, fun_and_grad = _guarded(raw_objective, raw_gradient)
        # The analytic gradient costs about three factorisations of the dense block:
        # worth it while that block is small, not for InstEval-sized ones.
        use_gradient = problem.m <= _GRADIENT_MAX_M and optimizer in ("auto", "lbfgsb")
        optimizer_auto = optimizer == "auto"
        if optimizer_auto:
            optimizer = "lbfgsb" if use_gradient else "cobyqa"
        radius = 1.0
        if scan_start and not structured:
            # The default start (lambda = I) scaled down is often much closer for data
            # whose random effects are small against the residual noise; three
            # evaluations choose the scale, which also sizes COBYQA's first trust region
            # (sleepstudy: 20 -> 13 L-BFGS-B iterations; InstEval: 60 -> 51 evaluations).
            values = []
            for c in START_SCALES:
                values.append(objective(c * x0))
                # Large blocks: each point is a factorisation of the whole block, so
                # the scan stops once the criterion rises along the ray (InstEval:
                # 0.25 then 0.5, one factorisation fewer).
                large = problem.m > _GRADIENT_MAX_M
                if large and len(values) > 1 and values[-1] > values[-2]:
                    break
            radius = START_SCALES[int(np.argmin(values))]
            x0 = radius * x0
        exact_hessian = None if structured else getattr(problem, "hessian", None)
        newton = None
        if exact_hessian is not None and use_gradient and optimizer_auto:
            newton = _exact_newton(objective, lambda z: exact_hessian(z, reml), x0, lower, upper)
        # Large dense blocks without a gradient: COBYQA to a trust radius of 1e-3, then
        # Newton steps on the convergence check's own differences (decision 0036).
        # COBYQA spends its last ~20 evaluations shrinking the radius from 1e-3 to 1e-5;
        # from 0.4% off, one Newton step (k(k+3)/2 evaluations for k parameters)
        # converges and the check reuses the derivatives of the last point.  That extra
        # set of differences grows as k^2: only for few parameters (measured at 2-3).
        fd_newton = (
            optimizer_auto
            and optimizer == "cobyqa"
            and not structured
            and x0.size <= _FD_NEWTON_MAX_PARAMS
        )
        polished = None
        if newton is not None:
            opt = newton[0]
        else:
            cheap = getattr(problem, "cheap_theta", None) if fd_newton else None
            if cheap is not None and np.any(cheap) and not np.all(cheap):
                opt = _profiled_cobyqa(objective, x0, lower, upper, cheap, radius)
            else:
                opt = minimize_bounded(
                    objective,
                    x0,
                    lower,
                    upper,
                    method=optimizer,
                    fun_and_grad=fun_and_grad if use_gradient else None,
                    initial_radius=radius,
                    final_radius=_COARSE_RADIUS if fd_newton else 1e-5,
                )
            if fd_newton:
                opt, polished = _fd_newton_finish(objective, opt, lower, upper)
        theta = opt.x
        # A zero variance is a stationary point whether or not it is the optimum:
        # probe inside the box along each such parameter, restart from a lower point.
        probe_x, probe_f, _ = probe_zero_bounds(
            objective, theta, opt.fun, lower, upper, mirror=~np.isfinite(lower)
        )
        if probe_f < opt.fun - 1e-8 * max(1.0, abs(opt.fun)):
            again = minimize_bounded(
                objective,
                probe_x,
                lower,
                upper,
                method=optimizer,
                fun_and_grad=fun_and_grad if use_gradient else None,
            )
            if again.fun < opt.fun:
                opt, theta = again, again.x
        on_bound = np.isfinite(lower) & (theta - lower < 1e-6)
        if np.any(on_bound):
            # A singular optimum may be an artefact of the path (a flat boundary face
            # reached early): restart from inside the box, keep the better optimum.
            retry = minimize_bounded(
                objective,
                np.where(on_bound, lower + 0.5, theta),
                lower,
                upper,
                method=optimizer,
                fun_and_grad=fun_and_grad if use_gradient else None,
            )
            if retry.fun < opt.fun - 1e-8 * max(1.0, abs(opt.fun)):
                opt, theta = retry, retry.x
        # L-BFGS-B can stop on a stale curvature memory (a "relative reduction" stop with
        # a large gradient, seen after steps along the boundary): restart it afresh.
        # (Residual-structure problems get Newton steps below instead: their deviance
        # can be large enough that an absolute gradient test restarts needlessly.)
        for _ in range(3):
            if not use_gradient or structured or newton is not None:
                break
            _, grad = fun_and_grad(theta)
            if grad is None:
                break
            at_lower = np.isfinite(lower) & (theta - lower < 1e-8) & (grad > 0)
            if np.max(np.abs(np.where(at_lower, 0.0, grad)), initial=0.0) < 1e-3:
                break
            again = minimize_bounded(
                objective, theta, lower, upper, method=optimizer, fun_and_grad=fun_and_grad
            )
            if not again.fun < opt.fun:
                break
            opt, theta = again, again.x
        if structured:
            theta, polished = _newton_polish(objective, theta, lower, upper)
        derivatives = None
        if newton is not None and np.array_equal(theta, newton[1][2]):
            derivatives = newton[1]  # converged by Newton steps already
        elif polished is not None and np.array_equal(theta, polished[2]):
            derivatives = polished
        elif polish and use_gradient and not structured:
            theta, derivatives = _gradient_newton(
                objective,
                fun_and_grad,
                theta,
                lower,
                upper,
                hessian_at=None if exact_hessian is None else lambda z: exact_hessian(z, reml),
            )
        # Snap parameters within a hair of a bound onto it (singular fits).
        near = np.abs(theta - lower) < 1e-7
        if np.any(near):
            snapped = np.where(near, lower, theta)
            if objective(snapped) <= opt.fun + 1e-10 * max(1.0, abs(opt.fun)):
                theta = snapped
        ev = problem.evaluate(theta, reml)
        if ev is None:
            raise FitError("the criterion could not be evaluated at the optimum")
        converged, messages = True, list[str]()
        gradient = hessian = None
        if check:
            if derivatives is not None and not np.array_equal(derivatives[2], theta):
                derivatives = None  # snapped onto a bound since
            converged, messages, gradient, hessian = check_convergence(
                objective,
                theta,
                lower,
                upper,
                value=ev.objective,
                derivatives=None if derivatives is None else derivatives[:2],
            )
    return LMMFit(
        model=model,
        problem=problem,
        evaluation=ev,
        reml=reml,
        optimizer=OptimizerSummary(
            method=opt.method,
            n_evaluations=opt.n_evaluations,
            message=opt.message,
            gradient=gradient,
            hessian=hessian,
        ),
        converged=converged,
        messages=messages,
    )
