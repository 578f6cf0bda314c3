"""DHARMa-style residual plots: figures are drawn, saved, and have the asked size."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mixedmodels_diagnostics as mmd  # noqa: E402


@pytest.fixture(scope="module")
def res() -> mmd.ScaledResiduals:
    rng = np.random.default_rng(1)
    mu = rng.gamma(2.0, 1.5, 300)
    return mmd.ScaledResiduals.from_simulations(
        rng.poisson(mu), rng.poisson(mu[:, None], (300, 100)), mu, seed=1
    )


def _check_png(path, width: int, height: int) -> None:
    img = mpimg.imread(str(path))
    assert img.shape[:2] == (height, width)
    assert img[..., :3].std() > 0.01  # something was drawn, not a blank canvas


def test_plot_residuals_png(res, tmp_path) -> None:
    path = tmp_path / "dharma.png"
    fig = mmd.plot_residuals(res, str(path), figsize=(8, 4), dpi=50)
    assert len(fig.axes) == 2
    _check_png(path, 400, 200)
    plt.close(fig)


def test_plot_qq_and_vs_predicted(res, tmp_path) -> None:
    fig = mmd.plot_qq(res, str(tmp_path / "qq.png"), figsize=(4, 4), dpi=50)
    _check_png(tmp_path / "qq.png", 200, 200)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("KS test") for t in texts) and len(texts) == 3
    plt.close(fig)
    fig = mmd.plot_residuals_vs_predicted(res, str(tmp_path / "rvp.png"), figsize=(5, 4), dpi=40)
    _check_png(tmp_path / "rvp.png", 200, 160)
    assert len(fig.axes[0].lines) >= 3  # the three quantile curves
    plt.close(fig)


def test_svg_and_no_path(res, tmp_path) -> None:
    fig = mmd.plot_residuals(res, str(tmp_path / "dharma.svg"))
    assert (tmp_path / "dharma.svg").read_text().lstrip().startswith("<?xml")
    plt.close(fig)
    fig = mmd.plot_qq(res)
    assert fig.axes
    plt.close(fig)


def test_plot_rejects_unsupported_input() -> None:
    with pytest.raises(TypeError, match="plot_residuals"):
        mmd.plot_residuals(42)


def test_simulate_residuals_plot_option_draws() -> None:
    # plot=True goes through the public entry point above the plots module.
    import pandas as pd

    import mixedmodels as mm

    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(10), 8)
    data = pd.DataFrame({"y": rng.poisson(np.exp(0.5 + rng.normal(0, 0.4, 10)[g])), "g": g})
    fit = mm.glmm("y ~ 1 + (1|g)", data, family="poisson")
    before = set(plt.get_fignums())
    res = mmd.simulate_residuals(fit, n=30, seed=1, plot=True)
    assert isinstance(res, mmd.ScaledResiduals)
    new = set(plt.get_fignums()) - before
    assert len(new) == 1
    plt.close("all")
