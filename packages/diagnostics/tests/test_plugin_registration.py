"""The plugin is discovered through its entry point and every check passes the kit."""

from __future__ import annotations

from mixedmodels_diagnostics import _plugin

from mixedmodels.plugin_manager import manager as _plugins
from mixedmodels.testing import Check, parametrize_with_checks


def test_plugin_is_discovered():
    status = {info.name: info for info in _plugins.plugin_status()}
    assert status["diagnostics"].status == "loaded"
    assert status["diagnostics"].distribution == "mixedmodels-diagnostics"


@parametrize_with_checks(_plugin.mixedmodels_diagnostics())
def test_every_registered_check_passes_the_conformance_kit(obj, check: Check):
    check(obj)


def test_every_check_is_registered():
    for diagnostic in _plugin.mixedmodels_diagnostics():
        assert _plugins.get_diagnostic(diagnostic.name) is not None
