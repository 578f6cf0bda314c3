"""The broom verbs ``tidy``, ``glance`` and ``augment``: dispatch to the tidier
registered (by the core or a plugin) for the result's type.

Re-exported as :func:`mixedmodels.tidy`, :func:`mixedmodels.glance` and
:func:`mixedmodels.augment`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["augment", "glance", "tidy"]


def _tidier_verb(result: Any, verb: str) -> Any:
    from ..plugin_manager import manager as _plugins

    tidier = _plugins.get_tidier(result)
    fn = getattr(tidier, verb)
    if fn is None:
        raise TypeError(f"{type(result).__name__} has no registered {verb}()")
    return fn


def tidy(result: Any, **options: Any) -> pd.DataFrame:
    """One row per estimated parameter, with broom.mixed's columns and term names.

    Dispatches to the tidier registered for the result's type (core or plugin).
    """
    return _tidier_verb(result, "tidy")(result, **options)


def glance(result: Any, **options: Any) -> pd.DataFrame:
    """One-row model summary (nobs, sigma, logLik, AIC, BIC, deviance, df.residual)."""
    return _tidier_verb(result, "glance")(result, **options)


def augment(result: Any, **options: Any) -> pd.DataFrame:
    """The data with fitted values and residuals (``.fitted``, ``.resid``, ...)."""
    return _tidier_verb(result, "augment")(result, **options)
