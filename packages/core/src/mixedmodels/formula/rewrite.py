"""Formula rewriters registered by plugins (``mixedmodels_formula_rewriters``): syntax of
other packages turned into the core's before the model is built."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["rewrite_formula"]


def rewrite_formula(formula: str, data: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """Apply every registered formula rewriter, in name order.

    Returns
    -------
    (formula, data)
        Unchanged when no rewriter recognises the formula.
    """
    from ..plugin_manager import manager as _plugins

    rewriters: dict[str, Any] = _plugins.registry("formula_rewriter")
    for name in sorted(rewriters):
        out = rewriters[name].rewrite(formula, data)
        if out is not None:
            formula, data = out
    return formula, data
