"""mixedmodels-diagnostics: model checks for mixedmodels results.

What DHARMa, performance, HLMdiag and influence.ME give R users: simulation-based
scaled residuals and their tests, ICC and Nakagawa's R², singularity / overdispersion /
collinearity / convergence checks, observation- and group-level influence, and
matplotlib plots.  Every check is registered through the ``mixedmodels_diagnostics``
hook, so ``mixedmodels.check(fit)`` runs all that apply; each is also callable alone.

Attributes are imported on first use, so importing the package is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    # simulation-based scaled residuals (DHARMa)
    "ScaledResiduals": "._residuals",
    "simulate_residuals": "._simulate",
    "test_uniformity": "._residual_tests",
    "test_dispersion": "._residual_tests",
    "test_zero_inflation": "._residual_tests",
    "test_outliers": "._residual_tests",
    "test_quantiles": "._quantile_test",
    "test_temporal_autocorrelation": "._autocorrelation_tests",
    "test_spatial_autocorrelation": "._autocorrelation_tests",
    # summary statistics (performance)
    "icc": "._variance_ratios",
    "icc_beta": "._variance_ratios",
    "r2_nakagawa": "._variance_ratios",
    "variance_decomposition": "._variance_components",
    "check_singularity": "._singularity",
    "check_overdispersion": "._checks",
    "check_collinearity": "._checks",
    "check_convergence": "._checks",
    "check_zero_inflation": "._checks",
    # influence (HLMdiag, influence.ME)
    "InfluenceResult": "._influence",
    "influence": "._influence",
    # plots (matplotlib, optional)
    "plot_residuals": "._residual_plots",
    "plot_qq": "._residual_plots",
    "plot_residuals_vs_predicted": "._residual_plots",
    "plot_caterpillar": "._effect_plots",
    "plot_influence": "._effect_plots",
}

__all__ = [
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

if TYPE_CHECKING:
    from ._autocorrelation_tests import (
        test_spatial_autocorrelation,
        test_temporal_autocorrelation,
    )
    from ._checks import (
        check_collinearity,
        check_convergence,
        check_overdispersion,
        check_zero_inflation,
    )
    from ._effect_plots import plot_caterpillar, plot_influence
    from ._influence import InfluenceResult, influence
    from ._quantile_test import test_quantiles
    from ._residual_plots import plot_qq, plot_residuals, plot_residuals_vs_predicted
    from ._residual_tests import (
        test_dispersion,
        test_outliers,
        test_uniformity,
        test_zero_inflation,
    )
    from ._residuals import ScaledResiduals
    from ._simulate import simulate_residuals
    from ._singularity import check_singularity
    from ._variance_components import variance_decomposition
    from ._variance_ratios import icc, icc_beta, r2_nakagawa


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mixedmodels_diagnostics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
