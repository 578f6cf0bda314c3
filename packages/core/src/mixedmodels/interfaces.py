"""The interfaces that the core and every plugin implement.

Each interface is a small abstract base class.  A plugin returns instances (or, for
covariance structures, classes) of these from the hooks in :mod:`mixedmodels.hookspec`;
:mod:`mixedmodels.testing` checks that an implementation honours the contract written in
the docstrings here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pandas as pd

FloatArray = NDArray[np.float64]

__all__ = [
    "ConditionalFamily",
    "CovarianceStructure",
    "Dataset",
    "Diagnostic",
    "Estimator",
    "Family",
    "FloatArray",
    "Link",
    "ResidualCorrelation",
    "Tidier",
]


def matrix_jacobian(fn: Callable[[FloatArray], FloatArray], x: FloatArray, dim: int) -> FloatArray:
    """Central-difference derivatives ``(len(x), dim, dim)`` of a matrix-valued ``fn``."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((x.size, dim, dim))
    for i in range(x.size):  # a loop over parameters (few)
        h = 1e-6 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        out[i] = (fn(up) - fn(down)) / (2 * h)
    return out


class Link(ABC):
    """A link function ``eta = g(mu)``.

    Implementations must be vectorised over numpy arrays and satisfy
    ``inverse(link(mu)) == mu`` on the link's domain and
    ``mu_eta(eta) == d inverse(eta) / d eta``.
    """

    #: Registered name, e.g. ``"logit"``.
    name: ClassVar[str]

    @abstractmethod
    def link(self, mu: FloatArray) -> FloatArray:
        """Map the mean to the linear predictor."""

    @abstractmethod
    def inverse(self, eta: FloatArray) -> FloatArray:
        """Map the linear predictor to the mean."""

    @abstractmethod
    def mu_eta(self, eta: FloatArray) -> FloatArray:
        """Derivative of :meth:`inverse` with respect to ``eta``."""

    def valid_eta(self, eta: FloatArray) -> NDArray[np.bool_]:
        """Whether each ``eta`` lies in the domain of :meth:`inverse`."""
        return np.isfinite(eta)

    def __repr__(self) -> str:
        return f"<Link {self.name}>"


