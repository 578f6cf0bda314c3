"""A GLMM problem in the user's coordinates, evaluated on standardised matrices.

The fitter optimises a :class:`~mixedmodels.generalized.criterion.GLMMProblem` built on
the standardised ``X~`` and ``Z~_k`` (decision 0014) and maps its estimates back;
:class:`StandardizedGLMMProblem` is what the result, the profiles and the refits see:
the same members over the user's ``(theta, beta)``, each call mapped to the standardised
problem and its modes, factor and covariances mapped back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..interfaces import FloatArray
from ..linear.layout import TermData
from ..linear.standardize import Standardization
from .criterion import GLMMProblem, PirlsResult
from .pwls import Factor, PenalizedSystem

__all__ = ["StandardizedGLMMProblem"]


@dataclass
class _UserFactor(Factor):
    """A factor whose ``lambdas`` are the user's; ``standardized`` is the factor of the
    standardised system it stands for."""

    standardized: Factor | None = None


@dataclass
class _UserModes(PirlsResult):
    """PIRLS modes in the user's coordinates (``u = Q' u~``, ``beta = T beta~``);
    ``standardized`` are the standardised problem's."""

    standardized: PirlsResult | None = None


class _UserSystem:
    """The members of a :class:`PenalizedSystem` that results use, for user factors."""

    def __init__(self, inner: PenalizedSystem, transform: Standardization) -> None:
        self._inner = inner
        self._transform = transform

    def __getattr__(self, name: str) -> Any:
        # Sizes and layout (rest_offsets, q_rest, q1, m, ...) are the same in both.
        if name.startswith("__") or name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def conditional_variances(self, f: Factor) -> list[FloatArray]:
        inner_f = f.standardized if isinstance(f, _UserFactor) else f
        assert inner_f is not None
        return self._transform.covariances_from_standard(self._inner.conditional_variances(inner_f))

    def fixed_effects_vcov(self, f: Factor) -> FloatArray:
        inner_f = f.standardized if isinstance(f, _UserFactor) else f
        assert inner_f is not None
        return self._transform.vcov_from_standard(self._inner.fixed_effects_vcov(inner_f))


