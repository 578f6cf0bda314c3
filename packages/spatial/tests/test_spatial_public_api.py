"""The public API of mixedmodels_spatial, pinned, and its imports of the core: public
modules only."""

from __future__ import annotations

import mixedmodels_spatial

from mixedmodels.testing import check_public_imports

ALL = [
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


def test_all_is_pinned() -> None:
    assert sorted(mixedmodels_spatial.__all__) == ALL
    for name in mixedmodels_spatial.__all__:
        assert name in dir(mixedmodels_spatial)


def test_plugin_imports_only_public_core_modules() -> None:
    check_public_imports("mixedmodels_spatial")
