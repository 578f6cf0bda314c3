"""The core's built-ins pass the plugin author's kit, through the registry."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels import testing
from mixedmodels.plugin_manager import manager as _plugins


def _family_link_pairs():
    for name in sorted(_plugins.registry("family")):
        family = _plugins.get_family(name)
        for link in family.links:
            yield family, {"link": _plugins.get_link(link)}


# One test per (built-in, check), so that a report lists every failing check.
@testing.parametrize_with_checks(
    [
        *(_plugins.get_link(name) for name in sorted(_plugins.registry("link"))),
        *_family_link_pairs(),
        *(
            _plugins.get_covariance_structure(name)
            for name in sorted(_plugins.registry("covariance_structure"))
        ),
    ]
)
def test_builtin_links_families_structures_conform(obj, check):
    check(obj)


def sleep_model(seed: int | None):
    data = mm.datasets.load("sleepstudy")
    if seed is not None:
        data = data.iloc[np.random.default_rng(seed).permutation(len(data))]
    return mm.Model("Reaction ~ Days + (Days | Subject)", data)


def cbpp_model(seed: int | None):
    data = mm.datasets.load("cbpp")
    if seed is not None:
        data = data.iloc[np.random.default_rng(seed).permutation(len(data))]
    return mm.Model(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", data, family="binomial"
    )


# The checks of one estimator share its three fits.
@testing.parametrize_with_checks(
    [
        *(
            (_plugins.get_estimator(name), {"model_factory": sleep_model})
            for name in ["reml", "ml"]
        ),
        *(
            (_plugins.get_estimator(name), {"model_factory": cbpp_model})
            for name in ["laplace", "agq", "fast"]
        ),
    ]
)
def test_builtin_estimators_conform(obj, check):
    check(obj)


def test_the_aggregate_checks_pass_for_the_builtins():
    # check_* run the same checks as the parametrised tests above.
    testing.check_link(_plugins.get_link("logit"))
    testing.check_family(_plugins.get_family("poisson"), link="log")
    testing.check_covariance_structure(_plugins.get_covariance_structure("us"))
    testing.check_estimator(_plugins.get_estimator("reml"), sleep_model)


def test_estimator_refuses_a_non_gaussian_model_with_a_reason():
    data = mm.datasets.load("cbpp")
    model = mm.Model("incidence ~ period + (1 | herd)", data, family="poisson")
    reason = _plugins.get_estimator("reml").supports(model)
    assert reason is not None and "poisson" in reason
    with pytest.raises(ValueError, match="cannot fit"):
        model.fit(method="reml")


def test_core_registers_its_builtins():
    assert {"us", "diag"} <= set(_plugins.registry("covariance_structure"))
    assert {"reml", "ml"} <= set(_plugins.registry("estimator"))
    assert {"gaussian", "binomial", "poisson", "Gamma"} <= set(_plugins.registry("family"))
    assert {"sleepstudy", "InstEval", "Dyestuff2"} <= set(_plugins.registry("dataset"))
    frame = mm.plugins()
    assert set(frame.loc[frame["plugin"] == "builtin", "kind"]) >= {
        "estimator",
        "family",
        "link",
        "dataset",
        "covariance_structure",
    }


def test_lmm_estimators_refuse_unknown_model_extras():
    data = mm.datasets.load("sleepstudy")
    model = mm.Model("Reaction ~ Days + (1 | Subject)", data, groups="Subject")
    assert model.extras == {"groups": "Subject"}
    with pytest.raises(ValueError, match="groups"):
        model.fit(method="reml")
