"""Model matrices for a mixed-model formula: the contract between formulas and fitters.

:func:`build_design` turns an lme4-syntax formula and a data frame into a
:class:`Design`: the response, the fixed-effects matrix with R's column names and
order, and one :class:`RandomTerm` per random-effect term (after expanding ``||`` and
``/``), with missing values dropped (and counted).

The model matrix of one right-hand side is built by :mod:`.model_matrix` (with R's
coding from :mod:`.contrasts` and formulaic's evaluation from :mod:`.expressions`), the
response, offsets and grouping factors by :mod:`.variables`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import ModelSpecificationError
from ..formula.deparse import expr_variables
from ..formula.parse import parse_formula
from ..formula.tokens import FormulaError, tokenize
from .contrasts import CONTRASTS, normalize_contrast
from .data import as_pandas, factorize
from .expressions import known_names
from .model_matrix import ModelMatrix
from .variables import GroupingFactor, NumericExpression

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

    @property
    def response_levels(self) -> list[str] | None:
        """``[failure, success]`` when the response is a two-level factor, the ordered
        categories of an ordered factor response with more levels, else ``None``.

        A two-level response is coded 0/1 in :attr:`y` (1 = second level), as glmer's
        binomial family does; an ordered one 0..K-1 (estimators for ordinal responses
        use it; the linear and GLMM estimators refuse it).
        """
        spec = self.spec
        return getattr(spec, "response_levels", None)

    def fixed_matrix(self, newdata: Any) -> NDArray[np.float64]:
        """The fixed-effects matrix of ``newdata`` (same columns as :attr:`X`).

        Factors keep the fitted levels and contrasts; a missing value gives a row of
        NaN (rows are never dropped).

        Parameters
        ----------
        newdata
            Anything :func:`mixedmodels.design.data.as_pandas` accepts.

        Returns
        -------
        ndarray
            ``(len(newdata), len(fixef_names))``.

        Raises
        ------
        ValueError
            If a factor has a level not seen in fitting (naming column and level) or a
            needed column is absent.
        """
        spec = _spec_of(self)
        return spec.fixed.new_matrix(as_pandas(newdata))

    def random_matrices(self, newdata: Any) -> list[tuple[NDArray[np.float64], NDArray[np.int64]]]:
        """Per random term, ``(Z, codes)`` for ``newdata``.

        ``codes`` index the fitted term's :attr:`RandomTerm.levels`; ``-1`` marks a level
        not seen in fitting (or a missing grouping value).

        Parameters
        ----------
        newdata
            Anything :func:`mixedmodels.design.data.as_pandas` accepts.

        Returns
        -------
        list of (ndarray, ndarray)
            In the order of :attr:`terms`.
        """
        frame = as_pandas(newdata)
        out = []
        for term in self.terms:
            tspec: _TermSpec = term.spec
            out.append((tspec.lhs.new_matrix(frame), tspec.group.new_codes(frame)))
        return out

    def response_for(self, newdata: Any) -> NDArray[np.float64]:
        """The response evaluated on ``newdata``, as :attr:`y` (``(n, 2)`` for ``cbind``;
        a two-level factor response coded 0/1 with the fitted levels; NaN where missing
        or, for a factor response, a level not seen in fitting).

        Parameters
        ----------
        newdata
            Anything :func:`mixedmodels.design.data.as_pandas` accepts.
        """
        spec = _spec_of(self)
        frame = as_pandas(newdata)
        parts = []
        for r in spec.responses:
            if r.levels is not None:
                col = frame[r.columns[0]]
                values = col.astype(str).to_numpy()
                y = np.where(values == str(r.levels[1]), 1.0, 0.0)
                known = np.isin(values, [str(v) for v in r.levels]) & ~col.isna().to_numpy()
                y[~known] = np.nan
                parts.append(y)
            else:
                parts.append(np.asarray(r.new_values(frame), dtype=np.float64))
        return parts[0] if len(parts) == 1 else np.column_stack(parts)

    def offset_for(self, newdata: Any) -> NDArray[np.float64] | None:
        """The formula's ``offset()`` terms evaluated on ``newdata`` (``None`` if none).

        Parameters
        ----------
        newdata
            Anything :func:`mixedmodels.design.data.as_pandas` accepts.

        Returns
        -------
        ndarray or None
        """
        spec = _spec_of(self)
        if not spec.offsets:
            return None
        frame = as_pandas(newdata)
        return np.sum([o.new_values(frame) for o in spec.offsets], axis=0)


@dataclass
class _TermSpec:
    """What a :class:`RandomTerm` needs for new data."""

    lhs: ModelMatrix
    group: GroupingFactor


@dataclass
class _DesignSpec:
    """What a :class:`Design` needs for new data."""

    fixed: ModelMatrix
    offsets: list[NumericExpression]
    columns: list[str]
    #: Levels (failure, success) of a two-level factor response, the categories of an
    #: ordered factor response with more levels, else None.
    response_levels: list[str] | None = None
    #: The response's parts (one, or the two of ``cbind``), for new data.
    responses: list[NumericExpression] = field(default_factory=list)


def _spec_of(design: Design) -> _DesignSpec:
    if not isinstance(design.spec, _DesignSpec):
        raise ModelSpecificationError(
            "this Design was not made by build_design; it cannot take new data"
        )
    return design.spec


# ---------------------------------------------------------------------------------
# build_design


def _columns_of(expr: str, frame: pd.DataFrame, what: str) -> list[str]:
    """The data columns an expression uses; unknown names raise FormulaError."""
    known: set[str] | None = None
    out: list[str] = []
    for name in expr_variables(expr):
        if name in frame.columns:
            # pandas caches is_unique; comparing the whole Index costs ~0.3 ms a name
            count = 1 if frame.columns.is_unique else int(np.sum(frame.columns == name))
            if count > 1:
                raise FormulaError(
                    f"column {name!r} ({what}) appears {count} times in data; column names "
                    "must be unique: rename or drop the duplicates"
                )
            out.append(name)
            continue
        if known is None:
            known = known_names() | set(CONTRASTS)  # C(x, contr.sum)
        if name in known:
            continue
        if name.startswith("contr."):
            raise FormulaError(f"unknown contrast {name!r} ({what}); use one of {list(CONTRASTS)}")
        if name == ".":
            raise FormulaError(
                f"'.' (all other columns) is not supported ({what}); name the columns"
            )
        avail = ", ".join(map(str, list(frame.columns)[:40]))
        more = ", ..." if len(frame.columns) > 40 else ""
        raise FormulaError(f"column {name!r} ({what}) not found in data; available: {avail}{more}")
    return out


def _missing(col: pd.Series) -> NDArray[np.bool_]:
    """``col.isna()`` as a numpy array, without pandas' dispatch for numpy columns."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "f":
            return np.isnan(col.to_numpy())
        if dtype.kind in "iub":
            return np.zeros(len(col), dtype=bool)
    if isinstance(dtype, pd.CategoricalDtype):  # missing values have code -1
        return np.asarray(col.array.codes) < 0  # type: ignore[attr-defined]
    return np.asarray(col.isna().to_numpy(), dtype=bool)


