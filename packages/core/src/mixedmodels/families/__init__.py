"""Response distributions and link functions.

:mod:`.distributions` holds the families, :mod:`.links` the links; both register
through the core's built-in plugin."""

from __future__ import annotations

from .distributions import (
    BUILTIN_FAMILIES,
    Binomial,
    Gamma,
    Gaussian,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
)
from .links import (
    BUILTIN_LINKS,
    CauchitLink,
    CloglogLink,
    IdentityLink,
    InverseLink,
    InverseSquaredLink,
    LogitLink,
    LogLink,
    ProbitLink,
    SqrtLink,
)

__all__ = [
    "BUILTIN_FAMILIES",
    "BUILTIN_LINKS",
    "Binomial",
    "CauchitLink",
    "CloglogLink",
    "Gamma",
    "Gaussian",
    "IdentityLink",
    "InverseGaussian",
    "InverseLink",
    "InverseSquaredLink",
    "LogLink",
    "LogitLink",
    "NegativeBinomial",
    "Poisson",
    "ProbitLink",
    "SqrtLink",
]
