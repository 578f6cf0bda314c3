"""A plugin with one good hook and one hook that raises."""

from mmfix_common import make_estimator, make_family

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_estimators():
    return [make_estimator("raising_estimator")]


@hookimpl
def mixedmodels_families():
    make_family("raising_family")
    raise RuntimeError("boom in mmfix_raising's families hook")
