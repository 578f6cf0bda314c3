"""GLMMs with one family parameter estimated jointly: the negative binomial's size
(lme4's ``glmer.nb``) and a dispersion (Gamma, inverse Gaussian; glmmTMB's
parameterisation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from ..errors import FitError
from ..interfaces import FloatArray
from ..model import Model
from ..numerics.blas import THREADED_BLAS_MIN, blas_limit
from ..numerics.derivatives import finite_difference_derivatives
from ..numerics.optimize import minimize_bounded, newton_refine
from .criterion import GLMMProblem
from .fit import (
    _FD_STEP,
    _FTOL,
    _GRADIENT_MAX_ENTRIES,
    _HESSIAN_STEP,
    GLMMFit,
    _fit,
    fit_to_user,
    standardized_glmm_problem,
)
from .standardized import StandardizedGLMMProblem

__all__ = ["fit_glmm_dispersion", "fit_glmm_nb"]


def fit_glmm_nb(
    model: Model,
    nagq: int = 1,
    check: bool = True,
    problem: GLMMProblem | None = None,
    user: StandardizedGLMMProblem | None = None,
) -> GLMMFit:
    """Negative binomial GLMM with the size estimated (lme4's ``glmer.nb``).

    The size is the joint maximiser with ``theta`` and ``beta``, as glmer.nb's
    alternation converges to.  ``problem`` and ``user``: as :func:`fit_glmm` (a problem
    whose rows live elsewhere, e.g. a ``ChunkedGLMMProblem``); by default the model's
    rows in memory.
    """
    base = model.family

    def set_size(P: GLMMProblem, log_size: float) -> None:
        P.family = base.with_theta(float(np.exp(log_size)))  # type: ignore[attr-defined]

    fit = _fit_family_parameter(
        model, nagq, check, set_size, bracket=(-1.0, 2.0), problem=problem, user=user
    )
    assert fit.family_parameter is not None
    fit.nb_size = float(np.exp(fit.family_parameter))
    return fit


def fit_glmm_dispersion(
    model: Model,
    check: bool = True,
    problem: GLMMProblem | None = None,
    user: StandardizedGLMMProblem | None = None,
) -> GLMMFit:
    """GLMM of a family with a dispersion parameter (Gamma, inverse Gaussian, gaussian
    with a link), the dispersion estimated jointly (glmmTMB's parameterisation: the
    random effects' covariance is on the absolute scale).  ``problem`` and ``user``: as
    :func:`fit_glmm_nb`."""

    def set_dispersion(P: GLMMProblem, log_phi: float) -> None:
        P.dispersion = float(np.exp(log_phi))
        P.observed_information = True

    fit = _fit_family_parameter(
        model, 1, check, set_dispersion, bracket=(-3.0, 1.0), problem=problem, user=user
    )
    assert fit.family_parameter is not None
    fit.dispersion = float(np.exp(fit.family_parameter))
    return fit


def _fit_family_parameter(
    model: Model,
    nagq: int,
    check: bool,
    set_parameter: Any,
    bracket: tuple[float, float],
    problem: GLMMProblem | None = None,
    user: StandardizedGLMMProblem | None = None,
) -> GLMMFit:
    """Fit with one extra family parameter (on a log scale) estimated jointly.

    The parameter's maximum-likelihood value given the means of a fast (first-stage) fit
    gives a start, one optimisation over ``(theta, beta, parameter)`` the optimum, and a
    final fit at that value the fixed-parameter inference (as glmer.nb reports).
    Every use of the rows goes through the problem's methods (so that a chunked
    problem evaluates each as one pass over its chunks).
    """
    # Optimised on standardised matrices where there are any (decision 0014).
    if problem is None:
        P, user = standardized_glmm_problem(model)
    else:
        P = problem
    k = P.n_theta
    lower_t = np.concatenate([s.bounds()[0] for s in model.structures])
    upper_t = np.concatenate([s.bounds()[1] for s in model.structures])
    with blas_limit(None if P.fixed.m >= THREADED_BLAS_MIN else 1):
        # Start: a fast fit at the bracket's middle, then the parameter that maximises
        # the conditional likelihood at its means (no PIRLS: one pass over the rows per
        # evaluation), and a fast fit there (glmer.nb's theta.ml step, once).
        set_parameter(P, float(np.mean(bracket)))
        first = _fit(model, P, nagq=1, fast=True, check=False)

        def conditional(value: float) -> float:
            set_parameter(P, value)
            return P.modes_minus2_loglik(first.modes)

        coarse = minimize_scalar(conditional, bracket=bracket, tol=1e-4)
        if not np.isfinite(coarse.fun):
            raise FitError("could not start the family parameter's estimation")
        set_parameter(P, float(coarse.x))
        start = _fit(model, P, nagq=1, fast=True, check=False, start_theta=first.theta)

        def objective(x: FloatArray) -> float:
            set_parameter(P, float(x[-1]))
            return P.agq(x[:k], x[k:-1], nagq) if nagq > 1 else P.laplace(x[:k], x[k:-1])

        use_gradient = (
            nagq == 1
            and not P.observed_information
            and P.fixed.q_rest * P.fixed.q1 <= _GRADIENT_MAX_ENTRIES
        )

        def objective_and_gradient(x: FloatArray) -> tuple[float, FloatArray | None]:
            # Exact in (theta, beta); a forward difference in the family parameter.
            set_parameter(P, float(x[-1]))
            value, g_theta, g_beta = P.laplace_gradient(x[:k], x[k:-1])
            if g_theta is None or g_beta is None or not np.isfinite(value):
                return value, None
            h = _FD_STEP * max(1.0, abs(float(x[-1])))
            g_last = (objective(np.concatenate([x[:-1], [x[-1] + h]])) - value) / h
            set_parameter(P, float(x[-1]))
            return value, np.concatenate([g_theta, g_beta, [g_last]])

        p = model.X.shape[1]
        lower = np.concatenate([lower_t, np.full(p + 1, -np.inf)])
        upper = np.concatenate([upper_t, np.full(p + 1, np.inf)])
        x0 = np.concatenate([start.theta, start.beta, [coarse.x]])
        joint = minimize_bounded(
            objective,
            x0,
            lower,
            upper,
            "lbfgsb",
            fd_step=_FD_STEP,
            ftol=_FTOL,
            fun_and_grad=objective_and_gradient if use_gradient else None,
        )
        # L-BFGS-B stops where a decrease test on PIRLS-evaluated values stops it (and,
        # for the parameter, on a forward difference): rounding that changes one PIRLS
        # iteration moved the parameter by ~1e-6.  Newton steps on Richardson
        # differences with steps a tenth of each standard error locate the joint
        # optimum to ~1e-11 (decision 0037).
        x_joint, extra = joint.x, 0
        value = objective(x_joint)
        start_derivatives = finite_difference_derivatives(
            objective, x_joint, lower, upper, value=value, step=_HESSIAN_STEP
        )
        x_joint, _, _, extra = newton_refine(
            objective,
            x_joint,
            value,
            lower,
            upper,
            start_derivatives,
            max_steps=8,
            final_hessian=False,
        )
        extra += 1 + 2 * x_joint.size + x_joint.size * (x_joint.size - 1) // 2
        set_parameter(P, float(x_joint[-1]))
        fit = _fit(model, P, nagq=nagq, fast=False, check=check, start_theta=x_joint[:k])
    fit.family_parameter = float(x_joint[-1])
    fit.optimizer.n_evaluations += joint.n_evaluations + extra
    return fit_to_user(fit, user)
