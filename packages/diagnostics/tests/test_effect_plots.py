"""Caterpillar and influence plots: drawn, saved, of the stated size."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from mixedmodels_diagnostics import influence, plot_caterpillar, plot_influence  # noqa: E402

import mixedmodels as mm  # noqa: E402


@pytest.fixture(scope="module")
def fit():
    return mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


def _check_png(fig, path):
    image = mpimg.imread(str(path))
    width, height = fig.get_size_inches() * fig.dpi
    assert image.shape[:2] == (round(height), round(width))
    flat = image.reshape(-1, image.shape[-1])
    assert np.unique(flat, axis=0).shape[0] > 10  # not a blank, single-colour canvas
    plt.close(fig)


def test_caterpillar_png(fit, tmp_path):
    path = tmp_path / "cat.png"
    fig = plot_caterpillar(fit, path=str(path))
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2  # (Intercept), Days
    assert fig.get_size_inches()[0] == pytest.approx(3.2 * 2 + 1.2)
    _check_png(fig, path)


def test_caterpillar_sorted_by_first_column(fit):
    fig = plot_caterpillar(fit, group="Subject", level=0.9)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    modes = fit.ranef()["Subject"]["(Intercept)"]
    assert labels == [str(i) for i in modes.sort_values().index]
    plt.close(fig)


def test_caterpillar_glmm_and_svg(tmp_path):
    gm = mm.glmm(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        mm.datasets.load("cbpp"),
        family="binomial",
    )
    path = tmp_path / "cat.svg"
    fig = plot_caterpillar(gm, path=str(path))
    assert path.read_text().lstrip().startswith(("<?xml", "<svg"))
    plt.close(fig)


def test_caterpillar_bad_input(fit):
    with pytest.raises(ValueError, match=r"'Patient'.*\['Subject'\]"):
        plot_caterpillar(fit, group="Patient")
    with pytest.raises(ValueError, match="level"):
        plot_caterpillar(fit, level=1.5)
    with pytest.raises(TypeError, match="plot_caterpillar"):
        plot_caterpillar("nope")


def test_influence_plot_png(fit, tmp_path):
    infl = influence(fit, group="Subject", method="approx")
    path = tmp_path / "infl.png"
    fig = plot_influence(infl, path=str(path))
    _check_png(fig, path)
    # points above the cut-off are labelled with their unit
    fig = plot_influence(infl, cutoff=0.05)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert texts == {str(i) for i in infl.influential(0.05).index}
    plt.close(fig)


def test_influence_plot_observations_and_bad_measure(fit, tmp_path):
    infl = influence(fit, method="approx")
    fig = plot_influence(infl, measure="covratio", path=str(tmp_path / "o.png"))
    _check_png(fig, tmp_path / "o.png")
    with pytest.raises(ValueError, match="unknown measure"):
        plot_influence(infl, measure="nope")
    with pytest.raises(TypeError, match="InfluenceResult"):
        plot_influence(fit)
