"""spaMM's field syntax, ``Matern(1 | x + y)``, in the formulas of ``mm.lmm`` / ``mm.glmm``.

The core's parser reads grouping factors right of ``|``, not coordinates, so each term
is rewritten to the glmmTMB form of the same model, ``mat(0 + Matern_x_y | Matern_field)``:
a location factor made by :func:`num_factor` (its levels carry the coordinates) and one
group.  The rewrite is registered as a formula rewriter (``mixedmodels_formula_rewriters``)
and is also public as :func:`from_spamm`.  spaMM's ``rho`` is ``1 / range``.
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pandas as pd

from mixedmodels import ModelSpecificationError

__all__ = ["SpammSyntax", "from_spamm"]

_KEYWORD = re.compile(r"(?<![\w.])(Matern|Cauchy|IMRF|MaternIMRFa)\s*\(")
_NAME = re.compile(r"^[A-Za-z_.][\w.]*$")


def _close(text: str, start: int) -> int:
    """Index of the parenthesis closing the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):  # a formula's characters (short)
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ModelSpecificationError(f"unbalanced parentheses after {text[:start]!r}")


def _coordinates(term: str, inner: str, data: pd.DataFrame) -> list[str]:
    """The coordinate columns of ``Matern(1 | x + y)``, checked against the data."""
    if inner.count("|") != 1 or "||" in inner:
        raise ModelSpecificationError(
            f"spaMM term {term!r}: write it as Matern(1 | x + y), one '|' with the "
            "coordinates on its right"
        )
    lhs, rhs = (part.strip() for part in inner.split("|"))
    if lhs != "1":
        raise ModelSpecificationError(
            f"spaMM term {term!r}: only a field on the intercept, Matern(1 | x + y), is "
            f"supported (got {lhs!r} left of '|')"
        )
    if "%in%" in rhs:
        raise ModelSpecificationError(
            f"spaMM term {term!r}: fields replicated within groups (%in%) are not supported; "
            "use mat(0 + location | group) with mixedmodels_spatial.num_factor()"
        )
    coords = [c.strip().strip("`") for c in rhs.split("+")]
    bad = [c for c in coords if not _NAME.match(c)]
    if bad or not coords:
        raise ModelSpecificationError(
            f"spaMM term {term!r}: the coordinates right of '|' must be column names, got {bad}"
        )
    missing = [c for c in coords if c not in data.columns]
    if missing:
        raise ModelSpecificationError(
            f"spaMM term {term!r}: coordinate columns {missing} are not in the data "
            f"(columns: {list(data.columns)})"
        )
    for c in coords:
        values = pd.to_numeric(data[c], errors="coerce").to_numpy(dtype=np.float64)
        wrong = ~np.isfinite(values)
        if wrong.any():
            row = data.index[int(np.flatnonzero(wrong)[0])]
            raise ModelSpecificationError(
                f"spaMM term {term!r}: coordinate column {c!r} has {int(wrong.sum())} "
                f"missing or non-numeric value(s) (first at row {row!r})"
            )
    return coords


def _rewrite(formula: str, data: pd.DataFrame) -> tuple[str, pd.DataFrame] | None:
    from ._numfactor import num_factor

    if _KEYWORD.search(formula) is None:
        return None
    out = data.copy()
    pieces: list[str] = []
    pos = 0
    for match in _KEYWORD.finditer(formula):  # the formula's terms (few)
        if match.start() < pos:
            continue  # inside a term already rewritten
        open_at = match.end() - 1
        close_at = _close(formula, open_at)
        term = formula[match.start() : close_at + 1]
        keyword = match.group(1)
        if keyword != "Matern":
            raise ModelSpecificationError(
                f"spaMM term {term!r}: only Matern(1 | x + y) fields are available "
                "(with mixedmodels-spatial); use Matern(), or exp()/gau()/mat() in "
                "glmmTMB's form"
            )
        coords = _coordinates(term, formula[open_at + 1 : close_at], out)
        column = "Matern_" + "_".join(coords)
        out[column] = num_factor(out, coords).to_numpy()
        out["Matern_field"] = "1"
        pieces += [formula[pos : match.start()], f"mat(0 + {column} | Matern_field)"]
        pos = close_at + 1
    pieces.append(formula[pos:])
    return "".join(pieces), out


class SpammSyntax:
    """The formula rewriter of spaMM's ``Matern(1 | x + y)`` (registered by the plugin)."""

    name: ClassVar[str] = "spamm"

    def rewrite(self, formula: str, data: pd.DataFrame) -> tuple[str, pd.DataFrame] | None:
        """``(formula, data)`` with spaMM's terms rewritten, ``None`` if it has none."""
        return _rewrite(formula, data)


def from_spamm(formula: str, data: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """Rewrite spaMM's ``Matern(1 | x + y)`` terms in glmmTMB's form.

    ``mm.lmm`` and ``mm.glmm`` read spaMM's terms themselves (this rewrite is registered
    with the core); the function shows what they fit.  Each term becomes
    ``mat(0 + Matern_x_y | Matern_field)``: a location factor made by :func:`num_factor`
    and one group (spaMM's ``rho`` is ``1 / range``).

    Returns
    -------
    (formula, data)
        The rewritten formula and a copy of the data with the added columns.

    Raises
    ------
    mixedmodels.ModelSpecificationError
        Naming the term: missing or non-numeric coordinate columns, a left-hand side
        other than ``1``, spaMM's other correlation families.

    Examples
    --------
    >>> import pandas as pd
    >>> f, d = from_spamm("y ~ x + Matern(1 | lon + lat)", pd.DataFrame(
    ...     {"y": [1.0, 2.0], "x": [0.0, 1.0], "lon": [0.0, 1.0], "lat": [0.0, 0.5]}))
    >>> f
    'y ~ x + mat(0 + Matern_lon_lat | Matern_field)'
    >>> d["Matern_lon_lat"].tolist()
    ['(0,0)', '(1,0.5)']
    """
    out = _rewrite(formula, data)
    if out is None:
        raise ModelSpecificationError(f"no spaMM field term (Matern(1 | x + y)) in {formula!r}")
    return out
