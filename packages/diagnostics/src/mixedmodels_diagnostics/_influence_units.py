"""What an influence analysis deletes and compares: the results it can analyse, the
deletion units (observations or the levels of a grouping factor) and the variance
components whose relative change (RVC) it reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MEASURES", "deletion_units", "is_glmm", "unsupported_reason", "varcomp"]

MEASURES = ["cooks_distance", "mdffits", "covratio", "covtrace"]


def unsupported_reason(result: Any) -> str | None:
    """Why ``result`` cannot be analysed (``None`` if it can); never raises."""
    try:
        from mixedmodels import GLMMResult, LMMResult
    except ImportError:  # pragma: no cover - the core always exports both
        return "mixedmodels is not importable"
    if not isinstance(result, LMMResult | GLMMResult):
        return f"influence needs a fitted LMMResult or GLMMResult, not a {type(result).__name__}"
    model = getattr(result, "model", None)
    if model is None or not getattr(model, "terms", None):
        return "the model has no random-effect terms"
    if getattr(model, "extras", None):
        return (
            "models with residual correlation or variance structures "
            f"({sorted(model.extras)}) are not supported"
        )
    return None


def is_glmm(result: Any) -> bool:
    from mixedmodels import GLMMResult

    return isinstance(result, GLMMResult)


def deletion_units(result: Any, group: str | None) -> tuple[str, pd.Index, list[np.ndarray]]:
    """Name of the level, labels of the units, and the row positions of each unit."""
    model = result.model
    n = int(result.nobs)
    if group is None:
        index = pd.Index(model.design.row_index, name="observation")
        return "observation", index, [np.array([i]) for i in range(n)]
    if not isinstance(group, str):
        raise TypeError(f"group must be a grouping-factor name or None, got {group!r}")
    terms = [t for t in model.terms if t.group_name == group]
    if not terms:
        known = list(dict.fromkeys(t.group_name for t in model.terms))
        raise ValueError(
            f"unknown grouping factor {group!r}; the model's grouping factors are {known}"
        )
    term = terms[0]
    codes = np.asarray(term.codes)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(term.n_levels + 1))
    rows = [order[bounds[k] : bounds[k + 1]] for k in range(term.n_levels)]
    return group, pd.Index(list(term.levels), name=group), rows


def varcomp(fit: Any) -> pd.Series:
    """Each random-effect covariance's lower triangle (column-major, as HLMdiag's
    ``varcomp.mer``), then the residual variance or dispersion."""
    names: list[str] = []
    values: list[float] = []
    for group, cov in fit.covariance_matrices().items():
        c = cov.to_numpy()
        cols = list(cov.columns)
        for j in range(len(cols)):
            for i in range(j, len(cols)):
                kind = f"var_{cols[i]}" if i == j else f"cov_{cols[i]}.{cols[j]}"
                names.append(f"{kind}|{group}")
                values.append(float(c[i, j]))
    if not is_glmm(fit):
        names.append("sigma2")
        values.append(float(fit.sigma) ** 2)
    elif getattr(fit, "dispersion", None) is not None:
        names.append("dispersion")
        values.append(float(fit.dispersion))
    return pd.Series(values, index=names, dtype=float)
