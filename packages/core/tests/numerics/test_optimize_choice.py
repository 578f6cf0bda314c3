"""``minimize_bounded(method="auto")`` picks its optimiser from the problem, not the clock."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mixedmodels.numerics import optimize
from mixedmodels.numerics.optimize import AUTO_COBYQA_MIN_SIZE, minimize_bounded


def _quadratic(x: np.ndarray) -> float:
    return float((x[0] - 0.3) ** 2 + 2.0 * (x[1] - 0.7) ** 2)


LOWER, UPPER = np.zeros(2), np.full(2, 5.0)


@pytest.fixture
def slow_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that advances 50 ms per reading: every evaluation looks expensive."""
    ticks = iter(range(10**6))
    monkeypatch.setattr(time, "perf_counter", lambda: 0.05 * next(ticks))
    monkeypatch.setattr(time, "monotonic", lambda: 0.05 * next(ticks))


def test_auto_choice_does_not_follow_a_slow_clock(slow_clock: None) -> None:
    # Before: one evaluation timed at over 2 ms of wall clock chose COBYQA, so a loaded
    # machine could fit a model along another path than a quiet one.
    res = minimize_bounded(_quadratic, np.ones(2), LOWER, UPPER, method="auto")
    assert res.method == "lbfgsb"
    np.testing.assert_allclose(res.x, [0.3, 0.7], atol=1e-6)


@pytest.mark.parametrize("size", [None, 3, AUTO_COBYQA_MIN_SIZE - 1])
def test_auto_small_problems_use_lbfgsb(size: int | None) -> None:
    res = minimize_bounded(_quadratic, np.ones(2), LOWER, UPPER, method="auto", size=size)
    assert res.method == "lbfgsb"


def test_auto_large_problems_use_cobyqa_unless_a_gradient_is_given() -> None:
    big = AUTO_COBYQA_MIN_SIZE
    res = minimize_bounded(_quadratic, np.ones(2), LOWER, UPPER, method="auto", size=big)
    assert res.method == "cobyqa"
    np.testing.assert_allclose(res.x, [0.3, 0.7], atol=1e-4)

    def with_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        return _quadratic(x), np.array([2.0 * (x[0] - 0.3), 4.0 * (x[1] - 0.7)])

    res = minimize_bounded(
        _quadratic, np.ones(2), LOWER, UPPER, method="auto", size=big, fun_and_grad=with_grad
    )
    assert res.method == "lbfgsb"


def test_auto_choice_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_clock() -> float:
        raise AssertionError("the optimiser choice read the clock")

    monkeypatch.setattr(time, "perf_counter", no_clock)
    assert optimize.minimize_bounded(_quadratic, np.ones(2), LOWER, UPPER).method == "lbfgsb"
