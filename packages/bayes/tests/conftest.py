"""Shared fixtures: the reference cases copied from R (brms, blme) and the data sets."""

from __future__ import annotations

import warnings

import pytest


@pytest.fixture(scope="session")
def sleepstudy():
    import mixedmodels as mm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="session")
def cbpp():
    import mixedmodels as mm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.datasets.load("cbpp")
