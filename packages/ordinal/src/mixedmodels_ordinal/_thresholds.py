"""Threshold structures (ordinal's ``makeThresholds``): ``theta = tJac @ alpha``."""

from __future__ import annotations

import itertools

import numpy as np

from mixedmodels.interfaces import FloatArray

__all__ = ["THRESHOLDS", "make_thresholds"]

THRESHOLDS = ("flexible", "equidistant", "symmetric")


def make_thresholds(levels: list[str], threshold: str) -> tuple[FloatArray, list[str]]:
    """The Jacobian ``tJac`` (thresholds x parameters) and the parameters' names.

    Raises
    ------
    ValueError
        For an unknown structure, or equidistant/symmetric thresholds with fewer than
        three response levels.
    """
    n = len(levels) - 1
    if threshold == "flexible":
        return np.eye(n), [f"{a}|{b}" for a, b in itertools.pairwise(levels)]
    if threshold not in THRESHOLDS:
        raise ValueError(f"unknown threshold {threshold!r}; choose one of {list(THRESHOLDS)}")
    if n < 2:
        raise ValueError(
            f"{threshold} thresholds are only meaningful for responses with 3 or more levels"
        )
    if threshold == "equidistant":
        return np.column_stack([np.ones(n), np.arange(n, dtype=float)]), [
            "threshold.1",
            "spacing",
        ]
    if n % 2:
        m = (n + 1) // 2
        tjac = np.zeros((n, m))
        tjac[:, 0] = 1.0
        # rows 0..m-2: -spacings in reverse; row m-1: central; rows m..: +spacings
        for k in range(1, m):
            tjac[m - 1 - k, k] = -1.0
            tjac[m - 1 + k, k] = 1.0
        names = ["central"] + [f"spacing.{k}" for k in range(1, m)]
        return tjac, names
    h = n // 2
    m = h + 1
    tjac = np.zeros((n, m))
    tjac[:h, 0] = 1.0
    tjac[h:, 1] = 1.0
    for k in range(1, h):
        tjac[h - 1 - k, k + 1] = -1.0
        tjac[h + k, k + 1] = 1.0
    names = ["central.1", "central.2"] + [f"spacing.{k}" for k in range(1, m - 1)]
    return tjac, names
