"""Bad input gets a clear error naming the culprit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tmb_helpers import load_case

import mixedmodels as mm


@pytest.fixture(scope="module")
def sal() -> pd.DataFrame:
    return load_case("glmmtmb_salamanders_zinb2")[1]


def test_zero_inflation_without_zeros(sal: pd.DataFrame) -> None:
    pos = sal[sal["count"] > 0]
    with pytest.raises(ValueError, match=r"ziformula '~ mined'.*'count' has no zeros"):
        mm.glmm("count ~ mined + (1 | site)", pos, family="nbinom2", ziformula="~ mined")


def test_truncated_family_with_zeros(sal: pd.DataFrame) -> None:
    with pytest.raises(
        ValueError, match=r"'truncated_nbinom2' is zero-truncated.*'count' has \d+ zeros"
    ):
        mm.glmm("count ~ mined + (1 | site)", sal, family="truncated_nbinom2")


def test_truncated_family_without_zeros_fits(sal: pd.DataFrame) -> None:
    pos = sal[sal["count"] > 0]
    fit = mm.glmm("count ~ mined + (1 | site)", pos, family="truncated_poisson")
    assert np.isfinite(fit.loglik) and "zi" not in fit.components


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_beta_response_at_the_boundary(value: float) -> None:
    _, data = load_case("glmmtmb_beta_sim")
    data = data.copy()
    data.loc[3, "y"] = value
    with pytest.raises(ValueError, match=r"response 'y'.*exactly.*ordbeta"):
        mm.glmm("y ~ x + (1 | g)", data, family="beta")


def test_dispformula_with_random_effect(sal: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"dispformula '~ mined \+ \(1 \| site\)'.*1 \| site"):
        mm.glmm(
            "count ~ mined + (1 | site)", sal, family="nbinom2", dispformula="~ mined + (1 | site)"
        )


def test_dispformula_for_a_family_without_dispersion(sal: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="'tmb_poisson' has no dispersion"):
        mm.glmm(
            "count ~ mined + (1 | site)",
            sal,
            family="poisson",
            ziformula="~1",
            dispformula="~ mined",
        )


def test_ziformula_with_a_glmer_family(sal: pd.DataFrame) -> None:
    data = sal.assign(present=(sal["count"] > 0).astype(float))
    with pytest.raises(ValueError, match=r"conditional-density family.*'binomial'"):
        mm.glmm("present ~ mined + (1 | site)", data, family="binomial", ziformula="~1")


def test_missing_values_in_the_zi_variables(sal: pd.DataFrame) -> None:
    data = sal.copy()
    data["cover2"] = data["cover"].astype(float)
    data.loc[[1, 5], "cover2"] = np.nan
    with pytest.raises(ValueError, match=r"ziformula '~ cover2' has missing values in 2 rows"):
        mm.glmm("count ~ mined + (1 | site)", data, family="nbinom2", ziformula="~ cover2")


def test_negative_prior_weights(sal: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="weights must be non-negative; 1 are negative"):
        w = np.ones(len(sal))
        w[3] = -1.0
        mm.glmm("count ~ mined + (1 | site)", sal, family="nbinom1", weights=w)


def test_ordbeta_response_outside_the_unit_interval() -> None:
    _, data = load_case("glmmtmb_beta_sim")
    data = data.copy()
    data.loc[[2, 5], "y"] = [1.2, -0.1]
    with pytest.raises(ValueError, match=r"response 'y'.*ordbeta.*\[0, 1\] \(2 rows outside\)"):
        mm.glmm("y ~ x + (1 | g)", data, family="ordbeta")


def test_ordbeta_accepts_zeros_and_ones() -> None:
    """What the beta refuses (above), the ordered beta fits."""
    _, data = load_case("glmmtmb_beta_sim")
    data = data.copy()
    data.loc[[1, 4], "y"] = [0.0, 1.0]
    fit = mm.glmm("y ~ x + (1 | g)", data, family="ordbeta")
    assert fit.converged and np.isfinite(fit.loglik)


def test_cbind_response_for_a_family_without_trials(sal: pd.DataFrame) -> None:
    data = sal.assign(other=sal["count"] + 1)
    with pytest.raises(ValueError, match=r"cbind\(\) response is for the binomial.*'nbinom1'"):
        mm.glmm("cbind(count, other) ~ mined + (1 | site)", data, family="nbinom1")


def test_negative_counts(sal: pd.DataFrame) -> None:
    data = sal.copy()
    data.loc[0, "count"] = -1
    with pytest.raises(ValueError, match=r"response 'count'.*negative counts"):
        mm.glmm("count ~ mined + (1 | site)", data, family="nbinom1")
