"""The family classes this plugin registers."""

from __future__ import annotations

from mixedmodels.interfaces import ConditionalFamily

from ._binomial import BetaBinomialFamily
from ._compois import CompoisFamily
from ._continuous import (
    BetaFamily,
    GaussianTMBFamily,
    LognormalFamily,
    StudentTFamily,
    TweedieFamily,
)
from ._counts import (
    GenPoissonFamily,
    NBinom1Family,
    NBinom2Family,
    NBinom12Family,
    PoissonTMBFamily,
    TruncatedNBinom2Family,
    TruncatedPoissonFamily,
)
from ._unit import OrdBetaFamily

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
    NBinom12Family,
    CompoisFamily,
    BetaBinomialFamily,
    OrdBetaFamily,
    LognormalFamily,
]
