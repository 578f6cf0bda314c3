"""The plugin author's conformance kit, in the spirit of scikit-learn's ``check_estimator``.

Each ``check_*`` function exercises one implementation of an interface from
:mod:`mixedmodels.interfaces` against the contract written in its docstrings: it runs
every named check of that interface and raises one :class:`AssertionError` naming the
object and each failed check with its numbers; it returns ``None`` when everything
holds.  Use them in a plugin's tests::

    from mixedmodels.testing import check_family

    def test_tweedie_conforms():
        check_family(TweedieFamily(power=1.5))

To see every check as its own test, parametrise over the checks instead::

    from mixedmodels.testing import parametrize_with_checks

    @parametrize_with_checks([TweedieFamily(power=1.5), (LogLink(), {"mu": [1, 2, 5]})])
    def test_conforms(obj, check):
        check(obj)

:func:`checks_for` (or ``link_checks``, ``family_checks``, ...) lists the checks as
``(name, check)`` pairs.

A plugin imports only the core's public modules: :func:`check_public_imports`.

:mod:`mixedmodels.testing.fuzz` fits random lme4 formulas to random small data sets and
classifies every outcome (a fit, one of the library's errors, anything else, a timeout):
``python -m mixedmodels.testing.fuzz --seconds 600``.

The checks are randomised (simulation, random parameter draws) but deterministic: they
use :data:`DEFAULT_SEED` unless given a generator or seed.
"""

from __future__ import annotations

from ._core import DEFAULT_SEED, Check
from ._covariance import check_covariance_structure, covariance_structure_checks
from ._diagnostics import check_diagnostic, diagnostic_checks
from ._estimators import check_estimator, estimator_checks
from ._families import check_family, family_checks
from ._imports import PUBLIC_MODULES, check_public_imports
from ._links import check_link, link_checks
from ._parametrize import checks_for, parametrize_with_checks

__all__ = [
    "DEFAULT_SEED",
    "PUBLIC_MODULES",
    "Check",
    "check_covariance_structure",
    "check_diagnostic",
    "check_estimator",
    "check_family",
    "check_link",
    "check_public_imports",
    "checks_for",
    "covariance_structure_checks",
    "diagnostic_checks",
    "estimator_checks",
    "family_checks",
    "link_checks",
    "parametrize_with_checks",
]
