"""Hook implementations: what mixedmodels-ordinal registers with mixedmodels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_estimators() -> Sequence[Any]:
    """The ``clmm`` estimator."""
    from ._estimator import ClmmEstimator

    return [ClmmEstimator()]


@hookimpl
def mixedmodels_tidiers() -> Sequence[Any]:
    """``tidy`` and ``glance`` for :class:`~mixedmodels_ordinal.ClmmResult`."""
    from mixedmodels.interfaces import Tidier

    from ._results import ClmmResult
    from ._tidiers import glance_clmm, tidy_clmm

    return [Tidier(ClmmResult, tidy_clmm, glance_clmm, None)]
