"""Plot functions draw into a caller's axes with ``ax=`` (issue 19, item 5)."""

from __future__ import annotations

import pytest

import mixedmodels as mm

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mixedmodels_diagnostics as mmd  # noqa: E402


@pytest.fixture(scope="module")
def fit() -> object:
    return mm.lmm("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"))


def test_single_panel_plots_use_the_given_axes(fit: object) -> None:
    res = mmd.simulate_residuals(fit, n=50, seed=1)
    plt.close("all")  # figures other tests left open must not count below
    fig, axes = plt.subplots(2, 3)
    try:
        assert mmd.plot_qq(res, ax=axes[0, 0]) is fig
        assert mmd.plot_residuals_vs_predicted(res, ax=axes[0, 1]) is fig
        assert mmd.plot_residuals(res, ax=axes[1, :2]) is fig
        assert mmd.plot_caterpillar(fit, ax=axes[0, 2]) is fig
        infl = mmd.influence(fit, group="Subject")
        assert mmd.plot_influence(infl, ax=axes[1, 2]) is fig
        assert axes[0, 0].get_title() == "QQ plot residuals"
        assert len(axes[0, 2].lines) + len(axes[0, 2].collections) > 0
        assert plt.get_fignums() == [fig.number]  # no other figure was opened
        with pytest.raises(ValueError, match="two panels"):
            mmd.plot_residuals(res, ax=axes[0, 0])
        with pytest.raises(ValueError, match="1 x 1 panels"):
            mmd.plot_caterpillar(fit, ax=axes[0, :2])
        with pytest.raises(TypeError, match="matplotlib Axes"):
            mmd.plot_qq(res, ax="left")
    finally:
        plt.close("all")
