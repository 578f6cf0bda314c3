"""Data conversion: accepted data containers and R-like factor coding of columns.

:func:`as_pandas` turns the data containers the package accepts into a pandas
DataFrame.  :func:`factorize` codes one column as R's ``factor()`` would: level order
from a pandas Categorical when given, numeric order for numbers, code-point order
(R's sort in the C locale) for strings, ``FALSE``/``TRUE`` for booleans, and level
labels formatted as R's ``as.character`` formats them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["as_pandas", "drop_unused", "factorize", "format_levels", "r_format_number"]


def as_pandas(data: Any) -> pd.DataFrame:
    """Return ``data`` as a pandas DataFrame.

    Parameters
    ----------
    data
        A pandas DataFrame (returned as is, not copied; column names that are not
        strings, e.g. integers, are given as their text on a new frame), a polars DataFrame or a
        pyarrow Table / RecordBatch (converted once with ``to_pandas()``), or a mapping
        of column names to equal-length arrays.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    TypeError
        For any other type; the message names the type received.
    """
    if isinstance(data, pd.DataFrame):
        if all(isinstance(c, str) for c in data.columns):
            return data
        # Formulas name columns by strings: integer (or other) column names become their
        # text, on a new frame that shares the data (the user's frame is untouched).
        return data.set_axis([str(c) for c in data.columns], axis=1)
    module = type(data).__module__ or ""
    # polars is an optional dependency: recognise it without importing it.
    if module.split(".")[0] == "polars" and hasattr(data, "to_pandas"):
        out = data.to_pandas()
        if isinstance(out, pd.DataFrame):
            return out
    if module.split(".")[0] == "pyarrow":
        try:
            import pyarrow as pa
        except ImportError:  # pragma: no cover - module name says it is there
            pa = None
        if pa is not None and isinstance(data, (pa.Table, pa.RecordBatch)):
            return data.to_pandas()
    if isinstance(data, Mapping):
        return pd.DataFrame(dict(data))
    raise TypeError(
        "data must be a pandas DataFrame, a polars DataFrame, a pyarrow Table or a dict "
        f"of arrays; got {module + '.' if module and module != 'builtins' else ''}"
        f"{type(data).__qualname__}"
    )


# ---------------------------------------------------------------------------------
# R's formatting of numbers (as.character on doubles: 15 significant digits, fixed
# notation unless scientific notation is shorter).


def r_format_number(value: float) -> str:
    """Format one number as R's ``as.character`` does.

    Parameters
    ----------
    value
        The number.

    Returns
    -------
    str
        ``"2"``, ``"20.5"``, ``"1e+05"``, ``"1e-20"``, ``"NaN"``, ``"Inf"``.
    """
    v = float(value)
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    mantissa, exp_text = f"{v:.14e}".split("e")
    exponent = int(exp_text)
    neg = mantissa.startswith("-")
    digits = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    nsig = len(digits)
    sign = "-" if neg else ""
    # Scientific: d[.ddd]e+XX with at least two exponent digits.
    sci = digits[0] + ("." + digits[1:] if nsig > 1 else "")
    sci += "e" + ("-" if exponent < 0 else "+") + f"{abs(exponent):02d}"
    if exponent >= 0:
        if nsig <= exponent + 1:
            fixed = digits + "0" * (exponent + 1 - nsig)
        else:
            fixed = digits[: exponent + 1] + "." + digits[exponent + 1 :]
    else:
        fixed = "0." + "0" * (-exponent - 1) + digits
    # R prefers fixed notation on ties (scipen = 0).
    return sign + (fixed if len(fixed) <= len(sci) else sci)


def _format_integers(values: NDArray[Any], as_double: bool) -> NDArray[np.str_]:
    """Vectorised R formatting of integer values (doubles use R's fixed/sci rule)."""
    ints = values.astype(np.int64)
    text = ints.astype(str)
    if not as_double:
        return text
    # A double is shown in scientific notation when that is shorter: 1e+05, 2.5e+07.
    mag = np.char.lstrip(text, "-")
    ndig = np.char.str_len(mag)
    nsig = np.char.str_len(np.char.rstrip(mag, "0"))
    exponent = ndig - 1
    sci_len = nsig + (nsig > 1) + 2 + np.maximum(2, np.char.str_len(exponent.astype(str)))
    use_sci = (ints != 0) & (ndig > sci_len)
    if not use_sci.any():
        return text
    out = text.astype(object)
    for i in np.flatnonzero(use_sci):  # rare: only levels like 1e+05
        out[i] = r_format_number(float(values[i]))
    return out.astype(str)


def format_levels(values: Any) -> list[str]:
    """Format level values (categories or sorted uniques) as R labels.

    Parameters
    ----------
    values
        Array-like of level values: strings, numbers or booleans.

    Returns
    -------
    list of str
    """
    arr = np.asarray(values)
    if arr.dtype == bool:
        return ["TRUE" if v else "FALSE" for v in arr.tolist()]
    if arr.dtype.kind in "iu":
        return [str(s) for s in _format_integers(arr, as_double=False).tolist()]
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if finite.all() and np.all(arr == np.round(arr)) and np.all(np.abs(arr) < 1e15):
            return [str(s) for s in _format_integers(arr, as_double=True).tolist()]
        # Non-integer doubles as a factor are rare; format them one by one.
        return [r_format_number(v) for v in arr.tolist()]
    if arr.dtype.kind == "U" or pd.api.types.infer_dtype(arr, skipna=False) == "string":
        return [str(v) for v in arr.tolist()]
    out = []
    for v in arr.tolist():
        if isinstance(v, (bool, np.bool_)):
            out.append("TRUE" if v else "FALSE")
        elif isinstance(v, (float, np.floating)):
            out.append(r_format_number(float(v)))
        else:
            out.append(str(v))
    return out


def factorize(series: pd.Series) -> tuple[NDArray[np.int64], list[str], bool]:
    """Code a column as an R factor.

    Parameters
    ----------
    series
        The column.

    Returns
    -------
    codes
        ``(n,)`` int64 index into ``levels``; ``-1`` where the value is missing.
    levels
        R level labels in R's order.
    ordered
        Whether the column is an ordered Categorical.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(series.cat.codes, dtype=np.int64)
        levels = format_levels(np.asarray(dtype.categories))
        if len(set(levels)) != len(levels):
            codes, levels = _dedupe(codes, levels), _uniq(levels)
        return codes, levels, bool(dtype.ordered)
    if pd.api.types.is_bool_dtype(dtype):
        # Plain or nullable booleans: R's logical becomes a factor FALSE/TRUE.
        miss = series.isna().to_numpy()
        flags = series.to_numpy(dtype=bool, na_value=False)
        return np.where(miss, -1, flags.astype(np.int64)), ["FALSE", "TRUE"], False
    if pd.api.types.is_numeric_dtype(dtype):
        # Numbers sort numerically (R's factor() of a numeric vector).
        numeric = series.to_numpy(dtype=np.float64, na_value=np.nan)
        num_codes, num_uniques = pd.factorize(numeric, sort=True)
        uniq = np.asarray(num_uniques)
        if pd.api.types.is_integer_dtype(dtype):
            uniq = uniq.astype(np.int64)
        return np.asarray(num_codes, dtype=np.int64), format_levels(uniq), False
    values: Any = series
    mixed = pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(
        series, skipna=True
    ) not in ("string", "empty")
    if mixed:
        # Mixed objects: R would see their printed form.
        values = series.astype("str").where(series.notna())
    codes, uniques = pd.factorize(values, sort=True)
    labels = np.asarray(uniques, dtype=object).tolist()
    return np.asarray(codes, dtype=np.int64), [str(u) for u in labels], False


def _uniq(levels: list[str]) -> list[str]:
    """Distinct labels in first-seen order."""
    return list(dict.fromkeys(levels))


def _dedupe(codes: NDArray[np.int64], levels: list[str]) -> NDArray[np.int64]:
    """Merge categories whose R labels coincide (e.g. 0.3 and 0.1 + 0.2)."""
    if len(set(levels)) == len(levels):
        return codes
    uniq = _uniq(levels)
    pos = {lab: i for i, lab in enumerate(uniq)}
    remap = np.array([pos[lab] for lab in levels] + [-1], dtype=np.int64)
    return remap[codes]


def drop_unused(
    codes: NDArray[np.int64], levels: list[str]
) -> tuple[NDArray[np.int64], list[str], NDArray[np.int64]]:
    """Drop levels that no row uses (R's ``droplevels``).

    Parameters
    ----------
    codes
        ``(n,)`` codes, all ``>= 0``.
    levels
        Level labels.

    Returns
    -------
    codes, levels
        Recoded values and the kept labels, in the original order.
    kept
        Indices of the kept levels in the original ``levels``.
    """
    counts = np.bincount(codes, minlength=len(levels))
    used = counts > 0
    if used.all():
        return codes, levels, np.arange(len(levels), dtype=np.int64)
    kept = np.flatnonzero(used).astype(np.int64)
    remap = np.cumsum(used, dtype=np.int64) - 1
    return remap[codes], [levels[i] for i in kept.tolist()], kept
