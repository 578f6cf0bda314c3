"""The data sets shipped with the core, and the reader that restores R's column types.

Each data set is a gzip-compressed CSV file in ``datasets/data`` written in the format of
the mixedmodels reference data (see ``tools/reference/export_datasets.R``): a header row,
factor columns as quoted strings, numbers with enough digits to round-trip a double,
missing values as ``NA``.  ``datasets/data/metadata.json`` holds, per data set, the
description, the source and the column specification: R's storage type of every column
and, for factors, the levels in R's order and whether the factor is ordered.

Importing this module reads only ``metadata.json``; a CSV file is read when its data set
is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..interfaces import Dataset

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BUILTIN_DATASETS",
    "METADATA",
    "ColumnSpec",
    "DatasetSpec",
    "read_dataset",
    "spec_for",
]

#: Data files live in this folder of the ``mixedmodels.datasets`` package.
_PACKAGE = "mixedmodels.datasets"
_DATA_DIR = "data"
_METADATA_FILE = "metadata.json"

#: R storage types that the reader understands.
_FACTOR_TYPES = frozenset({"factor", "ordered_factor"})
_TYPES = _FACTOR_TYPES | {"double", "integer", "logical", "character"}


@dataclass(frozen=True)
class ColumnSpec:
    """How to restore one column of a data set.

    Attributes
    ----------
    name : str
        Column name.
    type : str
        R storage type: ``"double"``, ``"integer"``, ``"logical"``, ``"character"``,
        ``"factor"`` or ``"ordered_factor"``.
    levels : tuple of str or None
        For factors, the levels in R's order (always strings); ``None`` otherwise.
    ordered : bool
        For factors, whether the factor is ordered.
    """

    name: str
    type: str
    levels: tuple[str, ...] | None = None
    ordered: bool = False

    @property
    def is_factor(self) -> bool:
        """Whether the column is a (possibly ordered) factor."""
        return self.type in _FACTOR_TYPES

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], dataset: str) -> ColumnSpec:
        """Build and check a column specification from its ``metadata.json`` entry."""
        name, kind = obj["name"], obj["type"]
        if kind not in _TYPES:
            raise ValueError(f"data set {dataset!r}, column {name!r}: unknown type {kind!r}")
        if kind not in _FACTOR_TYPES:
            return cls(name, kind)
        levels = tuple(str(level) for level in obj["levels"])
        ordered = bool(obj.get("ordered", kind == "ordered_factor"))
        if ordered != (kind == "ordered_factor"):
            raise ValueError(
                f"data set {dataset!r}, column {name!r}: type {kind!r} contradicts "
                f"ordered={ordered}"
            )
        if len(set(levels)) != len(levels):
            raise ValueError(f"data set {dataset!r}, column {name!r}: duplicated levels")
        return cls(name, kind, levels, ordered)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything ``metadata.json`` says about one shipped data set.

    Attributes
    ----------
    name : str
        Registered name, as in R (e.g. ``"sleepstudy"``, ``"Dyestuff"``).
    file : str
        File name in ``datasets/data``.
    package : str or None
        The R package the data come from; ``None`` for simulated data.
    title : str
        The title of R's help page.
    description : str
        One paragraph: what the rows are, the columns and their meaning.
    source : str
        Citation, naming the R package.
    n_rows : int
        Number of rows.
    columns : tuple of ColumnSpec
        The columns, in file order.
    """

    name: str
    file: str
    package: str | None
    title: str
    description: str
    source: str
    n_rows: int
    columns: tuple[ColumnSpec, ...]

    @classmethod
    def from_json(cls, name: str, obj: Mapping[str, Any]) -> DatasetSpec:
        """Build a data-set specification from its ``metadata.json`` entry."""
        return cls(
            name=name,
            file=obj["file"],
            package=obj.get("package"),
            title=obj["title"],
            description=obj["description"],
            source=obj["source"],
            n_rows=int(obj["n_rows"]),
            columns=tuple(ColumnSpec.from_json(col, name) for col in obj["columns"]),
        )


def _data_file(name: str) -> Any:
    # importlib.resources rather than a path next to __file__: works from wheels and zips.
    return resources.files(_PACKAGE).joinpath(_DATA_DIR).joinpath(name)


def _read_metadata() -> dict[str, DatasetSpec]:
    with _data_file(_METADATA_FILE).open("r", encoding="utf-8") as fh:
        raw = json.load(fh)
    return {name: DatasetSpec.from_json(name, obj) for name, obj in raw["datasets"].items()}


