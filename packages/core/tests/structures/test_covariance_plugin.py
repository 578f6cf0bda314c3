"""A third-party covariance structure, registered through the hook (the recipe in
``docs/plugins.md``): it passes the conformance kit, and works as a random-effect
wrapper and as a residual correlation exactly like a built-in.

The fixture distribution ``plugin_fixtures/structure`` (``mmfix-expcor``, entry point
``mmfix_expcor``) is put on ``sys.path`` so that ``importlib.metadata`` discovers it as
it would a pip-installed plugin.  Its exponential correlation is nlme's ``corExp``: the
shared reference case ``lme_spatial_corexp_reml`` (``lme(z ~ x1, random = ~1 | site,
correlation = corExp(form = ~sx + sy | site))``) is reproduced to the project's
tolerances (log-likelihood 1e-6, estimates 1e-4 relative).
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.plugin_manager import get_registration, reset_plugins
from mixedmodels.testing import check_covariance_structure

FIXTURE = Path(__file__).parents[1] / "plugin_fixtures" / "structure"
REFERENCE = Path(__file__).parents[1] / "reference"


@pytest.fixture
def expcor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type]:
    site = tmp_path / "structure"
    shutil.copytree(FIXTURE, site, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("MIXEDMODELS_PLUGINS", raising=False)
    monkeypatch.delenv("MIXEDMODELS_DISABLE_PLUGINS", raising=False)
    importlib.invalidate_caches()
    reset_plugins()
    cls = mm.plugin_manager.manager.get_covariance_structure("expcor")
    yield cls
    sys.modules.pop("mmfix_expcor", None)
    reset_plugins()


def test_discovered_through_the_entry_point(expcor: type) -> None:
    info = get_registration("covariance_structure", "expcor")
    assert info.plugin.distribution == "mmfix-expcor"
    assert expcor.name == "expcor"


def test_passes_the_conformance_kit(expcor: type) -> None:
    check_covariance_structure(expcor)


def test_residual_correlation_reproduces_nlme_corexp(expcor: type) -> None:
    case = json.loads((REFERENCE / "lme_spatial_corexp_reml.json").read_text())
    ref = case["results"]
    data = mm.datasets.load("spatial_sim")
    fit = mm.lmm("z ~ x1 + (1 | site)", data, correlation="expcor(sx + sy | site)")
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    for name, value in ref["fixef"].items():
        assert fit.fixef[name] == pytest.approx(value, rel=1e-4)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    table = fit.structure_parameters(conf_int=False).set_index("term")
    expected = ref["corStruct"]["coef"]["range"]
    assert table.loc["range", "estimate"] == pytest.approx(expected, rel=1e-4)
    assert table.loc["range", "structure"] == "expcor"


def test_random_effect_wrapper(expcor: type) -> None:
    """expcor over the four ages is car1 over them with phi = exp(-1 / range)."""
    orth = mm.datasets.load("Orthodont")
    a = mm.lmm("distance ~ age + Sex + expcor(0 + factor(age) | Subject)", orth, reml=False)
    b = mm.lmm("distance ~ age + Sex + car1(0 + factor(age) | Subject)", orth, reml=False)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-8)
    rng = a.structure_parameters(conf_int=False).set_index("term").loc["range", "estimate"]
    phi = b.structure_parameters(conf_int=False).set_index("term").loc["phi", "estimate"]
    assert np.exp(-1.0 / rng) == pytest.approx(phi, rel=1e-4)


def test_unregistered_name_lists_the_registered_ones() -> None:
    reset_plugins()
    data = mm.datasets.load("spatial_sim")
    with pytest.raises(KeyError) as info:
        mm.lmm("z ~ x1 + (1 | site)", data, correlation="expcor(sx + sy | site)")
    assert "expcor" in str(info.value) and "car1" in str(info.value)
