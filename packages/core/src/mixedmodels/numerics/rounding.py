"""R's ``zapsmall``: rounding relative to the largest magnitude.

One rule for the decimal places (:func:`zapsmall_digits`), shared by the array version
used for hypothesis matrices (:func:`zapsmall`, numpy's rounding) and the printed
summaries (:func:`mixedmodels.output.rformat._zapsmall`, R's rounding of each number).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ..interfaces import FloatArray

__all__ = ["zapsmall", "zapsmall_digits"]


def zapsmall_digits(values: ArrayLike, digits: int = 7) -> int:
    """The decimal places R's ``zapsmall(x, digits)`` rounds to: ``digits`` significant
    digits of the largest finite magnitude (``digits`` if there is none, or it is 0).

    Parameters
    ----------
    values
        The numbers (non-finite ones are ignored).
    digits
        Significant digits of the largest magnitude.

    Returns
    -------
    int
        Decimal places, at least 0.
    """
    x = np.asarray(values, dtype=np.float64)
    finite = np.abs(x[np.isfinite(x)])
    mx = float(finite.max()) if finite.size else 0.0
    return digits if mx <= 0 else max(0, math.floor(digits - math.log10(mx) + 0.5))


def zapsmall(x: FloatArray, digits: int = 7) -> FloatArray:
    """R's ``zapsmall`` of an array, rounded by :func:`numpy.round`.

    Parameters
    ----------
    x
        The array.
    digits
        Significant digits of the largest finite magnitude.

    Returns
    -------
    FloatArray
        ``x`` rounded to :func:`zapsmall_digits` decimal places.
    """
    return np.asarray(np.round(x, zapsmall_digits(x, digits)))
