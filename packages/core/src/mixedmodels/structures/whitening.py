"""A residual structure bound to the rows of a model, and whitening by it: the residual
groups batched by size and by coordinate pattern, so that each distinct correlation
matrix is factored once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..interfaces import FloatArray, ResidualCorrelation
from .residual_syntax import ResidualSpecError
from .variance import BoundVariance

__all__ = ["BoundResidual", "solve_lower"]

# Largest residual group whose correlation matrix is formed (k x k per group).
_MAX_GROUP_SIZE = 5000


@dataclass
class _Batch:
    """Residual groups of one size ``k``: row indices and distinct coordinate patterns."""

    rows: NDArray[np.int64]  # (G, k)
    pattern: NDArray[np.int64]  # (G,) index into patterns
    patterns: FloatArray  # (P, k, d)
    counts: FloatArray  # (P,) groups per pattern


class BoundResidual:
    """Correlation and variance functions bound to the rows of a model.

    The parameter vector is the correlation's parameters then each variance function's.
    :meth:`whiten` maps columns ``M`` to ``R^-1/2 M`` (``R`` the residual covariance
    divided by sigma^2) and returns ``log |R|``.
    """

    def __init__(
        self,
        n: int,
        correlation: ResidualCorrelation | None,
        corr_label: str,
        groups: NDArray[np.int64] | None,
        coords: FloatArray | None,
        variances: list[BoundVariance],
        weights: FloatArray | None,
        group_labels: list[str] | None = None,
    ) -> None:
        self.n = n
        self.correlation = correlation
        self.corr_label = corr_label
        self.variances = variances
        self.groups = groups
        self.group_labels = group_labels
        self.coords = coords
        self.log_prior = None if weights is None else -0.5 * np.log(weights)
        self.uses_fitted = any(v.uses_fitted for v in variances)
        sizes = [0 if correlation is None else correlation.n_params]
        sizes += [v.n_params for v in variances]
        self._index = np.cumsum([0, *sizes]).tolist()
        self.batches: list[_Batch] = []
        if correlation is not None and groups is not None and coords is not None:
            self.batches = _make_batches(groups, coords)

    def with_weights(self, weights: FloatArray | None) -> BoundResidual:
        """The same structure on the same rows with other prior weights (shares the
        groups, coordinates and batches)."""
        out = copy.copy(self)
        out.log_prior = None if weights is None else -0.5 * np.log(weights)
        return out

    # --- parameters ---------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return int(self._index[-1])

    def param_names(self) -> list[str]:
        names = []
        if self.correlation is not None:
            names += [f"cor:{p}" for p in self.correlation.param_names()]
        for v in self.variances:
            names += [f"var:{p}" for p in v.param_names()]
        return names

    def start(self) -> FloatArray:
        parts = [np.zeros(0)]
        if self.correlation is not None:
            parts.append(np.asarray(self.correlation.start(), dtype=np.float64))
        parts += [np.asarray(v.start(), dtype=np.float64) for v in self.variances]
        return np.concatenate(parts)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        lo, hi = [np.zeros(0)], [np.zeros(0)]
        if self.correlation is not None:
            a, b = self.correlation.bounds()
            lo.append(np.asarray(a, float))
            hi.append(np.asarray(b, float))
        for v in self.variances:
            a, b = v.bounds()
            lo.append(np.asarray(a, float))
            hi.append(np.asarray(b, float))
        return np.concatenate(lo), np.concatenate(hi)

    def split(self, phi: FloatArray) -> tuple[FloatArray, list[FloatArray]]:
        idx = self._index
        corr = phi[idx[0] : idx[1]]
        var = [phi[idx[i + 1] : idx[i + 2]] for i in range(len(self.variances))]
        return corr, var

    def natural_parameters(self, phi: FloatArray) -> list[tuple[str, str, float]]:
        """``(component, name, value)``: the correlation's and variance functions'
        parameters on their natural scale (nlme's ``coef(..., unconstrained = FALSE)``)."""
        corr, var = self.split(np.asarray(phi, dtype=np.float64))
        out = []
        if self.correlation is not None:
            out += [
                (self.corr_label, n, float(v)) for n, v in self.correlation.natural_parameters(corr)
            ]
        for f, p in zip(self.variances, var, strict=True):
            out += [(f.label, n, float(v)) for n, v in f.natural_parameters(p)]
        return out

    # --- evaluation ----------------------------------------------------------------
    def log_sd(self, phi: FloatArray, fitted: FloatArray | None = None) -> FloatArray | None:
        """Log SD multiplier of each observation (``None`` if there is none)."""
        _, var = self.split(phi)
        out = None if self.log_prior is None else self.log_prior.copy()
        for f, p in zip(self.variances, var, strict=True):
            ls = f.log_sd(p, fitted)
            out = ls.copy() if out is None else out + ls
        return out

    def correlation_factors(self, corr: FloatArray) -> list[tuple[FloatArray, FloatArray]] | None:
        """Per batch, the Cholesky factors of the patterns' correlation matrices and
        their log-determinants; ``None`` if one is not positive definite."""
        assert self.correlation is not None
        mats = [
            np.asarray(self.correlation.correlations(corr, b.patterns), dtype=np.float64)
            for b in self.batches
        ]
        sizes = [(m.shape[0], m.shape[1]) for m in mats]
        total = sum(P for P, _ in sizes)
        kmax = max((k for _, k in sizes), default=0)
        if len(mats) > 1 and total * kmax * kmax <= 2 * sum(P * k * k for P, k in sizes) + 4096:
            # Few small batches (groups of a few sizes): one factorisation of all the
            # patterns, each padded with an identity block (the Cholesky factor of
            # diag(C, I) is diag(chol(C), I)): one LAPACK dispatch instead of one per size.
            big = np.zeros((total, kmax, kmax))
            big[:, np.arange(kmax), np.arange(kmax)] = 1.0
            at = 0
            for m, (P, k) in zip(mats, sizes, strict=True):
                big[at : at + P, :k, :k] = m
                at += P
            try:
                L_all = np.linalg.cholesky(big)
            except np.linalg.LinAlgError:
                return None
            diag = np.diagonal(L_all, axis1=1, axis2=2)
            if not (np.all(np.isfinite(diag)) and diag.min() > 0):
                return None
            logdets = 2.0 * np.log(diag).sum(axis=1)
            out, at = [], 0
            for P, k in sizes:
                out.append((L_all[at : at + P, :k, :k], logdets[at : at + P]))
                at += P
            return out
        out = []
        for C in mats:
            try:
                Lc = np.linalg.cholesky(C)
            except np.linalg.LinAlgError:
                return None
            diag = np.diagonal(Lc, axis1=1, axis2=2)
            if not np.all(np.isfinite(diag)) or np.any(diag <= 0):
                return None
            logdet = 2.0 * np.log(diag).sum(axis=1)
            out.append((np.asarray(Lc, dtype=np.float64), np.asarray(logdet, dtype=np.float64)))
        return out

    def whiten(
        self, phi: FloatArray, M: FloatArray, fitted: FloatArray | None = None
    ) -> tuple[FloatArray, float] | None:
        """``(R^-1/2 M, log |R|)``; ``None`` where the structure is not positive definite."""
        corr, _ = self.split(phi)
        logdet = 0.0
        ls = self.log_sd(phi, fitted)
        if ls is not None:
            if not np.all(np.isfinite(ls)):
                return None
            out = M * np.exp(-ls)[:, None]
            logdet += 2.0 * float(ls.sum())
        else:
            out = M.copy()
        if self.correlation is not None and self.batches:
            factors = self.correlation_factors(corr)
            if factors is None:
                return None
            for b, (Lc, ld) in zip(self.batches, factors, strict=True):
                out[b.rows] = solve_lower(Lc, b.pattern, out[b.rows])
                logdet += float(b.counts @ ld)
        return out, logdet

    def covariance_blocks(
        self, phi: FloatArray, fitted: FloatArray | None = None
    ) -> list[tuple[NDArray[np.int64], FloatArray]]:
        """``(rows, R_g)`` per residual group with two or more observations, and the
        singletons as one entry of diagonal variances (rows ``(G, 1)``): the relative
        residual covariance, for simulation and normalised residuals."""
        corr, _ = self.split(phi)
        ls = self.log_sd(phi, fitted)
        sd = np.ones(self.n) if ls is None else np.exp(ls)
        out: list[tuple[NDArray[np.int64], FloatArray]] = []
        covered = np.zeros(self.n, dtype=bool)
        if self.correlation is not None:
            for b in self.batches:
                C = np.asarray(self.correlation.correlations(corr, b.patterns), dtype=np.float64)
                Cg = C[b.pattern]
                s = sd[b.rows]
                out.append((b.rows, Cg * s[:, :, None] * s[:, None, :]))
                covered[b.rows.ravel()] = True
        rest = np.flatnonzero(~covered)
        if rest.size:
            out.append((rest[:, None], (sd[rest] ** 2)[:, None, None]))
        return out


def solve_lower(L: FloatArray, pattern: NDArray[np.int64], block: FloatArray) -> FloatArray:
    """``L[pattern[g]]^-1 block[g]`` for every group ``g``.

    ``L`` is ``(P, k, k)`` lower triangular (one per coordinate pattern), ``block``
    ``(G, k, c)``.  Few patterns (balanced data): one inverse each and a batched
    product.  Many (unequal spacing): forward substitution vectorised over the groups,
    ``k`` steps, instead of ``G`` small LAPACK calls.
    """
    P, k = L.shape[0], L.shape[1]
    if P == 1:
        return np.asarray(np.matmul(np.linalg.inv(L[0]), block), dtype=np.float64)
    if block.shape[0] >= 4 * P:
        return np.asarray(np.matmul(np.linalg.inv(L)[pattern], block), dtype=np.float64)
    Lg = L[pattern]
    out = np.empty_like(block)
    for i in range(k):
        r = block[:, i, :]
        if i:
            r = r - np.einsum("gj,gjc->gc", Lg[:, i, :i], out[:, :i, :])
        out[:, i, :] = r / Lg[:, i, i, None]
    return out


def _make_batches(groups: NDArray[np.int64], coords: FloatArray) -> list[_Batch]:
    """Group the residual groups by size, and within a size by identical coordinates."""
    order = np.lexsort((*coords.T[::-1], groups))
    g_sorted = groups[order]
    sizes = np.bincount(groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = []
    for k in np.unique(sizes).tolist():
        if k < 2:
            continue
        if k > _MAX_GROUP_SIZE:
            raise ResidualSpecError(
                f"a residual group has {k} observations; correlation structures are "
                f"limited to groups of {_MAX_GROUP_SIZE} (name a grouping factor)"
            )
        gs = np.flatnonzero(sizes == k)
        rows = order[starts[gs][:, None] + np.arange(k)[None, :]]
        assert np.all(g_sorted[starts[gs]] == gs)
        pat_coords = coords[rows]  # (G, k, d)
        flat = pat_coords.reshape(len(gs), -1)
        uniq, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
        out.append(
            _Batch(
                rows=rows,
                pattern=inverse.ravel().astype(np.int64),
                patterns=uniq.reshape(-1, k, coords.shape[1]),
                counts=counts.astype(np.float64),
            )
        )
    return out
