"""The family classes this plugin registers."""

from __future__ import annotations

from mixedmodels.interfaces import ConditionalFamily

from ._continuous import BetaFamily, GaussianTMBFamily, StudentTFamily, TweedieFamily
from ._counts import (
    GenPoissonFamily,
    NBinom1Family,
    NBinom2Family,
    PoissonTMBFamily,
    TruncatedNBinom2Family,
    TruncatedPoissonFamily,
)

__all__ = ["FAMILIES"]

FAMILIES: list[type[ConditionalFamily]] = [
    NBinom2Family,
    NBinom1Family,
    GenPoissonFamily,
    TruncatedNBinom2Family,
    TruncatedPoissonFamily,
    PoissonTMBFamily,
    BetaFamily,
    TweedieFamily,
    StudentTFamily,
    GaussianTMBFamily,
]
