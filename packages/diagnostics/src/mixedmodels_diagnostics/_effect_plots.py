"""Caterpillar plots of the random effects and influence index plots (matplotlib).

``plot_caterpillar`` is lme4's ``dotplot(ranef(fit, condVar = TRUE))``;
``plot_influence`` is influence.ME's ``plot(estex, which = "cook", cutoff = 4/n)``.
matplotlib is imported only when a plot is drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._matplotlib import finish, pyplot

__all__ = ["plot_caterpillar", "plot_influence"]

_DPI = 100
# Measures for which influence.ME's rule of thumb 4/n is the default cut-off.
_FOUR_OVER_N = ("cooks_distance", "mdffits")


def _ranef_frame(fit: Any, group: str | None) -> pd.DataFrame:
    """lme4's ``as.data.frame(ranef(fit, condVar = TRUE))`` for one or all factors."""
    if not hasattr(fit, "ranef") or not hasattr(fit, "model"):
        raise TypeError(
            f"plot_caterpillar needs a fitted mixed model (LMMResult, GLMMResult), "
            f"not a {type(fit).__name__}"
        )
    frame = fit.ranef(condvar=True)
    groups = list(dict.fromkeys(frame["grpvar"]))
    if group is not None:
        if group not in groups:
            raise ValueError(
                f"unknown grouping factor {group!r}; the model's grouping factors are {groups}"
            )
        frame = frame[frame["grpvar"] == group]
    return frame.reset_index(drop=True)


