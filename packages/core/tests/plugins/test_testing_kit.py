"""The conformance kit: correct implementations pass, deliberately wrong ones fail.

Each wrong implementation below breaks one part of an interface's contract; the test
asserts that the aggregate ``check_*`` function catches it and that the named check that
should catch it does so on its own (``pytest.raises(AssertionError, match=...)`` names
the check, so a failure for some other reason would not count).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from scipy import special

from mixedmodels.families import Binomial, Gamma, Gaussian, NegativeBinomial, Poisson
from mixedmodels.interfaces import (
    CovarianceStructure,
    Diagnostic,
    Estimator,
    Family,
    FloatArray,
    Link,
)
from mixedmodels.links import IdentityLink, LogitLink, LogLink
from mixedmodels.testing import (
    Check,
    check_covariance_structure,
    check_diagnostic,
    check_estimator,
    check_family,
    check_link,
    checks_for,
    diagnostic_checks,
    family_checks,
    link_checks,
    parametrize_with_checks,
)


def assert_caught(aggregate: Any, obj: Any, check_name: str, match: str, **options: Any) -> None:
    """``aggregate`` catches ``obj``, and so does the check ``check_name`` alone."""
    with pytest.raises(AssertionError, match=match):
        aggregate(obj, **options)
    checks = dict(checks_for(obj, **options))
    assert check_name in checks, f"no check {check_name!r} among {list(checks)}"
    with pytest.raises(AssertionError, match=match):
        checks[check_name](obj)


# ======================================================================================
# links


class MuEtaOffByFactor(LogitLink):
    name: ClassVar[str] = "bad_mu_eta"

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        return 2.0 * super().mu_eta(eta)


class MuEtaSlightlyOff(LogLink):
    name: ClassVar[str] = "bad_mu_eta_small"

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        return 1.001 * super().mu_eta(eta)


class NotAnInverse(LogLink):
    name: ClassVar[str] = "bad_inverse"

    def inverse(self, eta: FloatArray) -> FloatArray:
        return np.exp(np.asarray(eta)) + 1e-3


class WrongSignMuEta(LogitLink):
    name: ClassVar[str] = "bad_sign"

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        return -super().mu_eta(eta)


class Wiggly(IdentityLink):
    """Round trip holds at whole numbers, but the inverse dips in between."""

    name: ClassVar[str] = "wiggly"

    def inverse(self, eta: FloatArray) -> FloatArray:
        eta = np.asarray(eta, dtype=float)
        return eta - 0.9 * np.sin(np.pi * eta) ** 2


class Nameless(IdentityLink):
    name: ClassVar[str] = ""


class NotVectorised(IdentityLink):
    name: ClassVar[str] = "scalar_only"

    def inverse(self, eta: FloatArray) -> FloatArray:
        return np.asarray(eta, dtype=float).ravel()


def test_correct_links_pass() -> None:
    check_link(LogitLink())
    check_link(IdentityLink(), mu=np.linspace(-5, 5, 11))


@pytest.mark.parametrize(
    ("link", "mu", "check", "match"),
    [
        (MuEtaOffByFactor(), None, "mu_eta", "'mu_eta'"),
        (MuEtaSlightlyOff(), None, "mu_eta", "'mu_eta'"),
        (NotAnInverse(), None, "round trip", "'round trip'"),
        (WrongSignMuEta(), None, "mu_eta sign", "'mu_eta sign'"),
        (Wiggly(), np.arange(0.0, 11.0), "monotone", "'monotone'"),
        (Nameless(), None, "name", "'name'"),
        (NotVectorised(), None, "vectorised", "'vectorised'"),
    ],
    ids=lambda v: getattr(v, "name", None) if isinstance(v, Link) else "",
)
def test_wrong_links_fail(link: Link, mu: Any, check: str, match: str) -> None:
    assert_caught(check_link, link, check, match, mu=mu)


def test_link_aggregate_lists_every_failure() -> None:
    with pytest.raises(AssertionError) as info:
        check_link(WrongSignMuEta())
    lines = str(info.value).splitlines()
    assert lines[0].startswith("check_link(WrongSignMuEta(name='bad_sign')) failed check")
    assert any("'mu_eta sign'" in line for line in lines)
    assert any("failed check 'mu_eta':" in line for line in lines)
    assert lines[-1] == "(2 distinct failures among 9 checks)"


def test_link_checks_are_listed_in_order() -> None:
    names = [name for name, _ in link_checks(LogitLink())]
    assert names == [
        "name",
        "interface",
        "link",
        "valid_eta",
        "round trip",
        "vectorised",
        "monotone",
        "mu_eta sign",
        "mu_eta",
    ]
    assert all(isinstance(check, Check) for _, check in link_checks(LogitLink()))
    with pytest.raises(ValueError, match="at least two"):
        list(link_checks(IdentityLink(), mu=[1.0]))


def test_link_message_names_the_link_and_numbers() -> None:
    with pytest.raises(AssertionError) as info:
        check_link(MuEtaOffByFactor())
    msg = str(info.value)
    assert "MuEtaOffByFactor(name='bad_mu_eta')" in msg
    assert "mu_eta(eta=" in msg and "finite difference" in msg


# ======================================================================================
# families


class SimulateTooWide(Gaussian):
    def simulate(
        self,
        mu: FloatArray,
        rng: np.random.Generator,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        return super().simulate(mu, rng, weights, 1.5 * dispersion)


class SimulateShifted(Poisson):
    def simulate(
        self,
        mu: FloatArray,
        rng: np.random.Generator,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        return rng.poisson(np.asarray(mu) + 0.2).astype(float)


class SimulateWrongTheta(NegativeBinomial):
    def simulate(
        self,
        mu: FloatArray,
        rng: np.random.Generator,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        return NegativeBinomial(3 * self.theta).simulate(mu, rng)


class DevianceOff(Poisson):
    def unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        return 1.5 * super().unit_deviance(y, mu)


class DevianceOffButDeclared(DevianceOff):
    deviance_is_loglik_ratio: ClassVar[bool] = False


class DevianceNegative(Gaussian):
    def unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        r = np.asarray(y) - np.asarray(mu)
        return r * np.abs(r)


class LoglikUnnormalised(Poisson):
    def loglik(
        self,
        y: FloatArray,
        mu: FloatArray,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        return super().loglik(y, mu, weights, dispersion) + 0.01


class LoglikWrongShape(Gamma):
    """Uses ``dispersion`` as the shape instead of its reciprocal."""

    def loglik(
        self,
        y: FloatArray,
        mu: FloatArray,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        return super().loglik(y, mu, weights, 1.0 / dispersion)


class LoglikWrongMean(Poisson):
    def loglik(
        self,
        y: FloatArray,
        mu: FloatArray,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        return super().loglik(y, 1.1 * np.asarray(mu), weights, dispersion)


class LoglikUsesDispersion(Binomial):
    def loglik(
        self,
        y: FloatArray,
        mu: FloatArray,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        return super().loglik(y, mu, weights) / dispersion


class GammaLoglikNoGammaln(Gamma):
    """A continuous density off by a constant factor: it does not integrate to 1."""

    def loglik(
        self,
        y: FloatArray,
        mu: FloatArray,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        out = super().loglik(y, mu, weights, dispersion) + special.gammaln(1.0 / dispersion)
        return np.asarray(out)

    def simulate(
        self,
        mu: FloatArray,
        rng: np.random.Generator,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        return super().simulate(mu, rng, weights, dispersion)


class AcceptsNaN(Binomial):
    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        return None


class AcceptsNegative(Poisson):
    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        Family.validate_response(self, y, weights)


class RejectsEverything(Poisson):
    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        raise ValueError("no")


class RaisesTypeError(Poisson):
    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        if np.any(np.isnan(y)):
            raise TypeError("nan")


class NegativeVariance(Binomial):
    def variance(self, mu: FloatArray) -> FloatArray:
        mu = np.asarray(mu)
        return mu * (mu - 1.0)


class DefaultLinkMissing(Poisson):
    default_link: ClassVar[str] = "logit"


class NoValidMu(Binomial):
    """Forgets to restrict the mean to (0, 1): the variance is negative above 1."""

    def valid_mu(self, mu: FloatArray) -> NDArray[np.bool_]:
        return np.isfinite(np.asarray(mu))


class BadStart(Poisson):
    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        return np.asarray(y, dtype=float).copy()


@pytest.mark.parametrize("family", [Gaussian(), Poisson(), Gamma(), NegativeBinomial(2.0)])
def test_correct_families_pass(family: Family) -> None:
    check_family(family)


def test_check_family_accepts_a_class_and_a_link_instance() -> None:
    check_family(Binomial, LogitLink(), rng=7)


def test_family_with_link_it_does_not_list_fails() -> None:
    with pytest.raises(AssertionError, match="'links'"):
        check_family(Poisson(), "logit")
    with pytest.raises(ValueError, match="not a built-in link"):
        check_family(Poisson(), "no-such-link")


@pytest.mark.parametrize(
    ("family", "check", "match"),
    [
        (SimulateTooWide(), "simulate variance", "'simulate variance'"),
        (SimulateShifted(), "simulate mean", "'simulate mean'"),
        (SimulateWrongTheta(2.0), "simulate variance", "'simulate variance'"),
        (DevianceOff(), "deviance = loglik ratio", "'deviance = loglik ratio'"),
        (DevianceNegative(), "unit_deviance", "'unit_deviance'"),
        (LoglikUnnormalised(), "loglik normalised", "'loglik normalised'"),
        (LoglikWrongShape(), "loglik score (dispersion)", "'loglik score \\(dispersion\\)'"),
        (LoglikWrongMean(), "loglik score (mu)", "'loglik score \\(mu\\)'"),
        (LoglikUsesDispersion(), "loglik dispersion", "'loglik dispersion'"),
        (GammaLoglikNoGammaln(), "loglik score (dispersion)", "'loglik"),
        (AcceptsNaN(), "validate_response rejects NaN", "accepted a response containing NaN"),
        (
            AcceptsNegative(),
            "validate_response rejects negative y",
            "accepted a response containing -1.0",
        ),
        (
            RejectsEverything(),
            "validate_response accepts simulated y",
            "'validate_response accepts simulated y'",
        ),
        (
            RaisesTypeError(),
            "validate_response rejects NaN",
            "raised TypeError instead of ValueError",
        ),
        (NegativeVariance(), "variance", "'variance'"),
        (DefaultLinkMissing(), "default_link", "'default_link'"),
        (NoValidMu(), "variance", "'variance'"),
        (BadStart(), "starting_mu", "'starting_mu'"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Family) else "",
)
def test_wrong_families_fail(family: Family, check: str, match: str) -> None:
    assert_caught(check_family, family, check, match)


def test_unnormalised_continuous_density_fails_normalisation() -> None:
    # Without a dispersion score to give it away first, only the integral shows it.
    class Shifted(Gaussian):
        has_dispersion: ClassVar[bool] = False

        def loglik(
            self,
            y: FloatArray,
            mu: FloatArray,
            weights: FloatArray | None = None,
            dispersion: float = 1.0,
        ) -> FloatArray:
            return super().loglik(y, mu, weights, 1.0) + 0.05

        def simulate(
            self,
            mu: FloatArray,
            rng: np.random.Generator,
            weights: FloatArray | None = None,
            dispersion: float = 1.0,
        ) -> FloatArray:
            return super().simulate(mu, rng, weights, 1.0)

    with pytest.raises(AssertionError, match=r"integral of exp\(loglik\).*not 1"):
        check_family(Shifted())


def test_deviance_switch_skips_the_loglik_ratio_check() -> None:
    check_family(DevianceOffButDeclared())


def test_family_message_names_family_check_and_numbers() -> None:
    with pytest.raises(AssertionError) as info:
        check_family(SimulateTooWide())
    msg = str(info.value)
    assert msg.startswith("check_family(SimulateTooWide(name='gaussian')) failed check")
    assert "0.7" in msg and "20000 draws" in msg


def test_check_family_is_deterministic() -> None:
    def message() -> str:
        with pytest.raises(AssertionError) as info:
            check_family(SimulateShifted())
        return str(info.value)

    assert message() == message()


# ======================================================================================
# covariance structures


class DiagSD(CovarianceStructure):
    """Independent effects; the parameters are the standard deviations (>= 0)."""

    name: ClassVar[str] = "test_diag"

    @property
    def n_params(self) -> int:
        return self.dim

    def param_names(self) -> list[str]:
        return [f"sd_{c}" for c in self.column_names]

    def start(self) -> FloatArray:
        return np.ones(self.dim)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.zeros(self.dim), np.full(self.dim, np.inf)

    def factor(self, params: FloatArray) -> FloatArray:
        return np.diag(np.asarray(params, dtype=float))

    def params_from_covariance(self, cov: FloatArray) -> FloatArray:
        return np.sqrt(np.diag(np.asarray(cov, dtype=float)))


class CorrAR1(CovarianceStructure):
    """An AR(1) correlation times a common SD: bounded, with a non-triangular covariance."""

    name: ClassVar[str] = "test_ar1"

    @property
    def n_params(self) -> int:
        return 2

    def param_names(self) -> list[str]:
        return ["sd", "rho"]

    def start(self) -> FloatArray:
        return np.array([1.0, 0.0])

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.array([0.0, -1.0]), np.array([np.inf, 1.0])

    def factor(self, params: FloatArray) -> FloatArray:
        cov = self.covariance(params)
        # A pivoted-free LDL-style factor that stays valid when cov is singular.
        vals, vecs = np.linalg.eigh(cov)
        root = vecs * np.sqrt(np.maximum(vals, 0.0))
        _, r = np.linalg.qr(root.T)
        lam = r.T
        return lam * np.sign(np.where(np.diag(lam) == 0, 1.0, np.diag(lam)))

    def covariance(self, params: FloatArray) -> FloatArray:
        sd, rho = float(params[0]), float(params[1])
        idx = np.arange(self.dim)
        return sd * sd * rho ** np.abs(idx[:, None] - idx[None, :])


class UpperFactor(DiagSD):
    name: ClassVar[str] = "upper"

    def factor(self, params: FloatArray) -> FloatArray:
        lam = np.diag(np.asarray(params, dtype=float))
        if self.dim > 1:
            lam[0, -1] = 0.5
        return lam


class NotPSD(DiagSD):
    name: ClassVar[str] = "not_psd"

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.full(self.dim, -np.inf), np.full(self.dim, np.inf)

    def factor(self, params: FloatArray) -> FloatArray:
        return np.diag(np.sqrt(np.abs(np.asarray(params, dtype=float))))

    def covariance(self, params: FloatArray) -> FloatArray:
        return np.diag(np.asarray(params, dtype=float))


class SingularInside(DiagSD):
    name: ClassVar[str] = "singular"

    def factor(self, params: FloatArray) -> FloatArray:
        lam = np.diag(np.asarray(params, dtype=float))
        lam[0, 0] = 0.0
        return lam


class CovNotFactor(DiagSD):
    name: ClassVar[str] = "cov_not_factor"

    def covariance(self, params: FloatArray) -> FloatArray:
        return np.diag(np.asarray(params, dtype=float))  # SDs, not variances


class TooFewNames(DiagSD):
    name: ClassVar[str] = "few_names"

    def param_names(self) -> list[str]:
        return super().param_names()[:-1]


class StartOutside(DiagSD):
    name: ClassVar[str] = "start_outside"

    def start(self) -> FloatArray:
        return -np.ones(self.dim)


class Noisy(DiagSD):
    name: ClassVar[str] = "noisy"
    _rng = np.random.default_rng(0)

    def factor(self, params: FloatArray) -> FloatArray:
        return np.diag(np.asarray(params, dtype=float) + 1e-6 * self._rng.random(self.dim))


class Jumpy(DiagSD):
    """Deterministic, but jumps by 10 % whenever the parameter crosses a 1e-9 grid line."""

    name: ClassVar[str] = "jumpy"

    def factor(self, params: FloatArray) -> FloatArray:
        p = np.asarray(params, dtype=float)
        return np.diag(p * (1.0 + 0.1 * (np.floor(p * 1e9) % 2)))


class BadInverse(DiagSD):
    name: ClassVar[str] = "bad_inverse"

    def params_from_covariance(self, cov: FloatArray) -> FloatArray:
        return np.diag(np.asarray(cov, dtype=float)).copy()  # variances, not SDs


class OnlyDimOne(DiagSD):
    name: ClassVar[str] = "only_dim_one"

    def __init__(self, dim: int, column_names: Any = None) -> None:
        if dim != 1:
            raise ValueError("scalar terms only")
        super().__init__(dim, column_names)


@pytest.mark.parametrize("cls", [DiagSD, CorrAR1], ids=lambda c: c.name)
def test_correct_structures_pass(cls: type[CovarianceStructure]) -> None:
    check_covariance_structure(cls)


@pytest.mark.parametrize(
    ("cls", "check", "match"),
    [
        (UpperFactor, "factor lower triangular", "'factor lower triangular'"),
        (NotPSD, "covariance positive semi-definite", "'covariance positive semi-definite'"),
        (
            SingularInside,
            "covariance positive definite at interior points",
            "'covariance positive definite at interior points'",
        ),
        (CovNotFactor, "covariance = factor @ factor.T", "'covariance = factor @ factor.T'"),
        (TooFewNames, "param_names", "'param_names \\(dim=1\\)'"),
        (StartOutside, "start", "'start \\(dim=1\\)'"),
        (Noisy, "factor deterministic", "'factor deterministic'"),
        (Jumpy, "continuity", "'continuity \\(dim="),
        (BadInverse, "params_from_covariance round trip", "'params_from_covariance round trip"),
        (OnlyDimOne, "instantiate", "'instantiate dim=2'"),
    ],
    ids=lambda v: str(getattr(v, "name", "")),
)
def test_wrong_structures_fail(cls: type[CovarianceStructure], check: str, match: str) -> None:
    assert_caught(check_covariance_structure, cls, check, match)


def test_structure_limited_to_its_dims_passes() -> None:
    check_covariance_structure(OnlyDimOne, dims=(1,))


def test_structure_check_rejects_non_class() -> None:
    with pytest.raises(AssertionError, match="'interface'"):
        check_covariance_structure(DiagSD(2))  # type: ignore[arg-type]


def _builtin_structures() -> list[Any]:
    try:
        module = importlib.import_module("mixedmodels.covariance")
    except ImportError:
        return []
    return list(getattr(module, "BUILTIN_STRUCTURES", []))


@pytest.mark.skipif(not _builtin_structures(), reason="mixedmodels.covariance not available")
@pytest.mark.parametrize("cls", _builtin_structures(), ids=lambda c: str(getattr(c, "name", "?")))
def test_builtin_structures_pass(cls: type[CovarianceStructure]) -> None:
    check_covariance_structure(cls, dims=(1, 2, 3, 4))


# ======================================================================================
# estimators


@dataclass
class FakeModel:
    X: pd.DataFrame
    y: NDArray[np.float64]


@dataclass
class FakeResult:
    fixef: pd.Series
    vcov: pd.DataFrame
    loglik: float
    df: int
    converged: bool
    nobs: int

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.df

    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.df


def model_factory(seed: int | None) -> FakeModel:
    rng = np.random.default_rng(123)
    n = 60
    x = rng.normal(size=n)
    X = pd.DataFrame({"(Intercept)": np.ones(n), "x": x})
    y = 1.0 + 2.0 * x + rng.normal(scale=0.5, size=n)
    if seed is not None:
        perm = np.random.default_rng(seed).permutation(n)
        X, y = X.iloc[perm].reset_index(drop=True), y[perm]
    return FakeModel(X, y)


class OLS(Estimator):
    """Gaussian linear regression by maximum likelihood."""

    name: ClassVar[str] = "fake_ols"

    def supports(self, model: Any) -> str | None:
        if not isinstance(model, FakeModel):
            return f"fake_ols fits FakeModel, not {type(model).__name__}"
        return None

    def fit(self, model: Any, **options: Any) -> Any:
        X = model.X.to_numpy()
        y = model.y
        beta = self._beta(X, y)
        resid = y - X @ beta
        n, p = X.shape
        sigma2 = float(resid @ resid) / n
        vcov = sigma2 * np.linalg.inv(X.T @ X)
        loglik = self._loglik(n, resid, sigma2)
        names = list(model.X.columns)
        return FakeResult(
            fixef=pd.Series(beta, index=names),
            vcov=pd.DataFrame(self._vcov(vcov), index=names, columns=names),
            loglik=loglik,
            df=p + 1,
            converged=True,
            nobs=n,
        )

    def _beta(self, X: FloatArray, y: FloatArray) -> FloatArray:
        return np.asarray(np.linalg.solve(X.T @ X, X.T @ y))

    def _vcov(self, v: FloatArray) -> FloatArray:
        return v

    def _loglik(self, n: int, resid: FloatArray, sigma2: float) -> float:
        return float(-0.5 * n * (np.log(2 * np.pi * sigma2) + 1.0))


class NonDeterministic(OLS):
    name: ClassVar[str] = "random_start"

    def __init__(self) -> None:
        self._rng = np.random.default_rng()

    def _beta(self, X: FloatArray, y: FloatArray) -> FloatArray:
        return super()._beta(X, y) + 1e-7 * self._rng.standard_normal(X.shape[1])


class AsymmetricVcov(OLS):
    name: ClassVar[str] = "asymmetric"

    def _vcov(self, v: FloatArray) -> FloatArray:
        v = v.copy()
        v[0, 1] *= 1.1
        return v


class OrderDependent(OLS):
    name: ClassVar[str] = "order_dependent"

    def _loglik(self, n: int, resid: FloatArray, sigma2: float) -> float:
        # Forgets the last rows: the likelihood depends on the order of the rows.
        r = resid[: n - 5]
        return float(-0.5 * r.size * np.log(2 * np.pi * sigma2) - 0.5 * (r @ r) / sigma2)


class WrongDf(OLS):
    name: ClassVar[str] = "wrong_df"

    def fit(self, model: Any, **options: Any) -> Any:
        return _AicOff(super().fit(model))


class _AicOff:
    """Wraps a result and reports an AIC that is not -2 loglik + 2 df."""

    def __init__(self, inner: FakeResult) -> None:
        self.fixef, self.vcov, self.loglik = inner.fixef, inner.vcov, inner.loglik
        self.converged = inner.converged
        self.aic = -2.0 * inner.loglik + 2.0 * inner.df + 0.5


class RaisesOnJunk(OLS):
    name: ClassVar[str] = "raises_on_junk"

    def supports(self, model: Any) -> str | None:
        return None if model.X is not None else "no"


class BoolSupports(OLS):
    name: ClassVar[str] = "bool_supports"

    def supports(self, model: Any) -> Any:
        return isinstance(model, FakeModel)


class ArrayFixef(OLS):
    name: ClassVar[str] = "array_fixef"

    def fit(self, model: Any, **options: Any) -> Any:
        res = super().fit(model)
        res.fixef = res.fixef.to_numpy()
        return res


class MislabelledVcov(OLS):
    name: ClassVar[str] = "mislabelled"

    def fit(self, model: Any, **options: Any) -> Any:
        res = super().fit(model)
        res.vcov = res.vcov.iloc[::-1, ::-1]
        return res


class StringConverged(OLS):
    name: ClassVar[str] = "string_converged"

    def fit(self, model: Any, **options: Any) -> Any:
        res = super().fit(model)
        res.converged = "yes"  # type: ignore[assignment]
        return res


class WrongBic(OLS):
    name: ClassVar[str] = "wrong_bic"

    def fit(self, model: Any, **options: Any) -> Any:
        return _BicOff(**vars(super().fit(model)))


class _BicOff(FakeResult):
    def bic(self) -> float:
        return super().bic() + 1.0


class Unnamed(OLS):
    name: ClassVar[str] = "  "


@dataclass
class GeeLikeResult:
    fixef: pd.Series
    vcov: pd.DataFrame
    converged: bool


class GeeLike(OLS):
    name: ClassVar[str] = "gee_like"

    def fit(self, model: Any, **options: Any) -> Any:
        res = super().fit(model)
        return GeeLikeResult(res.fixef, res.vcov, True)


def test_correct_estimator_passes() -> None:
    check_estimator(OLS())
    check_estimator(OLS(), model_factory)


def test_estimator_without_likelihood_passes_when_declared() -> None:
    check_estimator(GeeLike(), model_factory, has_likelihood=False)
    with pytest.raises(AssertionError, match=r"'result\.loglik'"):
        check_estimator(GeeLike(), model_factory)


@pytest.mark.parametrize(
    ("estimator", "check", "match"),
    [
        (NonDeterministic(), "deterministic", "'deterministic'"),
        (AsymmetricVcov(), "result.vcov symmetric", "'result.vcov symmetric'"),
        (OrderDependent(), "row order", "'row order'"),
        (WrongDf(), "result.aic", "'result.aic'"),
        (RaisesOnJunk(), "supports", "'supports'"),
        (BoolSupports(), "supports", "'supports'"),
        (ArrayFixef(), "result.fixef", "'result.fixef'"),
        (MislabelledVcov(), "result.vcov", "'result.vcov'"),
        (StringConverged(), "result.converged", "'result.converged'"),
        (WrongBic(), "result.bic", "'result.bic'"),
        (Unnamed(), "name", "'name'"),
    ],
    ids=lambda v: v.name if isinstance(v, Estimator) else "",
)
def test_wrong_estimators_fail(estimator: Estimator, check: str, match: str) -> None:
    assert_caught(check_estimator, estimator, check, match, model_factory=model_factory)


def test_unsupported_factory_model_fails() -> None:
    with pytest.raises(AssertionError, match="'supports\\(model\\)'"):
        check_estimator(OLS(), lambda seed: "not a model")


def test_estimator_message_gives_numbers() -> None:
    with pytest.raises(AssertionError) as info:
        check_estimator(OrderDependent(), model_factory)
    msg = str(info.value)
    assert "OrderDependent(name='order_dependent')" in msg
    assert "permuted" in msg and "relative difference" in msg


# ======================================================================================
# diagnostics


class ResidualCheck(Diagnostic):
    name: ClassVar[str] = "fake_residuals"

    def supports(self, result: Any) -> str | None:
        return None if isinstance(result, FakeResult) else "needs a FakeResult"

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        return pd.DataFrame({"check": ["normality"], "statistic": [0.3], "p_value": [0.6]})


class BadPValue(ResidualCheck):
    name: ClassVar[str] = "bad_p"

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        return pd.DataFrame({"check": ["x"], "statistic": [1.0], "p_value": [1.5]})


class MissingColumns(ResidualCheck):
    name: ClassVar[str] = "missing_columns"

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        return pd.DataFrame({"check": ["x"]})


def test_diagnostic_checks() -> None:
    result = OLS().fit(model_factory(None))
    check_diagnostic(ResidualCheck(), result)
    assert_caught(check_diagnostic, BadPValue(), "run p-values", "p-values outside", result=result)
    assert_caught(
        check_diagnostic, MissingColumns(), "run columns", "lacks the columns", result=result
    )
    assert_caught(
        check_diagnostic,
        ResidualCheck(),
        "supports(result)",
        "not supported",
        result="not a result",
    )


def test_diagnostic_checks_take_the_result_when_called() -> None:
    # A result from a fixture exists only when the test runs: list with `...`.
    checks = dict(diagnostic_checks(BadPValue(), result=...))
    assert list(checks) == [
        "name",
        "interface",
        "supports",
        "supports(result)",
        "run",
        "run columns",
        "run p-values",
    ]
    result = OLS().fit(model_factory(None))
    checks["run columns"](BadPValue(), result=result)
    with pytest.raises(AssertionError, match="'run p-values'"):
        checks["run p-values"](BadPValue(), result=result)
    with pytest.raises(ValueError, match=r"listed as `\.\.\.`"):
        checks["run"](BadPValue())
    assert [name for name, _ in diagnostic_checks(ResidualCheck())] == [
        "name",
        "interface",
        "supports",
    ]


# ======================================================================================
# listing and parametrising


def test_checks_for_tells_the_kind() -> None:
    def names(obj: Any, **options: Any) -> list[str]:
        return [name for name, _ in checks_for(obj, **options)]

    assert "mu_eta" in names(LogitLink())
    assert "simulate variance" in names(Poisson) and "link" not in names(Poisson)
    assert "link" in names(Poisson(), link="log")
    assert "factor lower triangular" in names(DiagSD)
    assert not any(n.startswith("residual") for n in names(DiagSD))
    assert "row order" in names(OLS(), model_factory=model_factory)
    assert "result.loglik" not in names(
        GeeLike(), model_factory=model_factory, has_likelihood=False
    )
    assert names(OLS()) == ["name", "interface", "supports"]
    assert names(ResidualCheck()) == ["name", "interface", "supports"]
    with pytest.raises(TypeError, match="pass kind="):
        list(checks_for(object()))
    assert names(object(), kind="link")[0] == "name"


def test_family_checks_depend_on_the_family() -> None:
    poisson = [name for name, _ in family_checks(Poisson())]
    gaussian = [name for name, _ in family_checks(Gaussian())]
    assert "loglik dispersion" in poisson and "loglik score (dispersion)" not in poisson
    assert "loglik score (dispersion)" in gaussian and "loglik dispersion" not in gaussian
    declared = [name for name, _ in family_checks(DevianceOffButDeclared())]
    assert "deviance = loglik ratio" not in declared
    with pytest.raises(ValueError, match="not a built-in link"):
        list(family_checks(Poisson(), "no-such-link"))


def test_a_check_runs_on_the_object_it_is_given() -> None:
    checks = dict(link_checks(LogLink()))
    checks["mu_eta"](LogLink())
    with pytest.raises(AssertionError, match="'mu_eta'"):
        checks["mu_eta"](MuEtaSlightlyOff())
    assert repr(checks["mu_eta"]) == "<check 'mu_eta' of check_link>"


def test_parametrize_with_checks_gives_one_case_per_check() -> None:
    mark = parametrize_with_checks([LogitLink(), (Poisson(), {"link": "log"})])
    argnames, params = mark.args
    assert argnames == ("obj", "check")
    ids = [p.id for p in params]
    n_link = len(list(link_checks(LogitLink())))
    assert len(ids) == n_link + len(list(family_checks(Poisson(), "log")))
    assert ids[0] == "LogitLink(name='logit')-name"
    assert "Poisson(name='poisson')[link=log]-simulate mean" in ids
    assert len(set(ids)) == len(ids)


@parametrize_with_checks(
    [
        LogitLink(),
        (IdentityLink(), {"mu": np.linspace(-5, 5, 11)}),
        Gaussian(),
        (Binomial, {"link": LogitLink(), "rng": 7}),
        NegativeBinomial(2.0),
        DiagSD,
        CorrAR1,
        OLS(),
        (OLS(), {"model_factory": model_factory}),
        (GeeLike(), {"model_factory": model_factory, "has_likelihood": False}),
        ResidualCheck(),
    ]
)
def test_correct_objects_pass_every_check(obj: Any, check: Check) -> None:
    check(obj)


def test_check_public_imports_names_a_private_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mixedmodels.testing import check_public_imports

    pkg = tmp_path / "mmfix_private_import"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import mixedmodels\n")
    (pkg / "fit.py").write_text(
        "def f():\n    from mixedmodels.linear.fit import fit_lmm\n\n    return fit_lmm\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(AssertionError, match=r"mixedmodels\.linear\.fit \(fit\.py:2\)"):
        check_public_imports("mmfix_private_import")
    check_public_imports("mmfix_private_import", allowed=["mixedmodels.linear.fit"])
