"""Reference data of the ordinal tests (a module of its own: test files of
all packages run together, so none imports from ``conftest``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

REF = Path(__file__).parent / "reference"


def load_wine() -> pd.DataFrame:
    d = pd.read_csv(REF / "wine.csv", dtype={"rating": str, "judge": str, "bottle": str})
    d["rating"] = pd.Categorical(d["rating"], categories=list("12345"), ordered=True)
    d["temp"] = pd.Categorical(d["temp"], categories=["cold", "warm"])
    d["contact"] = pd.Categorical(d["contact"], categories=["no", "yes"])
    d["judge"] = pd.Categorical(d["judge"], categories=[str(i) for i in range(1, 10)])
    d["bottle"] = pd.Categorical(d["bottle"], categories=[str(i) for i in range(1, 9)])
    return d


def load_case(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())
