"""Entry point of mixedmodels-spatial: registers the spatial covariance structures."""

from __future__ import annotations

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_covariance_structures() -> list[type]:
    from ._structures import STRUCTURES

    return list(STRUCTURES)


@hookimpl
def mixedmodels_formula_rewriters() -> list[object]:
    from ._spamm import SpammSyntax

    return [SpammSyntax()]
