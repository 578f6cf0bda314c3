"""gee() hands data it does not hold in memory (e.g. a Dask frame) to the data source
that accepts it (decisions 0022, 0029)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from mixedmodels_gee import gee

import mixedmodels as mm
from mixedmodels.hookspec import hookimpl
from mixedmodels.plugin_manager import register_plugin, unregister_plugin


class _Tagged:
    """Stand-in for an out-of-core frame."""


class _WithGee:
    name: ClassVar[str] = "test-gee-source"

    def accepts(self, data: Any) -> bool:
        return isinstance(data, _Tagged)

    def lmm(self, formula: str, data: Any, **arguments: Any) -> Any:
        raise AssertionError("not called")

    def gee(self, formula: str, data: Any, **arguments: Any) -> Any:
        return ("handled", formula, arguments)


class _WithoutGee:
    name: ClassVar[str] = "test-no-gee-source"

    def accepts(self, data: Any) -> bool:
        return isinstance(data, _Tagged)

    def lmm(self, formula: str, data: Any, **arguments: Any) -> Any:
        raise AssertionError("not called")


def _register(source: Any) -> Iterator[None]:
    class _Plugin:
        @hookimpl
        def mixedmodels_data_sources(self) -> list[Any]:
            return [source]

    register_plugin(_Plugin(), name="test-gee-data-source")
    try:
        yield
    finally:
        unregister_plugin("test-gee-data-source")


@pytest.fixture
def with_gee() -> Iterator[None]:
    yield from _register(_WithGee())


@pytest.fixture
def without_gee() -> Iterator[None]:
    yield from _register(_WithoutGee())


def test_the_source_gets_the_whole_call(with_gee: None) -> None:
    out = gee("y ~ x", _Tagged(), groups="id", time="t", corstr="ar1", tol=1e-8)
    assert out[0] == "handled" and out[1] == "y ~ x"
    args = out[2]
    assert args["groups"] == "id" and args["time"] == "t" and args["corstr"] == "ar1"
    assert args["tol"] == 1e-8 and args["family"] == "gaussian"


def test_a_source_without_gee_is_a_clear_error(without_gee: None) -> None:
    with pytest.raises(mm.ModelSpecificationError, match="does not fit GEE"):
        gee("y ~ x", _Tagged(), groups="id")


def test_pandas_frames_stay_in_memory(with_gee: None) -> None:
    fit = gee("resp ~ age + smoke", mm.datasets.load("ohio"), groups="id", family="binomial")
    assert type(fit).__name__ == "GEEResult"
