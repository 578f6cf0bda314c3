"""The data-source hook (decision 0022): mm.lmm hands data it does not hold in memory
to the first registered source that accepts it."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import mixedmodels as mm
from mixedmodels.data_sources import data_source_for
from mixedmodels.hookspec import hookimpl
from mixedmodels.plugin_manager import register_plugin, unregister_plugin


class _Tagged:
    """Stand-in for an out-of-core frame."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame


class _Source:
    name: ClassVar[str] = "test-tagged"

    def accepts(self, data: Any) -> bool:
        return isinstance(data, _Tagged)

    def lmm(self, formula: str, data: Any, **arguments: Any) -> Any:
        return ("handled", formula, sorted(arguments))


class _Plugin:
    @hookimpl
    def mixedmodels_data_sources(self) -> list[Any]:
        return [_Source()]


@pytest.fixture
def tagged_source() -> Any:
    register_plugin(_Plugin(), name="test-data-source")
    try:
        yield
    finally:
        unregister_plugin("test-data-source")


def test_lmm_hands_accepted_data_to_the_source(tagged_source: Any) -> None:
    data = _Tagged(mm.datasets.load("Dyestuff"))
    out = mm.lmm("Yield ~ 1 + (1 | Batch)", data, reml=False, optimizer="lbfgsb")
    assert out[0] == "handled" and "reml" in out[2] and "optimizer" in out[2]


def test_pandas_frames_never_ask(tagged_source: Any) -> None:
    assert data_source_for(mm.datasets.load("Dyestuff")) is None
    fit = mm.lmm("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff"))
    assert isinstance(fit, mm.LMMResult)


def test_a_source_without_accepts_is_rejected() -> None:
    class Bad:
        @hookimpl
        def mixedmodels_data_sources(self) -> list[Any]:
            return [type("S", (), {"name": "bad"})()]

    with pytest.raises(Exception, match="accepts"):
        register_plugin(Bad(), name="bad-source")
