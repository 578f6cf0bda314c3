"""Shared fixtures of the core's tests.

The tests are grouped by the subpackage they exercise (``api/``, ``design/``,
``structures/``, ``families/``, ``linear/``, ``generalized/``, ``inference/``,
``numerics/``, ``output/``, ``plugins/``); reference figures from R live in
``reference/`` and the plugin fixtures in ``plugin_fixtures/``.
"""

from __future__ import annotations

import pandas as pd
import pytest

import mixedmodels as mm


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    """lme4's sleepstudy (a fresh frame per test module)."""
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def cbpp() -> pd.DataFrame:
    """lme4's cbpp (a fresh frame per test module)."""
    return mm.datasets.load("cbpp")
