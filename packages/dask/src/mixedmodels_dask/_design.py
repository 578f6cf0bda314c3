"""The model's design from a Dask frame: checks, factor levels, and each partition's
matrices under the one global design.

The fixed-effect and random-effect columns of every partition must be coded with the
same factor levels and contrasts as the in-memory fit of all rows would use.  One pass
collects, per factor (a fixed-effect factor column, or the columns of a grouping
factor), the rows that carry each distinct value; together they make a small pandas
frame with every level (the *prototype*), on which the core builds the
:class:`mixedmodels.Model` whose design (levels, contrasts, column names) is then
applied to every partition (:meth:`Design.fixed_matrix`, ``random_matrices``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import mixedmodels as mm
from mixedmodels.errors import ModelSpecificationError

__all__ = ["DaskDesign", "PartitionRows", "check_formula", "prototype_frame"]

# Transforms whose state depends on every row (a mean, an SD, an orthogonal basis):
# applied per partition they would differ between partitions.
_STATEFUL = ("scale", "center", "poly", "bs", "ns", "standardize", "cr", "cc", "te", "s")
_BAR = re.compile(r"\(([^()|]*(?:\([^()]*\)[^()|]*)*)\|\|?([^()]*)\)")
# Responses read per partition by the core (no state): a column, cbind() of columns and
# differences, a factor column.
_READABLE_RESPONSE = re.compile(r"^(cbind\(.*\)|[A-Za-z_.][A-Za-z0-9_.]*)$")
_FACTOR_CALL = re.compile(r"\b(?:factor|as\.factor|C)\(\s*([A-Za-z_.][A-Za-z0-9_.]*)")


def check_formula(formula: str) -> None:
    """Refuse transforms whose state depends on all rows (clear error, naming it)."""
    for name in _STATEFUL:
        if re.search(rf"(?<![A-Za-z0-9_.]){re.escape(name)}\(", formula):
            raise ModelSpecificationError(
                f"{name}() in the formula {formula!r} needs a statistic of every row "
                "(its state would differ between partitions); compute the column first, "
                f"e.g. ddf = ddf.assign(x_s=(ddf.x - mean) / sd), and use it instead of {name}()"
            )


def used_columns(formula: str, columns: list[str]) -> list[str]:
    """The frame's columns that the formula names (as whole words)."""
    found = []
    for c in columns:
        if re.search(rf"(?<![A-Za-z0-9_.]){re.escape(str(c))}(?![A-Za-z0-9_.])", formula):
            found.append(c)
    return found


def factor_sets(formula: str, meta: pd.DataFrame, used: list[str]) -> list[list[str]]:
    """Sets of columns whose distinct combinations are levels of the design: each
    grouping factor's columns (``a:b``, ``a/b`` nest), and each fixed-effect factor
    column (non-numeric, or inside ``factor()``/``C()``)."""
    sets: list[list[str]] = []
    for _, group in _BAR.findall(formula):
        cols = [
            c
            for c in used
            if re.search(rf"(?<![A-Za-z0-9_.]){re.escape(c)}(?![A-Za-z0-9_.])", group)
        ]
        if cols:
            sets.append(cols)
            sets.extend([c] for c in cols)
    called = set(_FACTOR_CALL.findall(formula))
    for c in used:
        dtype = meta[c].dtype
        if c in called or not (
            pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        ):
            sets.append([c])
    unique: list[list[str]] = []
    for s in sets:
        if s not in unique:
            unique.append(s)
    return unique


def check_dtypes(frame: pd.DataFrame, meta: pd.DataFrame, used: list[str], index: int) -> None:
    """A partition whose columns do not have the frame's declared dtypes is an error."""
    for c in used:
        if c not in frame.columns:
            raise ModelSpecificationError(f"partition {index} has no column {c!r}")
        got, want = frame[c].dtype, meta[c].dtype
        if got != want:
            raise ModelSpecificationError(
                f"column {c!r} has dtype {got} in partition {index} but {want} in the "
                "frame's metadata (and other partitions); cast it, e.g. "
                f"ddf = ddf.astype({{{c!r}: ...}})"
            )


def partition_prototype(
    frame: pd.DataFrame, meta: pd.DataFrame, used: list[str], sets: list[list[str]], index: int
) -> pd.DataFrame:
    """The rows of one partition that carry each distinct value of each factor set
    (complete rows only), after checking the partition's dtypes."""
    check_dtypes(frame, meta, used, index)
    frame = frame[used].dropna()
    parts = [frame.iloc[:1]]
    for s in sets:
        parts.append(frame.drop_duplicates(subset=s))
    return pd.concat(parts)


def prototype_frame(parts: list[pd.DataFrame], sets: list[list[str]]) -> pd.DataFrame:
    """The prototypes of the partitions merged: one row per distinct value of each
    factor set over all rows."""
    frame = pd.concat(parts)
    keep = [frame.iloc[:1]] + [frame.drop_duplicates(subset=s) for s in sets]
    return pd.concat(keep).reset_index(drop=True)


@dataclass
class PartitionRows:
    """One partition's matrices under the global design (complete rows only)."""

    X: np.ndarray  # (n, p) kept fixed-effect columns
    X_full: np.ndarray  # (n, p_full) every design column (for the rank check)
    y: np.ndarray  # response minus offset (a one-column response)
    y_raw: np.ndarray  # the response as read ((n, 2) for cbind)
    offset: np.ndarray | None
    weights: np.ndarray | None
    Zs: list[np.ndarray]  # per model term (the model's order)
    codes: list[np.ndarray]
    rows: np.ndarray  # positions of the used rows in the partition


