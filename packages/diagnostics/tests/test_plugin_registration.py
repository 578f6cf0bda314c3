"""The plugin is discovered through its entry point and every check passes the kit."""

from __future__ import annotations

import mixedmodels as mm
from mixedmodels import _plugins


def test_plugin_is_discovered():
    table = mm.plugins()
    assert "diagnostics" in set(table["plugin"])


def test_every_registered_check_passes_the_conformance_kit():
    from mixedmodels.testing import check_diagnostic

    from mixedmodels_diagnostics import _plugin

    for diagnostic in _plugin.mixedmodels_diagnostics():
        check_diagnostic(diagnostic)
        assert _plugins.get_diagnostic(diagnostic.name) is not None
