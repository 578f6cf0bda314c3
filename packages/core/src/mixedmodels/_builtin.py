"""The core's built-in plugin.

The core registers its own links, families, covariance structures, estimators,
datasets, tidiers and formatters through the same hooks a third-party plugin uses
(entry point ``builtin`` in the core's ``pyproject.toml``), as pytest does with its
built-in plugins.  Imports happen inside the hooks so that ``import mixedmodels``
stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .hookspec import hookimpl


@hookimpl
def mixedmodels_links() -> Sequence[Any]:
    from .families.links import BUILTIN_LINKS

    return [cls() for cls in BUILTIN_LINKS]


@hookimpl
def mixedmodels_families() -> Sequence[Any]:
    from .families.distributions import BUILTIN_FAMILIES

    return [cls() for cls in BUILTIN_FAMILIES]


@hookimpl
def mixedmodels_covariance_structures() -> Sequence[Any]:
    from .structures.covariance import BUILTIN_STRUCTURES

    return list(BUILTIN_STRUCTURES)


@hookimpl
def mixedmodels_estimators() -> Sequence[Any]:
    from .estimators import BUILTIN_ESTIMATORS, GLMM_ESTIMATORS

    return [cls() for cls in [*BUILTIN_ESTIMATORS, *GLMM_ESTIMATORS]]


@hookimpl
def mixedmodels_datasets() -> Sequence[Any]:
    from .datasets._registry import BUILTIN_DATASETS

    return list(BUILTIN_DATASETS)


@hookimpl
def mixedmodels_tidiers() -> Sequence[Any]:
    from .results.tidiers import BUILTIN_TIDIERS

    return list(BUILTIN_TIDIERS)


@hookimpl
def mixedmodels_formatters() -> Mapping[str, Any]:
    from .output.formatters import BUILTIN_FORMATTERS

    return dict(BUILTIN_FORMATTERS)


@hookimpl
def mixedmodels_table_formats() -> Mapping[str, Any]:
    from .output.tabular import TABULAR_FORMATS

    return dict(TABULAR_FORMATS)
