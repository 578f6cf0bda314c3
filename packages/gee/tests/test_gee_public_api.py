"""The public API of mixedmodels_gee, pinned, and its imports of the core: public modules only."""

from __future__ import annotations

import mixedmodels_gee

from mixedmodels.testing import check_public_imports

ALL = [
    "AR1",
    "Exchangeable",
    "Fixed",
    "GEEConvergenceWarning",
    "GEEError",
    "GEEEstimator",
    "GEEResult",
    "Independence",
    "MDependent",
    "Unstructured",
    "VCOV_TYPES",
    "WorkingCorrelation",
    "__version__",
    "anova",
    "gee",
    "glance_gee",
    "qic",
    "tidy_gee",
]


def test_all_is_pinned() -> None:
    assert sorted(mixedmodels_gee.__all__) == ALL
    for name in mixedmodels_gee.__all__:
        assert getattr(mixedmodels_gee, name) is not None or name == "__version__"
        assert name in dir(mixedmodels_gee)


def test_plugin_imports_only_public_core_modules() -> None:
    check_public_imports("mixedmodels_gee")
