"""Fitted models: :class:`LMMResult`, :class:`GLMMResult`, :class:`GLSResult`,
:class:`TMBResult` (the general Laplace engine).

The result classes are facades over the fitting layers below; their methods call
:mod:`mixedmodels.inference` and :mod:`mixedmodels.output` (downward only)."""

from __future__ import annotations

from .glmm import GLMMResult
from .gls import GLSResult
from .lmm import LMMResult
from .tmb import TMBResult

__all__ = [
    "GLMMResult",
    "GLSResult",
    "LMMResult",
    "TMBResult",
]
