"""Residual correlation structures and variance functions (nlme's ``correlation=`` and
``weights=``): the public names.

Implementation: :mod:`mixedmodels.structures.residual`.
"""

from __future__ import annotations

from .structures.residual import (
    BoundResidual,
    Correlation,
    ResidualSpecError,
    VarComb,
    VarConstPower,
    VarExp,
    VarFixed,
    VarianceFunction,
    VarIdent,
    VarPower,
    bind_residual,
    parse_correlation,
    parse_variance,
)

__all__ = [
    "BoundResidual",
    "Correlation",
    "ResidualSpecError",
    "VarComb",
    "VarConstPower",
    "VarExp",
    "VarFixed",
    "VarIdent",
    "VarPower",
    "VarianceFunction",
    "bind_residual",
    "parse_correlation",
    "parse_variance",
]
