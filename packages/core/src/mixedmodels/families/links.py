"""Built-in link functions, numerically as R's ``make.link``.

Each link maps a mean ``mu`` to the linear predictor ``eta = g(mu)``.  The inverse links
clip as R's do, so that a fitting algorithm never sees a mean of exactly 0 or 1 (for
binomial links) or 0 (for the log link), and ``mu_eta`` is bounded below by machine
epsilon where R bounds it.  Matching R here matters: lme4/glm results near the boundary
of the parameter space depend on these guards.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy import special

from ..interfaces import FloatArray, Link

__all__ = [
    "BUILTIN_LINKS",
    "CauchitLink",
    "CloglogLink",
    "IdentityLink",
    "InverseLink",
    "InverseSquaredLink",
    "LogLink",
    "LogitLink",
    "ProbitLink",
    "SqrtLink",
]

#: R's ``.Machine$double.eps``.
EPS: float = float(np.finfo(np.float64).eps)

# R's C logit code switches to constants beyond |eta| > 30 (THRESH / MTHRESH in family.c).
_LOGIT_THRESH = 30.0
# R's probit and cauchit inverse links clip eta so that mu stays in [eps, 1 - eps].
_PROBIT_THRESH = float(-special.ndtri(EPS))
_CAUCHIT_THRESH = float(1.0 / np.tan(np.pi * EPS))
# R's cloglog mu.eta clips eta at 700 so that exp(eta) does not overflow.
_CLOGLOG_ETA_MAX = 700.0


def _as_float(x: Any) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _within(eta: FloatArray, bound: float) -> bool:
    """Whether every ``eta`` is finite with ``|eta| <= bound`` (then no guard applies)."""
    return bool(eta.size) and bool(-bound <= eta.min()) and bool(eta.max() <= bound)


class IdentityLink(Link):
    """``eta = mu``."""

    name: ClassVar[str] = "identity"

    def link(self, mu: FloatArray) -> FloatArray:
        return _as_float(mu).copy()

    def inverse(self, eta: FloatArray) -> FloatArray:
        return _as_float(eta).copy()

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        return np.ones_like(_as_float(eta))

    def mu_eta_derivative(self, eta: FloatArray) -> FloatArray:
        """Second derivative of the inverse link (PIRLS's Newton steps; no guards)."""
        return np.zeros_like(_as_float(eta))


class LogLink(Link):
    """``eta = log(mu)``; the inverse is bounded below by machine epsilon, as in R."""

    name: ClassVar[str] = "log"

    def link(self, mu: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(_as_float(mu))

    def inverse(self, eta: FloatArray) -> FloatArray:
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(_as_float(eta)), EPS)

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(_as_float(eta)), EPS)

    def mu_eta_derivative(self, eta: FloatArray) -> FloatArray:
        """Second derivative of the inverse link (PIRLS's Newton steps; no guards)."""
        with np.errstate(over="ignore"):
            return np.exp(_as_float(eta))


class LogitLink(Link):
    """``eta = log(mu / (1 - mu))``, with R's thresholds at ``|eta| > 30``.

    Beyond the thresholds the inverse is ``eps / (1 + eps)`` or ``1 / (1 + eps)`` and
    ``mu_eta`` is ``eps``, exactly as R's C code (``logit_linkinv``, ``logit_mu_eta``).
    """

    name: ClassVar[str] = "logit"

    def link(self, mu: FloatArray) -> FloatArray:
        mu = _as_float(mu)
        # log(mu) - log1p(-mu) keeps full precision for mu near 0 and near 1.
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(mu) - np.log1p(-mu)

    def inverse(self, eta: FloatArray) -> FloatArray:
        eta = _as_float(eta)
        if _within(eta, _LOGIT_THRESH):
            # The same arithmetic without the guards (PIRLS calls this at every step).
            e = np.exp(eta)
            return np.asarray(e / (1.0 + e), dtype=np.float64)
        tmp = np.where(
            eta < -_LOGIT_THRESH,
            EPS,
            np.where(eta > _LOGIT_THRESH, 1.0 / EPS, np.exp(np.clip(eta, -40.0, 40.0))),
        )
        return np.asarray(tmp / (1.0 + tmp), dtype=np.float64)

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        eta = _as_float(eta)
        if _within(eta, _LOGIT_THRESH):
            e = np.exp(eta)
            return np.asarray(e / (1.0 + e) ** 2, dtype=np.float64)
        e = np.exp(np.clip(eta, -40.0, 40.0))
        val = e / (1.0 + e) ** 2
        return np.asarray(
            np.where(np.abs(eta) > _LOGIT_THRESH, EPS, val),
            dtype=np.float64,
        )

    def mu_eta_derivative(self, eta: FloatArray) -> FloatArray:
        """Second derivative of the inverse link (PIRLS's Newton steps; no guards)."""
        mu = self.inverse(eta)
        return self.mu_eta(eta) * (1.0 - 2.0 * mu)


class ProbitLink(Link):
    """``eta = Phi^-1(mu)``; the inverse clips ``eta`` so that ``mu`` is in ``[eps, 1-eps]``."""

    name: ClassVar[str] = "probit"

    def link(self, mu: FloatArray) -> FloatArray:
        return np.asarray(special.ndtri(_as_float(mu)), dtype=np.float64)

    def inverse(self, eta: FloatArray) -> FloatArray:
        eta = np.clip(_as_float(eta), -_PROBIT_THRESH, _PROBIT_THRESH)
        return np.asarray(special.ndtr(eta), dtype=np.float64)

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        eta = _as_float(eta)
        dens = np.exp(-0.5 * eta * eta) / np.sqrt(2.0 * np.pi)
        return np.maximum(dens, EPS)

    def mu_eta_derivative(self, eta: FloatArray) -> FloatArray:
        """Second derivative of the inverse link (PIRLS's Newton steps; no guards)."""
        eta = _as_float(eta)
        return -eta * np.exp(-0.5 * eta * eta) / np.sqrt(2.0 * np.pi)