class Family(ABC):
    """A response distribution of an exponential-dispersion (or related) family.

    ``weights`` are prior weights (for the binomial: the number of trials, with ``y``
    a proportion).  ``dispersion`` is the scale parameter ``phi`` (``sigma**2`` for the
    gaussian); families without one (binomial, poisson) ignore it.
    """

    #: Registered name, e.g. ``"binomial"``.
    name: ClassVar[str]
    #: Name of the canonical / default link.
    default_link: ClassVar[str]
    #: Names of the links this family accepts.
    links: ClassVar[tuple[str, ...]]
    #: Whether the family has a free dispersion parameter.
    has_dispersion: ClassVar[bool] = False
    #: Whether ``unit_deviance(y, mu) == 2 * dispersion * (loglik(y, y) - loglik(y, mu)) / w``
    #: (true of exponential-dispersion families); :func:`mixedmodels.testing.check_family`
    #: checks the identity only where this is ``True``.
    deviance_is_loglik_ratio: ClassVar[bool] = True

    @abstractmethod
    def variance(self, mu: FloatArray) -> FloatArray:
        """Variance function ``V(mu)`` (variance divided by dispersion)."""

    def variance_derivative(self, mu: FloatArray) -> FloatArray:
        """Derivative ``V'(mu)`` of :meth:`variance`.

        The default is a central difference (relative step ``1e-6``), whose rounding
        error is about ``1e-10`` relative; a family whose variance function has a closed
        derivative should override it (the observed weights and the Laplace gradient of
        a GLMM use it: differences of that gradient amplify its rounding error).
        """
        mu = np.asarray(mu, dtype=np.float64)
        h = 1e-6 * np.maximum(np.abs(mu), 1e-3)
        return np.asarray((self.variance(mu + h) - self.variance(mu - h)) / (2.0 * h))

    @abstractmethod
    def unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        """Unit deviance ``d(y, mu)`` (non-negative, zero at ``y == mu``)."""

    @abstractmethod
    def loglik(
        self,
        y: FloatArray,
        mu: FloatArray,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        """Log-likelihood (or log density) of each observation."""

    @abstractmethod
    def simulate(
        self,
        mu: FloatArray,
        rng: np.random.Generator,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        """Draw one response per element of ``mu`` on the same scale as ``y``."""

    def valid_mu(self, mu: FloatArray) -> NDArray[np.bool_]:
        """Whether each ``mu`` lies in the mean's parameter space (R's ``validmu``).

        The default accepts every finite value; families with a restricted mean (a
        probability, a positive mean) override it.
        """
        return np.isfinite(mu)

    def starting_mu(self, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        """Starting means for iterative fitting (R's ``family()$initialize``).

        Must return values for which :meth:`valid_mu` holds.  The default is ``y``
        itself, as R's gaussian family does.
        """
        return np.asarray(y, dtype=np.float64).copy()

    def validate_response(self, y: FloatArray, weights: FloatArray | None = None) -> None:
        """Raise :class:`ValueError` naming the problem if ``y`` is outside the support."""
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{self.name} family: the response has non-finite values")

    def deviance_residuals(
        self, y: FloatArray, mu: FloatArray, weights: FloatArray | None = None
    ) -> FloatArray:
        """Signed square roots of the weighted unit deviances."""
        w = 1.0 if weights is None else weights
        d = np.maximum(w * self.unit_deviance(y, mu), 0.0)
        return np.sign(y - mu) * np.sqrt(d)

    def __repr__(self) -> str:
        return f"<Family {self.name}>"


class ConditionalFamily(Family):
    """A family given by its conditional log-density, for the general Laplace engine.

    glmmTMB's families (negative binomials, beta, Tweedie, ...) are not exponential-
    dispersion families that PIRLS can fit; the core's general Laplace engine
    (:mod:`mixedmodels.generalized.laplace_engine`) fits any family that gives its
    log-density per observation and the density's first two derivatives in the mean.
    The mean ``mu`` is ``link.inverse(eta)`` of the conditional linear predictor (which
    carries the random effects); ``phi`` is the dispersion on its natural scale,
    ``exp`` of the dispersion linear predictor (``dispformula``), one value per row;
    ``shape`` holds the family's extra scalar parameters (Tweedie's power), on the
    unconstrained scale the optimiser sees (:attr:`shape_names`).

    Zero inflation and hurdles are the engine's: a zero-truncated family
    (:attr:`truncated`) gives the density of the positive counts and the zero part
    comes from ``ziformula``.
    """

    has_dispersion: ClassVar[bool] = True
    deviance_is_loglik_ratio: ClassVar[bool] = False
    #: Whether the family has a dispersion predictor (``dispformula``); False for
    #: families without one (truncated Poisson), whose ``phi`` is ignored.
    has_dispersion_predictor: ClassVar[bool] = True
    #: Names of the extra scalar parameters (glmmTMB's ``psi``), unconstrained scale.
    shape_names: ClassVar[tuple[str, ...]] = ()
    #: Zero-truncated: zero has density 0 (a hurdle model with ``ziformula``).
    truncated: ClassVar[bool] = False
    #: Support of the response for the conformance kit: ``"count"`` (0, 1, 2, ...),
    #: ``"positive_count"``, ``"unit"`` (the open interval (0, 1)), ``"unit_closed"``
    #: ((0, 1) with point masses at 0 and 1), ``"proportion"`` (successes out of
    #: ``trials``), ``"positive"``, ``"real"``.
    support: ClassVar[str] = "real"
    #: Whether the density needs each row's number of binomial trials (betabinomial):
    #: the engine fits :meth:`bind_trials` of the model's trials.
    uses_trials: ClassVar[bool] = False
    #: Whether a row's density depends on that row's arguments only, with no state tied
    #: to the number of rows: the engine then evaluates several perturbed copies of the
    #: rows (the differenced derivatives of its gradient) in one stacked call.  False
    #: for a family that warm-starts from its last call's rows (compois).
    rows_stackable: ClassVar[bool] = True

    def bind_trials(self, trials: FloatArray | None) -> ConditionalFamily:
        """The family holding each row's number of trials (families with
        :attr:`uses_trials`; the others ignore them)."""
        return self

    @abstractmethod
    def logpdf(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> FloatArray:
        """Conditional log-density (or log-probability) of each observation."""

    @abstractmethod
    def logpdf_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The log-density and its first and second derivatives in ``mu``."""

    @abstractmethod
    def response_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        """``E[y]`` (for a truncated family: the mean of the positive counts)."""

    @abstractmethod
    def response_variance(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        """``Var[y]``."""

    @abstractmethod
    def sample(
        self, mu: FloatArray, phi: FloatArray, shape: FloatArray, rng: np.random.Generator
    ) -> FloatArray:
        """One draw per element of ``mu``."""

    def logpdf_higher_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> (
        tuple[
            FloatArray,
            FloatArray,
            FloatArray,
            FloatArray | None,
            tuple[FloatArray, FloatArray, FloatArray] | None,
        ]
        | None
    ):
        """Optional, for the engine's analytic gradient: what :meth:`logpdf_derivatives`
        gives (log-density, first and second derivatives in ``mu``), then the third
        derivative in ``mu`` and the derivatives in ``log(phi)`` of the log-density and
        of its first two derivatives in ``mu``, in one call (they share special
        functions).  Either of the last two may be ``None``, and the default returns
        ``None`` altogether: the engine then takes central differences of
        :meth:`logpdf_derivatives` row by row, two more evaluations of every row each."""
        return None

    def logpdf_shape_derivatives(
        self, y: FloatArray, mu: FloatArray, phi: FloatArray, shape: FloatArray
    ) -> list[tuple[FloatArray, FloatArray, FloatArray]] | None:
        """Optional, for the engine's analytic gradient: for each extra parameter
        (:attr:`shape_names`, on the optimiser's scale) the derivatives in it of the
        log-density and of its first two derivatives in ``mu``.  The default returns
        ``None``: the engine then takes central differences in ``shape`` of
        :meth:`logpdf_derivatives`, two more evaluations of every row per parameter."""
        return None

    def predict_mean(self, mu: FloatArray, phi: FloatArray, shape: FloatArray) -> FloatArray:
        """The mean glmmTMB's ``predict`` reports (``type = "conditional"``): by default
        :meth:`response_mean` (the ordered beta reports the beta part's mean ``mu``)."""
        return self.response_mean(mu, phi, shape)

    def sigma(self, phi: FloatArray) -> FloatArray:
        """glmmTMB's ``sigma()`` for the dispersion ``phi`` (default: ``phi`` itself)."""
        return phi

    def dispersion_start(self, y: FloatArray) -> float:
        """Start of the dispersion intercept (log scale); glmmTMB starts at 0."""
        return 0.0

    def shape_start(self) -> FloatArray:
        """Start of the extra parameters."""
        return np.zeros(len(self.shape_names))

    # --- the Family interface, in terms of the density --------------------------------
    def _shape0(self) -> FloatArray:
        return self.shape_start()

    def variance(self, mu: FloatArray) -> FloatArray:
        mu = np.asarray(mu, dtype=np.float64)
        return self.response_variance(mu, np.ones_like(mu), self._shape0())

    def unit_deviance(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        y = np.asarray(y, dtype=np.float64)
        one = np.ones_like(y)
        sat = self.logpdf(y, np.maximum(y, 1e-10), one, self._shape0())
        return np.maximum(2.0 * (sat - self.logpdf(y, mu, one, self._shape0())), 0.0)

    def loglik(
        self,
        y: FloatArray,
        mu: FloatArray,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        mu = np.asarray(mu, dtype=np.float64)
        ll = self.logpdf(np.asarray(y, float), mu, np.full(mu.shape, dispersion), self._shape0())
        return ll if weights is None else ll * weights

    def simulate(
        self,
        mu: FloatArray,
        rng: np.random.Generator,
        weights: FloatArray | None = None,
        dispersion: float = 1.0,
    ) -> FloatArray:
        mu = np.asarray(mu, dtype=np.float64)
        return self.sample(mu, np.full(mu.shape, dispersion), self._shape0(), rng)


class _Parameterised(ABC):
    """The parameter vector of a covariance structure or residual correlation: its
    size, names (nlme's for residual correlations: ``"Phi"``, ``"Rho"`` ...), a start
    value and bounds."""

    @property
    @abstractmethod
    def n_params(self) -> int:
        """Number of free parameters."""

    @abstractmethod
    def param_names(self) -> list[str]:
        """One name per parameter."""

    @abstractmethod
    def start(self) -> FloatArray:
        """A start value inside the parameter space (a residual correlation's is
        usually independence)."""

    @abstractmethod
    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """Lower and upper bounds of each parameter (``-inf``/``inf`` when free)."""


class CovarianceStructure(_Parameterised):
    """A parameterisation of the covariance of one random-effect term.

    An instance describes a ``dim x dim`` *relative* covariance (the covariance of the
    random effects divided by the residual variance, for families with a dispersion).
    The core needs only :meth:`factor`, a lower-triangular ``L`` with ``L @ L.T`` equal
    to that relative covariance; everything else is for optimisation and reporting.

    Subclasses are registered as classes and instantiated with the term's dimension and
    the names of its columns.
    """

    #: Registered name, e.g. ``"us"``; used as the formula wrapper ``us(x | g)``.
    name: ClassVar[str]

    def __init__(self, dim: int, column_names: Sequence[str] | None = None) -> None:
        if dim < 1:
            raise ValueError(f"covariance structure {self.name!r}: dimension must be >= 1")
        self.dim = int(dim)
        self.column_names = (
            list(column_names) if column_names is not None else [f"x{i}" for i in range(dim)]
        )
        if len(self.column_names) != self.dim:
            raise ValueError("column_names must have one name per dimension")

    @abstractmethod
    def factor(self, params: FloatArray) -> FloatArray:
        """Lower-triangular ``dim x dim`` factor of the relative covariance."""

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        """Derivatives of :meth:`factor`: array ``(n_params, dim, dim)``.

        The default uses central differences (exact for structures whose factor is
        linear in the parameters); override it with the analytic form when there is one.
        """
        return matrix_jacobian(self.factor, params, self.dim)

    def covariance(self, params: FloatArray) -> FloatArray:
        """The relative covariance ``factor @ factor.T``."""
        lam = self.factor(params)
        return lam @ lam.T

    def is_boundary(self, params: FloatArray, tol: float = 1e-4) -> bool:
        """Whether ``params`` lie on the boundary (a singular covariance)."""
        lower, _ = self.bounds()
        finite = np.isfinite(lower)
        return bool(np.any(np.abs(params[finite] - lower[finite]) < tol))

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float, str]]:
        """The structure's parameters on their natural scale, for reporting.

        A list of ``(name, value, kind)``: ``kind`` is ``"sd"`` for a standard
        deviation *relative to the residual one* (the caller multiplies it by sigma),
        ``"cor"`` for a correlation-type parameter (shown as it is; Wald intervals on
        Fisher's z scale), ``"positive"`` for a positive parameter such as a range
        (intervals on the log scale), ``"unit"`` for one in ``(0, 1)`` (logit scale).  The default
        reports the SD of each column and the correlation of each pair, which describes
        any structure; structures override it to report their own parameterisation
        (``ar1``: one SD and ``phi``; ``cs``: the SDs and ``rho``).
        """
        cov = self.covariance(np.asarray(params, dtype=np.float64))
        sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
        out = [(f"sd({c})", float(s), "sd") for c, s in zip(self.column_names, sd, strict=True)]
        for j in range(self.dim):
            for i in range(j + 1, self.dim):
                denom = sd[i] * sd[j]
                r = float(cov[i, j] / denom) if denom > 0 else float("nan")
                out.append((f"cor({self.column_names[i]},{self.column_names[j]})", r, "cor"))
        return out

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        """This structure as a correlation of the residuals within groups (nlme's
        ``correlation=``), bound to the data's coordinates.

        Called with the coordinates of every observation used (``(n, d)``: a time or
        position covariate, ``d = 1``, or the position of the row within its group when
        none is named; spatial structures take several columns), the residual group of
        each observation (``(n,)`` codes) and the coordinate names, plus any options
        written in the specification (``arma(time | id, p = 1, q = 1)``).  Raise
        :class:`ValueError` naming the problem for coordinates the structure cannot use
        (e.g. duplicate times within a group).  Structures that have no residual use
        keep this default, which raises :class:`TypeError`.
        """
        raise TypeError(
            f"covariance structure {cls.name!r} cannot be used as a residual correlation"
        )

    def __repr__(self) -> str:
        return f"<CovarianceStructure {self.name} dim={self.dim}>"


class ResidualCorrelation(_Parameterised):
    """A parameterised correlation of the residuals within groups (nlme's corStruct).

    Returned by :meth:`CovarianceStructure.residual_correlation`, bound to the data's
    coordinates.  The fitter groups the residual groups by size (and by identical
    coordinates) and asks for their correlation matrices in batches; it whitens each
    group with their Cholesky factors.  Parameters should be unconstrained (or have
    simple bounds): correlations through a transform, as nlme does.
    """

    #: Registered name of the structure this comes from (``"ar1"``).
    name: str = ""
    #: Whether two observations of one group may share coordinates (true of compound
    #: symmetry, which ignores them); if not, duplicates are a clear error.
    allows_ties: bool = False

    @abstractmethod
    def correlations(self, params: FloatArray, coords: FloatArray) -> FloatArray:
        """Correlation matrices of a stack of groups of equal size.

        ``coords`` is ``(G, k, d)``: the coordinates of the ``k`` observations of each
        of ``G`` groups; return ``(G, k, k)`` symmetric positive definite matrices with
        a unit diagonal.
        """

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        """``(name, value)`` on the natural scale, for reporting (``Phi``, ``Rho``)."""
        return list(zip(self.param_names(), np.asarray(params, dtype=float).tolist(), strict=True))

    def __repr__(self) -> str:
        return f"<ResidualCorrelation {self.name} n_params={self.n_params}>"


class Estimator(ABC):
    """A named fitting method.

    ``supports`` says whether the estimator can fit a model (returning ``None``) or why
    not (a message); ``fit`` returns a result object.
    """

    #: Registered name, e.g. ``"reml"``.
    name: ClassVar[str]
    #: One line shown by ``mixedmodels plugins``.
    description: ClassVar[str] = ""
    #: The keyword options ``fit`` accepts; where declared, ``Model.fit`` refuses any
    #: other with a suggestion (``None``: not declared, not checked).
    options: ClassVar[tuple[str, ...] | None] = None

    @abstractmethod
    def supports(self, model: Any) -> str | None:
        """``None`` if ``model`` can be fitted, else the reason it cannot."""

    @abstractmethod
    def fit(self, model: Any, **options: Any) -> Any:
        """Fit ``model`` and return a result."""

    def __repr__(self) -> str:
        return f"<Estimator {self.name}>"


class Diagnostic(ABC):
    """A named check over a fitted result returning a tidy table."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def supports(self, result: Any) -> str | None:
        """``None`` if the check applies to ``result``, else the reason it does not."""

    @abstractmethod
    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        """Run the check; columns at least ``check``, ``statistic``, ``p_value``."""


@dataclass(frozen=True)
class Dataset:
    """A named data set that :func:`mixedmodels.datasets.load` can return."""

    name: str
    description: str
    source: str
    loader: Callable[[], pd.DataFrame] = field(repr=False)
    n_rows: int | None = None

    def load(self) -> pd.DataFrame:
        """Return a fresh copy of the data."""
        return self.loader()


@dataclass(frozen=True)
class Tidier:
    """broom-style tidiers for one result type.

    Each callable takes the result and keyword options and returns a DataFrame.
    ``None`` means the result type does not support that verb.
    """

    result_type: type
    tidy: Callable[..., pd.DataFrame] | None = None
    glance: Callable[..., pd.DataFrame] | None = None
    augment: Callable[..., pd.DataFrame] | None = None
