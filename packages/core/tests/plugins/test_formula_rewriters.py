"""The formula-rewriter hook: plugins' syntax turned into the core's before the model
is built (spaMM's Matern(1 | x + y) with mixedmodels-spatial)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import mixedmodels as mm
from mixedmodels.formula.rewrite import rewrite_formula
from mixedmodels.hookspec import hookimpl
from mixedmodels.plugin_manager import register_plugin, unregister_plugin


class _Rewriter:
    """Reads ``Batch!`` as ``(1 | Batch)``."""

    name: ClassVar[str] = "test-bang"

    def rewrite(self, formula: str, data: Any) -> tuple[str, Any] | None:
        if "!" not in formula:
            return None
        out = data.copy()
        out["Batch2"] = out["Batch"]
        return formula.replace("Batch!", "(1 | Batch2)"), out


class _Plugin:
    @hookimpl
    def mixedmodels_formula_rewriters(self) -> list[Any]:
        return [_Rewriter()]


@pytest.fixture
def bang() -> Any:
    register_plugin(_Plugin(), name="test-formula-rewriter")
    try:
        yield
    finally:
        unregister_plugin("test-formula-rewriter")


def test_model_reads_the_rewritten_formula(bang: Any) -> None:
    data = mm.datasets.load("Dyestuff")
    fit = mm.lmm("Yield ~ 1 + Batch!", data)
    plain = mm.lmm("Yield ~ 1 + (1 | Batch)", data)
    assert fit.loglik == pytest.approx(plain.loglik, rel=1e-10)
    assert fit.model.formula == "Yield ~ 1 + (1 | Batch2)"
    assert "Batch2" not in data.columns  # the caller's frame is not changed


def test_formulas_without_the_syntax_pass_through(bang: Any) -> None:
    data = mm.datasets.load("Dyestuff")
    formula, frame = rewrite_formula("Yield ~ 1 + (1 | Batch)", data)
    assert formula == "Yield ~ 1 + (1 | Batch)" and frame is data


def test_a_rewriter_without_rewrite_is_rejected() -> None:
    class Bad:
        @hookimpl
        def mixedmodels_formula_rewriters(self) -> list[Any]:
            return [type("R", (), {"name": "bad"})()]

    with pytest.raises(Exception, match="rewrite"):
        register_plugin(Bad(), name="bad-rewriter")
