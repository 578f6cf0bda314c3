"""Residual correlations within groups (nlme's ``corStruct``), bound to the data's
time or position coordinates.

The covariance structures return these from
:meth:`~mixedmodels.interfaces.CovarianceStructure.residual_correlation`: ``cs`` gives
:class:`CompSymmResidual` (``corCompSymm``), ``car1`` :class:`CAR1Residual`
(``corCAR1``), ``ar1``/``arma`` :class:`ARMAResidual` (``corAR1``/``corARMA``), ``toep``
:class:`ToeplitzResidual`, ``us``/``symm`` :class:`SymmResidual` (``corSymm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelSpecificationError
from ..interfaces import FloatArray, ResidualCorrelation
from .acf import arma_acf, arma_coefs, pacf_to_acf
from .transforms import cpc_cholesky, logistic

__all__ = [
    "ARMAResidual",
    "CAR1Residual",
    "CompSymmResidual",
    "LagResidual",
    "SymmResidual",
    "ToeplitzResidual",
    "no_options",
]


def no_options(name: str, options: dict[str, Any]) -> None:
    if options:
        raise ModelSpecificationError(f"correlation {name!r}: unknown options {sorted(options)}")


def _integer_positions(name: str, coords: FloatArray, coord_names: Sequence[str]) -> FloatArray:
    if coords.shape[1] != 1:
        raise ModelSpecificationError(
            f"correlation {name!r} takes one time covariate, got {list(coord_names)}"
        )
    t = coords[:, 0]
    if not np.all(np.abs(t - np.round(t)) < 1e-8):
        raise ModelSpecificationError(
            f"correlation {name!r}: the time covariate {coord_names[0]!r} must be integer "
            "valued (use car1() for continuous times)"
        )
    return np.asarray(np.round(t), dtype=np.float64)


class _Unconstrained(ResidualCorrelation):
    """A correlation whose parameters are all free (nlme's unconstrained transforms):
    bounds ``-inf``/``inf``, start ``0`` (independence) unless a structure says
    otherwise."""

    def start(self) -> FloatArray:
        return np.zeros(self.n_params)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.full(self.n_params, -np.inf), np.full(self.n_params, np.inf)


class CompSymmResidual(_Unconstrained):
    """nlme's ``corCompSymm``: one correlation within each group."""

    allows_ties = True

    def __init__(self, name: str, groups: NDArray[np.int64], **options: Any) -> None:
        no_options(name, options)
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

    def rho(self, params: FloatArray) -> float:
        a = 1.0 / (self.max_size - 1)
        return float(logistic(params[0]) * (1.0 + a) - a)

    def correlations(self, params: FloatArray, coords: FloatArray) -> FloatArray:
        G, k = coords.shape[:2]
        C = np.full((G, k, k), self.rho(params))
        idx = np.arange(k)
        C[:, idx, idx] = 1.0
        return C

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        return [("Rho", self.rho(params))]


class CAR1Residual(_Unconstrained):
    """nlme's ``corCAR1``: ``phi^|t_i - t_j|`` over a continuous time covariate."""

    def __init__(self, name: str, coords: FloatArray, **options: Any) -> None:
        no_options(name, options)
        if coords.shape[1] != 1:
            raise ModelSpecificationError(f"correlation {name!r} takes one time covariate")
        self.name = name

    @property
    def n_params(self) -> int:
        return 1

    def param_names(self) -> list[str]:
        return ["Phi"]

    def start(self) -> FloatArray:
        return np.array([np.log(0.2 / 0.8)])

    def correlations(self, params: FloatArray, coords: FloatArray) -> FloatArray:
        log_phi = float(np.log(logistic(params[0])))
        return np.asarray(np.exp(log_phi * _lags(self, coords)), dtype=np.float64)

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        return [("Phi", float(logistic(params[0])))]


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


class LagResidual(_Unconstrained):
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


class ARMAResidual(LagResidual):
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
        no_options(name, options)
        super().__init__(name, coords, coord_names)
        if p < 0 or q < 0 or p + q == 0:
            raise ModelSpecificationError(
                f"correlation {name!r}: need p >= 0, q >= 0 and p + q >= 1"
            )
        self.p, self.q = p, q
        self._label = label

    @property
    def n_params(self) -> int:
        return self.p + self.q

    def param_names(self) -> list[str]:
        if self._label is not None:
            return [self._label]
        return [f"Phi{i + 1}" for i in range(self.p)] + [f"Theta{j + 1}" for j in range(self.q)]

    def acf(self, params: FloatArray, lag_max: int) -> FloatArray:
        if self.p == 1 and self.q == 0:
            phi = float(np.tanh(0.5 * params[0]))
            return np.asarray(phi ** np.arange(lag_max + 1), dtype=np.float64)
        ar, ma = arma_coefs(np.asarray(params, dtype=np.float64), self.p, self.q)
        return arma_acf(ar, ma, lag_max)

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        ar, ma = arma_coefs(np.asarray(params, dtype=np.float64), self.p, self.q)
        return list(zip(self.param_names(), [*ar.tolist(), *ma.tolist()], strict=True))


class ToeplitzResidual(LagResidual):
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
        no_options(name, options)
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
            raise ModelSpecificationError(f"correlation {name!r}: no group has two observations")

    @property
    def n_params(self) -> int:
        return self.max_lag

    def param_names(self) -> list[str]:
        return [f"pacf{k}" for k in range(1, self.max_lag + 1)]

    def acf(self, params: FloatArray, lag_max: int) -> FloatArray:
        acf = pacf_to_acf(np.tanh(0.5 * np.asarray(params, dtype=np.float64)))
        return acf[: lag_max + 1]

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        acf = self.acf(params, self.max_lag)
        return [(f"Rho.lag{k}", float(acf[k])) for k in range(1, self.max_lag + 1)]


class SymmResidual(_Unconstrained):
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
        no_options(name, options)
        if coords.shape[1] != 1:
            raise ModelSpecificationError(f"correlation {name!r} takes one position covariate")
        self.name = name
        self.values = np.unique(coords[:, 0])
        self.K = int(self.values.size)
        if self.K < 2:
            raise ModelSpecificationError(
                f"correlation {name!r}: the position covariate has one value"
            )
        cols, rows = np.triu_indices(self.K, 1)
        self._pairs = (rows, cols)

    @property
    def n_params(self) -> int:
        return self.K * (self.K - 1) // 2

    def param_names(self) -> list[str]:
        rows, cols = self._pairs
        return [f"cpc({r + 1},{c + 1})" for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]

    def matrix(self, params: FloatArray) -> FloatArray:
        L = cpc_cholesky(np.tanh(np.asarray(params, dtype=np.float64)), self.K)
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
