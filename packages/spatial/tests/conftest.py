"""Shared helpers: the reference cases copied from the R runs (tests never read the
shared reference folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

REFERENCE = Path(__file__).parent / "reference"


def reference_case(case_id: str) -> dict[str, Any]:
    """The case JSON (R's call and results) of ``case_id``."""
    return json.loads((REFERENCE / f"{case_id}.json").read_text())


def reference_data(case_id: str) -> pd.DataFrame:
    """The data of ``case_id`` with its factors as R had them (as strings)."""
    case = reference_case(case_id)
    types = case.get("column_types", {})
    factors = {c: str for c, t in types.items() if t in ("factor", "character")}
    return pd.read_csv(REFERENCE / case["data_file"].split("/")[-1], dtype=factors)
