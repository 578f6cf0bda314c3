"""Single variables of a formula: numeric expressions (the response, ``offset()``
terms) and the grouping factors of random-effect terms, with their levels kept for new
data.
"""

from __future__ import annotations

import ast
import functools
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import ModelSpecificationError
from ..formula.deparse import to_python
from .data import drop_unused, factorize
from .expressions import formulaic_matrix, require_columns

__all__ = ["GroupingFactor", "NumericExpression"]

_ARITHMETIC_OPS = ast.Add | ast.Sub | ast.Mult | ast.Div | ast.Pow | ast.USub | ast.UAdd


@functools.lru_cache(maxsize=256)
def _arithmetic_code(expr: str, columns: tuple[str, ...]) -> Any:
    """``expr`` compiled if it is plain arithmetic on the named ``columns`` (names,
    numbers, ``+ - * / **``, unary signs), else ``None``."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in columns:
                return None
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                return None
        elif not isinstance(
            node, ast.Expression | ast.BinOp | ast.UnaryOp | ast.Load | _ARITHMETIC_OPS
        ):
            return None
    return compile(tree, "<expression>", "eval")


def _numeric_python(expr: str) -> str:
    """A numeric R expression in Python syntax.  It is arithmetic as a whole, so ``^`` is a
    power everywhere (as in R's ``log(n)^2`` response or offset), not only inside a call:
    at the formula level ``to_python`` keeps it for interaction powers, and Python would
    read it as bitwise XOR (``b^2`` of an integer column was ``b XOR 2``)."""
    wrapped = to_python(f"I({expr})")
    if not (wrapped.startswith("I(") and wrapped.endswith(")")):  # pragma: no cover
        return to_python(expr)
    return wrapped[2:-1]


class NumericExpression:
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
        direct = self._arithmetic(work)
        if direct is not None:
            return direct
        arr, spec = formulaic_matrix(
            [f"I({_numeric_python(self.expr)})"], work, None if fit else self.fspec, self.what
        )
        if fit:
            self.fspec = spec
            kind = next(iter(spec.encoder_state.values()), (None, {}))[0]
            if getattr(kind, "value", None) == "categorical" or arr.shape[1] != 1:
                raise ModelSpecificationError(f"{self.what} {self.expr!r} is not numeric")
        return arr[:, 0]

    def _arithmetic(self, work: pd.DataFrame) -> NDArray[np.float64] | None:
        """The expression evaluated directly when it is plain arithmetic (``+ - * /``,
        powers, numbers) on numeric columns, as ``size - incidence`` in
        ``cbind(incidence, size - incidence)``: what formulaic's ``I()`` computes
        (float64, missing values as NaN), without its ~2 ms of machinery; ``None`` for
        anything else (functions, factors, booleans), which formulaic evaluates."""
        code = _arithmetic_code(_numeric_python(self.expr), tuple(self.columns))
        if code is None:
            return None
        values = {}
        for c in self.columns:
            col = work[c]
            if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(
                col.dtype
            ):
                return None
            values[c] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(all="ignore"):
            out = eval(code, {"__builtins__": {}}, values)  # the AST is checked: arithmetic only
        arr = np.broadcast_to(np.asarray(out, dtype=np.float64), (len(work),))
        return np.array(arr, dtype=np.float64)

    def _factor_response(self, col: pd.Series) -> NDArray[np.float64]:
        """A two-level factor response as 0/1 (first level = failure), as glmer does;
        an ordered factor with more levels as its codes 0..K-1 over all its categories
        (for ordinal estimators: the linear and GLMM estimators refuse it)."""
        codes, levels, _ = factorize(col)
        present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(levels)))
        ordered = isinstance(col.dtype, pd.CategoricalDtype) and bool(col.cat.ordered)
        if self.what == "response" and ordered and len(levels) > 2:
            self.levels = [str(c) for c in col.cat.categories]
            y = col.cat.codes.to_numpy().astype(np.float64)
            y[y < 0] = np.nan
            return y
        if self.what != "response" or len(present) != 2:
            raise ModelSpecificationError(
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
        require_columns(frame, self.columns, self.what)
        return self.evaluate(frame[self.columns], fit=False)


class GroupingFactor:
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

    def _integer_codes(self, col: pd.Series, levels: list[str]) -> NDArray[np.int64] | None:
        """Codes of an integer column whose fitted levels are all integers as R
        prints them, by binary search (no labels formatted per row: the chunks of a Dask
        frame ask this for millions of rows); ``None`` where that does not apply."""
        dtype = col.dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_integer_dtype(dtype):
            return None
        if not isinstance(dtype, np.dtype) and col.hasnans:
            return None  # (nullable or Arrow integers with missing values)
        cache = self.__dict__.setdefault("_int_levels", {})
        key = id(levels)
        if key not in cache:
            values: tuple[Any, ...] | None = None
            if levels and all(s.lstrip("-").isdigit() for s in levels):
                ints = np.array([int(s) for s in levels], dtype=np.int64)
                if all(str(v) == s for v, s in zip(ints.tolist(), levels, strict=True)):
                    low, span = int(ints.min()), int(ints.max() - ints.min()) + 1
                    if span <= 4 * len(levels) + 1024:
                        # A lookup table (one gather per row; a binary search costs more)
                        table = np.full(span, -1, dtype=np.int64)
                        table[ints - low] = np.arange(len(levels))
                        values = ("table", low, table)
                    else:
                        order = np.argsort(ints, kind="stable")
                        values = ("search", ints[order], order)
            cache[key] = (levels, values)
        how = cache[key][1]
        if how is None:
            return None
        x = col.to_numpy(dtype=np.int64)
        if how[0] == "table":
            _, low, table = how
            pos = x - low
            inside = (pos >= 0) & (pos < table.size)
            return np.where(inside, table[np.where(inside, pos, 0)], -1).astype(np.int64)
        _, sorted_levels, order = how
        pos = np.clip(np.searchsorted(sorted_levels, x), 0, len(sorted_levels) - 1)
        return np.where(sorted_levels[pos] == x, order[pos], -1).astype(np.int64)

    def new_codes(self, frame: pd.DataFrame) -> NDArray[np.int64]:
        """Codes of new data's groups in the fitted levels (``-1``: unseen or missing)."""
        require_columns(frame, list(self.factors), f"grouping factor {self.name!r}")
        comps = []
        for col, levels in zip(self.factors, self.component_levels, strict=True):
            fast = self._integer_codes(frame[col], levels)
            if fast is not None:
                comps.append(fast)
                continue
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
