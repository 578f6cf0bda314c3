"""Working correlation structures.

A structure says, for every pair of rows ``(j, k)`` of a cluster (``t_j < t_k``), which
*pair class* the pair belongs to (a lag, a pair of time points, ...) and the working
correlation of that class as a function of the parameters ``alpha``.  The parameters
are estimated as geepack does, by the moment equations

    sum over pairs  w_j w_k  d rho_jk / d alpha  (z_jk - rho_jk(alpha)) = 0,

with ``z_jk = r_j r_k / phi`` the products of Pearson residuals.  They only need the
per-class sums ``S_g = sum w_j w_k z_jk`` and ``N_g = sum w_j w_k``, so estimation costs
one weighted ``bincount`` over all pairs.

These are not :class:`mixedmodels.interfaces.CovarianceStructure` subclasses: that
interface describes the relative covariance factor of a random-effect term, optimised
over a bounded parameter vector; a working correlation depends on the cluster's times
and is estimated by moments.  See ``docs/decisions/0007-gee-working-correlation.md``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from mixedmodels.interfaces import FloatArray

from ._clusters import ClusterLayout, format_time

__all__ = [
    "AR1",
    "Exchangeable",
    "Fixed",
    "Independence",
    "MDependent",
    "Unstructured",
    "WorkingCorrelation",
    "resolve_corstr",
]

IntArray = NDArray[np.int64]


class WorkingCorrelation(ABC):
    """A working correlation structure for GEE.

    Subclasses define how pairs of rows are classified (:meth:`pair_keys`), the
    correlation of each class (:meth:`rho`) and its derivative (:meth:`drho`).
    """

    #: Name used in ``corstr=`` and in summaries.
    name: ClassVar[str]

    def __init__(self) -> None:
        self.param_names: list[str] = []

    @property
    def n_params(self) -> int:
        """Number of correlation parameters (after :meth:`bind`)."""
        return len(self.param_names)

    @property
    def is_independence(self) -> bool:
        """Whether the working correlation is the identity (no pairs matter)."""
        return False

    def bind(self, layout: ClusterLayout) -> None:  # noqa: B027 - optional hook
        """Learn what depends on the data (time points, ...) before fitting."""

    @abstractmethod
    def pair_keys(self, tj: FloatArray, tk: FloatArray, wj: IntArray, wk: IntArray) -> FloatArray:
        """Class key of each pair (``NaN``: the pair is uncorrelated and has no parameter).

        ``tj < tk`` are the pair's times and ``wj < wk`` their indices among the
        distinct times; all arrays have the same shape.
        """

    @abstractmethod
    def class_params(self, keys: FloatArray) -> IntArray:
        """Index of the parameter that governs each class (``-1``: none)."""

    @abstractmethod
    def rho(self, alpha: FloatArray, keys: FloatArray) -> FloatArray:
        """Working correlation of each class."""

    def drho(self, alpha: FloatArray, keys: FloatArray) -> FloatArray:
        """Derivative of :meth:`rho` with respect to the class's own parameter."""
        return np.ones(keys.shape)

    def start(self) -> FloatArray:
        """Starting parameters (geepack starts at zero)."""
        return np.zeros(self.n_params)

    def estimate(
        self, keys: FloatArray, S: FloatArray, N: FloatArray, alpha: FloatArray
    ) -> FloatArray:
        """Solve the moment equations given the class sums ``S`` and weights ``N``.

        The default is for structures whose classes each equal one parameter
        (``rho_g = alpha[c_g]``): ``alpha_c = sum S_g / sum N_g`` over its classes.
        """
        c = self.class_params(keys)
        ok = c >= 0
        num = np.bincount(c[ok], weights=S[ok], minlength=self.n_params)
        den = np.bincount(c[ok], weights=N[ok], minlength=self.n_params)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(num / den, dtype=np.float64)

    def fisher_step(
        self, keys: FloatArray, S: FloatArray, N: FloatArray, alpha: FloatArray
    ) -> FloatArray:
        """One Fisher-scoring step of the moment equations from ``alpha`` (geepack's
        ``update_alpha``); exact for structures linear in their parameters."""
        return self.estimate(keys, S, N, alpha)

    def describe(self) -> str:
        """The name shown in summaries."""
        return self.name

    def __repr__(self) -> str:
        return f"<WorkingCorrelation {self.describe()}>"


class Independence(WorkingCorrelation):
    """Independence: the identity; GEE then gives the GLM estimates."""

    name: ClassVar[str] = "independence"

    @property
    def is_independence(self) -> bool:
        return True

    def pair_keys(self, tj: FloatArray, tk: FloatArray, wj: IntArray, wk: IntArray) -> FloatArray:
        return np.full(tj.shape, np.nan)

    def class_params(self, keys: FloatArray) -> IntArray:
        return np.full(keys.shape, -1, dtype=np.int64)

    def rho(self, alpha: FloatArray, keys: FloatArray) -> FloatArray:
        return np.zeros(keys.shape)


