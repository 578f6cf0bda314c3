"""Hook implementations: what mixedmodels-gamm registers with mixedmodels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_tidiers() -> Sequence[Any]:
    """``tidy`` and ``glance`` for :class:`~mixedmodels_gamm.GammResult`."""
    from mixedmodels.interfaces import Tidier

    from ._gamm import GammResult, glance_gamm, tidy_gamm

    return [Tidier(GammResult, tidy_gamm, glance_gamm, None)]
