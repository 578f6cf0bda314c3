"""influence() for a binomial GLMM (cbpp by herd) against lme4 glmer refits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mixedmodels_diagnostics import influence

import mixedmodels as mm

REF = json.loads((Path(__file__).parent / "reference" / "diagnostics_influence.json").read_text())
CBPP = REF["cbpp"]


@pytest.fixture(scope="module")
def fit():
    return mm.glmm(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        mm.datasets.load("cbpp"),
        family="binomial",
    )


@pytest.fixture(scope="module")
def exact(fit):
    return influence(fit, group="herd")


def test_exact_herd_deletion_matches_glmer_refits(fit, exact):
    # The core's Laplace fit agrees with glmer's to ~2e-4 in the fixed effects and its
    # Hessian-based vcov to ~3%: the tolerances below are those of the fits, not of the
    # influence measures (which the LMM tests check to 1e-4).
    assert list(exact.table.index.astype(str)) == CBPP["levels"]
    np.testing.assert_allclose(
        exact.deleted_fixef.to_numpy(), np.array(CBPP["fixef_delete"]), atol=2e-3
    )
    # Cook's distance from our refits with glmer's full-data vcov isolates the refits.
    d = fit.fixef.to_numpy()[None, :] - exact.deleted_fixef.to_numpy()
    cooks_r_vcov = np.einsum("kp,pq,kq->k", d, np.linalg.inv(np.array(CBPP["vcov"])), d) / 4
    np.testing.assert_allclose(cooks_r_vcov, CBPP["cooks"], rtol=3e-2, atol=2e-4)
    np.testing.assert_allclose(exact.table["cooks_distance"], CBPP["cooks"], rtol=6e-2, atol=5e-4)
    np.testing.assert_allclose(exact.table["mdffits"], CBPP["mdffits"], rtol=6e-2, atol=5e-4)
    np.testing.assert_allclose(exact.table["covratio"], CBPP["covratio"], rtol=3e-2)
    np.testing.assert_allclose(exact.table["rvc_var_(Intercept)|herd"], CBPP["rvc"], atol=2e-3)
    assert "rvc_sigma2" not in exact.table.columns


def test_one_step_tracks_the_refits(exact, fit):
    approx = influence(fit, group="herd", method="approx")
    assert approx.messages and "PIRLS" in approx.messages[0]
    a = approx.table["cooks_distance"].to_numpy()
    e = exact.table["cooks_distance"].to_numpy()
    assert np.corrcoef(a, e)[0, 1] > 0.9
    # the same units stand out
    assert set(approx.influential().index) & set(exact.influential().index)
    # leverage: the fixed-effect part traces to p at the observation level
    obs = influence(fit, method="approx")
    assert obs.table["leverage_fixef"].sum() == pytest.approx(4.0)
