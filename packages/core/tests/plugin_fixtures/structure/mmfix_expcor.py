"""A third-party covariance structure: exponential correlation in one or more
coordinates, ``corr = exp(-d / range)`` (nlme's ``corExp`` without nugget).

This is the recipe of ``docs/plugins.md`` ("A new covariance structure"): one class,
registered through the ``mixedmodels_covariance_structures`` hook, usable as a
random-effect wrapper ``expcor(0 + factor(t) | g)`` and as a residual correlation
``correlation="expcor(x + y | site)"``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mixedmodels.covariance import ScaledCorrelation
from mixedmodels.hookspec import hookimpl
from mixedmodels.interfaces import ResidualCorrelation


class ExpResidual(ResidualCorrelation):
    """Residual use: the correlation of two observations of a group is
    ``exp(-d / range)``, ``d`` the Euclidean distance of their coordinates."""

    def __init__(self, coords: np.ndarray, **options: Any) -> None:
        if options:
            raise ValueError(f"unknown options {sorted(options)}")
        # Start the range at the median distance between coordinates.
        spread = float(np.median(np.abs(coords - np.median(coords, axis=0)))) or 1.0
        self._start = np.log(spread)

    @property
    def n_params(self) -> int:
        return 1

    def param_names(self) -> list[str]:
        return ["log.range"]

    def start(self) -> np.ndarray:
        return np.array([self._start])

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([-np.inf]), np.array([np.inf])

    def correlations(self, params: np.ndarray, coords: np.ndarray) -> np.ndarray:
        diff = coords[:, :, None, :] - coords[:, None, :, :]
        dist = np.sqrt((diff**2).sum(axis=-1))
        return np.exp(-dist / np.exp(params[0]))

    def natural_parameters(self, params: np.ndarray) -> list[tuple[str, float]]:
        return [("range", float(np.exp(params[0])))]


class ExpCor(ScaledCorrelation):
    """Random-effect use: one SD, the columns at positions 0, 1, ..., dim - 1."""

    name: ClassVar[str] = "expcor"
    homogeneous: ClassVar[bool] = True

    def n_corr(self) -> int:
        return 0 if self.dim == 1 else 1

    def corr_param_names(self) -> list[str]:
        return ["log.range"] if self.dim > 1 else []

    def correlation_matrix(self, r: np.ndarray) -> np.ndarray:
        pos = np.arange(self.dim)
        return np.exp(-np.abs(pos[:, None] - pos[None, :]) / np.exp(r[0]))

    def natural_correlation(self, r: np.ndarray) -> list[tuple[str, float]]:
        return [("range", float(np.exp(r[0])))]

    @classmethod
    def residual_correlation(
        cls, coords: np.ndarray, groups: np.ndarray, coord_names: Any, **options: Any
    ) -> ResidualCorrelation:
        return ExpResidual(coords, **options)


@hookimpl
def mixedmodels_covariance_structures() -> list[type]:
    return [ExpCor]
