"""Built-in covariance structures for random-effect terms and residuals.

The parameters are those of the relative covariance factor ``lambda`` (the random
effects' covariance divided by the residual variance is ``lambda @ lambda.T``), as in
lme4, so that the profiled criterion is a smooth function of them with simple bounds.

Structured covariances (glmmTMB's names and parameter counts) are a matrix of relative
standard deviations times a correlation matrix, ``diag(s) C(r) diag(s)``.  Their factor
is ``diag(s) chol(C(r))``: the SDs are bounded below by zero (a zero SD is a singular,
boundary fit, as in lme4) and the correlation parameters ``r`` are unconstrained, mapped
onto valid correlations by a transform, so that every parameter vector inside the
bounds gives a positive semi-definite covariance.

| name      | parameters (dim ``n``)        | covariance                                |
|-----------|-------------------------------|-------------------------------------------|
| ``us``    | ``n(n+1)/2``                  | unstructured (lme4's Cholesky ``theta``)   |
| ``diag``  | ``n``                         | independent, own variances                |
| ``homdiag``| 1                            | independent, one variance                 |
| ``cs``    | ``n + 1``                     | compound symmetry, own variances          |
| ``homcs`` | 2                             | compound symmetry, one variance           |
| ``ar1``   | 2                             | AR(1) over the columns, one variance      |
| ``car1``  | 2                             | continuous AR(1), one variance            |
| ``arma``  | ``1 + p + q``                 | ARMA(p, q) over the columns, one variance |
| ``toep``  | ``2n - 1``                    | Toeplitz, own variances                   |
| ``symm``  | ``n(n+1)/2``                  | general correlation, own variances        |

For ``n = 1`` a structure has no correlation parameter.  ``us``, ``symm``, ``cs``,
``ar1``, ``car1``, ``arma`` and ``toep`` also serve as residual correlations within
groups (nlme's ``correlation=``, see :meth:`CovarianceStructure.residual_correlation`):
``symm``/``us`` is nlme's ``corSymm``, ``cs`` ``corCompSymm``, ``ar1`` ``corAR1``,
``car1`` ``corCAR1``, ``arma`` ``corARMA``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..interfaces import CovarianceStructure, FloatArray, ResidualCorrelation, matrix_jacobian

__all__ = [
    "AR1",
    "ARMA",
    "BUILTIN_STRUCTURES",
    "CAR1",
    "CompoundSymmetry",
    "Diagonal",
    "GeneralSymmetric",
    "HomogeneousCompoundSymmetry",
    "HomogeneousDiagonal",
    "ScaledCorrelation",
    "Toeplitz",
    "Unstructured",
    "arma_acf",
    "pacf_to_ar",
]


# ======================================================================================
# numerical helpers


def _safe_cholesky(C: FloatArray) -> FloatArray:
    """Cholesky factor of a (near-)positive definite matrix, with a tiny ridge if needed."""
    try:
        return np.asarray(np.linalg.cholesky(C), dtype=np.float64)
    except np.linalg.LinAlgError:
        eps = 1e-12 * max(1.0, float(np.max(np.abs(np.diag(C)))))
        for _ in range(8):
            try:
                return np.asarray(np.linalg.cholesky(C + eps * np.eye(C.shape[0])), np.float64)
            except np.linalg.LinAlgError:
                eps *= 100.0
        w, V = np.linalg.eigh(C)
        root = V * np.sqrt(np.maximum(w, 0.0))
        # A triangular factor with the same product: QR of the transposed square root.
        r = np.linalg.qr(root.T, mode="r")
        L = np.asarray(r, dtype=np.float64).T
        return L * np.sign(np.where(np.diag(L) == 0, 1.0, np.diag(L)))[None, :]


def _cholesky_derivative(L: FloatArray, dC: FloatArray) -> FloatArray:
    """Derivatives of the Cholesky factor ``L`` of ``C`` for a stack of ``dC``.

    ``dL = L Phi(L^-1 dC L^-T)`` where ``Phi`` keeps the strict lower triangle and half
    the diagonal (Murray 2016).
    """
    Linv = np.linalg.inv(L)
    inner = Linv[None] @ dC @ Linv.T[None]
    k = L.shape[0]
    low = np.tril(np.ones((k, k)), -1) + 0.5 * np.eye(k)
    return np.asarray(L[None] @ (inner * low[None]), dtype=np.float64)


def pacf_to_ar(pacf: FloatArray) -> FloatArray:
    """AR coefficients of the stationary process with partial autocorrelations ``pacf``
    (Durbin-Levinson; Monahan 1984): every ``pacf`` in ``(-1, 1)^p`` gives a stationary
    AR(p)."""
    phi = np.zeros(0)
    for r in np.asarray(pacf, dtype=np.float64):
        phi = np.concatenate([phi - r * phi[::-1], [r]])
    return phi


def _pacf_to_acf(pacf: FloatArray) -> FloatArray:
    """Autocorrelations at lags ``0..len(pacf)`` from partial autocorrelations."""
    k = len(pacf)
    rho = np.ones(k + 1)
    phi = np.zeros(0)
    for j in range(1, k + 1):
        r = pacf[j - 1]
        v = 1.0 - float(phi @ rho[1:j]) if j > 1 else 1.0
        rho[j] = r * v + (float(phi @ rho[j - 1 : 0 : -1]) if j > 1 else 0.0)
        phi = np.concatenate([phi - r * phi[::-1], [r]])
    return rho


def arma_acf(ar: FloatArray, ma: FloatArray, lag_max: int) -> FloatArray:
    """Autocorrelations at lags ``0..lag_max`` of ``x_t = sum ar_i x_{t-i} + e_t +
    sum ma_j e_{t-j}`` (R's ``ARMAacf``)."""
    ar = np.asarray(ar, dtype=np.float64)
    ma = np.asarray(ma, dtype=np.float64)
    p, q = ar.size, ma.size
    K = max(p, q)
    theta = np.concatenate([[1.0], ma])
    psi = np.zeros(q + 1)
    for j in range(q + 1):
        psi[j] = theta[j] + sum(ar[i - 1] * psi[j - i] for i in range(1, min(j, p) + 1))
    # gamma(k) - sum_i ar_i gamma(|k - i|) = sum_{j=k}^{q} theta_j psi_{j-k}, k = 0..K
    A = np.eye(K + 1)
    for k in range(K + 1):
        for i in range(1, p + 1):
            A[k, abs(k - i)] -= ar[i - 1]
    rhs = np.array([sum(theta[j] * psi[j - k] for j in range(k, q + 1)) for k in range(K + 1)])
    gamma = np.empty(max(lag_max, K) + 1)
    gamma[: K + 1] = np.linalg.solve(A, rhs)
    for k in range(K + 1, gamma.size):
        gamma[k] = sum(ar[i - 1] * gamma[k - i] for i in range(1, p + 1))
    return np.asarray(gamma[: lag_max + 1] / gamma[0], dtype=np.float64)


def _cpc_cholesky(z: FloatArray, k: int) -> FloatArray:
    """Cholesky factor of the correlation matrix with canonical partial correlations
    ``z`` (column-major strict lower triangle, each in (-1, 1))."""
    L = np.zeros((k, k))
    L[0, 0] = 1.0
    cols, rows = np.triu_indices(k, 1)
    Z = np.zeros((k, k))
    Z[rows, cols] = z
    for i in range(1, k):
        rest = 1.0
        for j in range(i):
            L[i, j] = Z[i, j] * np.sqrt(max(rest, 0.0))
            rest -= L[i, j] ** 2
        L[i, i] = np.sqrt(max(rest, 0.0))
    return L


def _logistic(t: Any) -> Any:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(t, dtype=np.float64)))