def _is_column(expr: str, frame: pd.DataFrame) -> bool:
    toks = tokenize(expr)
    if len(toks) != 1 or toks[0].kind not in ("name", "bq"):
        return False
    name = toks[0].text[1:-1] if toks[0].kind == "bq" else toks[0].text
    return name in frame.columns


def build_design(formula: str, data: Any, contrasts: dict[str, str] | None = None) -> Design:
    """Build the :class:`Design` of ``formula`` on ``data``.

    Parameters
    ----------
    formula
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data
        A pandas DataFrame (or anything :func:`mixedmodels.design.data.as_pandas` accepts).
    contrasts
        R's ``contrasts=``: the contrast coding of factor columns, e.g.
        ``{"recipe": "contr.sum"}`` (:data:`~mixedmodels.design.contrasts.CONTRASTS`),
        in the fixed effects and the random-effect terms alike.

    Returns
    -------
    Design

    Raises
    ------
    FormulaError
        Malformed formula, or a name that is not a column of ``data``.
    ValueError
        Non-numeric response, no rows left after removing missing values, a
        single-level factor that needs contrasts.
    """
    parsed = parse_formula(formula)
    frame = as_pandas(data)
    if parsed.response is None:
        raise FormulaError(f"formula {formula!r} has no response (left-hand side)")

    # Parts of the model and the columns each uses.
    used: dict[str, None] = {}

    def cols(expr: str, what: str) -> list[str]:
        found = _columns_of(expr, frame, what)
        used.update(dict.fromkeys(found))
        return found

    responses = [
        NumericExpression(e, "response", cols(e, "response"), _is_column(e, frame))
        for e in parsed.response_parts
    ]
    contrasts = dict(contrasts or {})
    for name, value in contrasts.items():
        normalize_contrast(value, f"contrasts={{{name!r}: ...}}")
    fixed = ModelMatrix(
        parsed.fixed, "fixed effects", cols(parsed.fixed, "fixed effects"), contrasts
    )
    offsets = [
        NumericExpression(e, "offset", cols(e, "offset"), _is_column(e, frame))
        for e in parsed.offsets
    ]
    lhs_parts: list[ModelMatrix] = []
    groupings: list[GroupingFactor] = []
    for bar in parsed.random_terms:
        what = f"random term ({bar.expr})"
        lhs_parts.append(ModelMatrix(bar.lhs, what, cols(bar.lhs, what), contrasts))
        for g in bar.factors:
            if g not in frame.columns:
                _columns_of(g, frame, f"grouping factor of ({bar.expr})")
                raise FormulaError(f"grouping factor {g!r} of ({bar.expr}) is not a column")
        used.update(dict.fromkeys(bar.factors))
        groupings.append(GroupingFactor(bar.group, bar.factors))
    columns = list(used)
    factor_keys = {k for part in [fixed, *lhs_parts] for k in part.keys}
    absent = [name for name in contrasts if name not in factor_keys]
    if absent:
        raise ModelSpecificationError(
            f"contrasts= names {absent} that are not variables of the formula's terms "
            f"({sorted(factor_keys)})"
        )

    # Rows with a missing value in any used column are dropped (R's na.omit).
    n_total = len(frame)
    keep = np.ones(n_total, dtype=bool)
    na_counts: dict[str, int] = {}
    for c in columns:
        miss = _missing(frame[c])
        if miss.any():
            na_counts[c] = int(miss.sum())
            keep &= ~miss
    complete = bool(keep.all())
    if frame.columns.is_unique:
        # Every row kept: the parts read their columns by name, so the frame itself
        # serves (a copy of the used columns costs ~0.1 ms on small data).  Else by
        # position: selecting by a list of labels costs ~1 ms on a str Index.
        where = [int(frame.columns.get_loc(c)) for c in columns]  # type: ignore[arg-type]
        work: pd.DataFrame = frame if complete else frame.iloc[np.flatnonzero(keep), where]
    else:
        work = frame[columns] if keep.all() else frame.loc[keep, columns]
    n_na = n_total - len(work)

    def evaluate(w: pd.DataFrame) -> tuple[list[Any], NDArray[np.bool_]]:
        bad = np.zeros(len(w), dtype=bool)
        ys = [r.evaluate(w) for r in responses]
        offs = [o.evaluate(w) for o in offsets]
        for arr in ys + offs:
            bad |= np.isnan(arr)
        vals = [p.evaluate(w) for p in [fixed, *lhs_parts]]
        for vs in vals:
            for v in vs.values():
                bad |= v.bad_rows()
        return [ys, offs, vals], bad

    def no_rows(n_invalid: int = 0) -> ModelSpecificationError:
        detail = ", ".join(f"{c!r}: {k}" for c, k in na_counts.items())
        msg = f"no rows left: all {n_total} rows were dropped; {n_na} for missing values" + (
            f" (missing per column: {detail})" if detail else ""
        )
        if n_invalid:
            msg += f", {n_invalid} whose values could not be evaluated (NaN, e.g. log(0))"
        return ModelSpecificationError(msg)

    if len(work) == 0:
        if n_total == 0:
            raise ModelSpecificationError("data has no rows")
        raise no_rows()
    (ys, offs, vals), bad = evaluate(work)
    n_invalid = int(bad.sum())
    if n_invalid:
        # Values such as log(-1) are missing too; evaluate again without those rows so
        # that data-dependent transforms (scale, poly) see only the rows used.
        keep[np.flatnonzero(keep)[bad]] = False
        work = work.loc[~bad]
        if len(work) == 0:
            raise no_rows(n_invalid)
        (ys, offs, vals), bad = evaluate(work)
        if bad.any():
            raise ModelSpecificationError("missing values remain after removing incomplete rows")
    n = len(work)

    y = ys[0] if len(ys) == 1 else np.column_stack(ys)
    offset = np.sum(offs, axis=0) if offs else None
    X = fixed.fit(vals[0], n)

    coded: dict[str, tuple[NDArray[np.int64], list[str]]] = {}
    for gr in groupings:
        for col in gr.factors:
            if col not in coded:
                codes, levels, _ = factorize(work[col])
                coded[col] = (codes, levels)
    terms: list[RandomTerm] = []
    cache: dict[tuple[str, ...], tuple[GroupingFactor, NDArray[np.int64], list[str]]] = {}
    for bar, part, new_grouping, pvals in zip(
        parsed.random_terms, lhs_parts, groupings, vals[1:], strict=True
    ):
        grouping = new_grouping
        Z = part.fit(pvals, n)
        if not part.names:
            raise FormulaError(f"random term ({bar.expr}) has no columns")
        if bar.factors in cache:
            # One grouping factor shared by several terms, e.g. (1 | g) + (0 + x | g).
            grouping, gcodes, glevels = cache[bar.factors]
        else:
            gcodes, glevels = grouping.fit(coded)
            cache[bar.factors] = (grouping, gcodes, glevels)
        terms.append(
            RandomTerm(
                group_name=bar.group,
                column_names=list(part.names),
                structure=bar.structure,
                codes=gcodes,
                levels=glevels,
                Z=Z,
                expr=bar.expr,
                spec=_TermSpec(part, grouping),
            )
        )
    return Design(
        formula=formula,
        response_name=parsed.response,
        y=np.asarray(y, dtype=np.float64),
        X=X,
        fixef_names=list(fixed.names),
        terms=terms,
        offset=None if offset is None else np.asarray(offset, dtype=np.float64),
        row_index=frame.index if complete and n == n_total else frame.index[keep],
        n_dropped=n_total - n,
        spec=_DesignSpec(fixed, offsets, columns, responses[0].levels, responses),
    )
