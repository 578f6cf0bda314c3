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
    lead_stage = LMMProblem._lead_stage

    def counted(self: LMMProblem, theta: np.ndarray):  # type: ignore[no-untyped-def]
        # Count the factorisations of the large block (not the trailing block's).
        calls[0] += theta[: self._lead_theta].tobytes() not in self._lead_cache
        return lead_stage(self, theta)

    monkeypatch.setattr(LMMProblem, "_lead_stage", counted)
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
    # All factorisations, the start scan's and the convergence check's included.
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


@pytest.mark.parametrize("weighted", [False, True])
def test_two_stage_criterion_equals_the_one_stage_factor(weighted: bool) -> None:
    data = _crossed()
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(data)) if weighted else None
    model = mm.Model(FORMULA, data, weights=weights)
    problem = lmm_fit.build_problem(model)
    assert isinstance(problem, LMMProblem) and problem._split == 450
    # b's own block is diagonal: at theta_a = 0 the first stage needs no factorisation.
    assert problem._lead_diagonal
    assert problem.cheap_theta is not None and problem.cheap_theta.tolist() == [
        False,
        False,
        True,
    ]
    for theta in ([0.6, 0.4, 0.2], [0.0, 0.4, 0.2], [0.6, 0.0, 0.2], [0.6, 0.4, 0.0], [2, 3, 5]):
        for reml in (False, True):
            th = np.asarray(theta, dtype=np.float64)
            one_stage = problem.evaluate(th, reml)
            assert one_stage is not None
            two_stage = problem.objective(th, reml)  # first stage computed
            again = problem.objective(th, reml)  # first stage from the store
            assert two_stage == again
            np.testing.assert_allclose(two_stage, one_stage.objective, rtol=1e-12)


def test_two_stage_store_is_keyed_by_the_leading_thetas() -> None:
    problem = lmm_fit.build_problem(mm.Model(FORMULA, _crossed()))
    assert isinstance(problem, LMMProblem)
    problem.objective(np.array([0.6, 0.4, 0.2]), False)
    problem.objective(np.array([0.6, 0.4, 0.3]), False)  # trailing theta only: stored
    assert len(problem._lead_cache) == 1
    for i in range(12):  # bounded
        problem.objective(np.array([0.6, 0.4 + 0.01 * i, 0.2]), False)
    assert len(problem._lead_cache) <= 8


def test_two_stage_needs_a_small_trailing_block() -> None:
    # Two terms only: nothing trails the second term's columns but X and y.
    problem = lmm_fit.build_problem(mm.Model("y ~ x + (1 | a) + (1 | b)", _crossed()))
    assert isinstance(problem, LMMProblem)
    assert problem._split == 0 and problem.cheap_theta is None


def test_many_parameters_keep_cobyqa_end_game(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each set of differences costs k(k+3)/2 evaluations: above 3 parameters the
    # Newton finish is not used.
    monkeypatch.setattr(lmm_fit, "_FD_NEWTON_MAX_PARAMS", 2)
    used = []
    finish = lmm_fit._fd_newton_finish

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        used.append(True)
        return finish(*args, **kwargs)

    monkeypatch.setattr(lmm_fit, "_fd_newton_finish", spy)
    fit = mm.lmm(FORMULA, _crossed(), reml=False)
    assert not used and fit.converged