# ======================================================================================
# unstructured and diagonal (lme4's theta)


class Unstructured(CovarianceStructure):
    """General positive semi-definite covariance (lme4's default, glmmTMB's ``us``).

    Parameters are the lower triangle of the Cholesky factor in column-major order,
    lme4's ``theta``: for a 2 x 2 term ``[l11, l21, l22]``.  Diagonal elements are
    bounded below by zero; the off-diagonal ones are free.  As a residual correlation
    (``correlation="us(visit | id)"``) it is nlme's general ``corSymm``, as ``symm``.
    """

    name: ClassVar[str] = "us"

    def __init__(self, dim: int, column_names: Sequence[str] | None = None) -> None:
        super().__init__(dim, column_names)
        # Column-major order of the lower triangle (lme4's theta order).
        cols, rows = np.triu_indices(self.dim)
        self._rows, self._cols = rows, cols

    def _tril(self) -> tuple[np.ndarray, np.ndarray]:
        return self._rows, self._cols

    @property
    def n_params(self) -> int:
        return self.dim * (self.dim + 1) // 2

    def param_names(self) -> list[str]:
        rows, cols = self._tril()
        names = self.column_names
        return [
            names[r] if r == c else f"{names[r]}.{names[c]}"
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
        ]

    def start(self) -> FloatArray:
        rows, cols = self._tril()
        return (rows == cols).astype(np.float64)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        rows, cols = self._tril()
        lower = np.where(rows == cols, 0.0, -np.inf)
        return lower, np.full(self.n_params, np.inf)

    def factor(self, params: FloatArray) -> FloatArray:
        lam = np.zeros((self.dim, self.dim))
        lam[self._rows, self._cols] = params
        return lam

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        jac = np.zeros((self.n_params, self.dim, self.dim))
        jac[np.arange(self.n_params), self._rows, self._cols] = 1.0
        return jac

    def params_from_covariance(self, cov: FloatArray) -> FloatArray:
        """Parameters whose factor reproduces the positive definite ``cov``."""
        lam = np.linalg.cholesky(np.asarray(cov, dtype=np.float64))
        rows, cols = self._tril()
        return np.asarray(lam[rows, cols], dtype=np.float64)

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return _SymmResidual(cls.name, coords, groups, coord_names, **options)


