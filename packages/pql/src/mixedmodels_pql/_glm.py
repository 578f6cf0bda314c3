"""The starting GLM of glmmPQL: R's ``glm.fit`` (IRLS), step for step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mixedmodels.interfaces import Family, FloatArray, Link

__all__ = ["GLMStart", "glm_fit"]


@dataclass
class GLMStart:
    """What glmmPQL takes from ``glm``: linear predictor, working residuals and the
    working weights of the last IRLS iteration (R's ``fit$weights``)."""

    eta: FloatArray
    residuals: FloatArray
    weights: FloatArray
    coef: FloatArray
    iterations: int
    converged: bool


def glm_fit(
    X: FloatArray,
    y: FloatArray,
    prior: FloatArray,
    offset: FloatArray,
    family: Family,
    link: Link,
    epsilon: float = 1e-8,
    maxit: int = 25,
) -> GLMStart:
    """IRLS as R's ``glm.fit``: start at ``family.starting_mu``; stop when the relative
    change of the deviance is below ``epsilon``.  As in R, the weights returned are
    those of the last iteration's start, the residuals those of the final fit."""
    mu = family.starting_mu(y, prior)
    eta = link.link(mu)
    mu = link.inverse(eta)
    dev_old = float(np.sum(prior * family.unit_deviance(y, mu)))
    coef: Any = np.zeros(X.shape[1])
    converged = False
    w = np.sqrt(prior)
    it = 0
    for it in range(1, maxit + 1):  # noqa: B007 - the count is reported
        mu_eta = link.mu_eta(eta)
        z = (eta - offset) + (y - mu) / mu_eta
        w = np.sqrt(prior * mu_eta**2 / family.variance(mu))
        coef_new = np.linalg.lstsq(X * w[:, None], z * w, rcond=None)[0]
        eta_new = X @ coef_new + offset
        mu_new = link.inverse(eta_new)
        dev = float(np.sum(prior * family.unit_deviance(y, mu_new)))
        halvings = 0
        while not np.isfinite(dev) and halvings < 30:  # R's step halving
            coef_new = np.asarray((coef_new + coef) / 2, dtype=np.float64)
            eta_new = X @ coef_new + offset
            mu_new = link.inverse(eta_new)
            dev = float(np.sum(prior * family.unit_deviance(y, mu_new)))
            halvings += 1
        coef, eta, mu = coef_new, eta_new, mu_new
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        dev_old = dev
    residuals = (y - mu) / link.mu_eta(eta)
    return GLMStart(eta, residuals, w**2, coef, it, converged)
