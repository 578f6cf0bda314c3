"""Model matrices for a mixed-model formula: the contract between formulas and fitters.

:func:`build_design` turns an lme4-syntax formula and a data frame into a
:class:`Design`: the response, the fixed-effects matrix with R's column names and
order, and one :class:`RandomTerm` per random-effect term (after expanding ``||`` and
``/``), with missing values dropped (and counted).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..formula.parse import (
    FormulaError,
    ModelTerms,
    deparse,
    expr_variables,
    model_terms,
    parse_formula,
    tokenize,
)
from .data import as_pandas, drop_unused, factorize, format_levels

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
        """``[failure, success]`` when the response is a two-level factor, else ``None``.

        Such a response is coded 0/1 in :attr:`y` (1 = second level), as glmer's
        binomial family does; a fitter for continuous responses may reject it.
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


# ---------------------------------------------------------------------------------
# formulaic glue: the evaluation context (R function names) and a materializer that
# treats logical values as factors, as R's model.matrix does.

_CONTEXT: dict[str, Any] | None = None
_MATERIALIZER: type | None = None


def _r_log(x: Any, base: float | None = None) -> Any:
    """R's ``log(x, base)``."""
    return np.log(x) if base is None else np.log(x) / np.log(base)


def _context() -> dict[str, Any]:
    """Names available in formula expressions, beyond formulaic's own transforms."""
    global _CONTEXT
    if _CONTEXT is None:
        from formulaic.transforms import TRANSFORMS

        _CONTEXT = {
            "log": _r_log,
            "sqrt": np.sqrt,
            "abs": np.abs,
            "log1p": np.log1p,
            "expm1": np.expm1,
            "sin": np.sin,
            "cos": np.cos,
            "tan": np.tan,
            "floor": np.floor,
            "ceiling": np.ceil,
            "trunc": np.trunc,
            "round": np.round,
            "sign": np.sign,
            "pmin": np.minimum,
            "pmax": np.maximum,
            "ifelse": np.where,
            "pi": np.pi,
            "factor": TRANSFORMS["C"],
        }
    return _CONTEXT


def _known_names() -> set[str]:
    """Names an expression may use without being a data column."""
    from formulaic.transforms import TRANSFORMS

    return set(_context()) | set(TRANSFORMS) | {"np", "contr"}


def _materializer() -> type:
    """formulaic's pandas materializer, with booleans encoded as factors."""
    global _MATERIALIZER
    if _MATERIALIZER is None:
        from formulaic.materializers import PandasMaterializer
        from interface_meta import override

        class _RMaterializer(PandasMaterializer):  # type: ignore[misc]
            REGISTER_NAME = "mixedmodels_r"
            REGISTER_INPUTS = ()
            REGISTER_OUTPUTS = ("pandas", "numpy")

            @override
            def _is_categorical(self, values: Any) -> bool:
                dtype = getattr(values, "dtype", None)
                if dtype is not None and pd.api.types.is_bool_dtype(dtype):
                    return True
                return bool(super()._is_categorical(values))

        _MATERIALIZER = _RMaterializer
    return _MATERIALIZER


def _formulaic_matrix(
    keys: Sequence[str], frame: pd.DataFrame, spec: Any, what: str
) -> tuple[NDArray[np.float64], Any]:
    """Evaluate factor expressions with formulaic (fit: ``spec`` None; new data: reuse)."""
    from formulaic import Formula

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # NaN from log(-1) and the like is a missing value (dropped), as in R.
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            # An unseen level would silently become a row of zeros: make it an error.
            warnings.filterwarnings("error", message=".*categories outside of the nominated")
            if spec is None:
                mm = Formula("0 + " + " + ".join(keys)).get_model_matrix(
                    frame,
                    context=_context(),
                    materializer=_materializer(),
                    na_action="ignore",
                    ensure_full_rank=False,
                    output="numpy",
                )
                spec = mm.model_spec
            else:
                _materializer()  # registers the materializer by name (e.g. after unpickling)
                mm = spec.get_model_matrix(frame, context=_context(), na_action="ignore")
    except Warning as exc:
        found = re.search(r"\{.*\}", str(exc))
        levels = found.group(0) if found else str(exc)
        raise ValueError(
            f"{what}: {', '.join(deparse(k) for k in keys)} has level(s) {levels} that were "
            "not present in the data used for fitting"
        ) from exc
    except FormulaError:
        raise
    except Exception as exc:
        raise FormulaError(f"{what}: cannot evaluate {', '.join(keys)}: {exc}") from exc
    return np.asarray(mm, dtype=np.float64), spec


