"""Covariances that are SDs times a correlation matrix, ``diag(s) C(r) diag(s)``
(glmmTMB's structured covariances): the base :class:`ScaledCorrelation`, compound
symmetry and the general correlation matrix.  The time-series correlations are in
:mod:`.time_series`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..interfaces import CovarianceStructure, FloatArray, ResidualCorrelation, matrix_jacobian
from .corstruct import CompSymmResidual, SymmResidual
from .transforms import cholesky_derivative, cpc_cholesky, logistic, safe_cholesky

__all__ = [
    "CompoundSymmetry",
    "GeneralSymmetric",
    "HomogeneousCompoundSymmetry",
    "ScaledCorrelation",
]


class ScaledCorrelation(CovarianceStructure):
    """Base of ``diag(s) C(r) diag(s)`` structures (glmmTMB's ``cs``, ``ar1``, ...).

    Parameters are the relative SDs ``s`` (one per column, or one shared when
    :attr:`homogeneous`), bounded below by zero, then the correlation parameters ``r``,
    unconstrained.  Subclasses give :meth:`n_corr`, :meth:`correlation_matrix` and the
    names; they may give the correlation's Cholesky factor and derivatives in closed
    form (:meth:`correlation_cholesky`, :meth:`correlation_jacobian`).
    """

    homogeneous: ClassVar[bool] = False
    #: Whether the columns are ordered times (``ar1``, ``toep``, ...): the term's
    #: left side must be a factor of times with two or more levels, e.g.
    #: ``ar1(0 + factor(time) | subject)``.
    time_ordered: ClassVar[bool] = False

    # --- what subclasses define -------------------------------------------------------
    def n_corr(self) -> int:
        """Number of correlation parameters."""
        raise NotImplementedError

    def corr_param_names(self) -> list[str]:
        raise NotImplementedError

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        """The ``dim x dim`` correlation matrix at correlation parameters ``r``."""
        raise NotImplementedError

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        """Correlation parameters on their natural scale, for reporting."""
        raise NotImplementedError

    def correlation_cholesky(self, r: FloatArray) -> FloatArray:
        return safe_cholesky(self.correlation_matrix(r))

    def correlation_jacobian(self, r: FloatArray) -> FloatArray:
        """``(n_corr, dim, dim)`` derivatives of the correlation matrix (central
        differences unless overridden)."""
        return matrix_jacobian(self.correlation_matrix, r, self.dim)

    # --- the CovarianceStructure interface --------------------------------------------
    @property
    def n_sd(self) -> int:
        return 1 if self.homogeneous else self.dim

    @property
    def n_params(self) -> int:
        return self.n_sd + self.n_corr()

    def param_names(self) -> list[str]:
        sds = ["sd"] if self.homogeneous else list(self.column_names)
        return sds + self.corr_param_names()

    def start(self) -> FloatArray:
        return np.concatenate([np.ones(self.n_sd), np.zeros(self.n_corr())])

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        lower = np.concatenate([np.zeros(self.n_sd), np.full(self.n_corr(), -np.inf)])
        return lower, np.full(self.n_params, np.inf)

    def _split(self, params: FloatArray) -> tuple[FloatArray, FloatArray]:
        params = np.asarray(params, dtype=np.float64)
        s = params[: self.n_sd]
        if self.homogeneous:
            s = np.repeat(s, self.dim)
        return s, params[self.n_sd :]

    def factor(self, params: FloatArray) -> FloatArray:
        s, r = self._split(params)
        if self.dim == 1:
            return s.reshape(1, 1).copy()
        return s[:, None] * self.correlation_cholesky(r)

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        s, r = self._split(params)
        d = self.dim
        out = np.zeros((self.n_params, d, d))
        Lc = np.ones((1, 1)) if d == 1 else self.correlation_cholesky(r)
        if self.homogeneous:
            out[0] = Lc
        else:
            idx = np.arange(d)
            out[idx, idx, :] = Lc
        if self.n_corr():
            dL = cholesky_derivative(Lc, self.correlation_jacobian(r))
            out[self.n_sd :] = s[None, :, None] * dL
        return out

    def covariance(self, params: FloatArray) -> FloatArray:
        lam = self.factor(params)
        return lam @ lam.T

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float, str]]:
        s, r = self._split(params)
        if self.homogeneous:
            out = [("sd", float(abs(s[0])), "sd")]
        else:
            out = [
                (f"sd({c})", float(abs(v)), "sd") for c, v in zip(self.column_names, s, strict=True)
            ]
        if self.dim > 1:
            out += [(name, float(v), "cor") for name, v in self.natural_correlation(r)]
        return out


class CompoundSymmetry(ScaledCorrelation):
    """Compound symmetry with heterogeneous variances (glmmTMB's ``cs``): one
    correlation ``rho`` between every pair of columns.

    ``rho = logistic(r) (1 + a) - a`` with ``a = 1 / (dim - 1)`` (glmmTMB's transform),
    so ``rho`` covers ``(-1/(dim-1), 1)``, where the matrix is positive definite.  As a
    residual correlation, nlme's ``corCompSymm``.
    """

    name: ClassVar[str] = "cs"

    def n_corr(self) -> int:
        return 0 if self.dim == 1 else 1

    def corr_param_names(self) -> list[str]:
        return ["rho"] if self.dim > 1 else []

    def rho(self, r: FloatArray) -> float:
        a = 1.0 / (self.dim - 1)
        return float(logistic(r[0]) * (1.0 + a) - a)

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        rho = self.rho(r)
        C = np.full((self.dim, self.dim), rho)
        np.fill_diagonal(C, 1.0)
        return C

    def correlation_jacobian(self, r: FloatArray) -> FloatArray:
        a = 1.0 / (self.dim - 1)
        g = float(logistic(r[0]))
        d = g * (1.0 - g) * (1.0 + a)
        J = np.full((1, self.dim, self.dim), d)
        J[0][np.diag_indices(self.dim)] = 0.0
        return J

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        return [("rho", self.rho(r))]

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return CompSymmResidual(cls.name, groups, **options)


class HomogeneousCompoundSymmetry(CompoundSymmetry):
    """Compound symmetry with one common variance (glmmTMB's ``homcs``)."""

    name: ClassVar[str] = "homcs"
    homogeneous: ClassVar[bool] = True


class GeneralSymmetric(ScaledCorrelation):
    """Heterogeneous variances and a general correlation matrix (nlme's ``corSymm``
    as a residual correlation).  The correlations come from canonical partial
    correlations ``tanh(r)``, so that every parameter vector gives a valid matrix; it
    describes the same covariances as ``us`` in SD/correlation form."""

    name: ClassVar[str] = "symm"

    def n_corr(self) -> int:
        return self.dim * (self.dim - 1) // 2

    def corr_param_names(self) -> list[str]:
        cols, rows = np.triu_indices(self.dim, 1)
        return [f"cpc({r + 1},{c + 1})" for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]

    def correlation_cholesky(self, r: FloatArray) -> FloatArray:
        return cpc_cholesky(np.tanh(np.asarray(r, dtype=np.float64)), self.dim)

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        L = self.correlation_cholesky(r)
        return L @ L.T

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        # The factor is closed form: central differences of it are accurate and cheap.
        return CovarianceStructure.factor_jacobian(self, params)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        C = self.correlation_matrix(r)
        names = self.column_names
        cols, rows = np.triu_indices(self.dim, 1)
        return [
            (f"cor({names[i]},{names[j]})", float(C[i, j]))
            for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
        ]

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return SymmResidual(cls.name, coords, groups, coord_names, **options)
