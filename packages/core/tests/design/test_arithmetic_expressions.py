"""Plain arithmetic in the response (``cbind(k, n - k)``) is evaluated directly, with
the result formulaic's ``I()`` gives; anything else still goes through formulaic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedmodels.design.expressions import formulaic_matrix
from mixedmodels.design.variables import NumericExpression
from mixedmodels.formula.deparse import to_python

FRAME = pd.DataFrame(
    {
        "k": [1, 2, 3, 4, 5, 6],
        "n": [3, 4, 5, 6, 7, 8],
        "x": [0.5, np.nan, 2.0, -1.0, 0.0, 3.5],
        "f": list("aabbcc"),
        "b": [True, False, True, True, False, False],
    }
)


@pytest.mark.parametrize(
    ("expr", "columns"),
    [
        ("n - k", ["n", "k"]),
        ("(n - k) * 2.5 / k", ["n", "k"]),
        ("-x + 1", ["x"]),
        ("x ** 2 - k", ["x", "k"]),
        ("k / 0", ["k"]),
    ],
)
def test_arithmetic_matches_formulaic(expr: str, columns: list[str]) -> None:
    ne = NumericExpression(expr, "response", columns, lookup=False)
    direct = ne._arithmetic(FRAME[columns])
    assert direct is not None
    want, _ = formulaic_matrix([f"I({to_python(expr)})"], FRAME[columns], None, "response")
    np.testing.assert_array_equal(direct, want[:, 0])
    np.testing.assert_array_equal(ne.evaluate(FRAME[columns]), want[:, 0])


@pytest.mark.parametrize(
    ("expr", "columns"),
    [("log(n) - k", ["n", "k"]), ("b + k", ["b", "k"]), ("f", ["f"]), ("n > k", ["n", "k"])],
)
def test_other_expressions_go_through_formulaic(expr: str, columns: list[str]) -> None:
    ne = NumericExpression(expr, "response", columns, lookup=False)
    assert ne._arithmetic(FRAME[columns]) is None


@pytest.mark.parametrize(
    ("formula", "want"),
    [
        ("k^2 ~ x + (1 | f)", FRAME["k"].to_numpy(float) ** 2),
        ("log(n)^2 ~ x + (1 | f)", np.log(FRAME["n"].to_numpy(float)) ** 2),
        ("(n - k)^2 ~ x + (1 | f)", (FRAME["n"] - FRAME["k"]).to_numpy(float) ** 2),
    ],
)
def test_caret_in_a_response_is_a_power(formula: str, want: np.ndarray) -> None:
    # k^2 of an integer column was evaluated as Python's k XOR 2 (k = 1..6 gave
    # 3, 0, 1, 6, 7, 4): R's ^ in a numeric expression is a power everywhere
    import mixedmodels as mm

    frame = FRAME.assign(x=np.arange(6.0))
    model = mm.Model(formula, frame)
    np.testing.assert_allclose(model.y, want, rtol=1e-15)


def test_caret_in_an_offset_is_a_power() -> None:
    import mixedmodels as mm

    frame = FRAME.assign(x=np.arange(6.0), y=np.arange(6.0) * 0.3)
    model = mm.Model("y ~ x + offset(k^2) + (1 | f)", frame)
    np.testing.assert_allclose(model.offset, FRAME["k"].to_numpy(float) ** 2, rtol=1e-15)
