"""mixedmodels-spatial: spatial covariance structures for mixedmodels.

Residual correlations as nlme's ``correlation=`` (``exp``, ``gau``, ``spher``,
``ratio``, ``lin``, ``mat``; options ``nugget``, ``nu``, ``metric``, ``anisotropy``),
Gaussian random fields as glmmTMB's ``exp(pos + 0 | group)``, nearest-neighbour
Gaussian processes (Vecchia) for large data, kriging and variograms.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._fit import SpatialFit, spatial_lmm
from ._functions import matern
from ._glmm import SpatialGLMMFit, spatial_glmm
from ._kriging import krige
from ._numfactor import num_factor
from ._report import glmmtmb_theta
from ._spamm import from_spamm
from ._structures import STRUCTURES, SpatialField, SpatialResidual
from ._variogram import model_variogram, morans_i, plot_variogram, variogram

__version__ = "0.1.0"

__all__ = [
    "STRUCTURES",
    "SpatialField",
    "SpatialFit",
    "SpatialGLMMFit",
    "SpatialResidual",
    "__version__",
    "from_spamm",
    "glmmtmb_theta",
    "krige",
    "matern",
    "model_variogram",
    "morans_i",
    "num_factor",
    "plot_variogram",
    "spatial_glmm",
    "spatial_lmm",
    "variogram",
]

try:
    __version__ = version("mixedmodels-spatial")
except PackageNotFoundError:  # pragma: no cover - a source checkout
    __version__ = "0.0.0"
