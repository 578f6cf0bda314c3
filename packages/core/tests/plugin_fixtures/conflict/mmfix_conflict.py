"""A plugin registering a family name that mmfix_good registers too."""

from mmfix_common import make_family

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_families():
    return [make_family("fixture_family")]
