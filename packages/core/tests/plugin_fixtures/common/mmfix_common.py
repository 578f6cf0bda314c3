"""Minimal implementations of the mixedmodels interfaces for the plugin tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.interfaces import (
    CovarianceStructure,
    Dataset,
    Diagnostic,
    Estimator,
    Family,
    Link,
    Tidier,
)


class FixtureLink(Link):
    name = "fixture_link"

    def link(self, mu):
        return mu

    def inverse(self, eta):
        return eta

    def mu_eta(self, eta):
        return np.ones_like(eta)


class _FixtureFamily(Family):
    default_link = "fixture_link"
    links = ("fixture_link",)

    def variance(self, mu):
        return np.ones_like(mu)

    def unit_deviance(self, y, mu):
        return (y - mu) ** 2

    def loglik(self, y, mu, weights=None, dispersion=1.0):
        return -0.5 * (y - mu) ** 2 / dispersion

    def simulate(self, mu, rng, weights=None, dispersion=1.0):
        return mu + rng.standard_normal(np.shape(mu)) * np.sqrt(dispersion)


def make_family(name: str) -> Family:
    """A family instance registered under ``name``."""
    cls = type("FixtureFamily", (_FixtureFamily,), {"name": name})
    return cls()


class _FixtureEstimator(Estimator):
    def supports(self, model: Any) -> str | None:
        return None

    def fit(self, model: Any, **options: Any) -> Any:
        return FixtureResult()


def make_estimator(name: str) -> Estimator:
    """An estimator instance registered under ``name``."""
    cls = type("FixtureEstimator", (_FixtureEstimator,), {"name": name})
    return cls()


class FixtureCovariance(CovarianceStructure):
    name = "fixture_cov"

    @property
    def n_params(self) -> int:
        return 1

    def param_names(self):
        return ["scale"]

    def start(self):
        return np.ones(1)

    def bounds(self):
        return np.zeros(1), np.full(1, np.inf)

    def factor(self, params):
        return params[0] * np.eye(self.dim)


class FixtureDiagnostic(Diagnostic):
    name = "fixture_diagnostic"

    def supports(self, result):
        return None

    def run(self, result, **options):
        return pd.DataFrame({"check": ["fixture"], "statistic": [0.0], "p_value": [1.0]})


class FixtureResult:
    """A result type for the tidier registry."""


class FixtureSubResult(FixtureResult):
    """A subclass, to check that tidier dispatch walks the MRO."""


def _tidy(result: Any, **options: Any) -> pd.DataFrame:
    return pd.DataFrame({"term": ["x"], "estimate": [1.0]})


FIXTURE_TIDIER = Tidier(result_type=FixtureResult, tidy=_tidy)

FIXTURE_DATASET = Dataset(
    name="fixture_data",
    description="three rows",
    source="made up for the tests",
    loader=lambda: pd.DataFrame({"y": [1.0, 2.0, 3.0]}),
    n_rows=3,
)


def format_text(result: Any) -> str:
    return "fixture result"
