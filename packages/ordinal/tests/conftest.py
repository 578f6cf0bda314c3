from __future__ import annotations

import pandas as pd
import pytest
from ordinal_testdata import load_wine


@pytest.fixture(scope="session")
def wine() -> pd.DataFrame:
    return load_wine()
