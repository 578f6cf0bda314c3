"""Hook implementations: what mixedmodels-gee registers with mixedmodels.

The working correlation structures are not registered as covariance structures: that
interface parameterises the covariance factor of a random-effect term, while a working
correlation is estimated by moments from the cluster's time points (see
``docs/decisions/0007-gee-working-correlation.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_estimators() -> Sequence[Any]:
    """The ``gee`` estimator."""
    from ._estimator import GEEEstimator

    return [GEEEstimator()]


@hookimpl
def mixedmodels_tidiers() -> Sequence[Any]:
    """``tidy`` and ``glance`` for :class:`~mixedmodels_gee.GEEResult`."""
    from mixedmodels.interfaces import Tidier

    from ._results import GEEResult
    from ._tidiers import glance_gee, tidy_gee

    return [Tidier(GEEResult, tidy_gee, glance_gee, None)]
