"""Building blocks for plugin authors.

What the core's own inference and the bundled plugins share, kept stable here so that a
plugin never imports a private module: parallel replicate maps (the bootstrap's process
pool, reproducible whatever the number of workers), refits to a new response, the
assignment of fixed-effect columns to formula terms (R's ``assign``), R's number
formatting for printed tables, and finite-difference derivatives with bounds; the
:class:`Summary` a result's ``summary()`` returns (text that notebooks show as HTML) and
the :class:`Tabular` model every table format renders (``render_table(tab, "html")``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .data_sources import data_source_for
from .estimators import announce as announce_fit
from .generalized.chunked import ChunkedGLMMProblem
from .generalized.chunked import combine as combine_chunks
from .generalized.criterion import GLMMProblem
from .generalized.family_parameter import fit_glmm_dispersion, fit_glmm_nb
from .generalized.fit import fit_glmm
from .generalized.standardized import StandardizedGLMMProblem
from .interfaces import FloatArray
from .linear.cross_products import CrossProducts, lmm_cross_products, uses_dense
from .linear.fit import criterion_from_cross_products, fit_lmm_criterion
from .linear.layout import TermData
from .linear.standardize import ColumnMoments, standardize_from_moments
from .numerics.derivatives import finite_difference_derivatives
from .output.report import Summary
from .output.tabular import Section, Tabular
from .output.tabular import render as render_table

__all__ = [
    "ChunkedGLMMProblem",
    "ColumnMoments",
    "CrossProducts",
    "FixedTermAssignment",
    "GLMMProblem",
    "Section",
    "StandardizedGLMMProblem",
    "Summary",
    "Tabular",
    "TermData",
    "announce_fit",
    "combine_chunks",
    "criterion_from_cross_products",
    "data_source_for",
    "finite_difference_derivatives",
    "fit_glmm",
    "fit_glmm_dispersion",
    "fit_glmm_nb",
    "fit_lmm_criterion",
    "fixed_matrix",
    "fixed_term_assignment",
    "format_coefmat",
    "format_matrix",
    "lmm_cross_products",
    "parallel_map",
    "r_format",
    "r_round",
    "refit",
    "render_table",
    "standardize_from_moments",
    "uses_dense",
]


def parallel_map(
    task: Callable[[int], Any],
    n: int,
    n_jobs: int | None = 1,
    progress: Any = False,
    label: str = "",
) -> list[Any]:
    """``[task(i) for i in range(n)]``, in order, over worker processes.

    Parameters
    ----------
    task
        Function of the replicate index.  Workers are forked where the platform can
        (no pickling of ``task``), with one BLAS thread each.  Make results depend on
        ``i`` only (e.g. ``numpy.random.default_rng([seed, i])``) and they are the same
        for every ``n_jobs``.
    n
        Number of replicates.
    n_jobs
        Worker processes: 1 (default) runs in this process, ``-1`` all cores.
    progress
        ``True`` for a progress bar on stderr (as the bootstrap's), ``False`` for none.
    label
        Shown before the progress bar.
    """
    from .inference.bootstrap import _map, _workers

    return _map(task, int(n), _workers(n_jobs), progress, label)


def refit(result: Any, y: FloatArray, check: bool = False) -> Any:
    """The model of ``result`` fitted again, by the same method, to the response ``y``,
    starting from its estimates (lme4's ``refit(fit, newresp)``).

    ``check=True`` also runs the convergence check (and, for GLMMs, the Hessian-based
    covariance of the fixed effects)."""
    from .inference.bootstrap import refit as _refit

    return _refit(result, y, check=check)


class FixedTermAssignment:
    """Which formula term each fixed-effect column belongs to (R's ``assign``).

    Attributes
    ----------
    labels : list of str
        Term labels in formula order (``"Days"``, ``"period"``, ``"x:g"``).
    assign : numpy.ndarray
        For each column of the model's fixed-effects matrix, the index into ``labels``,
        or ``-1`` for the intercept.
    has_intercept : bool
    """

    def __init__(self, labels: Sequence[str], assign: FloatArray, has_intercept: bool) -> None:
        self.labels = list(labels)
        self.assign = np.asarray(assign, dtype=np.int64)
        self.has_intercept = bool(has_intercept)

    def columns(self, label: str) -> list[int]:
        """Column indices of the term ``label``."""
        if label not in self.labels:
            raise KeyError(f"no fixed-effect term {label!r}; terms: {self.labels}")
        return [int(j) for j in np.flatnonzero(self.assign == self.labels.index(label))]

    def __repr__(self) -> str:
        return f"FixedTermAssignment(labels={self.labels}, assign={self.assign.tolist()})"


def fixed_term_assignment(model: Any) -> FixedTermAssignment:
    """The term of every fixed-effect column of ``model`` (a :class:`~mixedmodels.Model`
    or a fitted result), after rank-deficient columns were dropped.

    Raises
    ------
    ValueError
        If the columns cannot be mapped to the formula's terms.
    """
    from .design.terms import fixed_terms

    model = getattr(model, "model", model)
    ft = fixed_terms(model)
    return FixedTermAssignment(ft.labels, ft.assign, ft.intercept)


def fixed_matrix(model: Any, newdata: Any) -> tuple[FloatArray, FloatArray | None]:
    """The fixed-effect model matrix and offset of ``model`` evaluated on ``newdata``:
    the model's columns (rank-deficient ones dropped, as fitted), its contrasts and
    data-dependent transforms; for predictions of plugins (kriging, ...).

    Parameters
    ----------
    model
        A :class:`~mixedmodels.Model` or a fitted result (its ``model``).
    newdata
        A data frame with the formula's fixed-effect columns.

    Returns
    -------
    (X, offset)
        ``X`` is ``(len(newdata), p)`` in the order of ``model.fixef_names``; ``offset``
        is ``None`` when the model has none.
    """
    from .design.data import as_pandas

    model = getattr(model, "model", model)
    frame = as_pandas(newdata)
    Xfull = model.design.fixed_matrix(frame)
    keep = [model.design.fixef_names.index(c) for c in model.fixef_names]
    return np.asarray(Xfull[:, keep], dtype=np.float64), model.design.offset_for(frame)


def r_format(values: Sequence[float], digits: int = 7, nsmall: int = 0) -> list[str]:
    """R's ``format(x, digits = digits, nsmall = nsmall)`` for a numeric vector: one
    common format, padded to a common width."""
    from .output.rformat import _r_format

    return _r_format(values, digits=digits, nsmall=nsmall)


def r_round(x: float, digits: int) -> float:
    """R's ``round(x, digits)``."""
    from .output.rformat import _r_round

    return _r_round(x, digits)


def format_matrix(
    rownames: Sequence[str],
    colnames: Sequence[str],
    cells: Sequence[Sequence[str]],
    right: bool = True,
) -> str:
    """R's ``print(<character matrix>, quote = FALSE, right = right)``."""
    from .output.rformat import _print_matrix

    return _print_matrix(rownames, colnames, cells, right)


def format_coefmat(
    rownames: Sequence[str], colnames: Sequence[str], values: Any, digits: int = 5
) -> str:
    """R's ``printCoefmat(x, digits = digits)`` with its defaults: estimates and standard
    errors formatted together, the statistic column, and a last ``Pr(...)`` column as
    p-values with significance stars and their legend (when any p < 0.1)."""
    from .output.rformat import _print_coefmat

    return _print_coefmat(rownames, colnames, values, digits)
