"""The engine's analytic gradient (implicit-function theorem, third derivatives and
dispersion / shape derivatives from the rows) against central differences of the
Laplace objective on every reference case, away from the optimum; and the stacked row
evaluations of the gradient equal to row-by-row ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from tmb_helpers import REFERENCE, load_case

import mixedmodels as mm

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "glmmtmb_salamanders_zinb2": (
        "count ~ mined + (1 | site)",
        dict(family="nbinom2", ziformula="~ mined"),
    ),
    "glmmtmb_owls_zinb1_offset": (
        "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + (1 | Nest)",
        dict(family="nbinom1", ziformula="~ 1"),
    ),
    "glmmtmb_beta_sim": ("y ~ x + (1 | g)", dict(family="beta")),
    "glmmtmb_owls_tweedie": (
        "NegPerChick ~ FoodTreatment * SexParent + (1 | Nest)",
        dict(family="tweedie"),
    ),
    "glmmtmb_salamanders_genpois": ("count ~ spp + mined + (1 | site)", dict(family="genpois")),
    "glmmtmb_salamanders_hurdle_truncnb2": (
        "count ~ spp + mined + (1 | site)",
        dict(family="truncated_nbinom2", ziformula="~ ."),
    ),
    "glmmtmb_orthodont_dispformula": (
        "distance ~ age + Sex + (1 | Subject)",
        dict(family="gaussian", dispformula="~ Sex"),
    ),
}


def _fit(case_id: str) -> Any:
    if case_id == "zinb2_crossed_mid":
        data = pd.read_csv(REFERENCE / "zinb2_crossed_mid.csv")
        return mm.glmm("y ~ x + (1 | a) + (1 | b)", data, family="nbinom2", ziformula="~ z")
    formula, args = CASES[case_id]
    return mm.glmm(formula, load_case(case_id)[1], **args)


@pytest.mark.parametrize("case_id", [*CASES, "zinb2_crossed_mid"])
def test_analytic_gradient_matches_differences(case_id: str) -> None:
    fit = _fit(case_id)
    P = fit._problem
    lo, _ = P.bounds()
    x = np.asarray(fit._fit.params).copy()
    rng = np.random.default_rng(1)
    # off the optimum (the gradient is not ~0) and off the variance bounds
    x = x + rng.uniform(0.02, 0.05, x.size) * rng.choice([-1.0, 1.0], x.size)
    x = np.where(np.isfinite(lo), np.maximum(x, lo + 0.05), x)
    P._last = None
    g = P.gradient(x)
    gf = P.fd_gradient(x, step=1e-5)
    np.testing.assert_allclose(g, gf, rtol=1e-5, atol=1e-6 * np.max(np.abs(gf)))


@pytest.mark.parametrize("case_id", ["glmmtmb_salamanders_zinb2", "glmmtmb_orthodont_dispformula"])
def test_stacked_rows_equal_separate_rows(case_id: str) -> None:
    fit = _fit(case_id)
    P = fit._problem
    x = np.asarray(fit._fit.params)
    eta = P.predictors(x, fit._fit.u)
    moved = []
    for a in eta:
        for h in (1e-3, -2e-3):
            e = dict(eta)
            e[a] = eta[a] + h
            moved.append(e)
    many = P.rows_many(x, moved)
    assert len(many) == len(moved)
    for e, r in zip(moved, many, strict=True):
        one = P.rows(x, e)
        for name in ("ll", "d_c", "d_cc", "d_z", "d_zz", "d_cz", "d_ccz"):
            a, b = getattr(one, name), getattr(r, name)
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(b, a, rtol=1e-14, atol=0)


def test_hurdle_hessian_by_independent_groups() -> None:
    """A hurdle's objective is a sum over the zero-inflation parameters and the others:
    its Hessian by differences moving one parameter of each group at once equals the
    one moving a single parameter at a time, and the cross block is zero."""
    from mixedmodels.generalized.laplace_engine import _gradient_columns

    fit = _fit("glmmtmb_salamanders_hurdle_truncnb2")
    P = fit._problem
    groups = P.independent_groups()
    assert len(groups) == 2
    zi = np.zeros(P.n_params, dtype=bool)
    zi[groups[0]] = True
    for name in ("betazi", "thetazi"):
        b = P.blocks[name]
        assert zi[b.start : b.stop].all()
    lo, hi = P.bounds()
    x = np.asarray(fit._fit.params).copy()
    g0 = P.gradient(x)
    grouped = _gradient_columns(P, x, g0, lo, hi, 1e-4, central=True)

    class Single:
        def __init__(self) -> None:
            self.base = P

        def gradient(self, z: np.ndarray) -> np.ndarray:
            return P.gradient(z)

        def independent_groups(self) -> list[np.ndarray]:
            return [np.arange(P.n_params)]

    single = _gradient_columns(Single(), x, g0, lo, hi, 1e-4, central=True)
    assert grouped is not None and single is not None
    scale = np.max(np.abs(single))
    np.testing.assert_allclose(grouped, single, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(single[np.ix_(zi, ~zi)], 0.0, atol=1e-6 * scale)
