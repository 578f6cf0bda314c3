"""Distances between locations: Euclidean, great-circle (longitude/latitude in degrees,
kilometres) and Euclidean after a geometric anisotropy, plus the checks on coordinates
that every spatial structure runs first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = [
    "EARTH_RADIUS_KM",
    "METRICS",
    "anisotropy_matrix",
    "check_coordinates",
    "distances",
    "pairwise_differences",
    "stacked_distances",
]

#: Mean Earth radius (IUGG), the default radius of great-circle distances.
EARTH_RADIUS_KM = 6371.0088

METRICS = ("euclidean", "great_circle")
_ALIASES = {
    "euclidean": "euclidean",
    "euclid": "euclidean",
    "great_circle": "great_circle",
    "greatcircle": "great_circle",
    "haversine": "great_circle",
    "earth": "great_circle",
    "lonlat": "great_circle",
}


def metric_name(metric: str) -> str:
    """The canonical metric name (``euclidean`` or ``great_circle``)."""
    key = str(metric).lower().replace("-", "_").replace(" ", "_")
    if key not in _ALIASES:
        raise ValueError(
            f"unknown distance metric {metric!r}; use 'euclidean' or 'great_circle' "
            "(longitude, latitude in degrees; distances in km)"
        )
    return _ALIASES[key]


def check_coordinates(coords: FloatArray, names: Sequence[str], metric: str) -> None:
    """Raise :class:`ValueError` naming the column for missing/infinite coordinates, and
    for longitudes/latitudes out of range under the great-circle metric."""
    coords = np.asarray(coords, dtype=np.float64)
    names = (
        list(names) if len(names) == coords.shape[1] else [f"x{i}" for i in range(coords.shape[1])]
    )
    for j, name in enumerate(names):
        bad = ~np.isfinite(coords[:, j])
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"coordinate column {name!r} has {int(bad.sum())} missing or infinite "
                f"values (first at row {first}); drop those rows or impute the locations"
            )
    if metric == "great_circle":
        if coords.shape[1] != 2:
            raise ValueError(
                f"great-circle distances need two coordinates (longitude, latitude), got {names}"
            )
        lon, lat = coords[:, 0], coords[:, 1]
        if np.any(np.abs(lat) > 90):
            i = int(np.flatnonzero(np.abs(lat) > 90)[0])
            raise ValueError(
                f"latitude column {names[1]!r} is out of [-90, 90] (row {i}: {lat[i]:g}); "
                "give longitude first, then latitude, in degrees"
            )
        if np.any((lon < -180) | (lon > 360)):
            i = int(np.flatnonzero((lon < -180) | (lon > 360))[0])
            raise ValueError(
                f"longitude column {names[0]!r} is out of [-180, 360] (row {i}: {lon[i]:g}); "
                "give longitude first, then latitude, in degrees"
            )


def pairwise_differences(a: FloatArray, b: FloatArray) -> FloatArray:
    """``a[..., i, :] - b[..., j, :]``: shape ``(..., n, m, d)``."""
    return a[..., :, None, :] - b[..., None, :, :]


def anisotropy_matrix(angle: float, ratio: float) -> FloatArray:
    """``A`` with ``d^2 = h' A h``: distances along the direction ``angle`` (radians from
    the first axis) are as they are, across it divided by ``ratio``."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]])
    return rot.T @ np.diag([1.0, 1.0 / ratio**2]) @ rot


def anisotropy_derivatives(angle: float, ratio: float) -> tuple[FloatArray, FloatArray]:
    """Derivatives of :func:`anisotropy_matrix` in ``angle`` and in ``log(ratio)``."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]])
    drot = np.array([[-s, c], [-c, -s]])
    scale = np.diag([1.0, 1.0 / ratio**2])
    d_angle = drot.T @ scale @ rot + rot.T @ scale @ drot
    d_log_ratio = rot.T @ np.diag([0.0, -2.0 / ratio**2]) @ rot
    return d_angle, d_log_ratio


def distances(
    a: FloatArray,
    b: FloatArray,
    metric: str = "euclidean",
    radius: float = EARTH_RADIUS_KM,
    aniso: FloatArray | None = None,
) -> FloatArray:
    """Distances between the rows of ``a (..., n, d)`` and ``b (..., m, d)``:
    ``(..., n, m)``.  ``aniso``: the matrix of :func:`anisotropy_matrix` (Euclidean)."""
    if metric == "great_circle":
        lon1, lat1 = np.radians(a[..., :, None, 0]), np.radians(a[..., :, None, 1])
        lon2, lat2 = np.radians(b[..., None, :, 0]), np.radians(b[..., None, :, 1])
        s = (
            np.sin(0.5 * (lat2 - lat1)) ** 2
            + np.cos(lat1) * np.cos(lat2) * np.sin(0.5 * (lon2 - lon1)) ** 2
        )
        return np.asarray(2.0 * radius * np.arcsin(np.sqrt(np.clip(s, 0.0, 1.0))))
    # Coordinate by coordinate: einsum over a trailing axis of length 2 is slow.
    diffs = [a[..., :, None, j] - b[..., None, :, j] for j in range(a.shape[-1])]
    if aniso is not None:
        sq = sum(
            aniso[i, j] * diffs[i] * diffs[j] for i in range(len(diffs)) for j in range(len(diffs))
        )
    else:
        sq = sum(dj * dj for dj in diffs)
    return np.asarray(np.sqrt(np.maximum(sq, 0.0)))


def stacked_distances(
    pts: FloatArray,
    metric: str = "euclidean",
    radius: float = EARTH_RADIUS_KM,
    aniso: FloatArray | None = None,
) -> FloatArray:
    """Distances within each of ``n`` small sets ``pts (n, k, d)``, in the layout
    ``(k, k, n)`` (the batched linear algebra's)."""
    if metric == "great_circle":
        return np.ascontiguousarray(distances(pts, pts, metric, radius).transpose(1, 2, 0))
    cols = [np.ascontiguousarray(pts[:, :, j].T) for j in range(pts.shape[-1])]  # (k, n)
    diffs = [c[:, None, :] - c[None, :, :] for c in cols]
    if aniso is not None:
        sq = sum(
            aniso[i, j] * diffs[i] * diffs[j] for i in range(len(diffs)) for j in range(len(diffs))
        )
    else:
        sq = sum(dj * dj for dj in diffs)
    return np.asarray(np.sqrt(np.maximum(sq, 0.0)))
