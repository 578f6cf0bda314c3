"""The ordered response: checks and integer codes, with errors that say what to do."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["ordinal_response", "response_name"]


def response_name(formula: str) -> str:
    """The left-hand side of ``formula`` (a column name)."""
    if "~" not in formula:
        raise ValueError(f"formula {formula!r} has no '~'")
    lhs = formula.split("~", 1)[0].strip()
    if not lhs:
        raise ValueError("clmm needs a response: write 'rating ~ ...'")
    if not re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*", lhs):
        raise ValueError(
            f"the response of a clmm must be a column (an ordered factor), not {lhs!r}"
        )
    return lhs


def ordinal_response(data: pd.DataFrame, name: str) -> tuple[pd.Series, list[str]]:
    """The response column as integer codes ``0..K-1`` (missing stays missing) and the
    level labels in order.

    Raises
    ------
    ValueError
        The column is missing, is not an *ordered* categorical (the message shows how to
        make it one), has fewer than two levels, or has a level that never occurs.
    """
    if name not in data.columns:
        raise ValueError(f"response column {name!r} not found in data")
    col = data[name]
    if not isinstance(col.dtype, pd.CategoricalDtype) or not col.cat.ordered:
        present = pd.unique(col.dropna())
        try:
            shown = sorted(present.tolist())
        except TypeError:
            shown = list(present)
        shown = [str(s) for s in shown][:10]
        kind = (
            "an unordered factor"
            if isinstance(col.dtype, pd.CategoricalDtype)
            else f"of type {col.dtype}"
        )
        raise ValueError(
            f"response {name!r} is {kind}; a cumulative link model needs an ordered "
            f"factor whose level order is the order of the categories. Order it, e.g. "
            f"data[{name!r}] = pd.Categorical(data[{name!r}], categories={shown!r}, "
            f"ordered=True) (with the categories listed from lowest to highest)"
        )
    levels = [str(c) for c in col.cat.categories]
    if len(levels) < 2:
        raise ValueError(f"response {name!r} needs at least two levels, has {levels}")
    codes = col.cat.codes.to_numpy()
    counts = np.bincount(codes[codes >= 0], minlength=len(levels))
    empty = [levels[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise ValueError(
            f"response {name!r}: level(s) {empty} never occur, so their thresholds are "
            f"not identified; drop them with data[{name!r}] = "
            f"data[{name!r}].cat.remove_unused_categories() (or merge them with a "
            f"neighbouring category)"
        )
    out = pd.Series(np.where(codes >= 0, codes, np.nan), index=data.index, dtype=float)
    return out, levels
