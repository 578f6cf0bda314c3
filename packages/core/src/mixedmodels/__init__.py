"""mixedmodels: linear and generalized linear mixed models, with plugins.

Attributes are imported on first use so that ``import mixedmodels`` stays fast and
discovers no plugin until one is needed.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

# Reports that are not a function's requested output (progress records) are logged;
# a library leaves the handlers to the application.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

_LAZY = {
    "lmm": ".api",
    "glmm": ".api",
    "GLMMResult": ".results",
    "tidy": ".api",
    "glance": ".api",
    "augment": ".api",
    "anova": ".inference.anova",
    "check": ".checks",
    "RefitMLWarning": ".inference.anova",
    "Model": ".model",
    "LMMResult": ".results",
    "gls": ".api",
    "GLSResult": ".results",
    "plugins": ".plugin_manager.manager",
    "hookimpl": ".hookspec",
    "coef_table": ".inference.ddf",
    "contest": ".inference.ddf",
    "vcov_kenward_roger": ".inference.ddf",
    "bootstrap": ".inference.bootstrap",
    "BootstrapResult": ".inference.bootstrap",
    "pb_modcomp": ".inference.bootstrap",
    "exact_rlrt": ".inference.rlrt",
    "RLRTResult": ".inference.rlrt",
    "emmeans": ".inference.emmeans",
    "contrasts": ".inference.emmeans",
    "table": ".output.regression_table",
    "plot_coefficients": ".output.coefficient_plot",
    "plot_caterpillar": ".output.coefficient_plot",
    "ConvergenceWarning": ".errors",
    "DroppedRowsWarning": ".errors",
    "FitError": ".errors",
    "MixedModelsError": ".errors",
    "MixedModelsWarning": ".errors",
    "ModelSpecificationError": ".errors",
    "SingularFitWarning": ".errors",
}
_SUBMODULES = {
    "datasets",
    "extending",
    "testing",
    "interfaces",
    "hookspec",
    "covariance",
    "formula",
    "residual",
}

__all__ = [
    "BootstrapResult",
    "ConvergenceWarning",
    "DroppedRowsWarning",
    "FitError",
    "GLMMResult",
    "GLSResult",
    "LMMResult",
    "MixedModelsError",
    "MixedModelsWarning",
    "Model",
    "ModelSpecificationError",
    "RLRTResult",
    "RefitMLWarning",
    "SingularFitWarning",
    "__version__",
    "anova",
    "augment",
    "bootstrap",
    "check",
    "coef_table",
    "contest",
    "contrasts",
    "datasets",
    "emmeans",
    "exact_rlrt",
    "extending",
    "glance",
    "glmm",
    "gls",
    "hookimpl",
    "lmm",
    "pb_modcomp",
    "plot_caterpillar",
    "plot_coefficients",
    "plugins",
    "residual",
    "table",
    "testing",
    "tidy",
    "vcov_kenward_roger",
]

if TYPE_CHECKING:
    from . import datasets, extending, residual, testing
    from .api import augment, glance, glmm, gls, lmm, tidy
    from .checks import check
    from .errors import (
        ConvergenceWarning,
        DroppedRowsWarning,
        FitError,
        MixedModelsError,
        MixedModelsWarning,
        ModelSpecificationError,
        SingularFitWarning,
    )
    from .hookspec import hookimpl
    from .inference.anova import RefitMLWarning, anova
    from .inference.bootstrap import BootstrapResult, bootstrap, pb_modcomp
    from .inference.ddf import coef_table, contest, vcov_kenward_roger
    from .inference.emmeans import contrasts, emmeans
    from .inference.rlrt import RLRTResult, exact_rlrt
    from .model import Model
    from .output.coefficient_plot import plot_caterpillar, plot_coefficients
    from .output.regression_table import table
    from .plugin_manager.manager import plugins
    from .results import GLMMResult, GLSResult, LMMResult


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mixedmodels' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
