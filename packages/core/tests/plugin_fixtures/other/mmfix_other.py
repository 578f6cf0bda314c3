"""A plugin given as a class (entry point ``mmfix_other:Plugin``)."""

from mixedmodels.hookspec import hookimpl
from mmfix_common import make_estimator


class Plugin:
    @staticmethod
    @hookimpl
    def mixedmodels_estimators():
        return [make_estimator("other_estimator")]
