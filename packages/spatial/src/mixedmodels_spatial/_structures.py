"""The spatial covariance structures registered with mixedmodels.

One class per correlation family serves both uses of the covariance-structure hook:

* **residual correlation** (nlme's ``correlation=``):
  ``mm.gls("z ~ x1", d, correlation="exp(sx + sy, nugget = TRUE)")``,
  ``mm.lmm("z ~ x1 + (1 | site)", d, correlation="ratio(sx + sy | site)")``; options
  ``nugget``, ``nu`` (Matérn smoothness, fixed), ``metric`` (``"great_circle"`` for
  longitude/latitude in degrees, distances in km), ``radius``, ``anisotropy``,
  ``range_start``;
* **Gaussian random field** (glmmTMB's ``exp(pos + 0 | group)``): the columns of the
  term are locations whose coordinates are read from the column names, as glmmTMB's
  ``numFactor`` writes them (``pos(1.7,8.2)``; ``mixedmodels_spatial.num_factor`` makes
  such a column).  Parameters: the field's SD (relative to the residual SD), then
  glmmTMB's ``log(range)`` and, for ``mat``, ``log(smoothness)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mixedmodels.covariance import ScaledCorrelation
from mixedmodels.interfaces import ResidualCorrelation

from ._kernel import SpatialKernel, make_kernel

FloatArray = NDArray[np.float64]

__all__ = [
    "STRUCTURES",
    "SpatialField",
    "SpatialResidual",
    "coordinates_from_names",
    "duplicate_locations",
]


def duplicate_locations(coords: FloatArray, groups: NDArray[np.int64]) -> tuple[int, int] | None:
    """The first pair of rows that share a group and a location, or ``None``."""
    order = np.lexsort((*coords.T[::-1], groups))
    c, g = coords[order], groups[order]
    same = (g[1:] == g[:-1]) & np.all(c[1:] == c[:-1], axis=1)
    if not same.any():
        return None
    i = int(np.flatnonzero(same)[0])
    return int(order[i]), int(order[i + 1])


class SpatialResidual(ResidualCorrelation):
    """A spatial correlation of the residuals within groups (nlme's ``corSpatial``)."""

    def __init__(self, name: str, kernel: SpatialKernel) -> None:
        self.name = name
        self.kernel = kernel
        # Two observations at one location are correlated 1 - nugget: fine with a nugget.
        self.allows_ties = kernel.nugget
        self._cache: dict[int, tuple[FloatArray, FloatArray]] = {}

    @property
    def n_params(self) -> int:
        return self.kernel.n_params

    def param_names(self) -> list[str]:
        return self.kernel.param_names()

    def start(self) -> FloatArray:
        return self.kernel.start()

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return self.kernel.bounds()

    def _distances(self, params: FloatArray, coords: FloatArray) -> FloatArray:
        if self.kernel.anisotropy:
            return self.kernel.distance(coords, coords, params)
        # The fitter passes the same coordinate arrays at every evaluation.
        hit = self._cache.get(id(coords))
        if hit is not None and hit[0] is coords:
            return hit[1]
        d = self.kernel.distance(coords, coords, params)
        if len(self._cache) < 64:
            self._cache[id(coords)] = (coords, d)
        return d

    def correlations(self, params: FloatArray, coords: FloatArray) -> FloatArray:
        params = np.asarray(params, dtype=np.float64)
        return self.kernel.from_distances(params, self._distances(params, coords))

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        return self.kernel.natural_parameters(params)


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TUPLE = re.compile(rf"\(\s*({_NUMBER}(?:\s*,\s*{_NUMBER})*)\s*\)$")
_TRAILING = re.compile(rf"({_NUMBER})$")


def coordinates_from_names(names: Sequence[str]) -> FloatArray | None:
    """Coordinates written in column names: ``pos(1.7,8.2)`` (glmmTMB's ``numFactor``)
    or a trailing number (``factor(t)3``); ``None`` if some name has neither."""
    rows: list[list[float]] = []
    for name in names:
        m = _TUPLE.search(name)
        if m is not None:
            rows.append([float(v) for v in m.group(1).split(",")])
            continue
        m = _TRAILING.search(name)
        if m is None:
            return None
        rows.append([float(m.group(1))])
    if len({len(r) for r in rows}) != 1:
        return None
    return np.asarray(rows, dtype=np.float64)


class SpatialField(ScaledCorrelation):
    """Base of the spatial structures: a stationary Gaussian field over the term's
    columns (random-effect use) and a spatial residual correlation (residual use).

    Subclasses set ``name``, ``family`` and, for fixed-smoothness Matérns, ``nu``.
    """

    homogeneous: ClassVar[bool] = True
    family: ClassVar[str] = "exponential"
    nu: ClassVar[float | None] = None

    def __init__(self, dim: int, column_names: Sequence[str] | None = None) -> None:
        super().__init__(dim, column_names)
        coords = coordinates_from_names(self.column_names)
        if coords is None:
            # No coordinates in the names: the columns are equally spaced positions.
            coords = np.arange(self.dim, dtype=np.float64)[:, None]
        if np.unique(coords, axis=0).shape[0] < coords.shape[0]:
            raise ValueError(
                f"{self.name}(): two columns of the term have the same coordinates; "
                "each level of the location factor must be a distinct location"
            )
        self.coords = coords
        self.kernel = make_kernel(self.family, coords, nu=self.nu)
        self._dist = self.kernel.distance(coords, coords, self.kernel.start())

    def n_corr(self) -> int:
        return 0 if self.dim == 1 else self.kernel.n_params

    def corr_param_names(self) -> list[str]:
        return self.kernel.param_names() if self.dim > 1 else []

    def start(self) -> FloatArray:
        s = np.ones(1)
        return np.concatenate([s, self.kernel.start()]) if self.dim > 1 else s

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        if self.dim == 1:
            return np.zeros(1), np.full(1, np.inf)
        lo, hi = self.kernel.bounds()
        return np.concatenate([[0.0], lo]), np.concatenate([[np.inf], hi])

    def correlation_matrix(self, r: FloatArray) -> FloatArray:
        return self.kernel.from_distances(np.asarray(r, dtype=np.float64), self._dist)

    def natural_correlation(self, r: FloatArray) -> list[tuple[str, float]]:
        return self.kernel.natural_parameters(r)

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float, str]]:
        s, r = self._split(params)
        out = [("sd", float(abs(s[0])), "sd")]
        if self.dim > 1:
            out += [(n, float(v), "positive") for n, v in self.natural_correlation(r)]
        return out

    @classmethod
    def residual_correlation(
        cls,
        coords: FloatArray,
        groups: NDArray[np.int64],
        coord_names: Sequence[str],
        **options: Any,
    ) -> ResidualCorrelation:
        return spatial_residual(cls.name, cls.family, cls.nu, coords, groups, coord_names, options)


