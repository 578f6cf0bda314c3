"""glmmTMB's ``numFactor``: a factor whose levels carry coordinates, ``(x,y)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["num_factor"]


def num_factor(data: pd.DataFrame, columns: Sequence[str] | str) -> pd.Series:
    """A location factor for a spatial random field, as glmmTMB's ``numFactor``.

    Parameters
    ----------
    data
        The data.
    columns
        The coordinate columns (one or more).

    Returns
    -------
    pandas.Series
        Strings ``"(x,y)"``; use the column as ``exp(pos + 0 | group)``, where the
        structure reads each location's coordinates back from the column names.

    Examples
    --------
    >>> import pandas as pd
    >>> num_factor(pd.DataFrame({"x": [1.5, 2.0], "y": [0.0, 3.25]}), ["x", "y"]).tolist()
    ['(1.5,0)', '(2,3.25)']
    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"coordinate columns {missing} are not in the data")
    values = data[cols].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"coordinate column {cols[j]!r} has missing values (row {i})")
    text = np.vectorize(lambda v: format(v, ".15g"))(values) if values.size else values
    joined = [",".join(row) for row in np.asarray(text, dtype=str).tolist()]
    return pd.Series([f"({s})" for s in joined], index=data.index, name="pos")
