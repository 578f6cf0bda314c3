"""A mid-size regression case: a simulated zero-inflated NB2 with two crossed random
intercepts (4,000 rows, 400 x 40 levels; ``tools/reference/glmmtmb_families/
zinb2_crossed_mid.R``, glmmTMB 1.1.5).  The small reference cases did not catch a
wrong-optimum bug in the inner warm start that only larger crossed designs showed (the
benchmark's 100,000-row case did); this case runs the same path at test size."""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tmb_helpers import REFERENCE

import mixedmodels as mm

REF = json.loads((REFERENCE / "zinb2_crossed_mid.json").read_text())


@functools.cache
def fit() -> Any:
    data = pd.read_csv(REFERENCE / "zinb2_crossed_mid.csv")
    for col in ("a", "b"):
        data[col] = pd.Categorical(data[col], categories=REF["levels"][col])
    return mm.glmm("y ~ x + (1 | a) + (1 | b)", data, family="nbinom2", ziformula="~ z")


def test_loglik_matches_glmmtmb() -> None:
    m = fit()
    assert m.converged, m.messages
    assert m.loglik == pytest.approx(REF["logLik"], rel=1e-6)
    assert m.df == REF["df"]


def test_estimates_match_glmmtmb() -> None:
    m = fit()
    for comp, est in REF["fixef"].items():
        got = m.fixef_component(comp).to_numpy()
        np.testing.assert_allclose(got, list(est.values()), rtol=1e-4)
    for comp, se in REF["se"].items():
        np.testing.assert_allclose(m.coef_table(comp)["Std. Error"], list(se.values()), rtol=1e-3)
    vc = m.varcorr
    for g, sd in REF["sd"]["cond"].items():
        row = vc[(vc.component == "cond") & (vc.group == g)]
        assert float(row["sd"].iloc[0]) == pytest.approx(sd, rel=1e-3)
    assert m.sigma == pytest.approx(REF["sigma"], rel=1e-4)
