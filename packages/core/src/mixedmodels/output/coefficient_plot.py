"""Dot-and-whisker plots of several models' coefficients (R's dotwhisker, sjPlot) and
a caterpillar plot of their random effects (lme4's ``dotplot(ranef(fit, condVar =
TRUE))``).

Both read the models through their registered tidiers (:func:`mixedmodels.tidy`), so
any result a plugin registers a tidier for can be plotted.  matplotlib is optional: it
is imported when a plot is drawn, with a clear error when it is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .regression_table import _named, coefficient_frame

__all__ = ["plot_caterpillar", "plot_coefficients", "random_effects_frame"]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the test deps
        raise ImportError(
            "plots need matplotlib: pip install matplotlib (or mixedmodels[plot])"
        ) from exc
    return plt


def _offsets(n: int, spread: float = 0.3) -> Any:
    return np.zeros(1) if n == 1 else np.linspace(-spread / 2, spread / 2, n)


def plot_coefficients(
    models: Sequence[Any] | Mapping[str, Any],
    *,
    conf_level: float = 0.95,
    intercept: bool = False,
    terms: Sequence[str] | None = None,
    ax: Any = None,
) -> Any:
    """Dot-and-whisker plot of the fixed effects of one or several models.

    Parameters
    ----------
    models
        Fitted results (any with a registered tidier), a list or ``{label: result}``.
    conf_level
        Level of the whiskers (the tidier's ``conf_int`` intervals, else Wald).
    intercept
        Whether to draw ``(Intercept)`` (off by default: its scale dwarfs the slopes).
    terms
        Terms to draw, in order (default: every fixed effect, in order of appearance).
    ax
        A matplotlib ``Axes`` to draw on (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
        The axes, one row per term, one colour per model, a dashed line at zero.
    """
    plt = _pyplot()
    named = _named(models)
    frame = coefficient_frame(named, conf_level)
    frame = frame[frame["effect"] == "fixed"]
    if not intercept:
        frame = frame[frame["term"] != "(Intercept)"]
    order = list(dict.fromkeys(frame["term"])) if terms is None else list(terms)
    missing = [t for t in order if t not in set(frame["term"])]
    if missing:
        raise ValueError(f"plot_coefficients: no model has the term(s) {missing}")
    if not order:
        raise ValueError("plot_coefficients: no fixed effects to draw")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 0.45 * len(order) * max(1, len(named)) ** 0.5 + 1.2))
    position = {t: len(order) - 1 - i for i, t in enumerate(order)}
    for (label, _), dy in zip(named.items(), _offsets(len(named)), strict=True):
        rows = frame[(frame["model"] == label) & frame["term"].isin(order)]
        y = rows["term"].map(position).to_numpy(dtype=float) - dy
        est = rows["estimate"].to_numpy(dtype=float)
        lo = rows["conf.low"].to_numpy(dtype=float)
        hi = rows["conf.high"].to_numpy(dtype=float)
        ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", markersize=5, label=label)
    ax.axvline(0.0, color="0.5", linestyle="--", linewidth=0.8)
    ax.set_yticks(range(len(order)), list(reversed(order)))
    ax.set_xlabel(f"estimate ({conf_level:.0%} interval)")
    if len(named) > 1:
        ax.legend(frameon=False)
    return ax


def random_effects_frame(
    models: Sequence[Any] | Mapping[str, Any], conf_level: float = 0.95
) -> pd.DataFrame:
    """Conditional modes and their intervals for every model (broom.mixed's
    ``tidy(effects = "ran_vals")``), stacked with a ``model`` column.

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``group``, ``level``, ``term``, ``estimate``, ``std.error``,
        ``conf.low``, ``conf.high``.
    """
    from .verbs import tidy

    z = stats.norm.ppf(0.5 + conf_level / 2)
    parts = []
    for label, result in _named(models).items():
        try:
            vals = tidy(result, effects=["ran_vals"])
        except (TypeError, ValueError):
            # A tidier without ran_vals: the result's own ranef(condvar=True), lme4's
            # as.data.frame(ranef(fit, condVar = TRUE)).
            rf = result.ranef(condvar=True)
            vals = pd.DataFrame(
                {
                    "group": rf["grpvar"],
                    "level": rf["grp"].astype(str),
                    "term": rf["term"],
                    "estimate": rf["condval"],
                    "std.error": rf["condsd"],
                }
            )
        vals = vals[["group", "level", "term", "estimate", "std.error"]].assign(model=label)
        parts.append(vals)
    frame = pd.concat(parts, ignore_index=True)
    frame["level"] = frame["level"].astype(str)
    se = frame["std.error"].astype(float)
    frame["conf.low"] = frame["estimate"] - z * se
    frame["conf.high"] = frame["estimate"] + z * se
    return frame[["model", *frame.columns.drop("model")]]


def plot_caterpillar(
    models: Sequence[Any] | Mapping[str, Any],
    *,
    group: str | None = None,
    term: str = "(Intercept)",
    conf_level: float = 0.95,
    ax: Any = None,
) -> Any:
    """Caterpillar plot: each level's conditional mode with its interval, levels sorted
    by the first model's estimate, one colour per model.

    Parameters
    ----------
    models
        Fitted mixed models, a list or ``{label: result}``.
    group
        Grouping factor (default: the first model's first).
    term
        Random-effect term (default ``"(Intercept)"``).
    conf_level
        Level of the intervals (normal, from the conditional SDs, as lme4's dotplot).
    ax
        A matplotlib ``Axes`` (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes
    """
    plt = _pyplot()
    named = _named(models)
    frame = random_effects_frame(named, conf_level)
    if group is None:
        group = str(frame["group"].iloc[0])
    sub = frame[(frame["group"] == group) & (frame["term"] == term)]
    if sub.empty:
        known = sorted(set(zip(frame["group"], frame["term"], strict=True)))
        raise ValueError(
            f"plot_caterpillar: no random effect {term!r} for group {group!r}; "
            f"(group, term) pairs: {known}"
        )
    first = sub[sub["model"] == next(iter(named))]
    base = first if not first.empty else sub
    levels = list(base.sort_values("estimate")["level"])
    levels += [lv for lv in dict.fromkeys(sub["level"]) if lv not in set(levels)]
    position = {lv: i for i, lv in enumerate(levels)}
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 0.22 * len(levels) + 1.2))
    for (label, _), dy in zip(named.items(), _offsets(len(named), 0.5), strict=True):
        rows = sub[sub["model"] == label]
        if rows.empty:
            continue
        y = rows["level"].map(position).to_numpy(dtype=float) + dy
        est = rows["estimate"].to_numpy(dtype=float)
        lo = rows["conf.low"].to_numpy(dtype=float)
        hi = rows["conf.high"].to_numpy(dtype=float)
        ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", markersize=3, label=label)
    ax.axvline(0.0, color="0.5", linestyle="--", linewidth=0.8)
    ax.set_yticks(range(len(levels)), levels)
    ax.set_ylabel(group)
    ax.set_xlabel(f"{term} ({conf_level:.0%} interval)")
    if len(named) > 1:
        ax.legend(frameon=False)
    return ax
