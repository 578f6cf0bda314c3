"""The built-in estimators: REML, ML and GLS for linear models (the profiled criterion),
Laplace, adaptive quadrature and the fast mode for GLMMs.

An estimator checks that it can fit a model, runs the fitting algorithm of
:mod:`mixedmodels.linear.fit` or :mod:`mixedmodels.generalized.fit` and wraps the fit's
state into a result (:class:`~mixedmodels.results.LMMResult`, ``GLSResult``,
``GLMMResult``).

As lme4's ``glmer``, the GLMM estimators optimise ``theta`` with ``beta`` updated inside
PIRLS first (this alone is the ``fast`` estimator), then ``theta`` and ``beta`` together
on the Laplace (or adaptive quadrature) criterion.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, ClassVar

import numpy as np

from .errors import ConvergenceWarning, ModelSpecificationError, SingularFitWarning
from .generalized.components import build_components
from .generalized.family_parameter import fit_glmm_dispersion, fit_glmm_nb
from .generalized.fit import fit_glmm
from .generalized.laplace_engine import LaplaceProblem, fit_laplace
from .interfaces import ConditionalFamily, Estimator
from .linear import fit as _linear_fit
from .model import Model
from .results.glmm import GLMMResult
from .results.gls import GLSResult
from .results.lmm import LMMResult
from .results.tmb import TMBResult

__all__ = [
    "BUILTIN_ESTIMATORS",
    "GLMM_ESTIMATORS",
    "AGQEstimator",
    "FastEstimator",
    "GLSEstimator",
    "LaplaceEstimator",
    "MLEstimator",
    "REMLEstimator",
    "TMBEstimator",
    "fit_lmm",
]


# lme4's wording for a singular fit.
SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside mixedmodels
    and its plugins (``mixedmodels_*``: the user's call), however deep the call chain."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        ("mixedmodels.", "mixedmodels_")
    ):
        level += 1
        frame = frame.f_back  # type: ignore[assignment]
    return level


def check_flag(name: str, value: Any) -> bool:
    """``value`` if it is a boolean, else a :class:`ModelSpecificationError` (a string
    such as ``"no"`` must not count as true)."""
    if not isinstance(value, bool | np.bool_):
        raise ModelSpecificationError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def announce(result: Any) -> Any:
    """Warn, once for the fit, when ``result`` did not converge
    (:class:`~mixedmodels.ConvergenceWarning`, with the convergence check's reasons) or
    is singular (:class:`~mixedmodels.SingularFitWarning`, lme4's message); return it."""
    if not getattr(result, "converged", True):
        reasons = [m for m in getattr(result, "messages", []) if "singular" not in m]
        detail = "; ".join(reasons) if reasons else "the convergence check failed"
        warnings.warn(
            f"Model failed to converge: {detail}", ConvergenceWarning, stacklevel=_user_stacklevel()
        )
    if getattr(result, "singular", False):
        warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=_user_stacklevel())
    return result


# --- linear mixed models and GLS -----------------------------------------------------------
def fit_lmm(model: Model, reml: bool = True, **options: Any) -> LMMResult:
    """Fit a linear mixed model (or a GLS, for a model without random effects) and
    return its result; ``options`` as :func:`mixedmodels.linear.fit.fit_lmm`.

    The fitting algorithm itself (:mod:`mixedmodels.linear.fit`) returns the fit's
    state; this wraps it, as the ``reml``/``ml``/``gls`` estimators do.
    """
    state = _linear_fit.fit_lmm(model, reml=reml, **options)
    result_class = LMMResult if model.terms else GLSResult
    return result_class.from_fit(state)


def _check_size(model: Model, method: str) -> None:
    """A mixed model needs more observations than fixed-effect coefficients: with
    ``n = p`` the REML criterion is undefined, the ML residual variance is zero, and a
    GLMM's fixed effects alone fit every observation (PIRLS then diverges)."""
    n, p = model.X.shape
    if n <= p:
        raise ModelSpecificationError(
            f"{n} observations for {p} fixed-effect coefficients "
            f"({', '.join(model.fixef_names)}): {method} needs more observations than "
            "fixed-effect coefficients; simplify the fixed-effect formula"
        )


class _LMMEstimator(Estimator):
    reml: ClassVar[bool]
    options: ClassVar[tuple[str, ...] | None] = ("optimizer", "start", "check")

    def supports(self, model: Any) -> str | None:
        if not isinstance(model, Model):
            return "not a mixedmodels.Model"
        if not model.is_linear:
            return (
                f"{self.name} fits linear mixed models (gaussian family, identity link); "
                f"this model has family {model.family.name!r} with link {model.link.name!r}"
            )
        unknown = set(model.extras) - {"correlation", "variance"}
        if unknown:
            return f"unexpected model arguments for {self.name!r}: {sorted(unknown)}"
        if not model.terms:
            return (
                "the formula has no random-effect term; use mixedmodels.gls (generalized "
                "least squares, method 'gls') for a model without random effects"
            )
        if np.ndim(model.response) != 1:
            return "the response must be a single numeric column"
        if len(model.design.response_levels or ()) > 2:
            return _ORDERED_RESPONSE
        return None

    def fit(self, model: Any, **options: Any) -> Any:
        _check_size(model, "REML" if self.reml else "ML")
        return announce(LMMResult.from_fit(_linear_fit.fit_lmm(model, reml=self.reml, **options)))


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


class GLSEstimator(Estimator):
    """Generalized least squares: a linear model with residual correlation and variance
    functions and no random effects (nlme's ``gls``), by REML (default) or ML."""

    name: ClassVar[str] = "gls"
    options: ClassVar[tuple[str, ...] | None] = ("reml", "optimizer", "start", "check")
    description: ClassVar[str] = (
        "linear models with correlated, heteroscedastic residuals (generalized least squares)"
    )

    def supports(self, model: Any) -> str | None:
        if not isinstance(model, Model):
            return "not a mixedmodels.Model"
        if not model.is_linear:
            return (
                "gls fits linear models (gaussian family, identity link); this model has "
                f"family {model.family.name!r} with link {model.link.name!r}"
            )
        unknown = set(model.extras) - {"correlation", "variance"}
        if unknown:
            return f"unexpected model arguments for 'gls': {sorted(unknown)}"
        if model.terms:
            return "the formula has random-effect terms; use mixedmodels.lmm"
        if np.ndim(model.response) != 1:
            return "the response must be a single numeric column"
        if len(model.design.response_levels or ()) > 2:
            return _ORDERED_RESPONSE
        return None

    def fit(self, model: Any, reml: bool = True, **options: Any) -> Any:
        check_flag("reml", reml)
        _check_size(model, "REML" if reml else "ML")
        return announce(GLSResult.from_fit(_linear_fit.fit_lmm(model, reml=reml, **options)))


_ORDERED_RESPONSE = (
    "the response is an ordered factor with more than two levels; fit a cumulative link "
    "model (method='clmm', from mixedmodels-ordinal)"
)

BUILTIN_ESTIMATORS: list[type[Estimator]] = [REMLEstimator, MLEstimator, GLSEstimator]


# --- generalized linear mixed models -------------------------------------------------------
class _GLMMEstimator(Estimator):
    #: Whether families with a dispersion parameter can be fitted.
    allows_dispersion: ClassVar[bool] = False

    def supports(self, model: Any) -> str | None:
        if not isinstance(model, Model):
            return "not a mixedmodels.Model"
        if model.extras:
            return f"unexpected model arguments for {self.name!r}: {sorted(model.extras)}"
        if not model.terms:
            return "the formula has no random-effect term; use a generalized linear model"
        if len(model.design.response_levels or ()) > 2:
            return _ORDERED_RESPONSE
        if model.family.has_dispersion and model.is_linear:
            return "a gaussian model with the identity link is a linear mixed model: use lmm"
        if model.family.has_dispersion and not self.allows_dispersion:
            return (
                f"family {model.family.name!r} has a dispersion parameter; {self.name!r} "
                "fits families without one (use the Laplace approximation)"
            )
        return None


class _QuadratureEstimator(_GLMMEstimator):
    #: Nodes used when ``nagq`` is not given.
    default_nagq: ClassVar[int]
    options: ClassVar[tuple[str, ...] | None] = ("nagq", "estimate_size", "check", "start")

    def fit(self, model: Any, **options: Any) -> Any:
        _check_size(model, "a GLMM")
        nagq = options.pop("nagq", self.default_nagq)
        if model.family.name == "negative_binomial" and options.pop("estimate_size", True):
            return announce(GLMMResult.from_fit(fit_glmm_nb(model, nagq=nagq, **options)))
        if model.family.has_dispersion:
            return announce(GLMMResult.from_fit(fit_glmm_dispersion(model, **options)))
        return announce(GLMMResult.from_fit(fit_glmm(model, nagq=nagq, **options)))


class LaplaceEstimator(_QuadratureEstimator):
    """Laplace approximation (lme4's glmer default, ``nAGQ = 1``)."""

    name: ClassVar[str] = "laplace"
    description: ClassVar[str] = "GLMMs by the Laplace approximation (glmer's nAGQ = 1)"
    default_nagq = 1
    allows_dispersion = True


class AGQEstimator(_QuadratureEstimator):
    """Adaptive Gauss-Hermite quadrature for one scalar random-effect term."""

    name: ClassVar[str] = "agq"
    description: ClassVar[str] = "GLMMs by adaptive Gauss-Hermite quadrature (nAGQ > 1)"
    default_nagq = 9


class FastEstimator(_GLMMEstimator):
    """First stage only: beta inside PIRLS (lme4's ``nAGQ = 0``)."""

    name: ClassVar[str] = "fast"
    description: ClassVar[str] = "GLMMs with beta estimated inside PIRLS (glmer's nAGQ = 0)"
    options: ClassVar[tuple[str, ...] | None] = ("check", "start")

    def fit(self, model: Any, **options: Any) -> Any:
        _check_size(model, "a GLMM")
        return announce(GLMMResult.from_fit(fit_glmm(model, fast=True, **options)))


class TMBEstimator(Estimator):
    """The general Laplace engine (glmmTMB's): conditional-density families, zero
    inflation (``ziformula``), dispersion models (``dispformula``)."""

    name: ClassVar[str] = "tmb"
    description: ClassVar[str] = (
        "GLMMs of any conditional family with zero-inflation and dispersion formulas "
        "(glmmTMB's Laplace approximation, nothing profiled)"
    )

    def supports(self, model: Any) -> str | None:
        if not isinstance(model, Model):
            return "not a mixedmodels.Model"
        if not isinstance(model.family, ConditionalFamily):
            return (
                f"family {model.family.name!r} is not a conditional-density family "
                "(install mixedmodels-families for glmmTMB's families)"
            )
        unknown = sorted(set(model.extras) - {"ziformula", "dispformula"})
        if unknown:
            return f"unexpected model arguments for 'tmb': {unknown}"
        return None

    def fit(self, model: Any, **options: Any) -> Any:
        family, weights = _trials_and_weights(model)
        problem = LaplaceProblem(model.y, family, build_components(model), weights=weights)
        return announce(TMBResult.from_fit(model, fit_laplace(problem, **options)))


def _trials_and_weights(model: Any) -> tuple[ConditionalFamily, Any]:
    """The family (holding the binomial trials where it uses them) and the prior
    weights of the likelihood, by glmmTMB's conventions: ``cbind(successes, failures)``
    gives the trials and ``weights`` stay weights; a 0/1 response has one trial; a
    proportion takes its trials from ``weights``."""
    family = model.family
    if not family.uses_trials:
        return family, model.weights
    if model.trials is not None:
        return family.bind_trials(model.trials), model.weights
    y = model.y
    if np.all((y == 0) | (y == 1)):
        return family.bind_trials(np.ones_like(y)), model.weights
    if model.weights is None:
        raise ModelSpecificationError(
            f"response {model.design.response_name!r}: family {family.name!r} needs the "
            "number of trials: give cbind(successes, failures), or the proportion with "
            "weights = the number of trials"
        )
    k = y * model.weights
    bad = np.abs(k - np.round(k)) > 1e-8 * np.maximum(1.0, k)
    if np.any(bad):
        raise ModelSpecificationError(
            f"response {model.design.response_name!r} times weights (the trials) is not "
            f"a whole number of successes in {int(np.sum(bad))} rows (family {family.name!r})"
        )
    return family.bind_trials(model.weights), None


GLMM_ESTIMATORS: list[type[Estimator]] = [
    LaplaceEstimator,
    AGQEstimator,
    FastEstimator,
    TMBEstimator,
]
