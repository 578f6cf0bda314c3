"""A plugin with one good hook and one hook that raises."""

from mixedmodels.hookspec import hookimpl
from mmfix_common import make_estimator, make_family


@hookimpl
def mixedmodels_estimators():
    return [make_estimator("raising_estimator")]


@hookimpl
def mixedmodels_families():
    make_family("raising_family")
    raise RuntimeError("boom in mmfix_raising's families hook")