class Diagonal(CovarianceStructure):
    """Independent random effects with their own variances (``diag``, lme4's ``||``)."""

    name: ClassVar[str] = "diag"

    @property
    def n_params(self) -> int:
        return self.dim

    def param_names(self) -> list[str]:
        return list(self.column_names)

    def start(self) -> FloatArray:
        return np.ones(self.dim)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.zeros(self.dim), np.full(self.dim, np.inf)

    def factor(self, params: FloatArray) -> FloatArray:
        return np.diag(np.asarray(params, dtype=np.float64))

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        jac = np.zeros((self.dim, self.dim, self.dim))
        idx = np.arange(self.dim)
        jac[idx, idx, idx] = 1.0
        return jac

    def params_from_covariance(self, cov: FloatArray) -> FloatArray:
        """Square roots of the diagonal of ``cov`` (off-diagonals must be zero)."""
        return np.sqrt(np.diag(np.asarray(cov, dtype=np.float64)))

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float, str]]:
        p = np.abs(np.asarray(params, dtype=np.float64))
        return [(f"sd({c})", float(s), "sd") for c, s in zip(self.column_names, p, strict=True)]


class HomogeneousDiagonal(CovarianceStructure):
    """Independent random effects with one common variance (glmmTMB's ``homdiag``)."""

    name: ClassVar[str] = "homdiag"

    @property
    def n_params(self) -> int:
        return 1

    def param_names(self) -> list[str]:
        return ["sd"]

    def start(self) -> FloatArray:
        return np.ones(1)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.zeros(1), np.full(1, np.inf)

    def factor(self, params: FloatArray) -> FloatArray:
        return float(params[0]) * np.eye(self.dim)

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        return np.eye(self.dim)[None]

    def params_from_covariance(self, cov: FloatArray) -> FloatArray:
        return np.sqrt(np.array([float(np.mean(np.diag(np.asarray(cov, dtype=np.float64))))]))

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float, str]]:
        return [("sd", float(abs(params[0])), "sd")]


# ======================================================================================
# SDs times a structured correlation matrix


