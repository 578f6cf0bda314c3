"""Loading the glmmTMB reference cases copied under ``reference/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

REFERENCE = Path(__file__).parent / "reference"


def load_case(case_id: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """The case JSON and its data, with R's factor levels."""
    case = json.loads((REFERENCE / f"{case_id}.json").read_text())
    data = pd.read_csv(REFERENCE / Path(case["data_file"]).name)
    for col, spec in case.get("factor_levels", {}).items():
        data[col] = pd.Categorical(data[col].astype(str), categories=spec["levels"])
    return case, data
