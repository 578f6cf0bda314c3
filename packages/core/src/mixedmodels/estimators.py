"""Built-in estimators for linear mixed models: REML and ML by the profiled criterion."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from threadpoolctl import ThreadpoolController

from ._lmm import LMMProblem, TermData
from ._lmm_dense import DenseLMMProblem
from ._optimize import check_convergence, minimize_bounded
from .interfaces import Estimator
from .model import Model

__all__ = ["BUILTIN_ESTIMATORS", "MLEstimator", "REMLEstimator", "fit_lmm"]

# Size of the dense block from which BLAS gets all threads: below it a multithreaded
# BLAS is slower than one thread (measured on 2 cores: dpotrf of m = 1159 takes
# 12.4 ms with 2 threads and 16.8 ms with one; small blocks lose to thread start-up).
_THREADED_BLAS_MIN = 1000
# Largest [Z X y] (columns) fitted as one dense matrix: where numpy call overheads,
# not arithmetic, dominate an evaluation.
_DENSE_MAX_M = 120
# Largest dense block for which the optimiser uses the analytic gradient.
_GRADIENT_MAX_M = 400


_CONTROLLER: ThreadpoolController | None = None


def _blas_limit(threads: int | None) -> Any:
    """Context limiting BLAS threads; the controller (which scans the loaded shared
    libraries, ~3 ms) is created once per process."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=threads, user_api="blas")


def build_problem(model: Model) -> LMMProblem | DenseLMMProblem:
    """The stored cross-products of ``model`` (offset removed from the response).

    Small problems (all random effects, fixed effects and the response together at most
    ``_DENSE_MAX_M`` columns) use one dense matrix; the others the blocked form.
    """
    y = np.asarray(model.response, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError("a linear mixed model needs a single numeric response column")
    if model.offset is not None:
        y = y - model.offset
    terms = [
        TermData(t.codes, t.n_levels, t.Z, s)
        for t, s in zip(model.terms, model.structures, strict=True)
    ]
    size = sum(t.q for t in terms) + model.X.shape[1] + 1
    if size <= _DENSE_MAX_M:
        return DenseLMMProblem(model.X, y, terms, model.weights)
    return LMMProblem(model.X, y, terms, model.weights)


def fit_lmm(
    model: Model,
    reml: bool = True,
    optimizer: str = "auto",
    start: Any = None,
    check: bool = True,
) -> Any:
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
    from .results import LMMResult

    problem = build_problem(model)
    starts = [s.start() for s in model.structures]
    x0 = np.concatenate(starts) if start is None else np.asarray(start, dtype=np.float64)
    lower = np.concatenate([s.bounds()[0] for s in model.structures])
    upper = np.concatenate([s.bounds()[1] for s in model.structures])
    if x0.shape != lower.shape:
        raise ValueError(f"start must have {lower.size} values (theta), got {x0.size}")
    threads = None if problem.m >= _THREADED_BLAS_MIN else 1
    with _blas_limit(threads):

        def objective(theta: np.ndarray) -> float:
            return problem.objective(theta, reml)

        # The analytic gradient costs about three factorisations of the dense block:
        # worth it while that block is small, not for InstEval-sized ones.
        use_gradient = problem.m <= _GRADIENT_MAX_M and optimizer in ("auto", "lbfgsb")
        if optimizer == "auto":
            optimizer = "lbfgsb" if use_gradient else "cobyqa"
        opt = minimize_bounded(
            objective,
            x0,
            lower,
            upper,
            method=optimizer,
            fun_and_grad=(lambda th: problem.gradient(th, reml)) if use_gradient else None,
        )
        theta = opt.x
        # Snap parameters within a hair of a bound onto it (singular fits).
        near = np.abs(theta - lower) < 1e-7
        if np.any(near):
            snapped = np.where(near, lower, theta)
            if objective(snapped) <= opt.fun + 1e-10 * max(1.0, abs(opt.fun)):
                theta = snapped
        ev = problem.evaluate(theta, reml)
        if ev is None:
            raise RuntimeError("the criterion could not be evaluated at the optimum")
        converged, messages = True, list[str]()
        gradient = hessian = None
        if check:
            converged, messages, gradient, hessian = check_convergence(
                objective, theta, lower, upper, value=ev.objective
            )
    return LMMResult(
        model=model,
        problem=problem,
        evaluation=ev,
        reml=reml,
        optimizer={
            "method": opt.method,
            "n_evaluations": opt.n_evaluations,
            "message": opt.message,
            "gradient": gradient,
            "hessian": hessian,
        },
        converged=converged,
        messages=messages,
    )


class _LMMEstimator(Estimator):
    reml: ClassVar[bool]

    def supports(self, model: Any) -> str | None:
        if not isinstance(model, Model):
            return "not a mixedmodels.Model"
        if not model.is_linear:
            return (
                f"{self.name} fits linear mixed models (gaussian family, identity link); "
                f"this model has family {model.family.name!r} with link {model.link.name!r}"
            )
        if model.extras:
            return f"unexpected model arguments for {self.name!r}: {sorted(model.extras)}"
        if not model.terms:
            return "the formula has no random-effect term; use a linear model"
        if np.ndim(model.response) != 1:
            return "the response must be a single numeric column"
        return None

    def fit(self, model: Any, **options: Any) -> Any:
        return fit_lmm(model, reml=self.reml, **options)


class REMLEstimator(_LMMEstimator):
    """Restricted maximum likelihood (lme4's default)."""

    name: ClassVar[str] = "reml"
    description: ClassVar[str] = "linear mixed models by restricted maximum likelihood"
    reml = True


class MLEstimator(_LMMEstimator):
    """Maximum likelihood."""

    name: ClassVar[str] = "ml"
    description: ClassVar[str] = "linear mixed models by maximum likelihood"
    reml = False


BUILTIN_ESTIMATORS: list[type[Estimator]] = [REMLEstimator, MLEstimator]
