"""A plugin whose families hook returns something that is not a Family."""

from mmfix_common import make_estimator

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_estimators():
    return [make_estimator("badreturn_estimator")]


@hookimpl
def mixedmodels_families():
    return ["tweedie"]
