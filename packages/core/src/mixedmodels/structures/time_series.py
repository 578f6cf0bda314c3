"""Correlations over ordered columns or times: AR(1), continuous-time AR(1), ARMA(p, q)
and Toeplitz (glmmTMB's ``ar1``, ``ou``, ``toep``; nlme's ``corAR1``, ``corCAR1``,
``corARMA`` as residual correlations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..interfaces import FloatArray, ResidualCorrelation
from .acf import arma_acf, arma_coefs, pacf_to_acf
from .corstruct import ARMAResidual, CAR1Residual, ToeplitzResidual, no_options
from .scaled import ScaledCorrelation
from .transforms import logistic

__all__ = ["AR1", "ARMA", "CAR1", "Toeplitz"]


def _lags(dim: int) -> NDArray[np.int64]:
    """The lags ``|i - j|`` between the columns of a ``dim x dim`` matrix."""
    idx = np.arange(dim)
    return np.abs(idx[:, None] - idx[None, :])


class _OnePhi(ScaledCorrelation):
    """A correlation over ordered columns with one common variance and one parameter
    ``phi`` (none in one dimension): AR(1) and continuous-time AR(1)."""

    time_ordered: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True

    def n_corr(self) -> int:
        return 0 if self.dim == 1 else 1

    def corr_param_names(self) -> list[str]:
        return ["phi"] if self.dim > 1 else []


class AR1(_OnePhi):
    """First-order autoregressive correlation over the columns, one common variance
    (glmmTMB's ``ar1``): ``corr(i, j) = phi^|i - j|``, ``phi = r / sqrt(1 + r^2)``.

    As a residual correlation, nlme's ``corAR1`` over an integer time covariate (or the
    row order): ``correlation="ar1(visit | id)"``; gaps in the times give
    ``phi^lag``, as nlme does.
    """

    name: ClassVar[str] = "ar1"

    @staticmethod
    def phi(r: FloatArray) -> float:
        t = float(r[0])
        return t / np.sqrt(1.0 + t * t)

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        return np.asarray(self.phi(r) ** _lags(self.dim), dtype=np.float64)

    def correlation_cholesky(self, r: FloatArray) -> FloatArray:
        phi = self.phi(r)
        idx = np.arange(self.dim)
        lag = idx[:, None] - idx[None, :]
        L = np.where(lag >= 0, phi ** np.maximum(lag, 0), 0.0)
        L[:, 1:] *= np.sqrt(1.0 - phi * phi)
        return np.asarray(L, dtype=np.float64)

    def correlation_jacobian(self, r: FloatArray) -> FloatArray:
        t = float(r[0])
        phi = self.phi(r)
        dphi = (1.0 + t * t) ** -1.5
        lag = _lags(self.dim)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(lag > 0, lag * phi ** np.maximum(lag - 1, 0), 0.0)
        return np.asarray((d * dphi)[None], dtype=np.float64)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        return [("phi", self.phi(r))]

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        no_options(cls.name, options)
        return ARMAResidual(cls.name, coords, groups, coord_names, p=1, q=0, label="Phi")


class CAR1(_OnePhi):
    """Continuous-time AR(1): ``corr = phi^|t_i - t_j|`` with ``phi`` in ``(0, 1)``,
    ``phi = logistic(r)`` (nlme's ``corCAR1``; glmmTMB's ``ou`` in another
    parameterisation).  As a random-effect structure the columns sit at times
    ``0, 1, ..., dim - 1``; as a residual correlation
    (``correlation="car1(Time | Rat)"``) at the values of the time covariate, which may
    be unequally spaced.
    """

    name: ClassVar[str] = "car1"

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        phi = float(logistic(r[0]))
        return np.asarray(phi ** _lags(self.dim), dtype=np.float64)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        return [("phi", float(logistic(r[0])))]

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return CAR1Residual(cls.name, coords, **options)


class ARMA(ScaledCorrelation):
    """ARMA(p, q) autocorrelation over the columns, one common variance (default
    ``p = 1``, ``q = 0`` as a random-effect structure).

    The AR and MA coefficients come from partial autocorrelations ``tanh(r / 2)``
    (stationary and invertible for any ``r``).  As a residual correlation:
    ``correlation="arma(visit | id, p = 1, q = 1)"``, nlme's ``corARMA`` over an
    integer time covariate (or the row order).
    """

    name: ClassVar[str] = "arma"
    time_ordered: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = True
    p: ClassVar[int] = 1
    q: ClassVar[int] = 0

    def n_corr(self) -> int:
        return 0 if self.dim == 1 else self.p + self.q

    def corr_param_names(self) -> list[str]:
        if self.dim == 1:
            return []
        return [f"phi{i + 1}" for i in range(self.p)] + [f"theta{j + 1}" for j in range(self.q)]

    def _coefs(self, r: FloatArray) -> tuple[FloatArray, FloatArray]:
        return arma_coefs(np.asarray(r, dtype=np.float64), self.p, self.q)

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        ar, ma = self._coefs(r)
        acf = arma_acf(ar, ma, self.dim - 1)
        return np.asarray(acf[_lags(self.dim)], dtype=np.float64)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        ar, ma = self._coefs(r)
        return list(zip(self.corr_param_names(), [*ar.tolist(), *ma.tolist()], strict=True))

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        p = int(options.pop("p", 1))
        q = int(options.pop("q", 0))
        return ARMAResidual(cls.name, coords, groups, coord_names, p=p, q=q, **options)


class Toeplitz(ScaledCorrelation):
    """Toeplitz correlation with heterogeneous variances (glmmTMB's ``toep``): one
    correlation per lag, from partial autocorrelations ``r / sqrt(1 + r^2)`` so that
    every parameter vector gives a positive definite matrix."""

    name: ClassVar[str] = "toep"
    time_ordered: ClassVar[bool] = True

    def n_corr(self) -> int:
        return self.dim - 1

    def corr_param_names(self) -> list[str]:
        return [f"pacf{k}" for k in range(1, self.dim)]

    def acf(self, r: FloatArray) -> FloatArray:
        r = np.asarray(r, dtype=np.float64)
        return pacf_to_acf(r / np.sqrt(1.0 + r * r))

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        acf = self.acf(r)
        return np.asarray(acf[_lags(self.dim)], dtype=np.float64)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        acf = self.acf(r)
        return [(f"rho.lag{k}", float(acf[k])) for k in range(1, self.dim)]

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return ToeplitzResidual(cls.name, coords, groups, coord_names, **options)