# ---------------------------------------------------------------------------------
# R's contrasts.


def contr_poly(k: int) -> NDArray[np.float64]:
    """R's ``contr.poly(k)``: orthonormal polynomial contrasts, ``(k, k - 1)``.

    Parameters
    ----------
    k
        Number of levels.

    Returns
    -------
    ndarray
    """
    x = np.arange(1, k + 1, dtype=np.float64)
    x -= x.mean()
    q, r = np.linalg.qr(x[:, None] ** np.arange(k))
    # Q diag(R) does not depend on the sign convention of the QR factorisation.
    z = q * np.diag(r)
    z /= np.sqrt(np.sum(z**2, axis=0))
    return np.asarray(z[:, 1:], dtype=np.float64)


def poly_suffixes(k: int) -> list[str]:
    """R's column names of ``contr.poly(k)``: ``.L``, ``.Q``, ``.C``, ``^4``, ..."""
    return [{1: ".L", 2: ".Q", 3: ".C"}.get(d, f"^{d}") for d in range(1, k)]


# ---------------------------------------------------------------------------------
# Evaluated factors and the model matrix of one right-hand side.

_NUM, _CONTR, _FULL = 0, 1, 2


@dataclass
class _Value:
    """One evaluated factor: numeric columns or factor codes (``-1`` = missing)."""

    num: NDArray[np.float64] | None = None
    suffixes: list[str] = field(default_factory=list)
    codes: NDArray[np.int64] | None = None
    levels: list[str] = field(default_factory=list)
    ordered: bool = False

    def bad_rows(self) -> NDArray[np.bool_]:
        if self.num is not None:
            return np.asarray(np.isnan(self.num).any(axis=1))
        assert self.codes is not None
        return np.asarray(self.codes < 0)


@dataclass
class _Factor:
    """A fitted factor: how to evaluate it on new data and how R names it."""

    key: str
    label: str
    lookup: bool
    categorical: bool
    ncol: int = 1
    suffixes: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    ordered: bool = False
    #: For formulaic-evaluated factors: kept-level index of each formulaic category.
    category_map: NDArray[np.int64] | None = None


def _missing_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        avail = ", ".join(map(str, list(frame.columns)[:40]))
        raise FormulaError(f"column {missing[0]!r} ({what}) not found in data; available: {avail}")


