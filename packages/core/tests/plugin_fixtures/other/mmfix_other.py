"""A plugin given as a class (entry point ``mmfix_other:Plugin``)."""

from mmfix_common import make_estimator

from mixedmodels.hookspec import hookimpl


class Plugin:
    @staticmethod
    @hookimpl
    def mixedmodels_estimators():
        return [make_estimator("other_estimator")]
