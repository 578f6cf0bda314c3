"""glmmTMB's families for mixedmodels.

Installing this plugin registers, through the ``mixedmodels_families`` hook, the
families that the core's general Laplace engine fits (``mm.glmm(..., family="nbinom1",
ziformula="~ 1", dispformula="~ x")``): ``nbinom2``, ``nbinom1``, ``genpois``,
``truncated_nbinom2``, ``truncated_poisson``, ``beta``, ``tweedie``, ``t``, ``nbinom12``,
``compois``, ``betabinomial``, ``ordbeta``, ``lognormal``, and the engine's
Poisson and gaussian (``tmb_poisson``, ``tmb_gaussian``: zero-inflated Poisson and
gaussian location-scale models).
"""

__version__ = "0.1.0"

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
from ._registry import FAMILIES
from ._unit import OrdBetaFamily

__all__ = [
    "FAMILIES",
    "BetaBinomialFamily",
    "BetaFamily",
    "CompoisFamily",
    "GaussianTMBFamily",
    "GenPoissonFamily",
    "LognormalFamily",
    "NBinom1Family",
    "NBinom2Family",
    "NBinom12Family",
    "OrdBetaFamily",
    "PoissonTMBFamily",
    "StudentTFamily",
    "TruncatedNBinom2Family",
    "TruncatedPoissonFamily",
    "TweedieFamily",
    "__version__",
]
