"""A plugin whose hook looks up the registry while the registries are being built."""

from mixedmodels import _plugins
from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_families():
    _plugins.get_link("fixture_link")
    return []
