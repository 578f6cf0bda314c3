"""Unstructured and diagonal covariances of random effects, parameterised by lme4's
``theta`` (the relative covariance factor's entries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..interfaces import CovarianceStructure, FloatArray, ResidualCorrelation
from .corstruct import SymmResidual

__all__ = ["Diagonal", "HomogeneousDiagonal", "Unstructured"]


class Unstructured(CovarianceStructure):
    """General positive semi-definite covariance (lme4's default, glmmTMB's ``us``).

    Parameters are the lower triangle of the Cholesky factor in column-major order,
    lme4's ``theta``: for a 2 x 2 term ``[l11, l21, l22]``.  Diagonal elements are
    bounded below by zero; the off-diagonal ones are free.  As a residual correlation
    (``correlation="us(visit | id)"``) it is nlme's general ``corSymm``, as ``symm``.
    """

    name: ClassVar[str] = "us"

    def __init__(self, dim: int, column_names: Sequence[str] | None = None) -> None:
        super().__init__(dim, column_names)
        # Column-major order of the lower triangle (lme4's theta order).
        cols, rows = np.triu_indices(self.dim)
        self._rows, self._cols = rows, cols

    def _tril(self) -> tuple[np.ndarray, np.ndarray]:
        return self._rows, self._cols

    @property
    def n_params(self) -> int:
        return self.dim * (self.dim + 1) // 2

    def param_names(self) -> list[str]:
        rows, cols = self._tril()
        names = self.column_names
        return [
            names[r] if r == c else f"{names[r]}.{names[c]}"
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
        ]

    def start(self) -> FloatArray:
        rows, cols = self._tril()
        return (rows == cols).astype(np.float64)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        rows, cols = self._tril()
        lower = np.where(rows == cols, 0.0, -np.inf)
        return lower, np.full(self.n_params, np.inf)

    def factor(self, params: FloatArray) -> FloatArray:
        lam = np.zeros((self.dim, self.dim))
        lam[self._rows, self._cols] = params
        return lam

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        jac = np.zeros((self.n_params, self.dim, self.dim))
        jac[np.arange(self.n_params), self._rows, self._cols] = 1.0
        return jac

    def params_from_covariance(self, cov: FloatArray) -> FloatArray:
        """Parameters whose factor reproduces the positive definite ``cov``."""
        lam = np.linalg.cholesky(np.asarray(cov, dtype=np.float64))
        rows, cols = self._tril()
        return np.asarray(lam[rows, cols], dtype=np.float64)

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return SymmResidual(cls.name, coords, groups, coord_names, **options)


class Diagonal(CovarianceStructure):
    """Independent random effects with their own variances (``diag``, lme4's ``||``)."""

    name: ClassVar[str] = "diag"

    @property
    def n_params(self) -> int:
        return self.dim

    def param_names(self) -> list[str]:
        return list(self.column_names)

    def start(self) -> FloatArray:
        return np.ones(self.dim)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.zeros(self.dim), np.full(self.dim, np.inf)

    def factor(self, params: FloatArray) -> FloatArray:
        return np.diag(np.asarray(params, dtype=np.float64))

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        jac = np.zeros((self.dim, self.dim, self.dim))
        idx = np.arange(self.dim)
        jac[idx, idx, idx] = 1.0
        return jac

    def params_from_covariance(self, cov: FloatArray) -> FloatArray:
        """Square roots of the diagonal of ``cov`` (off-diagonals must be zero)."""
        return np.sqrt(np.diag(np.asarray(cov, dtype=np.float64)))

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float, str]]:
        p = np.abs(np.asarray(params, dtype=np.float64))
        return [(f"sd({c})", float(s), "sd") for c, s in zip(self.column_names, p, strict=True)]


class HomogeneousDiagonal(CovarianceStructure):
    """Independent random effects with one common variance (glmmTMB's ``homdiag``)."""

    name: ClassVar[str] = "homdiag"

    @property
    def n_params(self) -> int:
        return 1

    def param_names(self) -> list[str]:
        return ["sd"]

    def start(self) -> FloatArray:
        return np.ones(1)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.zeros(1), np.full(1, np.inf)

    def factor(self, params: FloatArray) -> FloatArray:
        return float(params[0]) * np.eye(self.dim)

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        return np.eye(self.dim)[None]

    def params_from_covariance(self, cov: FloatArray) -> FloatArray:
        return np.sqrt(np.array([float(np.mean(np.diag(np.asarray(cov, dtype=np.float64))))]))

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float, str]]:
        return [("sd", float(abs(params[0])), "sd")]
