"""Empirical and model variograms, the plot, and Moran's I against ape::Moran.I."""

from __future__ import annotations

import json

import matplotlib
import mixedmodels_spatial as ms
import numpy as np
import pytest
from spatial_helpers import REFERENCE, reference_data

import mixedmodels as mm

matplotlib.use("Agg")


def test_empirical_variogram_brute_force():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 10, (60, 2))
    r = rng.normal(size=60)
    table = ms.variogram(r, xy, n_bins=5, max_dist=6.0)
    for _, row in table.iterrows():
        pairs = [
            (r[i] - r[j], np.hypot(*(xy[i] - xy[j])))
            for i in range(60)
            for j in range(i + 1, 60)
            if row["lower"] < np.hypot(*(xy[i] - xy[j])) <= row["upper"]
            or (row["lower"] == 0 and np.hypot(*(xy[i] - xy[j])) == 0)
        ]
        diffs = np.array([p[0] for p in pairs])
        assert row["n_pairs"] == len(pairs)
        assert row["gamma"] == pytest.approx(0.5 * np.mean(diffs**2), rel=1e-12)
        assert row["dist"] == pytest.approx(np.mean([p[1] for p in pairs]), rel=1e-12)
    robust = ms.variogram(r, xy, n_bins=5, max_dist=6.0, robust=True)
    # Cressie-Hawkins in the last bin, by hand.
    last = robust.iloc[-1]
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    i, j = np.triu_indices(60, 1)
    sel = (d[i, j] > last["lower"]) & (d[i, j] <= last["upper"])
    N = sel.sum()
    ch = np.mean(np.sqrt(np.abs(r[i] - r[j])[sel])) ** 4 / (2 * (0.457 + 0.494 / N + 0.045 / N**2))
    assert last["gamma"] == pytest.approx(ch, rel=1e-12)


def test_model_variogram_from_core_and_plugin_fits_agree():
    data = reference_data("gls_spatial_corexp_nugget_ml")
    core = mm.gls("z ~ x1", data, correlation="exp(sx + sy, nugget = TRUE)", reml=False)
    own = ms.spatial_lmm("z ~ x1", data, ["sx", "sy"], method="exact")
    d = np.array([0.1, 1.0, 3.0, 10.0])
    a = ms.model_variogram(core, d)["gamma"].to_numpy()
    b = ms.model_variogram(own, d)["gamma"].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-4)
    s2, rng_, nug = (
        own.sigma**2,
        *[
            own.structure_parameters(conf_int=False).set_index("term").loc[t, "estimate"]
            for t in ("range", "nugget")
        ],
    )
    np.testing.assert_allclose(b, s2 * (nug + (1 - nug) * (1 - np.exp(-d / rng_))), rtol=1e-12)
    # The empirical variogram of the core fit's residuals, from its data columns.
    emp = ms.variogram(core, ["sx", "sy"])
    assert emp["gamma"].iloc[-1] > emp["gamma"].iloc[0]
    ax = ms.plot_variogram(own)
    assert len(ax.lines) == 1 and len(ax.collections) == 1


def test_morans_i_matches_ape():
    ref = json.loads((REFERENCE / "morans_i.json").read_text())
    data = reference_data("gls_spatial_corexp_nugget_ml")
    got = ms.morans_i(data["z"].to_numpy(), data[["sx", "sy"]].to_numpy())
    assert got["observed"] == pytest.approx(ref["observed"], rel=1e-10)
    assert got["expected"] == pytest.approx(ref["expected"], rel=1e-12)
    assert got["sd"] == pytest.approx(ref["sd"], rel=1e-10)
    assert got["p_value"] < 1e-12
    with pytest.raises(ValueError, match="repeat a location"):
        ms.morans_i(np.ones(3), np.zeros((3, 2)))
