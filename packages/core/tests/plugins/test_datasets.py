"""Tests of the data sets shipped with the core (:mod:`mixedmodels.datasets`).

Expected values are copied from the R 4.2.2 reference data (the case JSONs' ``factor_levels``
and the data CSVs) and from lme4's ``Dyestuff2``; the tests never read the reference folder.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import subprocess
import sys
import types
import warnings
from collections.abc import Iterator
from dataclasses import replace
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixedmodels import _builtin, datasets
from mixedmodels.datasets import _registry
from mixedmodels.hookspec import hookimpl
from mixedmodels.interfaces import Dataset
from mixedmodels.plugin_manager import manager as _plugins

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

CORE = Path(__file__).resolve().parents[2]

# name -> (rows, columns), from the reference README's table (Dyestuff2 from R).
EXPECTED: dict[str, tuple[int, list[str]]] = {
    "sleepstudy": (180, ["Reaction", "Days", "Subject"]),
    "Dyestuff": (30, ["Batch", "Yield"]),
    "Dyestuff2": (30, ["Batch", "Yield"]),
    "Penicillin": (144, ["diameter", "plate", "sample"]),
    "Pastes": (60, ["strength", "batch", "cask", "sample"]),
    "cake": (270, ["replicate", "recipe", "temperature", "angle", "temp"]),
    "InstEval": (73421, ["s", "d", "studage", "lectage", "service", "dept", "y"]),
    "cbpp": (56, ["herd", "incidence", "size", "period"]),
    "grouseticks": (
        403,
        ["INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT", "HEIGHT_s"],
    ),
    "VerbAgg": (
        7584,
        ["Anger", "Gender", "item", "resp", "id", "btype", "situ", "mode", "r2"],
    ),
    "Orthodont": (108, ["distance", "age", "Subject", "Sex"]),
    "Ovary": (308, ["Mare", "Time", "follicles"]),
    "Owls": (
        599,
        [
            "Nest",
            "FoodTreatment",
            "SexParent",
            "ArrivalTime",
            "SiblingNegotiation",
            "BroodSize",
            "NegPerChick",
            "logBroodSize",
        ],
    ),
    "Salamanders": (
        644,
        ["site", "mined", "cover", "sample", "DOP", "Wtemp", "DOY", "spp", "count"],
    ),
    "dietox": (861, ["Pig", "Evit", "Cu", "Litter", "Start", "Weight", "Feed", "Time"]),
    "ohio": (2148, ["resp", "id", "age", "smoke"]),
    "respiratory": (
        444,
        ["center", "id", "treat", "sex", "age", "baseline", "visit", "outcome"],
    ),
    "beta_sim": (600, ["g", "x", "y"]),
    "spatial_sim": (360, ["site", "sx", "sy", "x1", "z"]),
}

SLEEPSTUDY_SUBJECTS = [
    "308", "309", "310", "330", "331", "332", "333", "334", "335",
    "337", "349", "350", "351", "352", "369", "370", "371", "372",
]  # fmt: skip
ORTHODONT_SUBJECTS = [
    "M16", "M05", "M02", "M11", "M07", "M08", "M03", "M12", "M13", "M14", "M09",
    "M15", "M06", "M04", "M01", "M10", "F10", "F09", "F06", "F01", "F05", "F07",
    "F02", "F08", "F03", "F04", "F11",
]  # fmt: skip

# (data set, column) -> (levels in R's order, ordered), from the cases' factor_levels.
LEVELS: dict[tuple[str, str], tuple[list[str], bool]] = {
    ("sleepstudy", "Subject"): (SLEEPSTUDY_SUBJECTS, False),
    ("Orthodont", "Subject"): (ORTHODONT_SUBJECTS, True),
    ("Orthodont", "Sex"): (["Male", "Female"], False),
    ("Ovary", "Mare"): (["4", "2", "11", "7", "5", "9", "1", "6", "10", "3", "8"], True),
    ("InstEval", "dept"): (
        ["15", "5", "10", "12", "6", "7", "4", "8", "9", "14", "1", "3", "11", "2"],
        False,
    ),
    ("InstEval", "studage"): (["2", "4", "6", "8"], True),
    ("InstEval", "lectage"): (["1", "2", "3", "4", "5", "6"], True),
    ("InstEval", "service"): (["0", "1"], False),
    ("cake", "temperature"): (["175", "185", "195", "205", "215", "225"], True),
    ("cbpp", "period"): (["1", "2", "3", "4"], False),
    ("grouseticks", "YEAR"): (["95", "96", "97"], False),
    ("VerbAgg", "resp"): (["no", "perhaps", "yes"], True),
    ("VerbAgg", "mode"): (["want", "do"], False),
    ("VerbAgg", "Gender"): (["F", "M"], False),
    ("Salamanders", "mined"): (["yes", "no"], False),
    ("Salamanders", "spp"): (["GP", "PR", "DM", "EC-A", "EC-L", "DES-L", "DF"], False),
    ("Owls", "FoodTreatment"): (["Deprived", "Satiated"], False),
    ("dietox", "Cu"): (["Cu000", "Cu035", "Cu175"], False),
    ("respiratory", "treat"): (["A", "P"], False),
    ("Penicillin", "plate"): ([chr(c) for c in range(ord("a"), ord("x") + 1)], False),
}

# Number of levels of the long factors, first and last level.
LONG_FACTORS: dict[tuple[str, str], tuple[int, str, str]] = {
    ("InstEval", "s"): (2972, "1", "2972"),
    ("InstEval", "d"): (1128, "1", "2160"),
    ("VerbAgg", "id"): (316, "1", "316"),
    ("grouseticks", "INDEX"): (403, "1", "403"),
    ("dietox", "Pig"): (72, "4601", "8442"),
}

# lme4::Dyestuff2$Yield, as printed by R with 15 significant digits (exact doubles).
DYESTUFF2_YIELD = [
    7.298, 3.846, 2.434, 9.566, 7.99,
    5.22, 6.556, 0.608, 11.788, -0.892,
    0.11, 10.386, 13.434, 5.51, 8.166,
    2.212, 4.852, 7.092, 9.288, 4.98,
    0.282, 9.014, 4.458, 9.446, 7.198,
    1.722, 4.782, 8.106, 0.758, 3.758,
]  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def dataset_registry() -> Iterator[None]:
    """Make sure the core's data sets are in the plugin registry.

    They come from the ``builtin`` plugin.  While other parts of the core are being
    written that plugin may fail to load as a whole; then the same records are registered
    in-process, so that these tests still go through the registry look-up.
    """
    _plugins.reset_plugins()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _plugins.MixedModelsPluginWarning)
        registered = _plugins.registry("dataset")
    fallback = None
    if "sleepstudy" not in registered:
        fallback = types.ModuleType("mixedmodels_test_core_datasets")

        @hookimpl
        def mixedmodels_datasets() -> list[Dataset]:
            return list(_registry.BUILTIN_DATASETS)

        fallback.mixedmodels_datasets = mixedmodels_datasets  # type: ignore[attr-defined]
        _plugins.register_plugin(fallback, "test-core-datasets", distribution="mixedmodels")
    yield
    if fallback is not None:
        _plugins.unregister_plugin("test-core-datasets")
    _plugins.reset_plugins()


# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_dataset_loads_with_documented_shape(name: str) -> None:
    rows, columns = EXPECTED[name]
    frame = datasets.load(name)
    assert isinstance(frame, pd.DataFrame)
    assert frame.shape == (rows, len(columns))
    assert list(frame.columns) == columns
    assert isinstance(frame.index, pd.RangeIndex)


def test_registry_holds_exactly_the_shipped_files() -> None:
    names = [ds.name for ds in _registry.BUILTIN_DATASETS]
    assert sorted(names) == sorted(EXPECTED)
    files = {p.name for p in _data_dir().iterdir() if p.name.endswith(".csv.gz")}
    assert files == {f"{name}.csv.gz" for name in EXPECTED}
    for ds in _registry.BUILTIN_DATASETS:
        assert ds.n_rows == EXPECTED[ds.name][0]
        assert ds.description and ds.source


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_column_types_follow_r_storage_types(name: str) -> None:
    frame = datasets.load(name)
    spec = _registry.METADATA[name]
    for col in spec.columns:
        values = frame[col.name]
        if col.is_factor:
            assert isinstance(values.dtype, pd.CategoricalDtype), col.name
            assert list(values.cat.categories) == list(col.levels or ())
            assert values.cat.ordered is col.ordered
            # Levels are strings, also when they look numeric.
            assert all(isinstance(level, str) for level in values.cat.categories)
            # No shipped factor has missing values in R, so none may be missing here.
            assert values.notna().all()
        elif col.type == "integer":
            assert values.dtype == np.int64, col.name
        elif col.type == "double":
            assert values.dtype == np.float64, col.name
        else:  # pragma: no cover - no shipped data set has other types yet
            raise AssertionError(f"unexpected type {col.type}")


@pytest.mark.parametrize(("key", "expected"), sorted(LEVELS.items()))
def test_factor_levels_in_r_order(key: tuple[str, str], expected: tuple[list[str], bool]) -> None:
    name, column = key
    levels, ordered = expected
    values = datasets.load(name)[column]
    assert list(values.cat.categories) == levels
    assert values.cat.ordered is ordered


@pytest.mark.parametrize(("key", "expected"), sorted(LONG_FACTORS.items()))
def test_long_factor_levels(key: tuple[str, str], expected: tuple[int, str, str]) -> None:
    name, column = key
    count, first, last = expected
    categories = list(datasets.load(name)[column].cat.categories)
    assert (len(categories), categories[0], categories[-1]) == (count, first, last)


def test_sleepstudy_matches_reference_csv() -> None:
    sleep = datasets.load("sleepstudy")
    # Sums of the reference CSV's values, computed exactly (math.fsum).
    assert math.fsum(sleep["Reaction"]) == 53731.4205
    assert math.fsum(sleep["Days"]) == 810.0
    assert sleep["Reaction"].iloc[0] == 249.56
    assert sleep["Reaction"].iloc[-1] == 364.12360000000001
    assert sleep["Subject"].iloc[-1] == "372"
    assert sleep["Subject"].value_counts().eq(10).all()
    assert sorted(sleep["Days"].unique()) == list(range(10))


def test_dyestuff2_matches_r() -> None:
    dye = datasets.load("Dyestuff2")
    assert dye["Yield"].tolist() == DYESTUFF2_YIELD
    assert dye["Batch"].tolist() == [b for b in "ABCDEF" for _ in range(5)]
    assert list(dye["Batch"].cat.categories) == list("ABCDEF")


def test_other_reference_values() -> None:
    assert datasets.load("InstEval")["y"].sum() == 235369
    assert datasets.load("Dyestuff")["Yield"].sum() == 45825.0
    # lme4's Pastes: sample is the batch:cask combination.
    pastes = datasets.load("Pastes")
    combined = pastes["batch"].astype(str) + ":" + pastes["cask"].astype(str)
    assert (combined == pastes["sample"].astype(str)).all()


def test_missing_values_are_nan() -> None:
    dietox = datasets.load("dietox")
    feed_missing = dietox["Feed"].isna()
    # geepack's dietox: the cumulated feed intake is missing at week 1 for every pig.
    assert feed_missing.sum() == 72
    assert (dietox.loc[feed_missing, "Time"] == 1).all()
    assert dietox["Feed"].dtype == np.float64


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_numbers_are_exact_doubles(name: str) -> None:
    # Python's float() is correctly rounded: the loader must give the very same doubles.
    with gzip.open(_data_dir() / f"{name}.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    frame = datasets.load(name)
    for col in _registry.METADATA[name].columns:
        if col.type not in ("double", "integer"):
            continue
        j = header.index(col.name)
        expected = np.array([math.nan if r[j] == "NA" else float(r[j]) for r in rows])
        got = frame[col.name].to_numpy(dtype=np.float64)
        assert np.array_equal(got, expected, equal_nan=True), col.name


def test_reader_restores_types_and_missing_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        '"f","o","i","j","d","b","c"\n'
        '"b","hi",1,NA,1.5,TRUE,"x"\n'
        'NA,"lo",2,3,NA,FALSE,NA\n'
        '"","lo",3,4,0.1,NA,"NaN"\n'
        '"NaN","hi",-4,5,-2,TRUE,""\n'
    )
    (tmp_path / "toy.csv.gz").write_bytes(gzip.compress(text.encode()))
    monkeypatch.setattr(_registry, "_data_file", lambda name: tmp_path / name)
    columns = (
        _registry.ColumnSpec("f", "factor", ("b", "", "NaN", "unused"), False),
        _registry.ColumnSpec("o", "ordered_factor", ("lo", "hi"), True),
        _registry.ColumnSpec("i", "integer"),
        _registry.ColumnSpec("j", "integer"),
        _registry.ColumnSpec("d", "double"),
        _registry.ColumnSpec("b", "logical"),
        _registry.ColumnSpec("c", "character"),
    )
    spec = _registry.DatasetSpec("toy", "toy.csv.gz", None, "t", "d", "s", 4, columns)
    frame = _registry.read_dataset(spec)
    assert frame["f"].cat.categories.tolist() == ["b", "", "NaN", "unused"]
    # Only NA is missing: the empty string and "NaN" are levels like any other.
    assert frame["f"].isna().tolist() == [False, True, False, False]
    assert frame["f"].cat.codes.tolist() == [0, -1, 1, 2]
    assert frame["o"].cat.ordered
    assert (frame["o"] > "lo").tolist() == [True, False, False, True]
    assert frame["i"].dtype == np.int64 and frame["i"].tolist() == [1, 2, 3, -4]
    assert frame["j"].dtype == "Int64" and frame["j"].isna().tolist() == [True] + [False] * 3
    assert frame["d"].dtype == np.float64 and math.isnan(frame["d"].iloc[1])
    assert frame["b"].dtype == "boolean"
    assert frame["b"].isna().tolist() == [False, False, True, False]
    assert frame["c"].isna().tolist() == [False, True, False, False]
    assert frame["c"].iloc[2] == "NaN" and frame["c"].iloc[3] == ""


def test_load_returns_a_new_frame_each_time() -> None:
    first = datasets.load("Dyestuff")
    first.loc[0, "Yield"] = -1.0
    assert datasets.load("Dyestuff").loc[0, "Yield"] == 1545.0


def test_insteval_loads_whole() -> None:
    # (its load time is measured in benchmarks/design_bench.py, not asserted here)
    data = datasets.load("InstEval")
    assert data.shape[0] == 73_421


# ---------------------------------------------------------------------------- look-up


def test_name_lookup_is_exact_then_case_insensitive() -> None:
    exact = datasets.load("Dyestuff")
    pd.testing.assert_frame_equal(datasets.load("dyestuff"), exact)
    pd.testing.assert_frame_equal(datasets.load("DYESTUFF"), exact)
    # The exact name wins: "Dyestuff2" is not "dyestuff" plus anything.
    assert datasets.load("dyestuff2")["Yield"].tolist() == DYESTUFF2_YIELD
    assert datasets.load("SleepStudy").shape == (180, 3)


def test_unknown_name_error_lists_available_names() -> None:
    with pytest.raises(KeyError) as info:
        datasets.load("sleepstudyy")
    message = str(info.value)
    assert "sleepstudyy" in message
    assert "sleepstudy" in message.replace("sleepstudyy", "")
    for name in ("Dyestuff", "InstEval", "Orthodont"):
        assert name in message
    with pytest.raises(KeyError):
        datasets.describe("no-such-data")


def test_plugin_datasets_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    plugin = types.ModuleType("mixedmodels_test_extra_datasets")

    @hookimpl
    def mixedmodels_datasets() -> list[Dataset]:
        return [Dataset("TinyData", "Two numbers. Nothing else.", "Made up.", frame.copy, 2)]

    plugin.mixedmodels_datasets = mixedmodels_datasets  # type: ignore[attr-defined]
    _plugins.register_plugin(plugin, "test-extra-datasets")
    try:
        pd.testing.assert_frame_equal(datasets.load("tinydata"), frame)
        table = datasets.list().set_index("name")
        assert table.loc["TinyData", "provided_by"] == "test-extra-datasets"
        assert table.loc["TinyData", "description"] == "Two numbers."
        assert table.loc["TinyData", "rows"] == 2
        text = datasets.describe("TinyData")
        assert "Two numbers. Nothing else." in text and "Made up." in text
    finally:
        _plugins.unregister_plugin("test-extra-datasets")
    with pytest.raises(KeyError):
        datasets.load("TinyData")


# ------------------------------------------------------------------- list / describe


def test_list() -> None:
    table = datasets.list()
    assert list(table.columns) == ["name", "rows", "description", "source", "provided_by"]
    assert set(EXPECTED) <= set(table["name"])
    core = table.set_index("name").loc[sorted(EXPECTED)]
    assert core["rows"].tolist() == [EXPECTED[name][0] for name in sorted(EXPECTED)]
    assert (core["provided_by"] == "mixedmodels").all()
    assert core["description"].str.endswith(".").all()
    sleep_description = str(core.loc["sleepstudy", "description"])
    assert sleep_description.startswith("The average reaction time")
    assert sleep_description.endswith("over 10 days.")
    assert str(core.loc["Orthodont", "source"]).startswith("R package nlme")
    assert str(core.loc["sleepstudy", "source"]).startswith("R package lme4")


def test_first_sentence_skips_abbreviations() -> None:
    first = datasets._first_sentence
    assert first("Data from O. L. Davies, e.g. yields. More text.") == (
        "Data from O. L. Davies, e.g. yields."
    )
    assert first("No full stop at all") == "No full stop at all"
    assert first("Belenky et al. (2003) did it. Then") == "Belenky et al. (2003) did it."


def test_describe() -> None:
    text = datasets.describe("cake")
    assert text.startswith("cake: Breakage angle of chocolate cakes")
    assert "Rows: 270" in text
    assert "temperature (ordered factor): 175 < 185 < 195 < 205 < 215 < 225" in text
    assert "Source: R package lme4" in text
    assert "Provided by: mixedmodels" in text
    assert "(2972 levels)" in datasets.describe("insteval")


# ------------------------------------------------------------- metadata and packaging


def _data_dir() -> Path:
    return Path(str(resources.files("mixedmodels.datasets").joinpath("data")))


def test_metadata_file_is_consistent() -> None:
    raw = json.loads((_data_dir() / "metadata.json").read_text(encoding="utf-8"))
    assert list(raw["datasets"]) == list(_registry.METADATA)
    for name, entry in raw["datasets"].items():
        assert entry["file"] == f"{name}.csv.gz"
        for key in ("title", "description", "source"):
            assert isinstance(entry[key], str) and entry[key].strip(), (name, key)
        assert entry["package"] in {"lme4", "nlme", "glmmTMB", "geepack", None}
        if entry["package"] is not None:
            assert f"R package {entry['package']}" in entry["source"]
        for col in entry["columns"]:
            if col["type"] in ("factor", "ordered_factor"):
                assert col["ordered"] is (col["type"] == "ordered_factor")


def test_value_outside_the_levels_is_an_error() -> None:
    spec = _registry.METADATA["Dyestuff"]
    batch = replace(spec.columns[0], levels=("A", "B", "C"))
    broken = replace(spec, columns=(batch, *spec.columns[1:]))
    with pytest.raises(ValueError, match="not among the 3 factor levels"):
        _registry.read_dataset(broken)


def test_builtin_hook_returns_the_records() -> None:
    records = _builtin.mixedmodels_datasets()
    assert [ds.name for ds in records] == [ds.name for ds in _registry.BUILTIN_DATASETS]
    assert all(isinstance(ds, Dataset) for ds in records)


def test_registration_reads_no_data_file() -> None:
    # In a fresh interpreter: import the registry and run the hook while recording every
    # file opened; only metadata.json may be read.
    code = (
        "import sys\n"
        "opened = []\n"
        "sys.addaudithook(lambda event, args: opened.append(str(args[0])) "
        "if event == 'open' else None)\n"
        "from mixedmodels import _builtin\n"
        "records = _builtin.mixedmodels_datasets()\n"
        "assert len(records) > 10\n"
        "print([p for p in opened if p.endswith('.csv.gz')])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_data_files_are_package_data() -> None:
    # The wheel includes what [tool.setuptools.package-data] names; every shipped file
    # must match one of its patterns (checked once by building the wheel by hand).
    config = tomllib.loads((CORE / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["mixedmodels"]
    package_root = CORE / "src" / "mixedmodels"
    shipped = sorted(p for p in _data_dir().iterdir() if p.is_file())
    assert len(shipped) == len(EXPECTED) + 1
    for path in shipped:
        relative = path.relative_to(package_root).as_posix()
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative
