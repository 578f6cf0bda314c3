"""Likelihood-ratio tests between nested mixed models, as lme4's ``anova(m0, m1)``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["RefitMLWarning", "anova"]


class RefitMLWarning(UserWarning):
    """REML fits were refitted by maximum likelihood before comparing them (lme4's
    "refitting model(s) with ML (instead of REML)")."""


def _refit_ml(result: Any) -> Any:
    """The ML refit of a REML fit (same model, same optimiser options)."""
    from .estimators import fit_lmm

    return fit_lmm(result.model, reml=False)


def _response_signature(result: Any) -> tuple[str | None, np.ndarray]:
    model = result.model
    name = getattr(getattr(model, "design", None), "response_name", None)
    return name, np.asarray(model.response, dtype=float)


def _check_comparable(fits: Sequence[Any], names: Sequence[str]) -> None:
    nobs = [int(f.nobs) for f in fits]
    if len(set(nobs)) > 1:
        detail = ", ".join(f"{n}: {k}" for n, k in zip(names, nobs, strict=True))
        raise ValueError(
            f"models were not all fitted to the same number of observations ({detail}); "
            "refit them to the same rows (e.g. drop rows with missing values first)"
        )
    ref_name, ref_y = _response_signature(fits[0])
    for name, fit in zip(names[1:], fits[1:], strict=True):
        other_name, y = _response_signature(fit)
        if (ref_name is not None and other_name is not None and ref_name != other_name) or (
            y.shape != ref_y.shape or not np.array_equal(y, ref_y, equal_nan=True)
        ):
            raise ValueError(
                f"models {names[0]!r} and {name!r} have different responses "
                f"({ref_name!r} and {other_name!r}, or different values); "
                "likelihood-ratio tests need the same response on the same rows"
            )
        rows0 = getattr(getattr(fits[0].model, "design", None), "row_index", None)
        rows = getattr(getattr(fit.model, "design", None), "row_index", None)
        if rows0 is not None and rows is not None and not rows0.equals(rows):
            raise ValueError(
                f"models {names[0]!r} and {name!r} were fitted to different rows of the data"
            )


def anova(*fits: Any, refit: bool = True, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Likelihood-ratio tests between nested models, as lme4's ``anova(m0, m1, ...)``.

    Parameters
    ----------
    *fits
        Two or more fitted models (e.g. :class:`~mixedmodels.LMMResult`) of the same
        response on the same observations.
    refit
        Refit REML fits by maximum likelihood first (default, as lme4; a
        :class:`RefitMLWarning` says so).  REML likelihoods of models with different
        fixed effects are not comparable; ``refit=False`` compares the criteria as
        they are (sensible only for models that differ in random effects alone).
    names
        Row names, one per fit in the order given; default ``"m0"``, ``"m1"``, ...

    Returns
    -------
    pandas.DataFrame
        One row per model, sorted by number of parameters (``npar``), with columns
        ``npar``, ``AIC``, ``BIC``, ``logLik``, ``deviance`` (``-2 logLik``),
        ``Chisq`` (twice the increase in log-likelihood over the previous row, floored
        at 0), ``Df`` (difference in ``npar``) and ``Pr(>Chisq)`` (upper tail of the
        chi-squared distribution).  The first row's test columns are ``NaN``.
        ``attrs["heading"]`` holds lme4's heading lines (``Models:``, ``m0: formula``).

    Raises
    ------
    NotImplementedError
        For a single model (lme4's F-test table needs denominator degrees of freedom,
        which come with the inference module).
    ValueError
        If the models differ in number of observations, rows or response, or the
        names are not one per model.

    Examples
    --------
    >>> import mixedmodels as mm  # doctest: +SKIP
    >>> sleep = mm.datasets.load("sleepstudy")
    >>> m0 = mm.lmm("Reaction ~ Days + (1 | Subject)", sleep, reml=False)
    >>> m1 = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep, reml=False)
    >>> mm.anova(m0, m1)["Chisq"].iloc[1]  # doctest: +SKIP
    42.139...
    """
    if len(fits) == 0:
        raise ValueError("anova() needs at least two fitted models to compare")
    if len(fits) == 1:
        raise NotImplementedError(
            "anova() of a single model (F tests of its fixed-effect terms, lme4's "
            "one-model table) needs denominator degrees of freedom (Satterthwaite / "
            "Kenward-Roger), which come with the inference module; pass two or more "
            "nested models for likelihood-ratio tests"
        )
    labels = [f"m{i}" for i in range(len(fits))] if names is None else [str(n) for n in names]
    if len(labels) != len(fits):
        raise ValueError(f"names has {len(labels)} entries for {len(fits)} models")
    if len(set(labels)) != len(labels):
        raise ValueError(f"model names must be unique, got {labels}")
    _check_comparable(fits, labels)

    models = list(fits)
    reml = [bool(getattr(f, "reml", False)) for f in models]
    if refit and any(reml):
        warnings.warn("refitting model(s) with ML (instead of REML)", RefitMLWarning, stacklevel=2)
        models = [_refit_ml(f) if r else f for f, r in zip(models, reml, strict=True)]
    elif any(reml) and not all(reml):
        warnings.warn("some models fit with REML, some not", UserWarning, stacklevel=2)

    npar = np.array([int(f.df) for f in models])
    order = np.argsort(npar, kind="stable")
    models = [models[i] for i in order]
    labels = [labels[i] for i in order]
    npar = npar[order]
    loglik = np.array([float(f.loglik) for f in models])
    chisq = np.concatenate([[np.nan], 2.0 * np.maximum(0.0, np.diff(loglik))])
    dfs = np.concatenate([[np.nan], np.diff(npar).astype(float)])
    with np.errstate(invalid="ignore"):
        pval = np.where(dfs == 0, np.nan, stats.chi2.sf(chisq, np.where(dfs > 0, dfs, np.nan)))
    table = pd.DataFrame(
        {
            "npar": npar,
            "AIC": [float(f.aic) for f in models],
            "BIC": [float(f.bic) for f in models],
            "logLik": loglik,
            "deviance": -2.0 * loglik,
            "Chisq": chisq,
            "Df": dfs,
            "Pr(>Chisq)": pval,
        },
        index=pd.Index(labels),
    )
    table.attrs["heading"] = ["Models:"] + [
        f"{label}: {f.model.formula}" for label, f in zip(labels, models, strict=True)
    ]
    return table
