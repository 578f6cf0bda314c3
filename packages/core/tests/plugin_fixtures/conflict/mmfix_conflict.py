"""A plugin registering a family name that mmfix_good registers too."""

from mixedmodels.hookspec import hookimpl
from mmfix_common import make_family


@hookimpl
def mixedmodels_families():
    return [make_family("fixture_family")]