def read_dataset(spec: DatasetSpec) -> pd.DataFrame:
    """Read one shipped data set, restoring R's column types.

    Factors become :class:`pandas.Categorical` with R's levels (strings, also when they
    look numeric) and ordered flag; integers become ``int64`` (nullable ``Int64`` if the
    column has missing values); doubles ``float64``; logicals ``bool`` (nullable
    ``boolean`` with missing values); character columns strings.  ``NA`` in the file is
    the only missing-value marker.

    Parameters
    ----------
    spec : DatasetSpec
        The data set's entry in ``metadata.json``.

    Returns
    -------
    pandas.DataFrame
        A new frame on every call, columns in file order.

    Raises
    ------
    ValueError
        If the file does not match its specification (columns, row count, or a factor
        value that is not one of the levels).
    """
    import numpy as np
    import pandas as pd

    pandas_major = int(pd.__version__.split(".")[0])
    # Factor and character columns are read as strings so that pandas never infers
    # their type ("308" must stay a level, not become the number 308); numbers get the
    # exact dtype R had.  Integer columns are read as nullable Int64 first because a
    # missing value cannot be detected from an int64 read.
    dtypes: dict[str, Any] = {}
    for col in spec.columns:
        if col.is_factor or col.type == "character":
            dtypes[col.name] = object
        elif col.type == "integer":
            dtypes[col.name] = "Int64"
        elif col.type == "logical":
            dtypes[col.name] = "boolean"
        else:
            dtypes[col.name] = np.float64
    with _data_file(spec.file).open("rb") as fh:
        frame = pd.read_csv(
            fh,
            compression="gzip",
            dtype=dtypes,
            # R writes missing values as NA, and nothing else is missing: a level "" or
            # "NaN" must survive.
            keep_default_na=False,
            na_values=["NA"],
            true_values=["TRUE"],
            false_values=["FALSE"],
            engine="c",
        )
    expected = [col.name for col in spec.columns]
    if list(frame.columns) != expected:
        raise ValueError(
            f"data set {spec.name!r}: file {spec.file} has columns {list(frame.columns)}, "
            f"metadata says {expected}"
        )
    if len(frame) != spec.n_rows:
        raise ValueError(
            f"data set {spec.name!r}: file {spec.file} has {len(frame)} rows, "
            f"metadata says {spec.n_rows}"
        )
    for col in spec.columns:
        values = frame[col.name]
        if col.is_factor:
            frame[col.name] = _to_factor(spec.name, col, values)
        elif col.type == "integer" and not values.hasnans:
            frame[col.name] = values.to_numpy(dtype=np.int64)
        elif col.type == "logical" and not values.hasnans:
            frame[col.name] = values.to_numpy(dtype=bool)
        elif col.type == "character" and pandas_major >= 3:
            # pandas 3's string dtype keeps NaN; pandas 2's astype(str) would write "nan",
            # so there the column stays object.
            frame[col.name] = values.astype("str")
    return frame


def _to_factor(dataset: str, col: ColumnSpec, values: pd.Series) -> pd.Categorical[str]:
    import numpy as np
    import pandas as pd

    levels = pd.Index(list(col.levels or ()))
    # Codes by hand rather than pd.Categorical(values, categories=...), which turns a
    # value outside the categories into NaN without a word.  Factorizing first keeps the
    # level matching to the few distinct values (InstEval: 73k rows, <3k students).
    row_codes, distinct = pd.factorize(values.to_numpy(dtype=object))
    level_codes = levels.get_indexer(pd.Index(distinct))
    unknown = level_codes == -1
    if unknown.any():
        bad = sorted(str(v) for v in distinct[unknown])[:5]
        raise ValueError(
            f"data set {dataset!r}, column {col.name!r}: values {bad} are not among the "
            f"{len(levels)} factor levels in metadata.json"
        )
    # factorize marks missing values with -1, as Categorical codes do.
    codes = np.where(row_codes >= 0, level_codes[row_codes], -1)
    return pd.Categorical.from_codes(codes, categories=levels, ordered=col.ordered)


#: Specifications of the shipped data sets, by name, in listing order.
METADATA: dict[str, DatasetSpec] = _read_metadata()

#: The data sets the core registers through the ``mixedmodels_datasets`` hook.  Each
#: loader reads its file on call; nothing is read at registration.
BUILTIN_DATASETS: list[Dataset] = [
    Dataset(
        name=spec.name,
        description=spec.description,
        source=spec.source,
        loader=partial(read_dataset, spec),
        n_rows=spec.n_rows,
    )
    for spec in METADATA.values()
]

_SPEC_BY_ID = {id(ds): METADATA[ds.name] for ds in BUILTIN_DATASETS}


def spec_for(dataset: Dataset) -> DatasetSpec | None:
    """Return the specification of a core data set, or ``None`` for a plugin's.

    Identity, not the name, decides: a plugin's record is never mistaken for a built-in.
    """
    return _SPEC_BY_ID.get(id(dataset))
