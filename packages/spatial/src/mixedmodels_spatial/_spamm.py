"""spaMM's field syntax, ``Matern(1 | x + y)``, rewritten to the glmmTMB form that the
core's formula parser reads (its right of ``|`` holds grouping factors, not
coordinates)."""

from __future__ import annotations

import re

import pandas as pd

from ._numfactor import num_factor

__all__ = ["from_spamm"]

_TERM = re.compile(r"\b(Matern)\s*\(\s*1\s*\|\s*([A-Za-z_][\w.]*(?:\s*\+\s*[A-Za-z_][\w.]*)*)\s*\)")
_NAMES = {"Matern": "mat"}


def from_spamm(formula: str, data: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """Rewrite spaMM's ``Matern(1 | x + y)`` terms for :func:`mixedmodels.lmm` /
    :func:`mixedmodels.glmm`.

    Each term becomes ``mat(0 + pos_x_y | field_)``: a location factor made by
    :func:`num_factor` and one group, glmmTMB's form of the same model (spaMM's
    ``rho`` is ``1 / range``).

    Returns
    -------
    (formula, data)
        The rewritten formula and a copy of the data with the added columns.

    Examples
    --------
    >>> import pandas as pd
    >>> f, d = from_spamm("y ~ x + Matern(1 | lon + lat)", pd.DataFrame(
    ...     {"y": [1.0, 2.0], "x": [0.0, 1.0], "lon": [0.0, 1.0], "lat": [0.0, 0.5]}))
    >>> f
    'y ~ x + mat(0 + pos_lon_lat | field_)'
    >>> d["pos_lon_lat"].tolist()
    ['(0,0)', '(1,0.5)']
    """
    out = data.copy()

    def rewrite(match: re.Match[str]) -> str:
        coords = [c.strip() for c in match.group(2).split("+")]
        missing = [c for c in coords if c not in out.columns]
        if missing:
            raise KeyError(f"{match.group(0)!r}: coordinate columns {missing} are not in the data")
        column = "pos_" + "_".join(coords)
        out[column] = num_factor(out, coords).to_numpy()
        out["field_"] = "1"
        return f"{_NAMES[match.group(1)]}(0 + {column} | field_)"

    text = _TERM.sub(rewrite, formula)
    if text == formula:
        raise ValueError(f"no spaMM field term (Matern(1 | x + y)) in {formula!r}")
    return text, out
