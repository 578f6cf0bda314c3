"""Fitted models: :class:`LMMResult`, :class:`GLMMResult`, :class:`GLSResult`.

The result classes are facades over the fitting layers below; their methods call
:mod:`mixedmodels.inference` and :mod:`mixedmodels.output` (downward only)."""

from __future__ import annotations

from .glmm import GLMMResult
from .gls import GLSResult
from .lmm import LMMResult

__all__ = [
    "GLMMResult",
    "GLSResult",
    "LMMResult",
]