@dataclass
class DaskDesign:
    """The global design: the model built on the prototype, and how to read a
    partition's response, weights and offset."""

    model: Any  # mixedmodels.Model on the prototype
    response: str
    weights: str | None
    offset: str | None
    used: list[str]
    meta: pd.DataFrame
    #: The fixed-effect columns kept (set from the rank over all rows).
    keep: list[int] | None = None
    #: The response is a numeric column (else an expression: cbind(), a factor).
    response_is_column: bool = True

    def set_kept_columns(self, keep: list[int]) -> None:
        """Keep these design columns (found over all rows): the model's names follow."""
        m = self.model
        names = list(m.design.fixef_names)
        self.keep = list(keep)
        m.fixef_names = [names[i] for i in keep]
        m.dropped_columns = [names[i] for i in range(len(names)) if i not in keep]
        # No rows in memory: what reads the model's rows sees none (the prototype's
        # rows are not the data's).
        m.X = np.zeros((0, len(keep)))

    def rows(self, frame: pd.DataFrame, index: int, new_levels: bool = False) -> PartitionRows:
        """The partition's matrices; rows with a missing value are left out.  A level
        of a grouping factor not in the design is an error unless ``new_levels``."""
        check_dtypes(frame, self.meta, self.used, index)
        m = self.model
        design = m.design
        X_full = design.fixed_matrix(frame)
        pairs = design.random_matrices(frame)
        ordered = [pairs[design.terms.index(t)] for t in m.terms]
        offset = design.offset_for(frame)
        if self.offset is not None:
            extra = frame[self.offset].to_numpy(dtype=np.float64, na_value=np.nan)
            offset = extra if offset is None else offset + extra
        if self.response in frame.columns and self.response_is_column:
            y = frame[self.response].to_numpy(dtype=np.float64, na_value=np.nan)
        elif self.response_is_column:
            y = np.zeros(len(frame))  # (prediction on data without the response)
        else:
            # cbind(successes, failures), a two-level factor: the core's own reading
            y = m.design.response_for(frame)
        w = (
            None
            if self.weights is None
            else frame[self.weights].to_numpy(dtype=np.float64, na_value=np.nan)
        )
        ok = np.isfinite(X_full).all(axis=1)
        if y.ndim == 2:
            # as the core: rows with no trials contribute nothing and are left out
            ok &= np.isfinite(y).all(axis=1) & ~np.all(y == 0, axis=1)
        else:
            ok &= np.isfinite(y)
        raw = frame[self.used]
        ok &= ~raw.isna().any(axis=1).to_numpy()
        for (Z, codes), t in zip(ordered, m.terms, strict=True):
            ok &= np.isfinite(Z).all(axis=1)
            unseen = (codes < 0) & ok
            if np.any(unseen) and not new_levels:
                raise ModelSpecificationError(
                    f"partition {index}: {int(np.sum(unseen))} rows with levels of "
                    f"{t.group_name!r} not seen in fitting; pass allow_new_levels=True to "
                    "predict them at the population level"
                )
            if not new_levels:
                ok &= codes >= 0
        if offset is not None:
            ok &= np.isfinite(offset)
        if w is not None:
            ok &= np.isfinite(w)
            ok &= w > 0
        rows = np.flatnonzero(ok)
        off = None if offset is None else offset[rows]
        yy = y[rows] if off is None or y.ndim == 2 else y[rows] - off
        keep = self.keep if self.keep is not None else list(range(X_full.shape[1]))
        return PartitionRows(
            X=X_full[rows][:, keep],
            X_full=X_full[rows],
            y=yy,
            y_raw=y[rows],
            offset=off,
            weights=None if w is None else w[rows],
            Zs=[Z[rows] for Z, _ in ordered],
            codes=[c[rows] for _, c in ordered],
            rows=rows,
        )


def build_design(
    formula: str,
    prototype: pd.DataFrame,
    meta: pd.DataFrame,
    used: list[str],
    weights: str | None,
    offset: str | None,
    contrasts: dict[str, str] | None,
    family: Any = "gaussian",
    link: Any = None,
) -> DaskDesign:
    """The core's model on the prototype (replicated so that the core's per-model
    size checks, which the caller repeats on the real sizes, do not see its few rows)."""
    n_rows = max(len(prototype), 1)
    reps = int(np.ceil(8 * (n_rows + 64) / n_rows))
    frame = pd.concat([prototype] * reps, ignore_index=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = mm.Model(
            formula,
            frame,
            family=family,
            link=link,
            weights=weights,
            offset=offset,
            contrasts=contrasts,
        )
    response = model.design.response_name
    is_column = response in meta.columns and pd.api.types.is_numeric_dtype(meta[response].dtype)
    if not is_column and (family == "gaussian" or not _READABLE_RESPONSE.match(response)):
        raise ModelSpecificationError(
            f"the response {response!r} must be a numeric column of the Dask frame"
            + (" (or cbind() of two, or a two-level factor column)" if family != "gaussian" else "")
            + "; compute it first, e.g. ddf = ddf.assign(y=...)"
        )
    return DaskDesign(model, response, weights, offset, used, meta, response_is_column=is_column)
