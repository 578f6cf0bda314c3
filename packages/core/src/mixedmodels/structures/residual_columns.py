"""The data columns a residual structure uses: checked for presence and missing
values, numeric covariates, and strata coded as R's interaction of factors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..interfaces import FloatArray
from .residual_syntax import ResidualSpecError

__all__ = ["data_column", "numeric_column", "strata_codes"]


def data_column(frame: pd.DataFrame, rows: pd.Index, col: str, what: str) -> pd.Series:
    """Column ``col`` on the rows used; absent or with missing values: an error naming ``what``."""
    if col not in frame.columns:
        raise ResidualSpecError(f"{what}: column {col!r} not found in data")
    values = frame.loc[rows, col]
    if values.isna().any():
        raise ResidualSpecError(
            f"{what}: column {col!r} has {int(values.isna().sum())} missing values among "
            "the rows used"
        )
    return values


def numeric_column(frame: pd.DataFrame, rows: pd.Index, col: str, what: str) -> FloatArray:
    """Column ``col`` on the rows used as finite floats."""
    values = data_column(frame, rows, col, what)
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ResidualSpecError(f"{what}: column {col!r} must be numeric") from err
    if not np.all(np.isfinite(out)):
        raise ResidualSpecError(f"{what}: column {col!r} has infinite values")
    return out


def _label(value: Any) -> str:
    """A level label as R prints it (``10``, not ``10.0``)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def strata_codes(
    frame: pd.DataFrame, rows: pd.Index, cols: list[str], what: str
) -> tuple[NDArray[np.int64], list[str]]:
    """Codes and labels of the interaction of ``cols`` (levels in factor order)."""
    if not cols:
        return np.zeros(len(rows), dtype=np.int64), ["all"]
    series = [data_column(frame, rows, c, what) for c in cols]
    keys = pd.DataFrame({c: s.reset_index(drop=True) for c, s in zip(cols, series, strict=True)})
    grouped = keys.groupby(cols, sort=True, observed=True)
    codes = grouped.ngroup().to_numpy().astype(np.int64)
    labels = [
        ":".join(_label(v) for v in key) if isinstance(key, tuple) else _label(key)
        for key in grouped.size().index
    ]
    return codes, labels