class _Part:
    """The model matrix of one right-hand side: the fixed part or a term's left side."""

    def __init__(self, rhs: str, what: str, columns: list[str]) -> None:
        self.rhs = rhs
        self.what = what
        self.columns = columns
        self.mt: ModelTerms = model_terms(rhs)
        self.keys = self.mt.factors
        self.expr_keys = [k for k in self.keys if k not in self.mt.lookups]
        self.fspec: Any = None
        self.factors: dict[str, _Factor] = {}
        self.plan: list[tuple[tuple[str, ...], tuple[int, ...]]] = []
        self.names: list[str] = []

    # -- evaluation ------------------------------------------------------------------

    def evaluate(self, work: pd.DataFrame) -> dict[str, _Value]:
        """Evaluate every factor on the fitting rows (formulaic state is re-learned)."""
        values: dict[str, _Value] = {}
        for key in self.keys:
            if key in self.mt.lookups:
                values[key] = _lookup_value(work[key])
        if self.expr_keys:
            arr, self.fspec = _formulaic_matrix(self.expr_keys, work, None, self.what)
            values.update(self._split_formulaic(arr))
        return values

    def _split_formulaic(self, arr: NDArray[np.float64]) -> dict[str, _Value]:
        values: dict[str, _Value] = {}
        col = 0
        structure = list(self.fspec.structure)
        names = [str(st.term) for st in structure]
        if sorted(names) != sorted(self.expr_keys):
            # formulaic normalised an expression differently: rely on the term order.
            names = list(self.expr_keys)
        for st, key in zip(structure, names, strict=True):
            state_key = str(st.term)
            k = len(st.columns)
            block = arr[:, col : col + k]
            col += k
            kind, state = self.fspec.encoder_state.get(state_key, (None, {}))
            if getattr(kind, "value", None) == "categorical":
                codes = np.argmax(block, axis=1).astype(np.int64)
                codes[~(np.nansum(block, axis=1) > 0)] = -1
                values[key] = _Value(codes=codes, levels=format_levels(state["categories"]))
            else:
                prefix = state_key
                suffixes = [
                    c[len(prefix) :].strip("[]") if c.startswith(prefix) else str(j + 1)
                    for j, c in enumerate(st.columns)
                ]
                values[key] = _Value(num=block, suffixes=suffixes)
        return values

    # -- fitting ---------------------------------------------------------------------

    def fit(self, values: dict[str, _Value], n: int) -> NDArray[np.float64]:
        """Fix levels (dropping unused ones), R's coding of each term, and build."""
        final: dict[str, _Value] = {}
        for key in self.keys:
            v = values[key]
            lookup = key in self.mt.lookups
            label = self.mt.label((key,))
            if v.num is not None:
                self.factors[key] = _Factor(
                    key, label, lookup, False, ncol=v.num.shape[1], suffixes=v.suffixes
                )
                final[key] = v
                continue
            assert v.codes is not None
            codes, levels, kept = drop_unused(v.codes, v.levels)
            cmap = None
            if not lookup:
                cmap = np.full(len(v.levels), -1, dtype=np.int64)
                cmap[kept] = np.arange(len(kept))
            self.factors[key] = _Factor(
                key, label, lookup, True, levels=levels, ordered=v.ordered, category_map=cmap
            )
            final[key] = _Value(codes=codes, levels=levels, ordered=v.ordered)
        self.plan = _r_coding(self.mt, {k: f.categorical for k, f in self.factors.items()})
        for term, coding in self.plan:
            for key, c in zip(term, coding, strict=True):
                f = self.factors[key]
                if c == _CONTR and len(f.levels) < 2:
                    raise ValueError(
                        f"{self.what}: factor {f.label!r} has a single level "
                        f"({f.levels[0]!r}) in the rows used; contrasts need at least 2 levels"
                    )
        self.names = self._column_names()
        return self._assemble(final, n)

    def _column_names(self) -> list[str]:
        names = ["(Intercept)"] if self.mt.intercept else []
        for term, coding in self.plan:
            labels: list[str] = [""]
            for i, (key, c) in enumerate(zip(term, coding, strict=True)):
                f = self.factors[key]
                if c == _NUM:
                    own = [f.label] if f.ncol == 1 else [f.label + s for s in f.suffixes]
                elif c == _FULL:
                    own = [f.label + lev for lev in f.levels]
                elif f.ordered:
                    own = [f.label + s for s in poly_suffixes(len(f.levels))]
                else:
                    own = [f.label + lev for lev in f.levels[1:]]
                # The first factor varies fastest, as in R.
                labels = [b if i == 0 else f"{a}:{b}" for b in own for a in labels]
            names.extend(labels)
        return names

    def _assemble(self, values: dict[str, _Value], n: int) -> NDArray[np.float64]:
        blocks: list[NDArray[np.float64]] = []
        if self.mt.intercept:
            blocks.append(np.ones((n, 1)))
        for term, coding in self.plan:
            block: NDArray[np.float64] | None = None
            for key, c in zip(term, coding, strict=True):
                own = self._block(self.factors[key], values[key], c)
                if block is None:
                    block = own
                else:
                    block = (own[:, :, None] * block[:, None, :]).reshape(n, -1)
            assert block is not None
            blocks.append(block)
        if not blocks:
            return np.empty((n, 0))
        return np.ascontiguousarray(np.hstack(blocks), dtype=np.float64)

    @staticmethod
    def _block(f: _Factor, v: _Value, coding: int) -> NDArray[np.float64]:
        if coding == _NUM:
            assert v.num is not None
            return np.asarray(v.num, dtype=np.float64)
        assert v.codes is not None
        k = len(f.levels)
        if coding == _FULL:
            basis = np.eye(k)
        elif f.ordered:
            basis = contr_poly(k)
        else:
            basis = np.eye(k)[:, 1:]
        missing = v.codes < 0
        out = basis[np.where(missing, 0, v.codes)]
        if missing.any():
            out[missing] = np.nan
        return out

    # -- new data --------------------------------------------------------------------

    def new_matrix(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """The matrix for new data, with the fitted levels, contrasts and transforms."""
        _missing_columns(frame, self.columns, self.what)
        values: dict[str, _Value] = {}
        for key in self.keys:
            f = self.factors[key]
            if f.lookup:
                values[key] = _new_lookup(frame[key], f, self.what)
        if self.expr_keys:
            arr, _ = _formulaic_matrix(self.expr_keys, frame[self.columns], self.fspec, self.what)
            for key, v in self._split_formulaic(arr).items():
                f = self.factors[key]
                if v.codes is not None and f.category_map is not None:
                    codes = np.where(v.codes < 0, -1, f.category_map[np.maximum(v.codes, 0)])
                    unseen = (v.codes >= 0) & (codes < 0)
                    if unseen.any():
                        level = v.levels[int(v.codes[np.argmax(unseen)])]
                        raise ValueError(
                            f"{self.what}: {f.label!r} has level {level!r} that was not "
                            "present in the data used for fitting"
                        )
                    v = _Value(codes=codes, levels=f.levels, ordered=f.ordered)
                values[key] = v
        return self._assemble(values, len(frame))


def _lookup_value(col: pd.Series) -> _Value:
    """A data column as a numeric variable or an R factor."""
    dtype = col.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return _Value(num=col.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1))
    codes, levels, ordered = factorize(col)
    return _Value(codes=codes, levels=levels, ordered=ordered)


