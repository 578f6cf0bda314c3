"""Reference data of the PQL tests (a module of its own: test files of all
packages run together, so none imports from ``conftest``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

REF = Path(__file__).parent / "reference"


def load_case(name: str) -> dict:
    return json.loads((REF / f"{name}.json").read_text())


def cbpp() -> pd.DataFrame:
    d = pd.read_csv(REF / "cbpp.csv", dtype={"herd": str, "period": str})
    d["herd"] = pd.Categorical(d["herd"], categories=[str(i) for i in range(1, 16)])
    d["period"] = pd.Categorical(d["period"], categories=list("1234"))
    return d


def bacteria() -> pd.DataFrame:
    d = pd.read_csv(REF / "bacteria.csv")
    d["trt"] = pd.Categorical(d["trt"], categories=["placebo", "drug", "drug+"])
    d["y"] = pd.Categorical(d["y"], categories=["n", "y"])
    return d


def epil() -> pd.DataFrame:
    d = pd.read_csv(REF / "epil.csv")
    d["trt"] = pd.Categorical(d["trt"], categories=["placebo", "progabide"])
    d["subject"] = pd.Categorical(
        d["subject"].astype(str), categories=[str(i) for i in range(1, 60)]
    )
    return d
