"""The user-facing functions re-exported from :mod:`mixedmodels`."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .model import Model

__all__ = ["augment", "glance", "lmm", "tidy"]


def lmm(
    formula: str,
    data: Any,
    reml: bool = True,
    weights: Any = None,
    offset: Any = None,
    **options: Any,
) -> Any:
    """Fit a linear mixed model, as lme4's ``lmer``.

    Parameters
    ----------
    formula
        lme4-syntax formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data
        pandas DataFrame (polars DataFrame or pyarrow Table accepted).
    reml
        Restricted maximum likelihood (default) or, if false, maximum likelihood.
    weights
        Prior weights (column name or array).
    offset
        Offset (column name or array), added to any ``offset()`` in the formula.
    **options
        Passed to the estimator: ``optimizer`` (``"auto"``, ``"lbfgsb"``,
        ``"cobyqa"``), ``start`` (theta), ``check`` (convergence check).

    Returns
    -------
    LMMResult

    Examples
    --------
    >>> import mixedmodels as mm
    >>> fit = mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    >>> round(fit.fixef["Days"], 4)
    10.4673
    """
    model = Model(formula, data, family="gaussian", weights=weights, offset=offset)
    return model.fit(method="reml" if reml else "ml", **options)


def _tidier_verb(result: Any, verb: str) -> Any:
    from . import _plugins

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
