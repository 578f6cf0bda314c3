"""Hook implementations: what mixedmodels-bayes registers with mixedmodels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_estimators() -> Sequence[Any]:
    """The ``nuts`` (posterior draws) and ``map`` (blme's posterior mode) estimators."""
    from ._estimator import NUTSEstimator
    from ._map import MAPEstimator

    return [NUTSEstimator(), MAPEstimator()]


@hookimpl
def mixedmodels_tidiers() -> Sequence[Any]:
    """``tidy`` and ``glance`` for :class:`~mixedmodels_bayes.BayesResult`."""
    from mixedmodels.interfaces import Tidier

    from ._results import BayesResult
    from ._tidiers import glance_bayes, tidy_bayes

    return [Tidier(BayesResult, tidy_bayes, glance_bayes, None)]
