"""An LMM criterion in the user's coordinates, evaluated on standardised matrices.

:class:`StandardizedCriterion` has the interface of the other LMM criteria
(:class:`~mixedmodels.linear.interface.ProfiledCriterion`) over the user's ``theta``;
each evaluation maps ``theta`` to the standardised problem's (decision 0014), evaluates
there, and maps fixed effects, random effects and their covariances back.  The fitter
optimises the standardised criterion itself; the results, inference and refits see
this one, so every reported quantity is in the user's coordinates and as accurate as
the standardised evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..interfaces import FloatArray
from .layout import Evaluation, TermData, ThetaLayout
from .standardize import Standardization

__all__ = ["StandardizedCriterion", "StandardizedEvaluation"]


@dataclass
class StandardizedEvaluation(Evaluation):
    """An evaluation in the user's coordinates: ``theta``, ``lambdas``, ``objective``
    and ``logdet_RX`` are the user's; ``standardized`` is the evaluation of the
    standardised criterion and ``rotations`` the terms' ``u = Q' u~``."""

    standardized: Evaluation | None = None
    rotations: list[FloatArray | None] = field(default_factory=list)


class StandardizedCriterion(ThetaLayout):
    """The profiled criterion over the user's theta (see the module docstring).

    Parameters
    ----------
    inner
        The criterion built on the standardised matrices.
    transform
        The standardisation (``X~ = X T``, ``Z~_k = Z_k A_k``).
    terms
        The user's random-effect terms (for sizes and structures).
    X
        The user's fixed-effect matrix.
    weights
        Prior weights or ``None``.
    """

    def __init__(
        self,
        inner: Any,
        transform: Standardization,
        terms: list[TermData],
        X: FloatArray,
        weights: FloatArray | None,
    ) -> None:
        self.inner = inner
        self.transform = transform
        self._set_data(X, terms, weights)
        self.m = int(inner.m)

    @classmethod
    def from_sizes(
        cls,
        inner: Any,
        transform: Standardization,
        terms: list[TermData],
        n: int,
        p: int,
        log_weights_sum: float,
    ) -> StandardizedCriterion:
        """The criterion of an inner one built from summed cross-products (no rows)."""
        self = cls.__new__(cls)
        self.inner = inner
        self.transform = transform
        self._set_sizes(n, p, terms, log_weights_sum)
        self.m = int(inner.m)
        return self

    def _jacobian_shift(self, reml: bool) -> float:
        # log |R_X|^2 in the user's coordinates = standardised one - 2 log |det T|.
        return -2.0 * self.transform.log_abs_det_T if reml else 0.0

    def evaluate(
        self, theta: FloatArray, reml: bool, need_factor: bool = True
    ) -> StandardizedEvaluation | None:
        theta = np.asarray(theta, dtype=np.float64)
        theta_std, rotations = self.transform.theta_to_standard(theta)
        ev = self.inner.evaluate(theta_std, reml, need_factor)
        if ev is None:
            return None
        shift = self._jacobian_shift(reml)
        return StandardizedEvaluation(
            theta=theta,
            objective=float(ev.objective + shift),
            logdet_L=ev.logdet_L,
            logdet_RX=float(ev.logdet_RX + shift),
            pwrss=ev.pwrss,
            L=ev.L,
            class_T=ev.class_T,
            lambdas=self.lambdas(theta),
            standardized=ev,
            rotations=rotations,
        )

    def objective(self, theta: FloatArray, reml: bool) -> float:
        theta_std, _ = self.transform.theta_to_standard(np.asarray(theta, dtype=np.float64))
        return float(self.inner.objective(theta_std, reml) + self._jacobian_shift(reml))

    def gradient(self, theta: FloatArray, reml: bool) -> tuple[float, FloatArray | None]:
        theta = np.asarray(theta, dtype=np.float64)
        theta_std, _ = self.transform.theta_to_standard(theta)
        value, grad = self.inner.gradient(theta_std, reml)
        value = float(value + self._jacobian_shift(reml))
        if grad is None:
            return value, None
        return value, self.transform.theta_jacobian(theta).T @ grad

    def _standardized(self, ev: Evaluation) -> StandardizedEvaluation:
        if not isinstance(ev, StandardizedEvaluation) or ev.standardized is None:
            out = self.evaluate(ev.theta, reml=True)
            if out is None:
                raise ValueError("the criterion cannot be evaluated at this theta")
            return out
        return ev

    def solve(self, ev: Evaluation) -> tuple[FloatArray, list[FloatArray], FloatArray]:
        sev = self._standardized(ev)
        assert sev.standardized is not None
        beta_std, us_std, u_flat = self.inner.solve(sev.standardized)
        us = self.transform.random_effects_from_standard(us_std, sev.rotations)
        total = sum(u.size for u in us)
        # The inner criterion's flat vector holds all terms (dense) or all but the first.
        flat = us if np.size(u_flat) == total else us[1:]
        u_out = np.concatenate([np.zeros(0), *[u.ravel() for u in flat]])
        return self.transform.beta_from_standard(beta_std), us, u_out

    def vcov_unscaled(self, ev: Evaluation) -> FloatArray:
        sev = self._standardized(ev)
        return self.transform.vcov_from_standard(self.inner.vcov_unscaled(sev.standardized))

    def conditional_variances(self, ev: Evaluation) -> list[FloatArray]:
        sev = self._standardized(ev)
        blocks = self.inner.conditional_variances(sev.standardized)
        return self.transform.covariances_from_standard(blocks)

    def boundary_theta(self, theta: FloatArray) -> FloatArray:
        """The standardised theta, on which a zero variance is judged: the user's units
        of a covariate must not decide whether a fit is singular."""
        return self.transform.theta_to_standard(np.asarray(theta, dtype=np.float64))[0]
