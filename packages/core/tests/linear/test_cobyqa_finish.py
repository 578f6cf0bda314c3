"""Large blocked fits (no gradient): coarse COBYQA, then Newton steps on differences
(decision 0036) reach COBYQA's own optimum in fewer evaluations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.linear import fit as lmm_fit
from mixedmodels.linear.criterion import LMMProblem


def _crossed(seed: int = 3) -> pd.DataFrame:
    # Two crossed factors, the second with 450 levels: a dense block of m > 400, so
    # the fit takes the derivative-free path.
    rng = np.random.default_rng(seed)
    n, n_a, n_b, n_c = 6_000, 900, 450, 12
    a = rng.integers(0, n_a, n)
    b = rng.integers(0, n_b, n)
    c = rng.integers(0, n_c, n)
    x = rng.normal(size=n)
    y = (
        1.0
        + 0.5 * x
        + rng.normal(0, 0.6, n_a)[a]
        + rng.normal(0, 0.4, n_b)[b]
        + rng.normal(0, 0.2, n_c)[c]
        + rng.normal(0, 1.0, n)
    )
    return pd.DataFrame(
        {
            "y": y,
            "x": x,
            "a": pd.Categorical(a),
            "b": pd.Categorical(b),
            "c": pd.Categorical(c),
        }
    )


FORMULA = "y ~ x + (1 | a) + (1 | b) + (1 | c)"


@pytest.mark.parametrize("reml", [False, True])
def test_newton_finish_reaches_cobyqa_optimum_in_fewer_evaluations(
    reml: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _crossed()
    calls = [0]
    objective = LMMProblem.objective

    def counted(self: LMMProblem, theta: np.ndarray, reml: bool) -> float:
        calls[0] += 1
        return objective(self, theta, reml)

    monkeypatch.setattr(LMMProblem, "objective", counted)
    auto = mm.lmm(FORMULA, data, reml=reml)
    n_auto, calls[0] = calls[0], 0
    plain = mm.lmm(FORMULA, data, reml=reml, optimizer="cobyqa")
    n_plain = calls[0]
    assert auto.optimizer.method == plain.optimizer.method == "cobyqa"
    crit = auto._ev.objective
    ref = plain._ev.objective
    # Never worse than COBYQA run to its 1e-5 radius, and equal to its rounding noise.
    assert crit <= ref + 1e-9 * abs(ref)
    np.testing.assert_allclose(auto.theta, plain.theta, rtol=1e-4)
    # All evaluations, the start scan and the convergence check's included.
    assert n_auto < n_plain
    # The convergence check used the finish's derivatives at the estimates.
    assert auto.converged
    assert auto.optimizer.gradient is not None and auto.optimizer.hessian is not None
    assert np.all(np.linalg.eigvalsh(auto.optimizer.hessian) > 0)


def test_unsettled_newton_finish_falls_back_to_cobyqa(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _crossed()
    ref = mm.lmm(FORMULA, data, reml=False, optimizer="cobyqa")

    def no_newton(fun, derivatives_at, x, value, lower, upper, **kwargs):  # type: ignore[no-untyped-def]
        return x, value, None  # as if the Hessian were indefinite at the coarse point

    monkeypatch.setattr(lmm_fit, "newton_polish", no_newton)
    fit = mm.lmm(FORMULA, data, reml=False)
    np.testing.assert_allclose(fit.theta, ref.theta, rtol=1e-4)
    crit = fit._ev.objective
    assert crit <= ref._ev.objective + 1e-9 * abs(crit)