class ScaledCorrelation(CovarianceStructure):
    """Base of ``diag(s) C(r) diag(s)`` structures (glmmTMB's ``cs``, ``ar1``, ...).

    Parameters are the relative SDs ``s`` (one per column, or one shared when
    :attr:`homogeneous`), bounded below by zero, then the correlation parameters ``r``,
    unconstrained.  Subclasses give :meth:`n_corr`, :meth:`correlation_matrix` and the
    names; they may give the correlation's Cholesky factor and derivatives in closed
    form (:meth:`correlation_cholesky`, :meth:`correlation_jacobian`).
    """

    homogeneous: ClassVar[bool] = False

    # --- what subclasses define -------------------------------------------------------
    def n_corr(self) -> int:
        """Number of correlation parameters."""
        raise NotImplementedError

    def corr_param_names(self) -> list[str]:
        raise NotImplementedError

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        """The ``dim x dim`` correlation matrix at correlation parameters ``r``."""
        raise NotImplementedError

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        """Correlation parameters on their natural scale, for reporting."""
        raise NotImplementedError

    def correlation_cholesky(self, r: FloatArray) -> FloatArray:
        return _safe_cholesky(self.correlation_matrix(r))

    def correlation_jacobian(self, r: FloatArray) -> FloatArray:
        """``(n_corr, dim, dim)`` derivatives of the correlation matrix (central
        differences unless overridden)."""
        return matrix_jacobian(self.correlation_matrix, r, self.dim)

    # --- the CovarianceStructure interface --------------------------------------------
    @property
    def n_sd(self) -> int:
        return 1 if self.homogeneous else self.dim

    @property
    def n_params(self) -> int:
        return self.n_sd + self.n_corr()

    def param_names(self) -> list[str]:
        sds = ["sd"] if self.homogeneous else list(self.column_names)
        return sds + self.corr_param_names()

    def start(self) -> FloatArray:
        return np.concatenate([np.ones(self.n_sd), np.zeros(self.n_corr())])

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        lower = np.concatenate([np.zeros(self.n_sd), np.full(self.n_corr(), -np.inf)])
        return lower, np.full(self.n_params, np.inf)

    def _split(self, params: FloatArray) -> tuple[FloatArray, FloatArray]:
        params = np.asarray(params, dtype=np.float64)
        s = params[: self.n_sd]
        if self.homogeneous:
            s = np.repeat(s, self.dim)
        return s, params[self.n_sd :]

    def factor(self, params: FloatArray) -> FloatArray:
        s, r = self._split(params)
        if self.dim == 1:
            return s.reshape(1, 1).copy()
        return s[:, None] * self.correlation_cholesky(r)

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        s, r = self._split(params)
        d = self.dim
        out = np.zeros((self.n_params, d, d))
        Lc = np.ones((1, 1)) if d == 1 else self.correlation_cholesky(r)
        if self.homogeneous:
            out[0] = Lc
        else:
            idx = np.arange(d)
            out[idx, idx, :] = Lc
        if self.n_corr():
            dL = _cholesky_derivative(Lc, self.correlation_jacobian(r))
            out[self.n_sd :] = s[None, :, None] * dL
        return out

    def covariance(self, params: FloatArray) -> FloatArray:
        lam = self.factor(params)
        return lam @ lam.T

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float, str]]:
        s, r = self._split(params)
        if self.homogeneous:
            out = [("sd", float(abs(s[0])), "sd")]
        else:
            out = [
                (f"sd({c})", float(abs(v)), "sd") for c, v in zip(self.column_names, s, strict=True)
            ]
        if self.dim > 1:
            out += [(name, float(v), "cor") for name, v in self.natural_correlation(r)]
        return out


class CompoundSymmetry(ScaledCorrelation):
    """Compound symmetry with heterogeneous variances (glmmTMB's ``cs``): one
    correlation ``rho`` between every pair of columns.

    ``rho = logistic(r) (1 + a) - a`` with ``a = 1 / (dim - 1)`` (glmmTMB's transform),
    so ``rho`` covers ``(-1/(dim-1), 1)``, where the matrix is positive definite.  As a
    residual correlation, nlme's ``corCompSymm``.
    """

    name: ClassVar[str] = "cs"

    def n_corr(self) -> int:
        return 0 if self.dim == 1 else 1

    def corr_param_names(self) -> list[str]:
        return ["rho"] if self.dim > 1 else []

    def rho(self, r: FloatArray) -> float:
        a = 1.0 / (self.dim - 1)
        return float(_logistic(r[0]) * (1.0 + a) - a)

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        rho = self.rho(r)
        C = np.full((self.dim, self.dim), rho)
        np.fill_diagonal(C, 1.0)
        return C

    def correlation_jacobian(self, r: FloatArray) -> FloatArray:
        a = 1.0 / (self.dim - 1)
        g = float(_logistic(r[0]))
        d = g * (1.0 - g) * (1.0 + a)
        J = np.full((1, self.dim, self.dim), d)
        J[0][np.diag_indices(self.dim)] = 0.0
        return J

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        return [("rho", self.rho(r))]

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return _CompSymmResidual(cls.name, groups, **options)


class HomogeneousCompoundSymmetry(CompoundSymmetry):
    """Compound symmetry with one common variance (glmmTMB's ``homcs``)."""

    name: ClassVar[str] = "homcs"
    homogeneous: ClassVar[bool] = True


