"""mixedmodels_diagnostics: its public API, pinned, and its imports of the core (public only)."""

from __future__ import annotations

import mixedmodels_diagnostics

from mixedmodels.testing import check_public_imports

ALL = [
    "InfluenceResult",
    "ScaledResiduals",
    "__version__",
    "check_collinearity",
    "check_convergence",
    "check_overdispersion",
    "check_singularity",
    "check_zero_inflation",
    "icc",
    "icc_beta",
    "influence",
    "plot_caterpillar",
    "plot_influence",
    "plot_qq",
    "plot_residuals",
    "plot_residuals_vs_predicted",
    "r2_nakagawa",
    "simulate_residuals",
    "test_dispersion",
    "test_outliers",
    "test_quantiles",
    "test_spatial_autocorrelation",
    "test_temporal_autocorrelation",
    "test_uniformity",
    "test_zero_inflation",
    "variance_decomposition",
]


def test_all_is_pinned() -> None:
    assert sorted(mixedmodels_diagnostics.__all__) == ALL
    for name in mixedmodels_diagnostics.__all__:
        assert getattr(mixedmodels_diagnostics, name) is not None or name == "__version__"
        assert name in dir(mixedmodels_diagnostics)


def test_plugin_imports_only_public_core_modules() -> None:
    check_public_imports("mixedmodels_diagnostics")