_OPTIONS = ("nugget", "nu", "metric", "anisotropy", "radius", "range_start")


def spatial_residual(
    name: str,
    fam: str,
    nu: float | None,
    coords: FloatArray,
    groups: NDArray[np.int64],
    coord_names: Sequence[str],
    options: dict[str, Any],
) -> SpatialResidual:
    """Bind a spatial residual correlation to the data (checks the coordinates)."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"unknown options {unknown}; {name}() takes {list(_OPTIONS)}")
    coords = np.asarray(coords, dtype=np.float64)
    names = list(coord_names)
    if names == ["<row order>"]:
        raise ValueError(
            f"{name}() needs coordinate columns: write them left of '|', e.g. {name}(x + y | group)"
        )
    if "nu" in options and nu is not None:
        raise ValueError(f"{name}() has its smoothness fixed at {nu}; use mat() to give nu")
    kernel_nu = options.get("nu", nu)
    metric = options.get("metric", "euclidean")
    kernel = make_kernel(
        fam,
        None,
        nugget=bool(options.get("nugget", False)),
        nu=kernel_nu,
        metric=metric,
        anisotropy=bool(options.get("anisotropy", False)),
        radius=float(options.get("radius", 6371.0088)),
        range_start=1.0,
    )
    kernel.check(coords, names)
    if not kernel.nugget:
        dup = duplicate_locations(coords, groups)
        if dup is not None:
            where = ", ".join(f"{c}={v:g}" for c, v in zip(names, coords[dup[0]], strict=True))
            raise ValueError(
                f"rows {dup[0]} and {dup[1]} share a location ({where}) within a group: "
                "without a nugget their correlation would be 1 and the correlation matrix "
                f"singular; add a nugget ({name}({' + '.join(names)} | ..., nugget = TRUE))"
            )
    start = options.get("range_start")
    fresh = make_kernel(
        fam,
        coords,
        nugget=kernel.nugget,
        nu=kernel.nu,
        metric=kernel.metric,
        anisotropy=kernel.anisotropy,
        radius=kernel.radius,
        range_start=None if start is None else float(start),
    )
    return SpatialResidual(name, fresh)


def _structure(name: str, fam: str, nu: float | None = None, doc: str = "") -> type[SpatialField]:
    return type(
        f"Spatial_{name}",
        (SpatialField,),
        {"name": name, "family": fam, "nu": nu, "__doc__": doc, "__module__": __name__},
    )


#: The registered structures: glmmTMB's names (``exp``, ``gau``, ``mat``), nlme's
#: remaining families (``spher``, ``ratio``, ``lin``) and aliases.
STRUCTURES: list[type[SpatialField]] = [
    _structure("exp", "exponential", doc="Exponential: exp(-d/range) (corExp, glmmTMB exp)."),
    _structure("gau", "gaussian", doc="Gaussian: exp(-(d/range)^2) (corGaus, glmmTMB gau)."),
    _structure("gaus", "gaussian", doc="Alias of gau (nlme's corGaus)."),
    _structure("spher", "spherical", doc="Spherical (corSpher); zero beyond the range."),
    _structure("ratio", "ratio", doc="Rational quadratic 1/(1+(d/range)^2) (corRatio)."),
    _structure("lin", "linear", doc="Linear 1 - d/range, zero beyond (corLin; 1-D only)."),
    _structure("mat", "matern", doc="Matérn, smoothness estimated (glmmTMB mat)."),
    _structure("matern", "matern", doc="Alias of mat (spaMM's Matern)."),
    _structure("matern32", "matern", 1.5, doc="Matérn with smoothness 3/2."),
    _structure("matern52", "matern", 2.5, doc="Matérn with smoothness 5/2."),
]
