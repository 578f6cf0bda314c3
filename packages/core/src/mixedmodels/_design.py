"""Model matrices for a mixed-model formula: the contract between formulas and fitters.

:func:`build_design` turns an lme4-syntax formula and a data frame into a
:class:`Design`: the response, the fixed-effects matrix with R's column names and
order, and one :class:`RandomTerm` per random-effect term (after expanding ``||`` and
``/``), with missing values dropped (and counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["Design", "RandomTerm", "build_design"]


@dataclass
class RandomTerm:
    """One random-effect term ``(expr | group)`` as lme4 sees it.

    Attributes
    ----------
    group_name
        lme4's name of the grouping factor: ``"Subject"``, ``"cask:batch"`` for the
        inner term of ``(1 | batch/cask)``, ``"dept:service"`` for ``(1 | dept:service)``.
    column_names
        R names of the term's columns: ``["(Intercept)", "Days"]``.
    structure
        Name of the covariance structure (``"us"`` unless wrapped, e.g. ``diag(x | g)``).
    codes
        ``(n,)`` int64: index into ``levels`` for each used row.
    levels
        Level labels (strings) of the grouping factor, in R's order (Categorical order
        when given, sorted otherwise; for an interaction, the observed combinations in
        R's ``interaction()`` order with unused combinations dropped).
    Z
        ``(n, dim)`` float64 raw model matrix of the term's left-hand side.
    expr
        The term as written after expansion, e.g. ``"0 + Days | Subject"``.
    """

    group_name: str
    column_names: list[str]
    structure: str
    codes: NDArray[np.int64]
    levels: list[str]
    Z: NDArray[np.float64]
    expr: str
    #: Opaque state used by ``new_data`` to rebuild Z for other data.
    spec: Any = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        return int(self.Z.shape[1])

    @property
    def n_levels(self) -> int:
        return len(self.levels)


@dataclass
class Design:
    """Everything a fitter needs from the formula and data.

    Attributes
    ----------
    formula
        The formula as given.
    response_name
        Name of the response as written (``"Reaction"``, ``"cbind(incidence, size -
        incidence)"``).
    y
        ``(n,)`` float64 response; ``(n, 2)`` successes/failures for ``cbind``.
    X
        ``(n, p)`` float64 fixed-effects matrix in R's column order.
    fixef_names
        R's column names (``"(Intercept)"``, ``"recipeB"``, ``"temperature.L"``,
        ``"recipeB:temperature.L"``, ``"I(Days^2)"``).
    terms
        Random-effect terms in formula order.
    offset
        ``(n,)`` offset from ``offset()`` terms in the formula, or ``None``.
    row_index
        Index labels of the rows of the original data that were used.
    n_dropped
        Number of rows dropped because a used column had a missing value.
    """

    formula: str
    response_name: str
    y: NDArray[np.float64]
    X: NDArray[np.float64]
    fixef_names: list[str]
    terms: list[RandomTerm]
    offset: NDArray[np.float64] | None
    row_index: pd.Index
    n_dropped: int
    #: Opaque state used by ``fixed_matrix``/``random_matrices`` for new data.
    spec: Any = field(default=None, repr=False)

    @property
    def n_obs(self) -> int:
        return int(self.X.shape[0])


def build_design(formula: str, data: pd.DataFrame) -> Design:  # pragma: no cover - stub
    """Build the :class:`Design` of ``formula`` on ``data``."""
    raise NotImplementedError