class StandardizedGLMMProblem(GLMMProblem):
    """:class:`GLMMProblem`'s interface over the user's ``(theta, beta)``.

    Parameters
    ----------
    inner
        The problem on the standardised matrices (the one the fitter optimised).
    transform
        The standardisation.
    X, terms
        The user's fixed-effect matrix and random-effect terms.
    """

    def __init__(
        self,
        inner: GLMMProblem,
        transform: Standardization,
        X: FloatArray,
        terms: list[TermData],
    ) -> None:
        # Not GLMMProblem.__init__: the data and PIRLS state live in ``inner``.
        self.inner = inner
        self.transform = transform
        self.X = X
        self.terms = terms
        self.n, self.p = inner.n, inner.p
        self._theta_index = list(inner._theta_index)
        self.n_theta = inner.n_theta
        self.fixed = _UserSystem(inner.fixed, transform)  # type: ignore[assignment]
        self.joint = _UserSystem(inner.joint, transform)  # type: ignore[assignment]

    # The data (y, pw, offset, ...), family, link and dispersion are the inner
    # problem's: one state, not two (the size of glmer.nb is set through either).
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("family", "link", "dispersion", "observed_information"):
            setattr(self.inner, name, value)
        else:
            object.__setattr__(self, name, value)

    # Functions of the means, the same in both coordinates.
    def _weights(
        self, eta: FloatArray, mu: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        return self.inner._weights(eta, mu)

    def minus2_loglik(self, mu: FloatArray, deviance: float | None = None) -> float:
        return self.inner.minus2_loglik(mu, deviance)

    def _full_minus2_loglik(self, mu: FloatArray) -> float:
        return self.inner._full_minus2_loglik(mu)

    # --- parameter maps -------------------------------------------------------------------
    def _to_standard(
        self, theta: FloatArray, beta: FloatArray | None
    ) -> tuple[FloatArray, FloatArray | None, list[FloatArray | None]]:
        theta_std, rotations = self.transform.theta_to_standard(theta)
        beta_std = None if beta is None else self.transform.beta_to_standard(beta)
        return theta_std, beta_std, rotations

    def user_modes(self, theta: FloatArray, res: PirlsResult) -> _UserModes:
        """The modes ``res`` of the standardised problem, in the user's coordinates at
        the user's ``theta``."""
        theta = np.asarray(theta, dtype=np.float64)
        _, rotations = self.transform.theta_to_standard(theta)
        us = [res.u1]
        rest = self.inner.fixed.rest_offsets
        for t, off in zip(self.inner.terms[1:], rest, strict=False):
            us.append(res.uR[off : off + t.q].reshape(t.n_levels, t.dim))
        us = self.transform.random_effects_from_standard(us, rotations)
        uR = np.concatenate([np.zeros(0), *[u.ravel() for u in us[1:]]])
        factor = _UserFactor(
            self.lambdas(theta),
            res.factor.Tinv,
            res.factor.B,
            res.factor.L,
            res.factor.logdet_re,
            standardized=res.factor,
        )
        return _UserModes(
            us[0],
            uR,
            self.transform.beta_from_standard(res.beta),
            res.eta,
            res.mu,
            factor,
            res.converged,
            res.iterations,
            res.deviance,
            standardized=res,
        )

    def lambdas(self, theta: FloatArray) -> list[FloatArray]:
        idx = self._theta_index
        theta = np.asarray(theta, dtype=np.float64)
        return [t.structure.factor(theta[idx[i] : idx[i + 1]]) for i, t in enumerate(self.terms)]

    # --- the GLMMProblem members, in the user's coordinates ---------------------------------
    def warm_start(self, modes: PirlsResult) -> None:
        inner = modes.standardized if isinstance(modes, _UserModes) else None
        if inner is not None:
            self.inner.warm_start(inner)

    def pirls(self, theta: FloatArray, beta: FloatArray | None = None) -> PirlsResult | None:
        theta = np.asarray(theta, dtype=np.float64)
        theta_std, beta_std, _ = self._to_standard(theta, beta)
        res = self.inner.pirls(theta_std, beta_std)
        return None if res is None else self.user_modes(theta, res)

    def laplace(self, theta: FloatArray, beta: FloatArray | None = None) -> float:
        theta_std, beta_std, _ = self._to_standard(np.asarray(theta, float), beta)
        return self.inner.laplace(theta_std, beta_std)

    def agq(self, theta: FloatArray, beta: FloatArray, nagq: int) -> float:
        theta_std, beta_std, _ = self._to_standard(np.asarray(theta, float), beta)
        assert beta_std is not None
        return self.inner.agq(theta_std, beta_std, nagq)

    def laplace_gradient(
        self, theta: FloatArray, beta: FloatArray | None
    ) -> tuple[float, FloatArray | None, FloatArray | None]:
        theta = np.asarray(theta, dtype=np.float64)
        theta_std, beta_std, _ = self._to_standard(theta, beta)
        value, g_theta, g_beta = self.inner.laplace_gradient(theta_std, beta_std)
        if g_theta is not None:
            g_theta = self.transform.theta_jacobian(theta).T @ g_theta
        if g_beta is not None:
            # beta~ = T^-1 beta: d/d beta = T^-T d/d beta~.
            g_beta = np.asarray(np.linalg.solve(self.transform.T.T, g_beta), np.float64)
        return value, g_theta, g_beta

    def boundary_theta(self, theta: FloatArray) -> FloatArray:
        """The standardised theta, on which a zero variance is judged."""
        return self.transform.theta_to_standard(np.asarray(theta, dtype=np.float64))[0]
