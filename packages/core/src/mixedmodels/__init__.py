"""mixedmodels: linear and generalized linear mixed models, with plugins.

Attributes are imported on first use so that ``import mixedmodels`` stays fast and
discovers no plugin until one is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "lmm": "._api",
    "glmm": "._api",
    "GLMMResult": "._glmm_results",
    "tidy": "._api",
    "glance": "._api",
    "augment": "._api",
    "anova": "._anova",
    "check": "._check",
    "RefitMLWarning": "._anova",
    "Model": ".model",
    "LMMResult": ".results",
    "gls": "._gls",
    "GLSResult": "._gls",
    "plugins": "._plugins",
    "hookimpl": ".hookspec",
    "coef_table": "._ddf",
    "contest": "._ddf",
    "vcov_kenward_roger": "._ddf",
    "bootstrap": "._bootstrap",
    "BootstrapResult": "._bootstrap",
    "pb_modcomp": "._bootstrap",
    "exact_rlrt": "._rlrt",
    "RLRTResult": "._rlrt",
    "emmeans": "._emmeans",
    "contrasts": "._emmeans",
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
    "GLMMResult",
    "GLSResult",
    "LMMResult",
    "Model",
    "RLRTResult",
    "RefitMLWarning",
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
    "plugins",
    "residual",
    "testing",
    "tidy",
    "vcov_kenward_roger",
]

if TYPE_CHECKING:
    from . import datasets, extending, residual, testing
    from ._anova import RefitMLWarning, anova
    from ._api import augment, glance, glmm, lmm, tidy
    from ._bootstrap import BootstrapResult, bootstrap, pb_modcomp
    from ._check import check
    from ._ddf import coef_table, contest, vcov_kenward_roger
    from ._emmeans import contrasts, emmeans
    from ._glmm_results import GLMMResult
    from ._gls import GLSResult, gls
    from ._plugins import plugins
    from ._rlrt import RLRTResult, exact_rlrt
    from .hookspec import hookimpl
    from .model import Model
    from .results import LMMResult


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
