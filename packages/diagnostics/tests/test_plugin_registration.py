"""The plugin is discovered through its entry point and every check passes the kit."""

from __future__ import annotations

from mixedmodels.plugin_manager import manager as _plugins


def test_plugin_is_discovered():
    status = {info.name: info for info in _plugins.plugin_status()}
    assert status["diagnostics"].status == "loaded"
    assert status["diagnostics"].distribution == "mixedmodels-diagnostics"


def test_every_registered_check_passes_the_conformance_kit():
    from mixedmodels_diagnostics import _plugin

    from mixedmodels.testing import check_diagnostic

    for diagnostic in _plugin.mixedmodels_diagnostics():
        check_diagnostic(diagnostic)
        assert _plugins.get_diagnostic(diagnostic.name) is not None
