"""Public names of the built-in covariance structures.

Implementation: :mod:`mixedmodels.structures.covariance`.
"""

from __future__ import annotations

from .structures.covariance import (
    AR1,
    ARMA,
    BUILTIN_STRUCTURES,
    CAR1,
    CompoundSymmetry,
    Diagonal,
    GeneralSymmetric,
    HomogeneousCompoundSymmetry,
    HomogeneousDiagonal,
    ScaledCorrelation,
    Toeplitz,
    Unstructured,
    arma_acf,
    pacf_to_ar,
)

__all__ = [
    "AR1",
    "ARMA",
    "BUILTIN_STRUCTURES",
    "CAR1",
    "CompoundSymmetry",
    "Diagonal",
    "GeneralSymmetric",
    "HomogeneousCompoundSymmetry",
    "HomogeneousDiagonal",
    "ScaledCorrelation",
    "Toeplitz",
    "Unstructured",
    "arma_acf",
    "pacf_to_ar",
]
