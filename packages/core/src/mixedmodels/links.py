"""Public names of the built-in link functions.

Implementation: :mod:`mixedmodels.families.links`.
"""

from __future__ import annotations

from .families.links import (
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
