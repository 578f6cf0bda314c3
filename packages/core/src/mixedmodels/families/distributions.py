"""Built-in response families, numerically as R's ``stats`` families (and MASS's
negative binomial).

Conventions (those of :class:`~mixedmodels.interfaces.Family`):

* ``unit_deviance(y, mu)`` is R's ``family()$dev.resids(y, mu, wt)`` divided by ``wt``.
* ``loglik(y, mu, weights, dispersion)`` is the per-observation log-likelihood whose
  sum times ``-2`` is R's ``family()$aic`` (without R's ``+ 2`` for the dispersion
  parameter), evaluated at the given dispersion rather than R's moment estimate.  As in
  R, the prior weights enter the gaussian density as precisions (variance
  ``dispersion / weight``), the binomial as the number of trials (``y`` is a proportion),
  and the other families as multipliers of the log density.
* ``simulate`` draws as R's ``family()$simulate`` does: binomial proportions
  ``successes / trials``; Gamma and inverse Gaussian with the weights as precisions;
  poisson and negative binomial ignore weights (with a warning, as R).
* ``starting_mu`` is R's ``family()$initialize`` ``mustart``.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy import special

from ..errors import ModelSpecificationError
from ..interfaces import Family, FloatArray

__all__ = [
    "BUILTIN_FAMILIES",
    "Binomial",
    "Gamma",
    "Gaussian",
    "InverseGaussian",
    "NegativeBinomial",
    "Poisson",
]

_LOG_2PI = float(np.log(2.0 * np.pi))


def _as_float(x: Any) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _weights(weights: FloatArray | None, shape: tuple[int, ...]) -> FloatArray:
    if weights is None:
        return np.ones(shape)
    return np.broadcast_to(_as_float(weights), shape)


def _ylogy(y: FloatArray, mu: FloatArray) -> FloatArray:
    """``y * log(y / mu)``, taken as 0 where ``y == 0`` (R's ``y_log_y``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = y * np.log(y / mu)
    return np.asarray(np.where(y == 0, 0.0, out), dtype=np.float64)


def _describe(
    name: str,
    y: FloatArray,
    bad: NDArray[np.bool_],
    what: str,
    verb: tuple[str, str] = ("is", "are"),
) -> str:
    """A message naming how many values are bad and the first of them."""
    idx = np.flatnonzero(bad)
    first = int(idx[0])
    many = idx.size != 1
    return (
        f"{name} family: {idx.size} response value{'s' if many else ''} "
        f"{verb[many]} {what} (first: {float(y.ravel()[first])!r} at position {first})"
    )


def _check_finite(name: str, y: FloatArray, weights: FloatArray | None) -> None:
    bad = ~np.isfinite(y)
    if np.any(bad):
        raise ModelSpecificationError(_describe(name, y, bad, "missing or not finite"))
    if weights is not None:
        w = np.broadcast_to(_as_float(weights), y.shape)
        badw = ~np.isfinite(w) | (w < 0)
        if np.any(badw):
            idx = np.flatnonzero(badw)
            raise ModelSpecificationError(
                f"{name} family: {idx.size} prior weight{'s' if idx.size != 1 else ''} "
                f"negative or not finite (first: {w.ravel()[idx[0]]!r} at position "
                f"{int(idx[0])})"
            )


def _check_counts(name: str, y: FloatArray, weights: FloatArray | None) -> None:
    _check_finite(name, y, weights)
    neg = y < 0
    if np.any(neg):
        raise ModelSpecificationError(_describe(name, y, neg, "negative; counts must be >= 0"))
    frac = y != np.round(y)
    if np.any(frac):
        raise ModelSpecificationError(
            _describe(name, y, frac, "not a whole number; counts expected")
        )


def _count_loglik(y: FloatArray, core: FloatArray) -> FloatArray:
    # Probability zero (log -inf) off the support {0, 1, 2, ...}, as R's d* functions.
    off = (y < 0) | (y != np.round(y))
    return np.asarray(np.where(off, -np.inf, core), dtype=np.float64)


def _weighted(ll: FloatArray, w: FloatArray) -> FloatArray:
    # R multiplies the log density by the prior weight; a zero weight drops the
    # observation (and must not turn -inf into nan).
    with np.errstate(invalid="ignore"):
        return np.asarray(np.where(w == 0, 0.0, w * ll), dtype=np.float64)


def _warn_weights_ignored(name: str, weights: FloatArray | None) -> None:
    if weights is not None and np.any(_as_float(weights) != 1):
        # R's poisson()$simulate: prior weights have no unambiguous meaning here.
        warnings.warn(f"{name} family: simulate ignores prior weights", stacklevel=3)


_W = FloatArray | None
_Rng = np.random.Generator


class _BuiltinFamily(Family):
    """The public methods of :class:`~mixedmodels.interfaces.Family` with their arguments
    made float arrays once; each family writes only the private kernels."""

    def unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        return self._unit_deviance(_as_float(y), _as_float(mu))

    def loglik(
        self,
        y: FloatArray,
        mu: FloatArray,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        return self._loglik(_as_float(y), _as_float(mu), weights, dispersion)

    def simulate(
        self,
        mu: FloatArray,
        rng: np.random.Generator,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        return self._simulate(_as_float(mu), rng, weights, dispersion)

    @abstractmethod
    def _unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        """Unit deviances (see :meth:`unit_deviance`)."""

    @abstractmethod
    def _loglik(self, y: FloatArray, mu: FloatArray, weights: _W, dispersion: float) -> FloatArray:
        """Per-observation log-likelihood (see :meth:`loglik`)."""

    @abstractmethod
    def _simulate(self, mu: FloatArray, rng: _Rng, weights: _W, dispersion: float) -> FloatArray:
        """Draws of the response (see :meth:`simulate`)."""


class _PositiveMean(_BuiltinFamily):
    """Families whose mean must be finite and strictly positive."""

    def valid_mu(self, mu: FloatArray) -> NDArray[np.bool_]:
        mu = _as_float(mu)
        return np.isfinite(mu) & (mu > 0)


class _Counts(_PositiveMean):
    """Count families (Poisson, negative binomial): whole non-negative responses, log
    densities ``-inf`` off the support and multiplied by the prior weights."""

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        _check_counts(self.name, _as_float(y), weights)

    @staticmethod
    def _count_loglik(y: FloatArray, core: FloatArray, weights: _W) -> FloatArray:
        ll = _count_loglik(y, core)
        return _weighted(ll, _weights(weights, ll.shape))


class Gaussian(_BuiltinFamily):
    """Normal distribution; ``dispersion`` is the residual variance ``sigma**2``."""

    name: ClassVar[str] = "gaussian"
    default_link: ClassVar[str] = "identity"
    links: ClassVar[tuple[str, ...]] = ("identity", "log", "inverse")
    has_dispersion: ClassVar[bool] = True

    def variance(self, mu: FloatArray) -> FloatArray:
        return np.ones_like(_as_float(mu))

    def variance_derivative(self, mu: FloatArray) -> FloatArray:
        return np.zeros_like(_as_float(mu))

    def _unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        r = y - mu
        return r * r

    def _loglik(self, y: FloatArray, mu: FloatArray, weights: _W, dispersion: float) -> FloatArray:
        r = y - mu
        w = _weights(weights, r.shape)
        # Precision weights: variance dispersion / w (R's aic has - sum(log(wt))).
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = -0.5 * (_LOG_2PI + np.log(dispersion) - np.log(w)) - 0.5 * w * r * r / dispersion
        return np.asarray(np.where(w == 0, 0.0, ll), dtype=np.float64)

    def _simulate(self, mu: FloatArray, rng: _Rng, weights: _W, dispersion: float) -> FloatArray:
        w = _weights(weights, mu.shape)
        return mu + np.sqrt(dispersion / w) * rng.standard_normal(mu.shape)

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        _check_finite(self.name, _as_float(y), weights)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        return _as_float(y).copy()


class Binomial(_BuiltinFamily):
    """Binomial proportions: ``y`` is ``successes / trials`` and ``weights`` the trials.

    With no weights each observation is a single Bernoulli trial.
    """

    name: ClassVar[str] = "binomial"
    default_link: ClassVar[str] = "logit"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cloglog", "cauchit", "log")
    has_dispersion: ClassVar[bool] = False

    def variance(self, mu: FloatArray) -> FloatArray:
        mu = _as_float(mu)
        return mu * (1.0 - mu)

    def variance_derivative(self, mu: FloatArray) -> FloatArray:
        return 1.0 - 2.0 * _as_float(mu)

    def _unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        return 2.0 * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))

    def _loglik(self, y: FloatArray, mu: FloatArray, weights: _W, dispersion: float) -> FloatArray:
        shape = np.broadcast_shapes(y.shape, mu.shape)
        n = np.round(_weights(weights, shape))
        # R's aic: dbinom(round(m * y), round(m), mu).
        k = np.round(n * y)
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = (
                special.gammaln(n + 1.0)
                - special.gammaln(k + 1.0)
                - special.gammaln(n - k + 1.0)
                + special.xlogy(k, mu)
                + special.xlog1py(n - k, -mu)
            )
        ll = np.where((k < 0) | (k > n), -np.inf, ll)
        return np.asarray(np.where(n == 0, 0.0, ll), dtype=np.float64)

    def _simulate(self, mu: FloatArray, rng: _Rng, weights: _W, dispersion: float) -> FloatArray:
        w = _weights(weights, mu.shape)
        if np.any(w != np.round(w)) or np.any(w < 0):
            raise ModelSpecificationError(
                "binomial family: cannot simulate from non-integer or negative prior "
                "weights (the weights are the numbers of trials)"
            )
        n = w.astype(np.int64)
        k = rng.binomial(n, mu)
        with np.errstate(invalid="ignore", divide="ignore"):
            # No trials: no response; 0 as R's initialize sets for zero weights.
            return np.asarray(np.where(n > 0, k / w, 0.0), dtype=np.float64)

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        y = _as_float(y)
        _check_finite(self.name, y, weights)
        out = (y < 0) | (y > 1)
        if np.any(out):
            raise ModelSpecificationError(
                _describe(
                    self.name,
                    y,
                    out,
                    "outside [0, 1]; the response is a proportion of successes "
                    "(successes cannot exceed trials)",
                )
            )
        w = _weights(weights, y.shape)
        m = w * y
        frac = np.abs(m - np.round(m)) > 1e-3
        if np.any(frac):
            # R warns (not errors) on non-integer successes.
            warnings.warn(
                _describe(
                    self.name,
                    y,
                    frac,
                    "a non-integer number of successes (y * weights)",
                    ("gives", "give"),
                ),
                stacklevel=2,
            )

    def valid_mu(self, mu: FloatArray) -> NDArray[np.bool_]:
        mu = _as_float(mu)
        return np.isfinite(mu) & (mu > 0) & (mu < 1)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        y = _as_float(y)
        w = _weights(weights, y.shape)
        return (w * y + 0.5) / (w + 1.0)


class Poisson(_Counts):
    """Poisson counts."""

    name: ClassVar[str] = "poisson"
    default_link: ClassVar[str] = "log"
    links: ClassVar[tuple[str, ...]] = ("log", "identity", "sqrt")
    has_dispersion: ClassVar[bool] = False

    def variance(self, mu: FloatArray) -> FloatArray:
        return _as_float(mu).copy()

    def variance_derivative(self, mu: FloatArray) -> FloatArray:
        return np.ones_like(_as_float(mu))

    def _unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        return 2.0 * (_ylogy(y, mu) - (y - mu))

    def _loglik(self, y: FloatArray, mu: FloatArray, weights: _W, dispersion: float) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            core = special.xlogy(y, mu) - mu - special.gammaln(y + 1.0)
        return self._count_loglik(y, core, weights)

    def _simulate(self, mu: FloatArray, rng: _Rng, weights: _W, dispersion: float) -> FloatArray:
        _warn_weights_ignored(self.name, weights)
        return rng.poisson(mu).astype(np.float64)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        return _as_float(y) + 0.1


class _PositiveContinuous(_PositiveMean):
    """Shared support rules of the positive continuous families (Gamma, inverse
    Gaussian): response and mean strictly positive, start at the response."""

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        y = _as_float(y)
        _check_finite(self.name, y, weights)
        bad = y <= 0
        if np.any(bad):
            raise ModelSpecificationError(_describe(self.name, y, bad, "not positive"))

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        return _as_float(y).copy()

    @staticmethod
    def _on_support(ll: FloatArray, y: FloatArray, weights: FloatArray | None) -> FloatArray:
        """Log densities ``-inf`` off the positive support, then weighted."""
        ll = np.where(y > 0, ll, -np.inf)
        return _weighted(ll, _weights(weights, ll.shape))


class Gamma(_PositiveContinuous):
    """Gamma distribution with shape ``1 / dispersion`` and mean ``mu``."""

    name: ClassVar[str] = "Gamma"
    default_link: ClassVar[str] = "inverse"
    links: ClassVar[tuple[str, ...]] = ("inverse", "log", "identity")
    has_dispersion: ClassVar[bool] = True

    def variance(self, mu: FloatArray) -> FloatArray:
        mu = _as_float(mu)
        return mu * mu

    def variance_derivative(self, mu: FloatArray) -> FloatArray:
        return 2.0 * _as_float(mu)

    def _unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            logratio = np.where(y == 0, 0.0, np.log(y / mu))
        return -2.0 * (logratio - (y - mu) / mu)

    def _loglik(self, y: FloatArray, mu: FloatArray, weights: _W, dispersion: float) -> FloatArray:
        shape = 1.0 / dispersion
        scale = mu * dispersion
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = (
                (shape - 1.0) * np.log(y)
                - y / scale
                - shape * np.log(scale)
                - special.gammaln(shape)
            )
        return self._on_support(ll, y, weights)

    def _simulate(self, mu: FloatArray, rng: _Rng, weights: _W, dispersion: float) -> FloatArray:
        w = _weights(weights, mu.shape)
        # R's Gamma()$simulate uses the weights as multipliers of the shape.
        shape = w / dispersion
        return rng.gamma(shape, mu / shape)


class InverseGaussian(_PositiveContinuous):
    """Inverse Gaussian distribution with mean ``mu`` and shape ``1 / dispersion``."""

    name: ClassVar[str] = "inverse_gaussian"
    default_link: ClassVar[str] = "1/mu^2"
    links: ClassVar[tuple[str, ...]] = ("1/mu^2", "log", "inverse", "identity")
    has_dispersion: ClassVar[bool] = True

    def variance(self, mu: FloatArray) -> FloatArray:
        mu = _as_float(mu)
        return mu * mu * mu

    def variance_derivative(self, mu: FloatArray) -> FloatArray:
        mu = _as_float(mu)
        return 3.0 * mu * mu

    def _unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        r = y - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            return r * r / (y * mu * mu)

    def _loglik(self, y: FloatArray, mu: FloatArray, weights: _W, dispersion: float) -> FloatArray:
        r = y - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = -0.5 * (_LOG_2PI + np.log(dispersion) + 3.0 * np.log(y)) - r * r / (
                2.0 * dispersion * mu * mu * y
            )
        return self._on_support(ll, y, weights)

    def _simulate(self, mu: FloatArray, rng: _Rng, weights: _W, dispersion: float) -> FloatArray:
        w = _weights(weights, mu.shape)
        # R's inverse.gaussian()$simulate: shape lambda = weights / dispersion.
        return rng.wald(mu, w / dispersion)


class NegativeBinomial(_Counts):
    """Negative binomial counts with size ``theta``: variance ``mu + mu**2 / theta``.

    MASS's ``negative.binomial(theta)`` and glmmTMB's ``nbinom2``.  ``theta`` is fixed
    for a given instance; an estimator that fits it makes new instances with
    :meth:`with_theta`.

    Parameters
    ----------
    theta
        The size (shape) parameter, ``> 0``; the Poisson is the limit ``theta -> inf``.
    """

    name: ClassVar[str] = "negative_binomial"
    default_link: ClassVar[str] = "log"
    links: ClassVar[tuple[str, ...]] = ("log", "sqrt", "identity")
    has_dispersion: ClassVar[bool] = False

    def __init__(self, theta: float = 1.0) -> None:
        theta = float(theta)
        if not np.isfinite(theta) or theta <= 0:
            raise ModelSpecificationError(
                f"negative_binomial family: theta must be > 0, got {theta!r}"
            )
        self.theta = theta

    def with_theta(self, theta: float) -> NegativeBinomial:
        """A copy of this family with a different ``theta``."""
        return type(self)(theta)

    def variance(self, mu: FloatArray) -> FloatArray:
        mu = _as_float(mu)
        return mu + mu * mu / self.theta

    def variance_derivative(self, mu: FloatArray) -> FloatArray:
        return 1.0 + 2.0 * _as_float(mu) / self.theta

    def _unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        th = self.theta
        # MASS writes y * log(pmax(1, y) / mu), equal to this for every count; this form
        # is also zero at y == mu for non-integer y.
        return 2.0 * (_ylogy(y, mu) - (y + th) * np.log((y + th) / (mu + th)))

    def _loglik(self, y: FloatArray, mu: FloatArray, weights: _W, dispersion: float) -> FloatArray:
        th = self.theta
        with np.errstate(divide="ignore", invalid="ignore"):
            core = (
                special.gammaln(y + th)
                - special.gammaln(th)
                - special.gammaln(y + 1.0)
                - th * np.log1p(mu / th)
                + special.xlogy(y, mu)
                - y * np.log(th + mu)
            )
        return self._count_loglik(y, core, weights)

    def _simulate(self, mu: FloatArray, rng: _Rng, weights: _W, dispersion: float) -> FloatArray:
        _warn_weights_ignored(self.name, weights)
        return rng.negative_binomial(self.theta, self.theta / (self.theta + mu)).astype(np.float64)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        # MASS's negative.binomial initialize: y + (y == 0) / 6.
        y = _as_float(y)
        return y + (y == 0) / 6.0

    def __repr__(self) -> str:
        return f"<Family {self.name} theta={self.theta:g}>"


#: The core's families, registered by :mod:`mixedmodels._builtin` (instantiated with no
#: arguments).
BUILTIN_FAMILIES: list[type[Family]] = [
    Gaussian,
    Binomial,
    Poisson,
    Gamma,
    InverseGaussian,
    NegativeBinomial,
]
