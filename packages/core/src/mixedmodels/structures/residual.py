"""Residual structures: correlation within groups and variance functions (nlme's
``correlation=`` and ``weights=``).

Both are arguments of :func:`mixedmodels.lmm` and :func:`mixedmodels.gls`, given as
strings in a small formula-like language or as the objects those strings name::

    mm.lmm("distance ~ age + Sex + (1 | Subject)", orthodont,
           correlation="ar1(age | Subject)", variance="ident(1 | Sex)")
    mm.gls("distance ~ age + Sex", orthodont, correlation="cs(1 | Subject)")
    mm.lmm(..., correlation=Correlation("arma", time="visit", group="id", p=1, q=1),
           variance=VarPower("age") * VarIdent("Sex"))

**Correlation** ``name(time | group, option = value, ...)``: ``name`` is any registered
covariance structure that has a residual use (:meth:`~mixedmodels.interfaces.
CovarianceStructure.residual_correlation`): built in, ``ar1`` (nlme's ``corAR1``), ``arma``
(``corARMA``; options ``p`` and ``q``), ``car1`` (``corCAR1``, continuous time), ``cs``
(``corCompSymm``), ``symm`` or ``us`` (``corSymm``), ``toep`` (one correlation per lag);
plugins add others (spatial ones with several coordinates: ``exp(x + y | site)``).
``time`` is a covariate (``1`` or left out: the order of the rows within the group);
``group`` one column or an interaction ``a:b`` / ``a/b`` (the innermost level).  Without
a group an LMM uses the grouping factor of its random-effect term with the most levels,
as nlme does, and a GLS treats all observations as one group.

**Variance** ``term * term ...``, each term one of (``v`` a numeric covariate or
``fitted``, ``g`` strata, a factor or an interaction):

==========================  ============================  =====================
string                      residual SD proportional to   nlme
==========================  ============================  =====================
``ident(1 | g)``            ``delta_g`` (first level 1)   ``varIdent``
``power(v)``/``power(v|g)`` ``|v|^delta``                 ``varPower``
``power()``                 ``|fitted|^delta``            ``varPower()``
``exp(v)``                  ``exp(delta v)``              ``varExp``
``constpower(v)``           ``c + |v|^delta``             ``varConstPower``
``fixed(v)``                ``sqrt(v)`` (no parameter)    ``varFixed``
==========================  ============================  =====================

and a product of terms is nlme's ``varComb``.  Prior weights multiply in as
``1 / sqrt(w)``.

The pieces: the string language (:mod:`.residual_syntax`), correlation specifications
(:mod:`.correlation`), variance functions (:mod:`.variance`), the bound structure and
whitening (:mod:`.whitening`); this module binds specifications to the data
(:func:`bind_residual`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..interfaces import FloatArray, ResidualCorrelation
from .correlation import Correlation, parse_correlation
from .residual_columns import data_column, numeric_column, strata_codes
from .residual_syntax import ResidualSpecError, coord_columns, group_columns
from .variance import (
    VarComb,
    VarConstPower,
    VarExp,
    VarFixed,
    VarianceFunction,
    VarIdent,
    VarPower,
    parse_variance,
)
from .whitening import BoundResidual

__all__ = [
    "BoundResidual",
    "Correlation",
    "ResidualSpecError",
    "VarComb",
    "VarConstPower",
    "VarExp",
    "VarFixed",
    "VarIdent",
    "VarPower",
    "VarianceFunction",
    "bind_residual",
    "parse_correlation",
    "parse_variance",
]


def _check_ties(
    groups: NDArray[np.int64],
    coords: FloatArray,
    labels: list[str],
    what: str,
    coord_names: list[str],
    group_names: list[str],
) -> None:
    order = np.lexsort((*coords.T[::-1], groups))
    g = groups[order]
    c = coords[order]
    same = (g[1:] == g[:-1]) & np.all(c[1:] == c[:-1], axis=1)
    if np.any(same):
        i = int(np.flatnonzero(same)[0])
        n_bad = int(np.unique(g[1:][same]).size)
        value = ", ".join(f"{v:g}" for v in c[i + 1])
        raise ResidualSpecError(
            f"{what}: the time covariate {' + '.join(coord_names)!r} has duplicate values "
            f"within groups of {':'.join(group_names) or 'the data'!r} ({n_bad} groups; "
            f"first: group {labels[int(g[i])]!r} has two observations at {value}); each "
            "observation of a group needs its own time"
        )


def bind_residual(
    correlation: Any,
    variance: Any,
    frame: pd.DataFrame,
    rows: pd.Index,
    default_group: list[str] | None,
    weights: FloatArray | None = None,
) -> BoundResidual:
    """Resolve the ``correlation`` and ``variance`` specifications on the rows used.

    ``default_group``: the grouping columns used when the correlation names none
    (``None``: all observations form one group).  Structure names are looked up in
    the covariance-structure registry (a name nobody registered is a clear error that
    lists the registered ones).
    """
    from ..plugin_manager import manager as _plugins

    n = len(rows)
    corr_obj: ResidualCorrelation | None = None
    groups = coords = None
    corr_label = ""
    group_labels: list[str] | None = None
    if correlation is not None:
        spec = parse_correlation(correlation)
        corr_label = f"correlation {spec}"
        cls = (
            _plugins.get_covariance_structure(spec.structure)
            if isinstance(spec.structure, str)
            else spec.structure
        )
        gcols = group_columns(spec.group) if spec.group is not None else list(default_group or [])
        groups, group_labels = strata_codes(frame, rows, gcols, corr_label)
        tcols = coord_columns(spec.time)
        if tcols:
            cols = []
            for c in tcols:
                values = data_column(frame, rows, c, corr_label)
                if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
                    cols.append(pd.Categorical(values).codes.astype(np.float64))
                else:
                    cols.append(numeric_column(frame, rows, c, corr_label))
            coords = np.column_stack(cols)
            coord_names = tcols
        else:
            # Position of each row within its group, in data order (nlme's ~1 | g).
            order = np.argsort(groups, kind="stable")
            sizes = np.bincount(groups)
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            pos = np.empty(n)
            pos[order] = np.arange(n) - np.repeat(starts, sizes)
            coords = (pos + 1.0)[:, None]
            coord_names = ["<row order>"]
        try:
            corr_obj = cls.residual_correlation(coords, groups, coord_names, **spec.options)
        except TypeError as err:
            raise ResidualSpecError(f"{corr_label}: {err}") from err
        except ValueError as err:
            raise ResidualSpecError(f"{corr_label}: {err}") from err
        if not getattr(corr_obj, "name", ""):
            corr_obj.name = spec.name
        if not corr_obj.allows_ties:
            _check_ties(groups, coords, group_labels, corr_label, coord_names, gcols)
    variances = []
    if variance is not None:
        variances = [f.bind(frame, rows) for f in parse_variance(variance)]
    return BoundResidual(n, corr_obj, corr_label, groups, coords, variances, weights, group_labels)
