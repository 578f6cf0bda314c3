"""The outcome of a DHARMa residual test and the pieces every test shares.

:class:`ResidualTestResult` is R's ``htest``; :func:`get_p` is DHARMa's ``getP``, the
simulation p-value: the share of simulated statistics at least as extreme as the
observed one, two-sided by doubling the smaller tail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = ["ResidualTestResult", "check_alternative", "get_p", "p_adjust_bh"]

FloatArray = NDArray[np.float64]

_ALTERNATIVES = ("two.sided", "greater", "less")


@dataclass
class ResidualTestResult:
    """The outcome of one residual test (R's ``htest``).

    Attributes
    ----------
    method
        What was tested and how.
    statistic
        The test statistic (named by ``statistic_name``).
    p_value
        The p-value.
    alternative
        ``"two.sided"``, ``"greater"`` or ``"less"``.
    statistic_name
        Name of the statistic (e.g. ``"D"``, ``"dispersion"``, ``"ratioObsSim"``).
    details
        Test-specific extras (simulated statistics, expected values, fitted quantile
        curves, ...).
    """

    method: str
    statistic: float
    p_value: float
    alternative: str
    statistic_name: str
    details: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """``statistic``, ``p_value``, ``alternative``, ``method`` and the details."""
        return {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "alternative": self.alternative,
            "method": self.method,
            "statistic_name": self.statistic_name,
            **self.details,
        }

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]


# R's alternative names -> scipy's.
SCIPY_ALTERNATIVE: dict[str, Literal["two-sided", "less", "greater"]] = {
    "two.sided": "two-sided",
    "greater": "greater",
    "less": "less",
}


def check_alternative(alternative: str) -> str:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    return alternative


def get_p(simulated: FloatArray, observed: float, alternative: str) -> float:
    """DHARMa's ``getP``: simulation p-value of ``observed`` among ``simulated``."""
    sim = np.asarray(simulated, dtype=np.float64)
    if alternative == "greater":
        return float(np.mean(sim >= observed))
    if alternative == "less":
        return float(np.mean(sim <= observed))
    smaller = min(float(np.mean(sim <= observed)), float(np.mean(sim >= observed)))
    return min(2.0 * smaller, 1.0)


def p_adjust_bh(p: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (R's ``p.adjust(method = "BH")``);
    NaN are left out, as R does."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q)[::-1]
    ranks = np.arange(m, 0, -1)
    adj = np.minimum.accumulate(m / ranks * q[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out
