"""The beta-binomial (glmmTMB's ``betabinomial``): binomial trials with a beta-distributed
success probability of mean ``mu`` and precision ``phi``."""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
from scipy.special import betaln, gammaln, psi

from mixedmodels.interfaces import ConditionalFamily, FloatArray

from ._base import trigamma

__all__ = ["BetaBinomialFamily"]


class BetaBinomialFamily(ConditionalFamily):
    """Beta-binomial with mean proportion ``mu`` and precision ``phi`` (shapes ``mu phi``,
    ``(1 - mu) phi``; glmmTMB's ``betabinomial``, ``sigma()`` is ``phi``).

    The response is the proportion of successes, as for the binomial: from
    ``cbind(successes, failures)``, or a proportion with ``weights`` the number of
    trials, or 0/1 (one trial), glmmTMB's three conventions.  The engine fits
    :meth:`bind_trials` (the family holding each row's number of trials).
    """

    name: ClassVar[str] = "betabinomial"
    default_link = "logit"
    links = ("logit", "probit", "cloglog")
    support = "proportion"
    uses_trials: ClassVar[bool] = True

    def __init__(self, trials: FloatArray | float | None = None) -> None:
        self.trials = None if trials is None else np.asarray(trials, dtype=np.float64)

    def bind_trials(self, trials: FloatArray | float | None) -> BetaBinomialFamily:
        """A copy of the family with the number of trials of each row."""
        out = copy.copy(self)
        out.trials = None if trials is None else np.asarray(trials, dtype=np.float64)
        return out

    def _n(self, shape_like: FloatArray) -> FloatArray:
        if self.trials is None:
            return np.ones(np.shape(shape_like))
        return np.broadcast_to(self.trials, np.shape(shape_like))

    def valid_mu(self, mu: FloatArray) -> np.ndarray:
        return np.isfinite(mu) & (mu > 0) & (mu < 1)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        return np.clip(np.asarray(y, dtype=np.float64), 0.05, 0.95)

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        super().validate_response(y, weights)
        if np.any((y < 0) | (y > 1)):
            raise ValueError(
                "betabinomial family: the response must be a proportion of successes "
                "between 0 and 1 (cbind(successes, failures), or a proportion with "
                "weights = trials)"
            )

    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        n = self._n(mu)
        k = np.round(y * n)
        a, b = mu * phi, (1.0 - mu) * phi
        out = (
            gammaln(n + 1.0)
            - gammaln(k + 1.0)
            - gammaln(n - k + 1.0)
            + betaln(k + a, n - k + b)
            - betaln(a, b)
        )
        return np.where((k >= 0) & (k <= n), out, -np.inf)

    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        n = self._n(mu)
        k = np.round(y * n)
        a, b = mu * phi, (1.0 - mu) * phi
        d1 = phi * (psi(k + a) - psi(a) - psi(n - k + b) + psi(b))
        d2 = phi**2 * (trigamma(k + a) - trigamma(a) + trigamma(n - k + b) - trigamma(b))
        return self.logpdf(y, mu, phi, shape), d1, d2

    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        return np.asarray(mu, dtype=np.float64)

    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        n = self._n(mu)
        return mu * (1.0 - mu) / n * (1.0 + (n - 1.0) / (phi + 1.0))

    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        mu, phi = np.broadcast_arrays(np.asarray(mu, float), np.asarray(phi, float))
        n = self._n(mu)
        p = rng.beta(mu * phi, (1.0 - mu) * phi)
        return rng.binomial(n.astype(np.int64), p) / n
