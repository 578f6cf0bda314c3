"""Shared fixtures: the reference cases copied from R (brms, blme) and the data sets."""

from __future__ import annotations

import faulthandler
import os
import sys
import warnings

import pytest

#: Seconds a test may run before the process dumps every thread's stack and exits, so
#: that a hang fails the CI job instead of blocking it (a sampling run once deadlocked;
#: decision 0024).  Generous: the slowest short test takes under a minute on 2 loaded
#: cores; the long reference runs (``MIXEDMODELS_BAYES_SLOW=1``) get 4 hours.
_SLOW = os.environ.get("MIXEDMODELS_BAYES_SLOW") == "1"
TEST_DEADLINE_S = float(
    os.environ.get("MIXEDMODELS_BAYES_TEST_DEADLINE_S", "14400" if _SLOW else "900")
)


@pytest.fixture(autouse=True)
def _deadline():
    # the process's own stderr: pytest's capture of sys.stderr would swallow the dump
    faulthandler.dump_traceback_later(TEST_DEADLINE_S, exit=True, file=sys.__stderr__)
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
