"""matplotlib, imported only when a plot is drawn (it is an optional dependency)."""

from __future__ import annotations

from typing import Any


def pyplot() -> Any:
    """Return ``matplotlib.pyplot`` or raise an ImportError saying how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            "plots need matplotlib: pip install 'mixedmodels-diagnostics[plot]'"
        ) from exc
    return plt


def finish(fig: Any, path: str | None, dpi: int = 100) -> Any:
    """Save ``fig`` to ``path`` (format from the suffix: .png, .svg, .pdf) when given."""
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