class AR1(ScaledCorrelation):
    """First-order autoregressive correlation over the columns, one common variance
    (glmmTMB's ``ar1``): ``corr(i, j) = phi^|i - j|``, ``phi = r / sqrt(1 + r^2)``.

    As a residual correlation, nlme's ``corAR1`` over an integer time covariate (or the
    row order): ``correlation="ar1(visit | id)"``; gaps in the times give
    ``phi^lag``, as nlme does.
    """

    name: ClassVar[str] = "ar1"
    homogeneous: ClassVar[bool] = True

    def n_corr(self) -> int:
        return 0 if self.dim == 1 else 1

    def corr_param_names(self) -> list[str]:
        return ["phi"] if self.dim > 1 else []

    @staticmethod
    def phi(r: FloatArray) -> float:
        t = float(r[0])
        return t / np.sqrt(1.0 + t * t)

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        idx = np.arange(self.dim)
        return np.asarray(self.phi(r) ** np.abs(idx[:, None] - idx[None, :]), dtype=np.float64)

    def correlation_cholesky(self, r: FloatArray) -> FloatArray:
        phi = self.phi(r)
        idx = np.arange(self.dim)
        lag = idx[:, None] - idx[None, :]
        L = np.where(lag >= 0, phi ** np.maximum(lag, 0), 0.0)
        L[:, 1:] *= np.sqrt(1.0 - phi * phi)
        return np.asarray(L, dtype=np.float64)

    def correlation_jacobian(self, r: FloatArray) -> FloatArray:
        t = float(r[0])
        phi = self.phi(r)
        dphi = (1.0 + t * t) ** -1.5
        idx = np.arange(self.dim)
        lag = np.abs(idx[:, None] - idx[None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(lag > 0, lag * phi ** np.maximum(lag - 1, 0), 0.0)
        return np.asarray((d * dphi)[None], dtype=np.float64)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        return [("phi", self.phi(r))]

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        _no_options(cls.name, options)
        return _ARMAResidual(cls.name, coords, groups, coord_names, p=1, q=0, label="Phi")


class CAR1(ScaledCorrelation):
    """Continuous-time AR(1): ``corr = phi^|t_i - t_j|`` with ``phi`` in ``(0, 1)``,
    ``phi = logistic(r)`` (nlme's ``corCAR1``; glmmTMB's ``ou`` in another
    parameterisation).  As a random-effect structure the columns sit at times
    ``0, 1, ..., dim - 1``; as a residual correlation
    (``correlation="car1(Time | Rat)"``) at the values of the time covariate, which may
    be unequally spaced.
    """

    name: ClassVar[str] = "car1"
    homogeneous: ClassVar[bool] = True

    def n_corr(self) -> int:
        return 0 if self.dim == 1 else 1

    def corr_param_names(self) -> list[str]:
        return ["phi"] if self.dim > 1 else []

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        phi = float(_logistic(r[0]))
        idx = np.arange(self.dim)
        return np.asarray(phi ** np.abs(idx[:, None] - idx[None, :]), dtype=np.float64)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        return [("phi", float(_logistic(r[0])))]

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return _CAR1Residual(cls.name, coords, **options)


class ARMA(ScaledCorrelation):
    """ARMA(p, q) autocorrelation over the columns, one common variance (default
    ``p = 1``, ``q = 0`` as a random-effect structure).

    The AR and MA coefficients come from partial autocorrelations ``tanh(r / 2)``
    (stationary and invertible for any ``r``).  As a residual correlation:
    ``correlation="arma(visit | id, p = 1, q = 1)"``, nlme's ``corARMA`` over an
    integer time covariate (or the row order).
    """

    name: ClassVar[str] = "arma"
    homogeneous: ClassVar[bool] = True
    p: ClassVar[int] = 1
    q: ClassVar[int] = 0

    def n_corr(self) -> int:
        return 0 if self.dim == 1 else self.p + self.q

    def corr_param_names(self) -> list[str]:
        if self.dim == 1:
            return []
        return [f"phi{i + 1}" for i in range(self.p)] + [f"theta{j + 1}" for j in range(self.q)]

    def _coefs(self, r: FloatArray) -> tuple[FloatArray, FloatArray]:
        return _arma_coefs(np.asarray(r, dtype=np.float64), self.p, self.q)

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        ar, ma = self._coefs(r)
        acf = arma_acf(ar, ma, self.dim - 1)
        idx = np.arange(self.dim)
        return np.asarray(acf[np.abs(idx[:, None] - idx[None, :])], dtype=np.float64)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        ar, ma = self._coefs(r)
        return list(zip(self.corr_param_names(), [*ar.tolist(), *ma.tolist()], strict=True))

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        p = int(options.pop("p", 1))
        q = int(options.pop("q", 0))
        return _ARMAResidual(cls.name, coords, groups, coord_names, p=p, q=q, **options)


class Toeplitz(ScaledCorrelation):
    """Toeplitz correlation with heterogeneous variances (glmmTMB's ``toep``): one
    correlation per lag, from partial autocorrelations ``r / sqrt(1 + r^2)`` so that
    every parameter vector gives a positive definite matrix."""

    name: ClassVar[str] = "toep"

    def n_corr(self) -> int:
        return self.dim - 1

    def corr_param_names(self) -> list[str]:
        return [f"pacf{k}" for k in range(1, self.dim)]

    def acf(self, r: FloatArray) -> FloatArray:
        r = np.asarray(r, dtype=np.float64)
        return _pacf_to_acf(r / np.sqrt(1.0 + r * r))

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        acf = self.acf(r)
        idx = np.arange(self.dim)
        return np.asarray(acf[np.abs(idx[:, None] - idx[None, :])], dtype=np.float64)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        acf = self.acf(r)
        return [(f"rho.lag{k}", float(acf[k])) for k in range(1, self.dim)]

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return _ToeplitzResidual(cls.name, coords, groups, coord_names, **options)


class GeneralSymmetric(ScaledCorrelation):
    """Heterogeneous variances and a general correlation matrix (nlme's ``corSymm``
    as a residual correlation).  The correlations come from canonical partial
    correlations ``tanh(r)``, so that every parameter vector gives a valid matrix; it
    describes the same covariances as ``us`` in SD/correlation form."""

    name: ClassVar[str] = "symm"

    def n_corr(self) -> int:
        return self.dim * (self.dim - 1) // 2

    def corr_param_names(self) -> list[str]:
        cols, rows = np.triu_indices(self.dim, 1)
        return [f"cpc({r + 1},{c + 1})" for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]

    def correlation_cholesky(self, r: FloatArray) -> FloatArray:
        return _cpc_cholesky(np.tanh(np.asarray(r, dtype=np.float64)), self.dim)

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        L = self.correlation_cholesky(r)
        return L @ L.T

    def factor_jacobian(self, params: FloatArray) -> FloatArray:
        # The factor is closed form: central differences of it are accurate and cheap.
        return CovarianceStructure.factor_jacobian(self, params)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        C = self.correlation_matrix(r)
        names = self.column_names
        cols, rows = np.triu_indices(self.dim, 1)
        return [
            (f"cor({names[i]},{names[j]})", float(C[i, j]))
            for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
        ]

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return _SymmResidual(cls.name, coords, groups, coord_names, **options)


def _arma_coefs(r: FloatArray, p: int, q: int) -> tuple[FloatArray, FloatArray]:
    pacf = np.tanh(0.5 * r)
    ar = pacf_to_ar(pacf[:p])
    ma = -pacf_to_ar(pacf[p : p + q])
    return ar, ma


# ======================================================================================
# residual correlations (nlme's corStruct), bound to the data's coordinates


def _no_options(name: str, options: dict[str, Any]) -> None:
    if options:
        raise ValueError(f"correlation {name!r}: unknown options {sorted(options)}")


def _integer_positions(name: str, coords: FloatArray, coord_names: Sequence[str]) -> FloatArray:
    if coords.shape[1] != 1:
        raise ValueError(f"correlation {name!r} takes one time covariate, got {list(coord_names)}")
    t = coords[:, 0]
    if not np.all(np.abs(t - np.round(t)) < 1e-8):
        raise ValueError(
            f"correlation {name!r}: the time covariate {coord_names[0]!r} must be integer "
            "valued (use car1() for continuous times)"
        )
    return np.asarray(np.round(t), dtype=np.float64)


class _CompSymmResidual(ResidualCorrelation):
    """nlme's ``corCompSymm``: one correlation within each group."""

    allows_ties = True

    def __init__(self, name: str, groups: NDArray[np.int64], **options: Any) -> None:
        _no_options(name, options)
        self.name = name
        sizes = np.bincount(groups) if groups.size else np.zeros(1, dtype=np.int64)
        self.max_size = max(2, int(sizes.max()))

    @property
    def n_params(self) -> int:
        return 1

    def param_names(self) -> list[str]:
        return ["Rho"]

    def start(self) -> FloatArray:
        # logistic(r)(1 + a) - a = 0
        a = 1.0 / (self.max_size - 1)
        return np.array([np.log(a)])

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.full(1, -np.inf), np.full(1, np.inf)

    def rho(self, params: FloatArray) -> float:
        a = 1.0 / (self.max_size - 1)
        return float(_logistic(params[0]) * (1.0 + a) - a)

    def correlations(self, params: FloatArray, coords: FloatArray) -> FloatArray:
        G, k = coords.shape[:2]
        C = np.full((G, k, k), self.rho(params))
        idx = np.arange(k)
        C[:, idx, idx] = 1.0
        return C

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        return [("Rho", self.rho(params))]


class _CAR1Residual(ResidualCorrelation):
    """nlme's ``corCAR1``: ``phi^|t_i - t_j|`` over a continuous time covariate."""

    def __init__(self, name: str, coords: FloatArray, **options: Any) -> None:
        _no_options(name, options)
        if coords.shape[1] != 1:
            raise ValueError(f"correlation {name!r} takes one time covariate")
        self.name = name

    @property
    def n_params(self) -> int:
        return 1

    def param_names(self) -> list[str]:
        return ["Phi"]

    def start(self) -> FloatArray:
        return np.array([np.log(0.2 / 0.8)])

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.full(1, -np.inf), np.full(1, np.inf)

    def correlations(self, params: FloatArray, coords: FloatArray) -> FloatArray:
        log_phi = float(np.log(_logistic(params[0])))
        return np.asarray(np.exp(log_phi * _lags(self, coords)), dtype=np.float64)

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        return [("Phi", float(_logistic(params[0])))]


def _lags(owner: Any, coords: FloatArray) -> FloatArray:
    """``|t_i - t_j|`` of a stack of groups, cached per coordinate array (the fitter
    passes the same arrays at every evaluation)."""
    cache: dict[int, tuple[FloatArray, FloatArray]] = owner.__dict__.setdefault("_lag_cache", {})
    hit = cache.get(id(coords))
    if hit is not None and hit[0] is coords:
        return hit[1]
    t = coords[:, :, 0]
    lag = np.abs(t[:, :, None] - t[:, None, :])
    if len(cache) < 64:
        cache[id(coords)] = (coords, lag)
    return lag


class _LagResidual(ResidualCorrelation):
    """Correlation a function of the integer lag ``|t_i - t_j|`` (AR, ARMA, Toeplitz)."""

    def __init__(self, name: str, coords: FloatArray, coord_names: Sequence[str]) -> None:
        self.name = name
        t = _integer_positions(name, coords, coord_names)
        self.max_lag = int(np.max(t) - np.min(t)) if t.size else 0

    def acf(self, params: FloatArray, lag_max: int) -> FloatArray:
        raise NotImplementedError

    def correlations(self, params: FloatArray, coords: FloatArray) -> FloatArray:
        lag = np.round(_lags(self, coords)).astype(np.int64)
        acf = self.acf(params, int(lag.max(initial=0)))
        return np.asarray(acf[lag], dtype=np.float64)


class _ARMAResidual(_LagResidual):
    """nlme's ``corARMA`` (and ``corAR1``, ``p = 1, q = 0``)."""

    def __init__(
        self,
        name: str,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        p: int = 1,
        q: int = 0,
        label: str | None = None,
        **options: Any,
    ) -> None:
        _no_options(name, options)
        super().__init__(name, coords, coord_names)
        if p < 0 or q < 0 or p + q == 0:
            raise ValueError(f"correlation {name!r}: need p >= 0, q >= 0 and p + q >= 1")
        self.p, self.q = p, q
        self._label = label

    @property
    def n_params(self) -> int:
        return self.p + self.q

    def param_names(self) -> list[str]:
        if self._label is not None:
            return [self._label]
        return [f"Phi{i + 1}" for i in range(self.p)] + [f"Theta{j + 1}" for j in range(self.q)]

    def start(self) -> FloatArray:
        return np.zeros(self.p + self.q)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        k = self.p + self.q
        return np.full(k, -np.inf), np.full(k, np.inf)

    def acf(self, params: FloatArray, lag_max: int) -> FloatArray:
        if self.p == 1 and self.q == 0:
            phi = float(np.tanh(0.5 * params[0]))
            return np.asarray(phi ** np.arange(lag_max + 1), dtype=np.float64)
        ar, ma = _arma_coefs(np.asarray(params, dtype=np.float64), self.p, self.q)
        return arma_acf(ar, ma, lag_max)

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        ar, ma = _arma_coefs(np.asarray(params, dtype=np.float64), self.p, self.q)
        return list(zip(self.param_names(), [*ar.tolist(), *ma.tolist()], strict=True))


class _ToeplitzResidual(_LagResidual):
    """A general stationary correlation: one correlation per lag (from partial
    autocorrelations, so always positive definite)."""

    def __init__(
        self,
        name: str,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> None:
        _no_options(name, options)
        super().__init__(name, coords, coord_names)
        # The largest lag seen within a group.
        t = np.round(coords[:, 0])
        if groups.size:
            high = np.full(int(groups.max()) + 1, -np.inf)
            np.maximum.at(high, groups, t)
            low = np.full(high.size, np.inf)
            np.minimum.at(low, groups, t)
            self.max_lag = int(np.max(high - low))
        if self.max_lag < 1:
            raise ValueError(f"correlation {name!r}: no group has two observations")

    @property
    def n_params(self) -> int:
        return self.max_lag

    def param_names(self) -> list[str]:
        return [f"pacf{k}" for k in range(1, self.max_lag + 1)]

    def start(self) -> FloatArray:
        return np.zeros(self.max_lag)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.full(self.max_lag, -np.inf), np.full(self.max_lag, np.inf)

    def acf(self, params: FloatArray, lag_max: int) -> FloatArray:
        acf = _pacf_to_acf(np.tanh(0.5 * np.asarray(params, dtype=np.float64)))
        return acf[: lag_max + 1]

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        acf = self.acf(params, self.max_lag)
        return [(f"Rho.lag{k}", float(acf[k])) for k in range(1, self.max_lag + 1)]


class _SymmResidual(ResidualCorrelation):
    """nlme's ``corSymm``: a general correlation between the distinct values of the
    position covariate (``K (K - 1) / 2`` parameters for ``K`` distinct values)."""

    def __init__(
        self,
        name: str,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> None:
        _no_options(name, options)
        if coords.shape[1] != 1:
            raise ValueError(f"correlation {name!r} takes one position covariate")
        self.name = name
        self.values = np.unique(coords[:, 0])
        self.K = int(self.values.size)
        if self.K < 2:
            raise ValueError(f"correlation {name!r}: the position covariate has one value")
        cols, rows = np.triu_indices(self.K, 1)
        self._pairs = (rows, cols)

    @property
    def n_params(self) -> int:
        return self.K * (self.K - 1) // 2

    def param_names(self) -> list[str]:
        rows, cols = self._pairs
        return [f"cpc({r + 1},{c + 1})" for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]

    def start(self) -> FloatArray:
        return np.zeros(self.n_params)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.full(self.n_params, -np.inf), np.full(self.n_params, np.inf)

    def matrix(self, params: FloatArray) -> FloatArray:
        L = _cpc_cholesky(np.tanh(np.asarray(params, dtype=np.float64)), self.K)
        C = L @ L.T
        np.fill_diagonal(C, 1.0)
        return C

    def correlations(self, params: FloatArray, coords: FloatArray) -> FloatArray:
        C = self.matrix(params)
        pos = np.searchsorted(self.values, coords[:, :, 0])
        return np.asarray(C[pos[:, :, None], pos[:, None, :]], dtype=np.float64)

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        C = self.matrix(params)
        rows, cols = self._pairs
        return [
            (f"cor({r + 1},{c + 1})", float(C[r, c]))
            for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
        ]


BUILTIN_STRUCTURES: list[type[CovarianceStructure]] = [
    Unstructured,
    Diagonal,
    HomogeneousDiagonal,
    CompoundSymmetry,
    HomogeneousCompoundSymmetry,
    AR1,
    CAR1,
    ARMA,
    Toeplitz,
    GeneralSymmetric,
]
