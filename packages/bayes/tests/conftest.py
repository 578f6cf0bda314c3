"""Shared fixtures: the reference cases copied from R (brms, blme) and the data sets."""

from __future__ import annotations

import faulthandler
import os
import sys
import warnings

import pytest

#: Seconds a test may run before the process dumps every thread's stack and exits, so
#: that a hang fails the CI job instead of blocking it (a sampling run once deadlocked;
#: decision 0024).  Generous: the slowest short test takes about a minute on 2 loaded
#: cores.
TEST_DEADLINE_S = float(os.environ.get("MIXEDMODELS_BAYES_TEST_DEADLINE_S", "900"))


@pytest.fixture(autouse=True)
def _deadline():
    faulthandler.dump_traceback_later(TEST_DEADLINE_S, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


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