class Exchangeable(WorkingCorrelation):
    """Exchangeable (compound symmetry): every pair has correlation ``alpha``."""

    name: ClassVar[str] = "exchangeable"

    def __init__(self) -> None:
        super().__init__()
        self.param_names = ["alpha"]

    def pair_keys(self, tj: FloatArray, tk: FloatArray, wj: IntArray, wk: IntArray) -> FloatArray:
        return np.zeros(tj.shape)

    def class_params(self, keys: FloatArray) -> IntArray:
        return np.zeros(keys.shape, dtype=np.int64)

    def rho(self, alpha: FloatArray, keys: FloatArray) -> FloatArray:
        return np.full(keys.shape, float(alpha[0]))


class AR1(WorkingCorrelation):
    """First-order autoregressive: ``alpha ** |t_k - t_j|``.

    The lag is the difference of the times, so gaps in a cluster's times lower the
    correlation as they should (geepack: the difference of ``waves``).  The parameter is
    estimated from all pairs, as geepack does, not from adjacent pairs only.
    """

    name: ClassVar[str] = "ar1"

    def __init__(self) -> None:
        super().__init__()
        self.param_names = ["alpha"]

    def pair_keys(self, tj: FloatArray, tk: FloatArray, wj: IntArray, wk: IntArray) -> FloatArray:
        return np.asarray(tk - tj, dtype=np.float64)

    def class_params(self, keys: FloatArray) -> IntArray:
        return np.zeros(keys.shape, dtype=np.int64)

    def rho(self, alpha: FloatArray, keys: FloatArray) -> FloatArray:
        a = float(alpha[0])
        with np.errstate(invalid="ignore"):
            return np.asarray(np.power(a, keys), dtype=np.float64)

    def drho(self, alpha: FloatArray, keys: FloatArray) -> FloatArray:
        a = float(alpha[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            out = keys * np.power(a, keys - 1.0)
        # geepack's cor_rho_ar1: exactly 1 at lag 1 (also when alpha == 0).
        return np.asarray(np.where(keys == 1.0, 1.0, out), dtype=np.float64)

    def fisher_step(
        self, keys: FloatArray, S: FloatArray, N: FloatArray, alpha: FloatArray
    ) -> FloatArray:
        a = float(alpha[0])
        e = self.drho(alpha, keys)
        r = S - N * self.rho(alpha, keys)
        return np.array([a + float(np.sum(e * r)) / float(np.sum(N * e * e))])

    def estimate(
        self, keys: FloatArray, S: FloatArray, N: FloatArray, alpha: FloatArray
    ) -> FloatArray:
        # Solve g(a) = sum_g d_g a^(d_g - 1) (S_g - N_g a^d_g) = 0 by Newton steps (with
        # Fisher scoring, geepack's step, as the fallback when Newton leaves (-1, 1)).
        keep = N > 0
        d, S, N = keys[keep], S[keep], N[keep]
        if d.size == 0:
            return np.zeros(1)
        lag1 = d == 1.0
        a = float(np.sum(S[lag1]) / np.sum(N[lag1])) if lag1.any() else float(alpha[0])
        if not np.isfinite(a) or abs(a) >= 1.0:
            a = float(np.clip(alpha[0], -0.95, 0.95))
        if np.any(d != np.round(d)):
            a = max(a, 1e-8)  # a real power of a negative number is undefined
        for _ in range(100):
            pa = np.power(a, d)
            e = np.where(d == 1.0, 1.0, d * np.power(a, d - 1.0))
            r = S - N * pa
            g = float(np.sum(e * r))
            fisher = float(np.sum(N * e * e))
            de = np.where(d <= 1.0, 0.0, d * (d - 1.0) * np.power(a, np.maximum(d - 2.0, 0.0)))
            newton = fisher - float(np.sum(de * r))
            step = g / newton if newton > 0 else g / fisher
            new = a + step
            if not (-1.0 < new < 1.0):
                new = a + g / fisher
            if not (-1.0 < new < 1.0):
                new = 0.5 * (a + np.sign(new) * 0.999999)
            converged = abs(new - a) <= 1e-15 * max(1.0, abs(a))
            a = float(new)
            if converged:
                break
        return np.array([a])


class Unstructured(WorkingCorrelation):
    """Unstructured: one correlation per pair of distinct time points.

    Parameters are named as geepack's, ``alpha.1:2``, by the time points (positions
    ``1..max size`` without a time variable).  Pairs of time points that never occur
    together in a cluster get no parameter.
    """

    name: ClassVar[str] = "unstructured"

    def __init__(self) -> None:
        super().__init__()
        self._T = 0
        self._keys: FloatArray = np.empty(0)

    def bind(self, layout: ClusterLayout) -> None:
        self.bind_pairs(layout.time_values, self.seen_pairs(layout))

    @staticmethod
    def seen_pairs(layout: ClusterLayout) -> FloatArray:
        """``(n, 2)`` distinct pairs of times ``t_j < t_k`` seen together in a cluster."""
        pairs = [np.empty((0, 2))]
        for g in layout.groups:
            if g.size < 2:
                continue
            j, k = np.triu_indices(g.size, 1)
            both = np.stack([g.times[:, j].ravel(), g.times[:, k].ravel()], axis=1)
            pairs.append(np.unique(both, axis=0))
        return np.asarray(np.unique(np.concatenate(pairs), axis=0), dtype=np.float64)

    def bind_pairs(self, time_values: FloatArray, pairs: FloatArray) -> None:
        """Learn the time points and the pairs of them seen together (of all the data:
        one parameter per pair)."""
        self._T = int(time_values.shape[0])
        labels = format_time(time_values.tolist())
        j = np.searchsorted(time_values, pairs[:, 0])
        k = np.searchsorted(time_values, pairs[:, 1])
        keys = np.unique((j * self._T + k).astype(np.float64))
        self._keys = keys
        self.param_names = [
            f"alpha.{labels[int(c) // self._T]}:{labels[int(c) % self._T]}" for c in keys
        ]

    def pair_keys(self, tj: FloatArray, tk: FloatArray, wj: IntArray, wk: IntArray) -> FloatArray:
        return np.asarray(wj * self._T + wk, dtype=np.float64)

    def class_params(self, keys: FloatArray) -> IntArray:
        idx = np.searchsorted(self._keys, keys)
        idx = np.clip(idx, 0, max(self._keys.size - 1, 0))
        found = self._keys.size > 0
        ok = found & (self._keys[idx] == keys) if found else np.zeros(keys.shape, bool)
        return np.where(ok, idx, -1).astype(np.int64)

    def rho(self, alpha: FloatArray, keys: FloatArray) -> FloatArray:
        c = self.class_params(keys)
        return np.where(c >= 0, np.asarray(alpha)[np.maximum(c, 0)], 0.0)

    def matrix(self, alpha: FloatArray) -> FloatArray:
        """The full ``T x T`` working correlation (``NaN`` for unobserved pairs)."""
        out = np.full((self._T, self._T), np.nan)
        np.fill_diagonal(out, 1.0)
        j = (self._keys // self._T).astype(np.int64)
        k = (self._keys % self._T).astype(np.int64)
        out[j, k] = alpha
        out[k, j] = alpha
        return out


class MDependent(WorkingCorrelation):
    """Stationary m-dependent: correlation ``alpha_d`` at lag ``d <= m``, zero beyond.

    Lags are differences of the (integer) times; R's gee calls this ``"stat_M_dep"``.

    Parameters
    ----------
    m
        The largest lag with a non-zero correlation, ``>= 1``.
    """

    name: ClassVar[str] = "m-dependent"

    def __init__(self, m: int = 1) -> None:
        super().__init__()
        if int(m) != m or m < 1:
            raise ValueError(f"m-dependent correlation: m must be a whole number >= 1, got {m!r}")
        self.m = int(m)
        self.param_names = [f"alpha.{d}" for d in range(1, self.m + 1)]

    def bind(self, layout: ClusterLayout) -> None:
        t = layout.time_values
        if np.any(t != np.round(t)):
            raise ValueError(
                "m-dependent correlation needs whole-number times (lags are time "
                f"differences); {layout.time_name!r} has fractional values"
            )

    def pair_keys(self, tj: FloatArray, tk: FloatArray, wj: IntArray, wk: IntArray) -> FloatArray:
        lag = np.asarray(tk - tj, dtype=np.float64)
        return np.where(lag <= self.m, lag, np.nan)

    def class_params(self, keys: FloatArray) -> IntArray:
        ok = np.isfinite(keys)
        return np.where(ok, np.nan_to_num(keys) - 1, -1).astype(np.int64)

    def rho(self, alpha: FloatArray, keys: FloatArray) -> FloatArray:
        c = self.class_params(keys)
        return np.where(c >= 0, np.asarray(alpha)[np.maximum(c, 0)], 0.0)

    def describe(self) -> str:
        return f"m-dependent (m = {self.m})"


class Fixed(WorkingCorrelation):
    """A user-given correlation matrix over the distinct time points.

    Parameters
    ----------
    matrix
        ``T x T`` symmetric positive definite matrix with unit diagonal; row ``i`` is the
        ``i``-th smallest time (the ``i``-th position without a time variable).
    """

    name: ClassVar[str] = "fixed"

    def __init__(self, matrix: Any) -> None:
        super().__init__()
        R = np.asarray(matrix, dtype=np.float64)
        if R.ndim != 2 or R.shape[0] != R.shape[1]:
            raise ValueError(f"fixed working correlation must be a square matrix, got {R.shape}")
        if not np.all(np.isfinite(R)):
            raise ValueError("fixed working correlation has non-finite entries")
        if np.max(np.abs(R - R.T), initial=0.0) > 1e-10:
            raise ValueError("fixed working correlation is not symmetric")
        if np.max(np.abs(np.diag(R) - 1.0), initial=0.0) > 1e-10:
            raise ValueError(
                "fixed working correlation must have a unit diagonal (it is a correlation matrix)"
            )
        eig = np.linalg.eigvalsh(R)
        if eig[0] <= 1e-12:
            raise ValueError(
                "fixed working correlation is not positive definite (smallest eigenvalue "
                f"{eig[0]:.3g}); every cluster's working correlation must be invertible"
            )
        self.R = R
        self._T = R.shape[0]

    def bind(self, layout: ClusterLayout) -> None:
        T = int(layout.time_values.shape[0])
        if T != self._T:
            what = (
                f"{T} distinct times of {layout.time_name!r}"
                if layout.has_time
                else f"a largest cluster of {T} rows"
            )
            raise ValueError(
                f"fixed working correlation is {self._T} x {self._T} but the data has {what}"
            )

    def pair_keys(self, tj: FloatArray, tk: FloatArray, wj: IntArray, wk: IntArray) -> FloatArray:
        return np.asarray(wj * self._T + wk, dtype=np.float64)

    def class_params(self, keys: FloatArray) -> IntArray:
        return np.full(keys.shape, -1, dtype=np.int64)

    def rho(self, alpha: FloatArray, keys: FloatArray) -> FloatArray:
        k = keys.astype(np.int64)
        return np.asarray(self.R[k // self._T, k % self._T], dtype=np.float64)


_ALIASES: dict[str, str] = {
    "independence": "independence",
    "ind": "independence",
    "indep": "independence",
    "exchangeable": "exchangeable",
    "exch": "exchangeable",
    "exchangable": "exchangeable",
    "compound symmetry": "exchangeable",
    "cs": "exchangeable",
    "ar1": "ar1",
    "ar-1": "ar1",
    "ar(1)": "ar1",
    "unstructured": "unstructured",
    "unstr": "unstructured",
    "un": "unstructured",
    "m-dependent": "m-dependent",
    "mdependent": "m-dependent",
    "mdep": "m-dependent",
    "stat_m_dep": "m-dependent",
    "fixed": "fixed",
    "userdefined": "fixed",
    "user": "fixed",
}


def resolve_corstr(corstr: Any, mdep: int | None = None, matrix: Any = None) -> WorkingCorrelation:
    """A working correlation from ``corstr`` (a name, a matrix, or a structure).

    Parameters
    ----------
    corstr
        ``"independence"``, ``"exchangeable"``, ``"ar1"``, ``"unstructured"``,
        ``"m-dependent"`` (with ``mdep``), ``"fixed"`` (with ``matrix``), a square
        matrix (fixed), or a :class:`WorkingCorrelation` instance.
    mdep
        ``m`` of the m-dependent structure (default 1).
    matrix
        The matrix of the fixed structure.
    """
    if isinstance(corstr, WorkingCorrelation):
        return corstr
    if isinstance(corstr, type) and issubclass(corstr, WorkingCorrelation):
        return corstr()
    if not isinstance(corstr, str):
        arr = np.asarray(corstr)
        if arr.ndim == 2:
            return Fixed(arr)
        raise ValueError(
            f"corstr must be a name, a correlation matrix or a WorkingCorrelation; got "
            f"{type(corstr).__name__}"
        )
    key = _ALIASES.get(corstr.strip().lower())
    if key is None:
        names = ["independence", "exchangeable", "ar1", "unstructured", "m-dependent", "fixed"]
        raise ValueError(f"unknown corstr {corstr!r}; choose one of {names}")
    if key == "m-dependent":
        return MDependent(1 if mdep is None else mdep)
    if key == "fixed":
        if matrix is None:
            raise ValueError("corstr='fixed' needs the correlation matrix: pass matrix=")
        return Fixed(matrix)
    classes: dict[str, type[WorkingCorrelation]] = {
        "independence": Independence,
        "exchangeable": Exchangeable,
        "ar1": AR1,
        "unstructured": Unstructured,
    }
    return classes[key]()
