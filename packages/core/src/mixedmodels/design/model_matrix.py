"""The model matrix of one formula right-hand side (the fixed effects, or the left side of
a random-effect term): its factors evaluated, unused levels dropped, R's coding, column
names and order, and the same matrix for new data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import ModelSpecificationError
from ..formula.terms import ModelTerms, model_terms
from .contrasts import (
    CONTR,
    FULL,
    NUM,
    contrast_matrix,
    contrast_suffixes,
    normalize_contrast,
    r_coding,
)
from .data import drop_unused, factorize, format_levels
from .expressions import formulaic_matrix, require_columns

__all__ = ["FactorValue", "FittedFactor", "ModelMatrix", "coded_factor"]

# R's C(x, contr.sum) / C(x, "contr.sum"): a column coded with named contrasts.
_C_CALL = re.compile(
    r"^C\(\s*`?([A-Za-z_.][\w.]*)`?\s*,\s*(?:contrasts\s*=\s*)?['\"]?(contr\.\w+)['\"]?\s*\)$"
)


def coded_factor(key: str) -> tuple[str, str] | None:
    """``(column, contrast)`` of a factor written ``C(column, contr.xxx)``, else
    ``None``; an unknown ``contr.`` name raises :class:`ValueError`."""
    m = _C_CALL.match(key.strip())
    if m is None:
        return None
    return m.group(1), normalize_contrast(m.group(2), f"C({m.group(1)}, ...)")


@dataclass
class FactorValue:
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
class FittedFactor:
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
    #: The data column of a looked-up factor (``key`` unless written ``C(column, ...)``).
    column: str = ""
    #: R's contrast coding the factor when it is coded by contrasts (``None``: R's
    #: default, ``contr.poly`` for ordered factors and ``contr.treatment`` otherwise).
    contrast: str | None = None

    @property
    def contrast_name(self) -> str:
        """The contrast in effect."""
        if self.contrast is not None:
            return self.contrast
        return "contr.poly" if self.ordered else "contr.treatment"


class ModelMatrix:
    """The model matrix of one right-hand side: the fixed part or a term's left side."""

    def __init__(
        self,
        rhs: str,
        what: str,
        columns: list[str],
        contrasts: dict[str, str] | None = None,
    ) -> None:
        self.rhs = rhs
        self.what = what
        self.columns = columns
        self.mt: ModelTerms = model_terms(rhs)
        self.keys = self.mt.factors
        # Factors written C(column, contr.xxx) are looked up, with their own contrasts.
        self.coded: dict[str, tuple[str, str]] = {}
        for key in self.keys:
            if key not in self.mt.lookups:
                found = coded_factor(key)
                if found is not None:
                    self.coded[key] = found
        self.contrasts = {k: normalize_contrast(v) for k, v in (contrasts or {}).items()}
        self.expr_keys = [k for k in self.keys if k not in self.mt.lookups and k not in self.coded]
        self.fspec: Any = None
        self.factors: dict[str, FittedFactor] = {}
        self.plan: list[tuple[tuple[str, ...], tuple[int, ...]]] = []
        self.names: list[str] = []

    # -- evaluation ------------------------------------------------------------------

    def evaluate(self, work: pd.DataFrame) -> dict[str, FactorValue]:
        """Evaluate every factor on the fitting rows (formulaic state is re-learned)."""
        values: dict[str, FactorValue] = {}
        for key in self.keys:
            if key in self.mt.lookups:
                values[key] = _lookup_value(work[key])
            elif key in self.coded:
                codes, levels, ordered = factorize(work[self.coded[key][0]])
                values[key] = FactorValue(codes=codes, levels=levels, ordered=ordered)
        if self.expr_keys:
            arr, self.fspec = formulaic_matrix(self.expr_keys, work, None, self.what)
            values.update(self._split_formulaic(arr))
        return values

    def _split_formulaic(self, arr: NDArray[np.float64]) -> dict[str, FactorValue]:
        values: dict[str, FactorValue] = {}
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
                values[key] = FactorValue(codes=codes, levels=format_levels(state["categories"]))
            else:
                prefix = state_key
                suffixes = [
                    c[len(prefix) :].strip("[]") if c.startswith(prefix) else str(j + 1)
                    for j, c in enumerate(st.columns)
                ]
                values[key] = FactorValue(num=block, suffixes=suffixes)
        return values

    # -- fitting ---------------------------------------------------------------------

    def fit(self, values: dict[str, FactorValue], n: int) -> NDArray[np.float64]:
        """Fix levels (dropping unused ones), R's coding of each term, and build."""
        final: dict[str, FactorValue] = {}
        for key in self.keys:
            v = values[key]
            lookup = key in self.mt.lookups or key in self.coded
            label = self.mt.label((key,))
            column, contrast = self.coded.get(key, (key, self.contrasts.get(key)))
            if v.num is not None:
                if contrast is not None:
                    raise ValueError(
                        f"{self.what}: contrasts apply to factors; {key!r} is numeric "
                        f"(contrasts={{{key!r}: {contrast!r}}})"
                    )
                self.factors[key] = FittedFactor(
                    key, label, lookup, False, ncol=v.num.shape[1], suffixes=v.suffixes
                )
                final[key] = v
                continue
            assert v.codes is not None
            codes, levels, kept = drop_unused(v.codes, v.levels)
            cmap = None
            if key not in self.mt.lookups and key not in self.coded:
                cmap = np.full(len(v.levels), -1, dtype=np.int64)
                cmap[kept] = np.arange(len(kept))
            self.factors[key] = FittedFactor(
                key,
                label,
                lookup,
                True,
                levels=levels,
                ordered=v.ordered,
                category_map=cmap,
                column=column,
                contrast=contrast,
            )
            final[key] = FactorValue(codes=codes, levels=levels, ordered=v.ordered)
        self.plan = r_coding(self.mt, {k: f.categorical for k, f in self.factors.items()})
        for term, coding in self.plan:
            for key, c in zip(term, coding, strict=True):
                f = self.factors[key]
                if c == CONTR and len(f.levels) < 2:
                    raise ModelSpecificationError(
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
                if c == NUM:
                    own = [f.label] if f.ncol == 1 else [f.label + s for s in f.suffixes]
                elif c == FULL:
                    own = [f.label + lev for lev in f.levels]
                else:
                    own = [f.label + s for s in contrast_suffixes(f.contrast_name, f.levels)]
                # The first factor varies fastest, as in R.
                labels = [b if i == 0 else f"{a}:{b}" for b in own for a in labels]
            names.extend(labels)
        return names

    def _assemble(self, values: dict[str, FactorValue], n: int) -> NDArray[np.float64]:
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
    def _block(f: FittedFactor, v: FactorValue, coding: int) -> NDArray[np.float64]:
        if coding == NUM:
            assert v.num is not None
            return np.asarray(v.num, dtype=np.float64)
        assert v.codes is not None
        k = len(f.levels)
        basis = np.eye(k) if coding == FULL else contrast_matrix(f.contrast_name, k)
        missing = v.codes < 0
        out = basis[np.where(missing, 0, v.codes)]
        if missing.any():
            out[missing] = np.nan
        return out

    # -- new data --------------------------------------------------------------------

    def new_matrix(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """The matrix for new data, with the fitted levels, contrasts and transforms."""
        require_columns(frame, self.columns, self.what)
        values: dict[str, FactorValue] = {}
        for key in self.keys:
            f = self.factors[key]
            if f.lookup:
                values[key] = _new_lookup(frame[f.column or key], f, self.what)
        if self.expr_keys:
            arr, _ = formulaic_matrix(self.expr_keys, frame[self.columns], self.fspec, self.what)
            for key, v in self._split_formulaic(arr).items():
                f = self.factors[key]
                if v.codes is not None and f.category_map is not None:
                    codes = np.where(v.codes < 0, -1, f.category_map[np.maximum(v.codes, 0)])
                    unseen = (v.codes >= 0) & (codes < 0)
                    if unseen.any():
                        level = v.levels[int(v.codes[np.argmax(unseen)])]
                        raise ModelSpecificationError(
                            f"{self.what}: {f.label!r} has level {level!r} that was not "
                            "present in the data used for fitting"
                        )
                    v = FactorValue(codes=codes, levels=f.levels, ordered=f.ordered)
                values[key] = v
        return self._assemble(values, len(frame))


def _lookup_value(col: pd.Series) -> FactorValue:
    """A data column as a numeric variable or an R factor."""
    dtype = col.dtype
    if (
        pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    ):
        # Neither R's choice (seconds since 1970 as a number) nor a factor of dates is
        # what a user usually means: ask for an explicit conversion.
        raise ModelSpecificationError(
            f"column {col.name!r} is a date/time ({dtype}); convert it explicitly: to a "
            "number, e.g. days since the first date (col - col.min()).dt.days, or to a "
            "factor with .astype('category')"
        )
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return FactorValue(num=col.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1))
    codes, levels, ordered = factorize(col)
    return FactorValue(codes=codes, levels=levels, ordered=ordered)


def _new_lookup(col: pd.Series, f: FittedFactor, what: str) -> FactorValue:
    """A column of new data coded with the fitted factor's levels."""
    if not f.categorical:
        try:
            return FactorValue(num=col.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1))
        except (TypeError, ValueError) as exc:
            raise ModelSpecificationError(
                f"{what}: column {f.key!r} must be numeric: {exc}"
            ) from exc
    codes, labels, _ = factorize(col)
    index = pd.Index(f.levels).get_indexer(pd.Index(labels))
    unknown = np.flatnonzero(index < 0)
    if unknown.size:
        used = np.bincount(codes[codes >= 0], minlength=len(labels)) > 0
        bad = [labels[i] for i in unknown.tolist() if used[i]]
        if bad:
            raise ModelSpecificationError(
                f"{what}: column {f.key!r} has level {bad[0]!r} that was not present in "
                f"the data used for fitting (levels: {', '.join(f.levels[:20])}"
                f"{', ...' if len(f.levels) > 20 else ''})"
            )
    mapped = np.append(index, -1)[codes]  # codes == -1 (missing) -> -1
    return FactorValue(codes=mapped.astype(np.int64), levels=f.levels, ordered=f.ordered)