class CauchitLink(Link):
    """``eta = tan(pi * (mu - 1/2))``, the Cauchy quantile function; clipped as in R."""

    name: ClassVar[str] = "cauchit"

    def link(self, mu: FloatArray) -> FloatArray:
        mu = _as_float(mu)
        # -cot(pi mu) on the lower half and cot(pi (1 - mu)) on the upper half avoid the
        # cancellation in tan(pi * (mu - 0.5)) near the poles.
        with np.errstate(divide="ignore", invalid="ignore"):
            lower = -1.0 / np.tan(np.pi * mu)
            upper = 1.0 / np.tan(np.pi * (1.0 - mu))
        out = np.where(mu <= 0.5, lower, upper)
        return np.asarray(np.where((mu < 0) | (mu > 1), np.nan, out), dtype=np.float64)

    def inverse(self, eta: FloatArray) -> FloatArray:
        eta = np.clip(_as_float(eta), -_CAUCHIT_THRESH, _CAUCHIT_THRESH)
        # arctan2(1, -eta) / pi equals 1/2 + arctan(eta) / pi, but is accurate in the
        # lower tail where the latter cancels.
        return np.asarray(np.arctan2(1.0, -eta) / np.pi, dtype=np.float64)

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        eta = _as_float(eta)
        return np.maximum(1.0 / (np.pi * (1.0 + eta * eta)), EPS)

    def mu_eta_derivative(self, eta: FloatArray) -> FloatArray:
        """Second derivative of the inverse link (PIRLS's Newton steps; no guards)."""
        eta = _as_float(eta)
        return -2.0 * eta / (np.pi * (1.0 + eta * eta) ** 2)


class CloglogLink(Link):
    """``eta = log(-log(1 - mu))``; inverse and derivative bounded as in R."""

    name: ClassVar[str] = "cloglog"

    def link(self, mu: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(-np.log1p(-_as_float(mu)))

    def inverse(self, eta: FloatArray) -> FloatArray:
        eta = np.minimum(_as_float(eta), _CLOGLOG_ETA_MAX)
        mu = -np.expm1(-np.exp(eta))
        return np.maximum(np.minimum(mu, 1.0 - EPS), EPS)

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        eta = np.minimum(_as_float(eta), _CLOGLOG_ETA_MAX)
        # exp(eta - exp(eta)) is R's exp(eta) * exp(-exp(eta)) without the 0 * inf risk.
        return np.maximum(np.exp(eta - np.exp(eta)), EPS)

    def mu_eta_derivative(self, eta: FloatArray) -> FloatArray:
        """Second derivative of the inverse link (PIRLS's Newton steps; no guards)."""
        eta = np.minimum(_as_float(eta), _CLOGLOG_ETA_MAX)
        return np.exp(eta - np.exp(eta)) * (1.0 - np.exp(eta))


class InverseLink(Link):
    """``eta = 1 / mu`` (canonical for the Gamma family)."""

    name: ClassVar[str] = "inverse"

    def link(self, mu: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore"):
            return 1.0 / _as_float(mu)

    def inverse(self, eta: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore"):
            return 1.0 / _as_float(eta)

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        eta = _as_float(eta)
        with np.errstate(divide="ignore"):
            return -1.0 / (eta * eta)

    def valid_eta(self, eta: FloatArray) -> NDArray[np.bool_]:
        eta = _as_float(eta)
        return np.isfinite(eta) & (eta != 0)


class SqrtLink(Link):
    """``eta = sqrt(mu)``; valid for ``eta > 0``."""

    name: ClassVar[str] = "sqrt"

    def link(self, mu: FloatArray) -> FloatArray:
        with np.errstate(invalid="ignore"):
            return np.sqrt(_as_float(mu))

    def inverse(self, eta: FloatArray) -> FloatArray:
        eta = _as_float(eta)
        return eta * eta

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        return 2.0 * _as_float(eta)

    def valid_eta(self, eta: FloatArray) -> NDArray[np.bool_]:
        eta = _as_float(eta)
        return np.isfinite(eta) & (eta > 0)


class InverseSquaredLink(Link):
    """``eta = 1 / mu**2`` (R's ``"1/mu^2"``, canonical for the inverse Gaussian)."""

    name: ClassVar[str] = "1/mu^2"

    def link(self, mu: FloatArray) -> FloatArray:
        mu = _as_float(mu)
        with np.errstate(divide="ignore"):
            return 1.0 / (mu * mu)

    def inverse(self, eta: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / np.sqrt(_as_float(eta))

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        eta = _as_float(eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            return -1.0 / (2.0 * eta**1.5)

    def valid_eta(self, eta: FloatArray) -> NDArray[np.bool_]:
        eta = _as_float(eta)
        return np.isfinite(eta) & (eta > 0)


#: The core's links, registered by :mod:`mixedmodels._builtin` (instantiated with no
#: arguments).
BUILTIN_LINKS: list[type[Link]] = [
    IdentityLink,
    LogLink,
    LogitLink,
    ProbitLink,
    CloglogLink,
    CauchitLink,
    InverseLink,
    SqrtLink,
    InverseSquaredLink,
]