def _new_lookup(col: pd.Series, f: _Factor, what: str) -> _Value:
    """A column of new data coded with the fitted factor's levels."""
    if not f.categorical:
        try:
            return _Value(num=col.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what}: column {f.key!r} must be numeric: {exc}") from exc
    codes, labels, _ = factorize(col)
    index = pd.Index(f.levels).get_indexer(pd.Index(labels))
    unknown = np.flatnonzero(index < 0)
    if unknown.size:
        used = np.bincount(codes[codes >= 0], minlength=len(labels)) > 0
        bad = [labels[i] for i in unknown.tolist() if used[i]]
        if bad:
            raise ValueError(
                f"{what}: column {f.key!r} has level {bad[0]!r} that was not present in "
                f"the data used for fitting (levels: {', '.join(f.levels[:20])}"
                f"{', ...' if len(f.levels) > 20 else ''})"
            )
    mapped = np.append(index, -1)[codes]  # codes == -1 (missing) -> -1
    return _Value(codes=mapped.astype(np.int64), levels=f.levels, ordered=f.ordered)


def _r_coding(
    mt: ModelTerms, categorical: dict[str, bool]
) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
    """R's coding of each factor of each term (``TermCode`` in R's model.c).

    A factor is coded by contrasts when the term without it is empty or contained in
    an earlier term, and by indicators otherwise; without an intercept the first
    factor of the model is coded by indicators.
    """
    plan: list[list[int]] = []
    for i, term in enumerate(mt.terms):
        coding: list[int] = []
        for key in term:
            if not categorical[key]:
                coding.append(_NUM)
                continue
            rest = set(term) - {key}
            if not rest or any(rest <= set(prev) for prev in mt.terms[:i]):
                coding.append(_CONTR)
            else:
                coding.append(_FULL)
        plan.append(coding)
    if not mt.intercept:
        done = False
        for i, term in enumerate(mt.terms):
            for j, key in enumerate(term):
                if categorical[key]:
                    plan[i][j] = _FULL
                    done = True
                    break
            if done:
                break
    return [(term, tuple(c)) for term, c in zip(mt.terms, plan, strict=True)]


# ---------------------------------------------------------------------------------
# Numeric expressions (response, offsets) and grouping factors.


