"""Hook implementations: the families this plugin registers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_families() -> Sequence[Any]:
    from ._registry import FAMILIES

    return [cls() for cls in FAMILIES]
