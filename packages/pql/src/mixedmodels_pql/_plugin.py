"""Hook implementations: what mixedmodels-pql registers with mixedmodels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_estimators() -> Sequence[Any]:
    """The ``pql`` estimator."""
    from ._estimator import PQLEstimator

    return [PQLEstimator()]


@hookimpl
def mixedmodels_tidiers() -> Sequence[Any]:
    """``tidy`` and ``glance`` for :class:`~mixedmodels_pql.PQLResult`."""
    from mixedmodels.interfaces import Tidier

    from ._results import PQLResult
    from ._tidiers import glance_pql, tidy_pql

    return [Tidier(PQLResult, tidy_pql, glance_pql, None)]