class _Numeric:
    """A numeric expression: a response column or an ``offset()`` argument."""

    def __init__(self, expr: str, what: str, columns: list[str], lookup: bool) -> None:
        self.expr = expr
        self.what = what
        self.columns = columns
        self.lookup = lookup
        self.fspec: Any = None
        #: For a two-level factor response: its levels (failure, success).
        self.levels: list[str] | None = None

    def evaluate(self, work: pd.DataFrame, fit: bool = True) -> NDArray[np.float64]:
        if self.lookup:
            col = work[self.columns[0]]
            if pd.api.types.is_bool_dtype(col.dtype):
                return col.to_numpy(dtype=np.float64, na_value=np.nan)
            if not pd.api.types.is_numeric_dtype(col.dtype):
                return self._factor_response(col)
            return col.to_numpy(dtype=np.float64, na_value=np.nan)
        from ..formula.parse import to_python

        arr, spec = _formulaic_matrix(
            [f"I({to_python(self.expr)})"], work, None if fit else self.fspec, self.what
        )
        if fit:
            self.fspec = spec
            kind = next(iter(spec.encoder_state.values()), (None, {}))[0]
            if getattr(kind, "value", None) == "categorical" or arr.shape[1] != 1:
                raise ValueError(f"{self.what} {self.expr!r} is not numeric")
        return arr[:, 0]

    def _factor_response(self, col: pd.Series) -> NDArray[np.float64]:
        """A two-level factor response as 0/1 (first level = failure), as glmer does."""
        codes, levels, _ = factorize(col)
        present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(levels)))
        if self.what != "response" or len(present) != 2:
            raise ValueError(
                f"{self.what} {self.expr!r} is not numeric (dtype {col.dtype}"
                + (f", {len(present)} levels" if self.what == "response" else "")
                + "); use a numeric column"
                + (" or a factor with exactly two levels" if self.what == "response" else "")
            )
        self.levels = [levels[i] for i in present.tolist()]
        y = (codes == present[1]).astype(np.float64)
        y[codes < 0] = np.nan
        return y

    def new_values(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        _missing_columns(frame, self.columns, self.what)
        return self.evaluate(frame[self.columns], fit=False)


class _Grouping:
    """A grouping factor: one column or the interaction of several (``a:b``)."""

    def __init__(self, name: str, factors: tuple[str, ...]) -> None:
        self.name = name
        self.factors = factors
        self.component_levels: list[list[str]] = []
        self.keys: NDArray[np.int64] | None = None  # sorted combined codes of the levels

    def fit(
        self, coded: dict[str, tuple[NDArray[np.int64], list[str]]]
    ) -> tuple[NDArray[np.int64], list[str]]:
        comps = []
        for col in self.factors:
            codes, levels, _ = drop_unused(*coded[col])
            comps.append((codes, levels))
            self.component_levels.append(levels)
        if len(comps) == 1:
            return comps[0]
        # Levels of a:b are the observed combinations, a varying slowest (R's `:`).
        key = self._combine([c for c, _ in comps])
        inv, uniq = pd.factorize(key, sort=True)
        self.keys = np.asarray(uniq, dtype=np.int64)
        labels: NDArray[Any] | None = None
        rem = self.keys.copy()
        for levels, radix in zip(
            reversed(self.component_levels), reversed(self._radices()), strict=True
        ):
            part = np.asarray(levels, dtype=object)[rem % radix]
            rem //= radix
            labels = part if labels is None else part + ":" + labels
        assert labels is not None
        return np.asarray(inv, dtype=np.int64), [str(s) for s in labels.tolist()]

    def _radices(self) -> list[int]:
        return [len(levels) for levels in self.component_levels]

    def _combine(self, codes: list[NDArray[np.int64]]) -> NDArray[np.int64]:
        key = np.zeros(codes[0].shape[0], dtype=np.int64)
        missing = np.zeros(codes[0].shape[0], dtype=bool)
        for c, radix in zip(codes, self._radices(), strict=True):
            key = key * radix + np.maximum(c, 0)
            missing |= c < 0
        key[missing] = -1
        return key

    def new_codes(self, frame: pd.DataFrame) -> NDArray[np.int64]:
        """Codes of new data's groups in the fitted levels (``-1``: unseen or missing)."""
        _missing_columns(frame, list(self.factors), f"grouping factor {self.name!r}")
        comps = []
        for col, levels in zip(self.factors, self.component_levels, strict=True):
            codes, labels, _ = factorize(frame[col])
            index = np.append(pd.Index(levels).get_indexer(pd.Index(labels)), -1)
            comps.append(index[codes])
        if len(comps) == 1:
            return np.asarray(comps[0], dtype=np.int64)
        assert self.keys is not None
        key = self._combine(comps)
        pos = np.clip(np.searchsorted(self.keys, key), 0, len(self.keys) - 1)
        found = (key >= 0) & (self.keys[pos] == key)
        return np.where(found, pos, -1).astype(np.int64)


@dataclass
class _TermSpec:
    """What a :class:`RandomTerm` needs for new data."""

    lhs: _Part
    group: _Grouping


@dataclass
class _DesignSpec:
    """What a :class:`Design` needs for new data."""

    fixed: _Part
    offsets: list[_Numeric]
    columns: list[str]
    #: Levels (failure, success) of a two-level factor response, else None.
    response_levels: list[str] | None = None


def _spec_of(design: Design) -> _DesignSpec:
    if not isinstance(design.spec, _DesignSpec):
        raise ValueError("this Design was not made by build_design; it cannot take new data")
    return design.spec


# ---------------------------------------------------------------------------------
# build_design


def _columns_of(expr: str, frame: pd.DataFrame, what: str) -> list[str]:
    """The data columns an expression uses; unknown names raise FormulaError."""
    known: set[str] | None = None
    out: list[str] = []
    for name in expr_variables(expr):
        if name in frame.columns:
            out.append(name)
            continue
        if known is None:
            known = _known_names()
        if name in known:
            continue
        if name == ".":
            raise FormulaError(
                f"'.' (all other columns) is not supported ({what}); name the columns"
            )
        avail = ", ".join(map(str, list(frame.columns)[:40]))
        more = ", ..." if len(frame.columns) > 40 else ""
        raise FormulaError(f"column {name!r} ({what}) not found in data; available: {avail}{more}")
    return out


def _is_column(expr: str, frame: pd.DataFrame) -> bool:
    toks = tokenize(expr)
    if len(toks) != 1 or toks[0].kind not in ("name", "bq"):
        return False
    name = toks[0].text[1:-1] if toks[0].kind == "bq" else toks[0].text
    return name in frame.columns


def build_design(formula: str, data: Any) -> Design:
    """Build the :class:`Design` of ``formula`` on ``data``.

    Parameters
    ----------
    formula
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data
        A pandas DataFrame (or anything :func:`mixedmodels.design.data.as_pandas` accepts).

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
        _Numeric(e, "response", cols(e, "response"), _is_column(e, frame))
        for e in parsed.response_parts
    ]
    fixed = _Part(parsed.fixed, "fixed effects", cols(parsed.fixed, "fixed effects"))
    offsets = [
        _Numeric(e, "offset", cols(e, "offset"), _is_column(e, frame)) for e in parsed.offsets
    ]
    lhs_parts: list[_Part] = []
    groupings: list[_Grouping] = []
    for bar in parsed.random_terms:
        what = f"random term ({bar.expr})"
        lhs_parts.append(_Part(bar.lhs, what, cols(bar.lhs, what)))
        for g in bar.factors:
            if g not in frame.columns:
                _columns_of(g, frame, f"grouping factor of ({bar.expr})")
                raise FormulaError(f"grouping factor {g!r} of ({bar.expr}) is not a column")
        used.update(dict.fromkeys(bar.factors))
        groupings.append(_Grouping(bar.group, bar.factors))
    columns = list(used)

    # Rows with a missing value in any used column are dropped (R's na.omit).
    n_total = len(frame)
    keep = np.ones(n_total, dtype=bool)
    na_counts: dict[str, int] = {}
    for c in columns:
        miss = frame[c].isna().to_numpy()
        if miss.any():
            na_counts[c] = int(miss.sum())
            keep &= ~miss
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

    def no_rows(n_invalid: int = 0) -> ValueError:
        detail = ", ".join(f"{c!r}: {k}" for c, k in na_counts.items())
        msg = f"no rows left: all {n_total} rows were dropped; {n_na} for missing values" + (
            f" (missing per column: {detail})" if detail else ""
        )
        if n_invalid:
            msg += f", {n_invalid} whose values could not be evaluated (NaN, e.g. log(0))"
        return ValueError(msg)

    if len(work) == 0:
        if n_total == 0:
            raise ValueError("data has no rows")
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
            raise ValueError("missing values remain after removing incomplete rows")
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
    cache: dict[tuple[str, ...], tuple[_Grouping, NDArray[np.int64], list[str]]] = {}
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
        row_index=frame.index[keep],
        n_dropped=n_total - n,
        spec=_DesignSpec(fixed, offsets, columns, responses[0].levels),
    )