def plot_caterpillar(
    fit: Any,
    group: str | None = None,
    level: float = 0.95,
    path: str | None = None,
    ax: Any = None,
) -> Any:
    """Caterpillar plot: conditional modes with their prediction intervals.

    As lme4's ``dotplot(ranef(fit, condVar = TRUE))``: one panel per random-effect
    column (``(Intercept)``, ``Days`` ...) of each grouping factor, the levels sorted
    by the first column's mode (the same order in every panel of a factor), each mode
    with ``+- z * condsd`` (the conditional SD from ``fit.ranef(condvar=True)``).

    Parameters
    ----------
    fit
        A fitted :class:`~mixedmodels.LMMResult` or :class:`~mixedmodels.GLMMResult`.
    group
        One grouping factor; ``None`` draws every factor (one row of panels each).
    level
        Coverage of the intervals (normal quantile).
    path
        Save the figure there (``.png``, ``.svg``, ``.pdf``) at 100 dpi.
    ax
        matplotlib ``Axes`` to draw into: one ``Axes`` for a single panel (one
        grouping factor with one random-effect column), else an array of shape
        ``(factors, columns)``; the figure is then not re-laid out.

    Returns
    -------
    matplotlib.figure.Figure
        ``figsize`` ``(3.2 * panels + 1.2, ...)`` inches, 100 dpi.

    Raises
    ------
    ValueError
        Unknown ``group`` (the message lists the model's grouping factors) or a
        ``level`` outside (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    frame = _ranef_frame(fit, group)
    plt = pyplot()
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    factors = list(dict.fromkeys(frame["grpvar"]))
    terms = {g: list(dict.fromkeys(frame.loc[frame["grpvar"] == g, "term"])) for g in factors}
    ncols = max(len(t) for t in terms.values())
    nlev = max(int((frame["grpvar"] == g).sum() / len(terms[g])) for g in factors)
    # Rows of levels need ~0.16 in each; a cap keeps huge factors drawable.
    height = min(2.0 + 0.16 * nlev, 14.0) * len(factors)
    own = ax is None
    if not own:
        flat = np.asarray(ax, dtype=object).reshape(-1)
        if flat.size != len(factors) * ncols:
            raise ValueError(
                f"plot_caterpillar draws {len(factors)} x {ncols} panels (grouping factors x "
                f"random-effect columns); ax has {flat.size}"
            )
        axes = flat.reshape(len(factors), ncols)
        fig = axes[0, 0].figure
    else:
        fig, axes = plt.subplots(
            len(factors),
            ncols,
            figsize=(3.2 * ncols + 1.2, height),
            dpi=_DPI,
            squeeze=False,
        )
    for r, g in enumerate(factors):
        sub = frame[frame["grpvar"] == g]
        first = sub[sub["term"] == terms[g][0]]
        # Sort by the first column's modes, as lme4's dotplot does.
        order = list(first.sort_values("condval")["grp"].astype(str))
        pos = {lvl: i for i, lvl in enumerate(order)}
        show_labels = len(order) <= 60
        for c in range(ncols):
            ax = axes[r, c]
            if c >= len(terms[g]):
                ax.set_visible(False)
                continue
            t = sub[sub["term"] == terms[g][c]]
            y = t["grp"].astype(str).map(pos).to_numpy(dtype=float)
            x = t["condval"].to_numpy(dtype=float)
            half = z * t["condsd"].to_numpy(dtype=float)
            ax.errorbar(x, y, xerr=half, fmt="o", ms=3, color="#1f5fa8", ecolor="#7a9cc6", lw=1)
            ax.axvline(0.0, color="grey", lw=0.8, ls="--")
            ax.set_title(f"{g}: {terms[g][c]}", fontsize=9)
            ax.set_ylim(-1, len(order))
            if show_labels and c == 0:
                ax.set_yticks(range(len(order)))
                ax.set_yticklabels(order, fontsize=6)
            elif show_labels:
                ax.set_yticks(range(len(order)))
                ax.set_yticklabels([])
            else:
                ax.set_yticks([])
            ax.tick_params(axis="x", labelsize=7)
    if own:
        fig.suptitle(f"Conditional modes with {100 * level:g}% intervals", fontsize=10)
        fig.tight_layout()
    return finish(fig, path, dpi=_DPI)


def plot_influence(
    infl: Any,
    measure: str = "cooks_distance",
    cutoff: float | None = None,
    path: str | None = None,
    ax: Any = None,
) -> Any:
    """Influence index plot (influence.ME's ``plot(..., which = "cook")``).

    One point per deleted observation or group, in the data's order; the points above
    ``cutoff`` are drawn red and labelled with the unit, and the cut-off as a dashed
    line.

    Parameters
    ----------
    infl
        An :class:`~mixedmodels_diagnostics.InfluenceResult`.
    measure
        A column of ``infl.table`` (``cooks_distance``, ``mdffits``, ``covratio``,
        ``covtrace``, ``rvc_...``, ``leverage``...).
    cutoff
        Threshold line; default ``4 / n`` for Cook's distance and MDFFITS (influence.ME's
        rule) and none for the other measures.
    path
        Save the figure there (``.png``, ``.svg``, ``.pdf``) at 100 dpi.
    ax
        A matplotlib ``Axes`` to draw into; the figure is then not re-laid out.

    Returns
    -------
    matplotlib.figure.Figure
        ``figsize`` ``(max(6, min(14, 0.3 n + 2)), 4)`` inches, 100 dpi.
    """
    table = getattr(infl, "table", None)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(
            f"plot_influence needs an InfluenceResult (from influence()), not a "
            f"{type(infl).__name__}"
        )
    if measure not in table.columns:
        raise ValueError(f"unknown measure {measure!r}; choose one of {list(table.columns)}")
    if cutoff is None and measure in _FOUR_OVER_N:
        cutoff = 4.0 / len(table)
    plt = pyplot()
    values = table[measure].to_numpy(dtype=float)
    labels = [str(v) for v in table.index]
    n = values.size
    x = np.arange(n)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(max(6.0, min(14.0, 0.3 * n + 2.0)), 4.0), dpi=_DPI)
    else:
        fig = ax.figure
    above = np.zeros(n, dtype=bool) if cutoff is None else values > cutoff
    ax.vlines(x, 0.0, values, color="#9db4d3", lw=0.8)
    ax.plot(x[~above], values[~above], "o", color="#1f5fa8", ms=4)
    ax.plot(x[above], values[above], "^", color="#c0392b", ms=6)
    for i in np.flatnonzero(above):  # a loop over the few labelled points
        ax.annotate(
            labels[i], (x[i], values[i]), xytext=(3, 3), textcoords="offset points", fontsize=7
        )
    if cutoff is not None:
        ax.axhline(cutoff, color="#c0392b", ls="--", lw=0.9, label=f"cut-off {cutoff:.3g}")
        ax.legend(fontsize=8, loc="upper right")
    level = getattr(infl, "level", "unit")
    if n <= 40:
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
    ax.set_xlabel(level)
    ax.set_ylabel(measure)
    ax.set_title(f"{measure} by deleted {level} ({getattr(infl, 'method', '')})", fontsize=10)
    if own:
        fig.tight_layout()
    return finish(fig, path, dpi=_DPI)
