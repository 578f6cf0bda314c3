"""DHARMa's residual plots: uniform QQ plot with the test results, and residuals
against the predicted values with quantile-regression lines.

matplotlib is imported only when a plot is drawn (it is optional).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._matplotlib import finish, pyplot
from ._residuals import ScaledResiduals, ensure_residuals

__all__ = ["plot_qq", "plot_residuals", "plot_residuals_vs_predicted"]

_QUANTILES = (0.25, 0.5, 0.75)


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 1e-3 else f"p = {p:.3f}"


def _draw_qq(ax: Any, sr: ScaledResiduals, annotate: bool) -> None:
    from ._residual_tests import test_dispersion, test_outliers, test_uniformity

    r = np.sort(sr.residuals.to_numpy())
    n = r.size
    expected = (np.arange(1, n + 1) - 0.5) / n  # ppoints(n) for n > 10
    ax.scatter(expected, r, s=6, color="black", alpha=0.6, linewidths=0)
    ax.plot([0, 1], [0, 1], color="red", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Expected")
    ax.set_ylabel("Observed")
    ax.set_title("QQ plot residuals")
    if not annotate:
        return
    tests = [
        ("KS test", test_uniformity(sr).p_value),
        ("Dispersion test", test_dispersion(sr).p_value),
        ("Outlier test", test_outliers(sr, type="binomial").p_value),
    ]
    for i, (label, p) in enumerate(tests):
        bad = p < 0.05
        ax.text(
            0.03,
            0.97 - 0.07 * i,
            f"{label}: {_fmt_p(p)}" + (" (deviation significant)" if bad else ""),
            transform=ax.transAxes,
            va="top",
            fontsize=8,
            color="red" if bad else "black",
        )


def _draw_vs_predicted(ax: Any, sr: ScaledResiduals, predictor: Any, rank: bool) -> None:
    from ._quantile_test import rank01, test_quantiles

    pred = sr.fitted if predictor is None else np.asarray(predictor, dtype=np.float64).ravel()
    x = rank01(pred) if rank else pred
    r = sr.residuals.to_numpy()
    outlier = (r == 0) | (r == 1)
    ax.scatter(x[~outlier], r[~outlier], s=6, color="black", alpha=0.5, linewidths=0)
    ax.scatter(x[outlier], r[outlier], s=14, color="red", marker="*", linewidths=0)
    for q in _QUANTILES:
        ax.axhline(q, color="grey", lw=0.8, ls="--")
    test = test_quantiles(sr, predictor=pred, quantiles=_QUANTILES)
    curves = test.details["predictions"]
    grid = rank01(curves["pred"].to_numpy()) if rank else curves["pred"].to_numpy()
    bad = test.details["p_values"] < 0.05
    for q, b in zip(_QUANTILES, bad, strict=True):
        ax.plot(grid, curves[f"q{q:g}"].to_numpy(), color="red" if b else "black", lw=1.5)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Model predictions (rank transformed)" if rank else "Model predictions")
    ax.set_ylabel("DHARMa residual")
    title = "Residual vs. predicted\n" + (
        "Quantile deviations detected (red curves)"
        if test.p_value < 0.05
        else "No significant problems detected"
    )
    ax.set_title(title, fontsize=10, color="red" if test.p_value < 0.05 else "black")


def plot_qq(
    res_or_fit: Any,
    path: str | None = None,
    annotate: bool = True,
    figsize: tuple[float, float] = (5.0, 5.0),
    dpi: int = 100,
    ax: Any = None,
) -> Any:
    """Uniform QQ plot of the scaled residuals (DHARMa's ``plotQQunif``).

    Parameters
    ----------
    res_or_fit
        :class:`ScaledResiduals` or a fitted model (simulated with the defaults).
    path
        Save the figure there (format from the suffix: ``.png``, ``.svg``, ``.pdf``).
    annotate
        Write the p-values of the KS, dispersion and outlier tests on the plot.
    figsize, dpi
        Figure size in inches and resolution (``figsize * dpi`` pixels).
    ax
        A matplotlib ``Axes`` to draw into (e.g. a panel of the caller's figure);
        ``figsize`` is then ignored and the figure is not re-laid out.

    Returns
    -------
    matplotlib.figure.Figure
    """
    sr = ensure_residuals(res_or_fit, "plot_qq")
    fig, ax, own = _axes(ax, figsize)
    _draw_qq(ax, sr, annotate)
    if own:
        fig.tight_layout()
    return finish(fig, path, dpi)


def plot_residuals_vs_predicted(
    res_or_fit: Any,
    path: str | None = None,
    predictor: Any = None,
    rank: bool = True,
    figsize: tuple[float, float] = (5.0, 5.0),
    dpi: int = 100,
    ax: Any = None,
) -> Any:
    """Scaled residuals against the predictions, with quantile-regression curves at
    0.25, 0.5 and 0.75 (DHARMa's ``plotResiduals``); curves that deviate significantly
    (:func:`test_quantiles`) are red, simulation outliers are red stars.

    Parameters
    ----------
    res_or_fit
        :class:`ScaledResiduals` or a fitted model.
    path
        Save the figure there (``.png``, ``.svg``, ``.pdf``).
    predictor
        Values for the x axis (default: the fitted values).
    rank
        Rank-transform the predictor to (0, 1], as DHARMa does by default.
    figsize, dpi
        Figure size in inches and resolution.
    ax
        A matplotlib ``Axes`` to draw into (e.g. a panel of the caller's figure);
        ``figsize`` is then ignored and the figure is not re-laid out.

    Returns
    -------
    matplotlib.figure.Figure
    """
    sr = ensure_residuals(res_or_fit, "plot_residuals_vs_predicted")
    fig, ax, own = _axes(ax, figsize)
    _draw_vs_predicted(ax, sr, predictor, rank)
    if own:
        fig.tight_layout()
    return finish(fig, path, dpi)


def plot_residuals(
    res_or_fit: Any,
    path: str | None = None,
    figsize: tuple[float, float] = (10.0, 5.0),
    dpi: int = 100,
    ax: Any = None,
) -> Any:
    """DHARMa's ``plot()``: QQ panel with the KS, dispersion and outlier tests, and
    residuals against (rank-transformed) predictions with quantile curves.

    Parameters
    ----------
    res_or_fit
        :class:`ScaledResiduals` or a fitted model (simulated with the defaults).
    path
        Save the figure there (``.png``, ``.svg``, ``.pdf``).
    figsize, dpi
        Figure size in inches and resolution (``figsize * dpi`` pixels).
    ax
        Two matplotlib ``Axes`` (QQ panel, residuals panel) to draw into; ``figsize``
        is then ignored and the figure keeps its title and layout.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")  # doctest: +SKIP
    >>> res = mmd.simulate_residuals(fit, seed=1)
    >>> mmd.plot_residuals(res, "dharma.png")
    """
    sr = ensure_residuals(res_or_fit, "plot_residuals")
    if ax is not None:
        panels = list(np.ravel(np.asarray(ax, dtype=object)))
        if len(panels) != 2:
            raise ValueError(f"plot_residuals draws two panels: give ax=(ax1, ax2), not {ax!r}")
        left, right = panels
        fig = left.figure
    else:
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=figsize)
    _draw_qq(left, sr, True)
    _draw_vs_predicted(right, sr, None, True)
    if ax is None:
        fig.suptitle("DHARMa residual", fontsize=11)
        fig.tight_layout()
    return finish(fig, path, dpi)


def _axes(ax: Any, figsize: tuple[float, float]) -> tuple[Any, Any, bool]:
    """The figure and axes to draw into, and whether this call created them."""
    if ax is not None:
        if not hasattr(ax, "figure") or not hasattr(ax, "scatter"):
            raise TypeError(f"ax must be a matplotlib Axes, not {type(ax).__name__}")
        return ax.figure, ax, False
    fig, new = pyplot().subplots(figsize=figsize)
    return fig, new, True
