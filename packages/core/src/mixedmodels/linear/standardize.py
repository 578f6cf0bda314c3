"""Internal standardisation of the model matrices (decision 0014).

The optimiser works on ``X~ = X T`` and, per random-effect term, ``Z~_k = Z_k A_k``
with invertible ``T`` and ``A_k``: then ``X beta = X~ beta~`` with ``beta = T beta~``,
and ``Z_k b_k = Z~_k b~_k`` with ``b_k = A_k b~_k``, so the covariance of a term is
``Sigma_k = A_k Sigma~_k A_k'``.  Where the term's covariance structure can represent
every such ``Sigma_k`` (an unstructured term for any ``A_k``, a diagonal one for a
diagonal ``A_k``) the two problems are the same model in other coordinates: the
likelihood is the same, and the REML criterion differs by the constant
``2 log |det T|`` (``log |X' V^-1 X|`` moves with ``T``).  Other structures keep their
columns.

The columns are centred (when the matrix holds an intercept column and the structure
allows a shift) and scaled to unit root mean square; a matrix still ill-conditioned
after that (interactions or powers of a shifted covariate) is replaced by a scaled
orthonormal basis of its columns (QR), again only where the structure allows it.  0/1
columns (indicators) keep their values.

This module holds the transform and its maps between the user's parameters (lme4's
``theta``, ``beta``) and the standardised ones; the criteria that evaluate in the
user's coordinates are :mod:`mixedmodels.linear.standardized` (LMM) and
:mod:`mixedmodels.generalized.standardized` (GLMM).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..interfaces import CovarianceStructure, FloatArray
from ..structures.unstructured import Diagonal, Unstructured
from .layout import TermData

__all__ = [
    "ColumnMoments",
    "Standardization",
    "TermMap",
    "standardize",
    "standardize_from_moments",
]

# Condition number of a centred and scaled matrix above which its columns are
# orthonormalised as well (cross-products lose about twice its digits).
_QR_CONDITION = 1e3


@dataclass(frozen=True)
class TermMap:
    """How one random-effect term's parameters map: ``Z~ = Z A``, ``b = A b~``.

    ``general`` is true for an unstructured term (``A`` any invertible matrix; theta is
    the lower triangle of the Cholesky factor, re-triangularised after the map), false
    for a diagonal one (``A`` diagonal; theta scales).
    """

    A: FloatArray
    A_inv: FloatArray
    general: bool
    rows: np.ndarray
    cols: np.ndarray

    def to_standard(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``theta~`` of the relative factor ``A^-1 Lambda`` re-triangularised, and the
        rotation ``Q`` with ``A^-1 Lambda = Lambda~ Q`` (then ``u = Q' u~``)."""
        theta = np.asarray(theta, dtype=np.float64)
        if not self.general:
            d = np.diag(self.A_inv)
            return theta * d, np.eye(d.size)
        lam = np.zeros(self.A.shape)
        lam[self.rows, self.cols] = theta
        lam_std, q = _lq(self.A_inv @ lam)
        return lam_std[self.rows, self.cols], q

    def from_standard(self, theta_std: FloatArray) -> FloatArray:
        """The user's theta of the standardised ``theta~``."""
        theta_std = np.asarray(theta_std, dtype=np.float64)
        if not self.general:
            return theta_std * np.diag(self.A)
        lam = np.zeros(self.A.shape)
        lam[self.rows, self.cols] = theta_std
        lam_user, _ = _lq(self.A @ lam)
        return lam_user[self.rows, self.cols]

    def jacobian(self, theta: FloatArray) -> FloatArray:
        """``d theta~ / d theta`` at ``theta`` (``(k, k)``).

        Analytic where the factor is nonsingular (the derivative of the Cholesky factor,
        ``dL = L Phi(L^-1 dS L^-T)``); central differences of :meth:`to_standard` on a
        singular one (a boundary fit), where the map is continuous but not smooth."""
        theta = np.asarray(theta, dtype=np.float64)
        k = theta.size
        if not self.general:
            return np.diag(np.diag(self.A_inv) * np.ones(k))
        lam = np.zeros(self.A.shape)
        lam[self.rows, self.cols] = theta
        lam_std = self.A_inv @ lam
        L, _ = _lq(lam_std)
        diag = np.abs(np.diag(L))
        if diag.min() > 1e-10 * max(diag.max(), 1e-300):
            L_inv = np.linalg.inv(L)
            d = self.A.shape[0]
            # All parameters at once: d_m[i] = A^-1 E_i (E_i the unit of entry i).
            d_m = np.zeros((k, d, d))
            d_m[np.arange(k), :, self.cols] = self.A_inv[:, self.rows].T
            d_s = d_m @ lam_std.T
            d_s = d_s + np.transpose(d_s, (0, 2, 1))
            phi = np.tril(L_inv @ d_s @ L_inv.T)
            idx = np.arange(d)
            phi[:, idx, idx] *= 0.5
            return np.asarray((L @ phi)[:, self.rows, self.cols].T, dtype=np.float64)
        out = np.empty((k, k))
        for i in range(k):
            h = 1e-7 * max(1.0, abs(float(theta[i])))
            up, down = theta.copy(), theta.copy()
            up[i] += h
            down[i] -= h
            out[:, i] = (self.to_standard(up)[0] - self.to_standard(down)[0]) / (2.0 * h)
        return out


def _lq(M: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``M = L Q`` with ``L`` lower triangular with a nonnegative diagonal, ``Q``
    orthogonal (any ``M``, singular ones too)."""
    q, r = np.linalg.qr(M.T)
    signs = np.where(np.diag(r) < 0.0, -1.0, 1.0)
    return r.T * signs[None, :], signs[:, None] * q.T


@dataclass
class Standardization:
    """The standardised matrices and the maps back to the user's coordinates.

    Attributes
    ----------
    X
        ``X~ = X T``.
    T
        ``beta = T beta~``.
    log_abs_det_T
        ``log |det T|``: the REML criterion in the user's coordinates is the
        standardised one minus twice this.
    terms
        The random-effect terms with ``Z~_k`` (the user's structures).
    maps
        Per term, its :class:`TermMap`, or ``None`` where the columns are kept.
    """

    X: FloatArray
    T: FloatArray
    log_abs_det_T: float
    terms: list[TermData]
    maps: list[TermMap | None]

    @property
    def is_identity(self) -> bool:
        """Whether nothing is transformed (then the fit runs on the user's matrices)."""
        return bool(np.array_equal(self.T, np.eye(self.T.shape[0]))) and all(
            m is None for m in self.maps
        )

    @property
    def theta_sizes(self) -> list[int]:
        return [t.structure.n_params for t in self.terms]

    def _split(self, theta: FloatArray) -> list[FloatArray]:
        idx = np.cumsum([0, *self.theta_sizes])
        return [theta[idx[i] : idx[i + 1]] for i in range(len(self.terms))]

    def theta_to_standard(self, theta: FloatArray) -> tuple[FloatArray, list[FloatArray | None]]:
        """``theta~`` of the user's ``theta``, and each term's rotation (``u = Q' u~``;
        ``None`` where the term is kept)."""
        parts: list[FloatArray] = []
        rotations: list[FloatArray | None] = []
        for m, th in zip(self.maps, self._split(np.asarray(theta, dtype=np.float64)), strict=True):
            if m is None:
                parts.append(th)
                rotations.append(None)
            else:
                std, q = m.to_standard(th)
                parts.append(std)
                rotations.append(q)
        return np.concatenate([np.zeros(0), *parts]), rotations

    def theta_from_standard(self, theta_std: FloatArray) -> FloatArray:
        """The user's ``theta`` of the standardised ``theta~``."""
        parts = [
            th if m is None else m.from_standard(th)
            for m, th in zip(self.maps, self._split(np.asarray(theta_std, float)), strict=True)
        ]
        return np.concatenate([np.zeros(0), *parts])

    def theta_jacobian(self, theta: FloatArray) -> FloatArray:
        """``d theta~ / d theta`` (block diagonal over the terms)."""
        sizes = self.theta_sizes
        k = int(sum(sizes))
        J = np.zeros((k, k))
        off = 0
        for m, th, s in zip(self.maps, self._split(np.asarray(theta, float)), sizes, strict=True):
            J[off : off + s, off : off + s] = np.eye(s) if m is None else m.jacobian(th)
            off += s
        return J

    def beta_to_standard(self, beta: FloatArray) -> FloatArray:
        return np.asarray(np.linalg.solve(self.T, np.asarray(beta, float)), dtype=np.float64)

    def beta_from_standard(self, beta_std: FloatArray) -> FloatArray:
        return np.asarray(self.T @ np.asarray(beta_std, dtype=np.float64), dtype=np.float64)

    def vcov_from_standard(self, vcov_std: FloatArray) -> FloatArray:
        """Covariance of ``beta`` from that of ``beta~``."""
        v = self.T @ np.asarray(vcov_std, dtype=np.float64) @ self.T.T
        return np.asarray(0.5 * (v + v.T), dtype=np.float64)

    def random_effects_from_standard(
        self, us: Sequence[FloatArray], rotations: Sequence[FloatArray | None]
    ) -> list[FloatArray]:
        """Spherical random effects per term (``(levels, dim)``): ``u = Q' u~``."""
        return [u if q is None else u @ q for u, q in zip(us, rotations, strict=True)]

    def covariances_from_standard(self, blocks: Sequence[FloatArray]) -> list[FloatArray]:
        """Per-level ``(levels, dim, dim)`` covariances of ``b`` from those of ``b~``."""
        return [
            b if m is None else np.einsum("ij,njk,lk->nil", m.A, b, m.A)
            for m, b in zip(self.maps, blocks, strict=True)
        ]

    def derivatives_from_standard(
        self, theta: FloatArray, gradient: FloatArray, hessian: FloatArray, with_beta: bool
    ) -> tuple[FloatArray, FloatArray]:
        """Gradient and Hessian over the user's ``theta`` (and ``beta``) from those over
        the standardised parameters (first-order chain rule: exact at a stationary
        point, where the convergence check evaluates them)."""
        J = self.theta_jacobian(theta)
        if with_beta:
            k, p = J.shape[0], self.T.shape[0]
            full = np.zeros((k + p, k + p))
            full[:k, :k] = J
            full[k:, k:] = np.linalg.inv(self.T)
            J = full
        # Non-finite derivatives are the convergence check's to report (as
        # non-convergence); mapping them must not warn.
        with np.errstate(invalid="ignore", over="ignore"):
            g = J.T @ np.asarray(gradient, dtype=np.float64)
            H = J.T @ np.asarray(hessian, dtype=np.float64) @ J
            return g, 0.5 * (H + H.T)


def _column_transform(M: FloatArray, general: bool, shift: bool) -> FloatArray:
    """``A`` with ``M A`` centred (``shift``: only with an intercept column) and scaled;
    with ``general``, orthonormalised too when still ill-conditioned."""
    n, d = M.shape
    A = np.eye(d)
    if n == 0 or d == 0:
        return A
    # Column checks on the whole matrix at once (a loop of numpy calls per column costs
    # more than the arithmetic on small data).
    is_one = M == 1.0
    ones = np.flatnonzero(is_one.all(axis=0))
    intercept = int(ones[0]) if ones.size else None
    indicator = (is_one | (M == 0.0)).all(axis=0)
    for j in np.flatnonzero(~indicator).tolist():
        x = M[:, j]
        centre = float(np.mean(x)) if (shift and intercept is not None) else 0.0
        scale = float(np.sqrt(np.mean((x - centre) ** 2)))
        if not (np.isfinite(scale) and scale > 0.0):
            continue
        A[j, j] = 1.0 / scale
        if centre != 0.0 and intercept is not None:
            A[intercept, j] = -centre / scale
    if general and d > 1:
        S = M @ A
        sv = np.linalg.svd(S, compute_uv=False)
        if sv[-1] <= 0.0 or sv[0] / sv[-1] > _QR_CONDITION:
            _, r = np.linalg.qr(S)
            signs = np.where(np.diag(r) < 0.0, -1.0, 1.0)
            r = r * signs[:, None]
            if np.all(np.abs(np.diag(r)) > 0.0):
                # S = Q R, so S R^-1 sqrt(n) = sqrt(n) Q: unit root-mean-square columns.
                A = A @ np.linalg.solve(r, np.eye(d)) * np.sqrt(n)
    return A


def _term_kind(structure: CovarianceStructure) -> str | None:
    """``"general"`` (any invertible A), ``"diagonal"`` (diagonal A) or None (kept)."""
    if type(structure) is Unstructured:
        return "general"
    if type(structure) is Diagonal:
        return "diagonal"
    return None


def standardize(X: FloatArray, terms: Sequence[TermData]) -> Standardization:
    """The standardisation of a fixed-effect matrix and random-effect terms.

    ``X`` gets any invertible transform (its columns centred when it has an intercept,
    scaled, orthonormalised when still ill-conditioned).  An unstructured term's
    columns get the same (centred only with an intercept column in the term); a
    diagonal term's columns are only scaled; other structures keep theirs.
    """
    X = np.asarray(X, dtype=np.float64)
    T = _column_transform(X, general=True, shift=True)
    transforms = []
    for t in terms:
        kind = _term_kind(t.structure)
        transforms.append(
            None
            if kind is None
            else _column_transform(np.asarray(t.Z, float), kind == "general", kind == "general")
        )
    return _standardization(X, T, terms, transforms)


def _standardization(
    X: FloatArray, T: FloatArray, terms: Sequence[TermData], transforms: list[FloatArray | None]
) -> Standardization:
    X_std = X if np.array_equal(T, np.eye(T.shape[0])) else X @ T
    _, logdet = np.linalg.slogdet(T) if T.size else (1.0, 0.0)
    new_terms: list[TermData] = []
    maps: list[TermMap | None] = []
    for t, A in zip(terms, transforms, strict=True):
        kind = _term_kind(t.structure)
        if A is not None and np.array_equal(A, np.eye(A.shape[0])):
            A = None
        if A is None:
            new_terms.append(t)
            maps.append(None)
            continue
        cols, rows = np.triu_indices(A.shape[0])
        maps.append(
            TermMap(A, np.asarray(np.linalg.inv(A), np.float64), kind == "general", rows, cols)
        )
        new_terms.append(TermData(t.codes, t.n_levels, np.asarray(t.Z, float) @ A, t.structure))
    return Standardization(X_std, T, float(logdet), new_terms, maps)


@dataclass
class ColumnMoments:
    """What :func:`standardize` reads of a matrix's columns, as sums over rows that two
    sets of rows combine with ``+``: the number of rows, column means, centred
    cross-products (merged as Chan, Golub and LeVeque's pairwise update, which keeps
    their accuracy), and which columns are all ones and which only 0/1."""

    n: int
    mean: FloatArray
    M2: FloatArray
    all_one: np.ndarray
    binary: np.ndarray

    @classmethod
    def of(cls, M: FloatArray) -> ColumnMoments:
        """The moments of the rows of ``M`` (``(n, d)``)."""
        M = np.asarray(M, dtype=np.float64)
        n = M.shape[0]
        mean = M.mean(axis=0) if n else np.zeros(M.shape[1])
        C = M - mean
        return cls(
            n,
            mean,
            C.T @ C,
            np.all(M == 1.0, axis=0),
            np.all((M == 0.0) | (M == 1.0), axis=0),
        )

    def __add__(self, other: ColumnMoments) -> ColumnMoments:
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        return ColumnMoments(
            n,
            self.mean + delta * (other.n / n),
            self.M2 + other.M2 + np.outer(delta, delta) * (self.n * other.n / n),
            self.all_one & other.all_one,
            self.binary & other.binary,
        )


def _transform_from_moments(mom: ColumnMoments, general: bool, shift: bool) -> FloatArray:
    """:func:`_column_transform` of a matrix known by its :class:`ColumnMoments` (the
    same transform up to rounding; the QR factor from the Cholesky factor of the
    Gram matrix, which is the same matrix)."""
    n, d = mom.n, mom.mean.size
    A = np.eye(d)
    if n == 0 or d == 0:
        return A
    ones = np.flatnonzero(mom.all_one).tolist()
    intercept = ones[0] if ones else None
    for j in range(d):
        if j == intercept or mom.binary[j]:
            continue
        centre = float(mom.mean[j]) if (shift and intercept is not None) else 0.0
        scale = float(np.sqrt(mom.M2[j, j] / n + (mom.mean[j] - centre) ** 2))
        if not (np.isfinite(scale) and scale > 0.0):
            continue
        A[j, j] = 1.0 / scale
        if centre != 0.0 and intercept is not None:
            A[intercept, j] = -centre / scale
    if general and d > 1:
        # S'S of S = M A, as A' M2 A + n (A' mean)(A' mean)': no cancellation where A
        # centres the columns.
        am = A.T @ mom.mean
        G = A.T @ mom.M2 @ A + n * np.outer(am, am)
        G = 0.5 * (G + G.T)
        sv = np.sqrt(np.clip(np.linalg.eigvalsh(G), 0.0, None))[::-1]
        if sv[-1] <= 0.0 or sv[0] / sv[-1] > _QR_CONDITION:
            try:
                r = np.linalg.cholesky(G).T
            except np.linalg.LinAlgError:
                return A
            A = A @ np.linalg.solve(r, np.eye(d)) * np.sqrt(n)
    return A


def standardize_from_moments(
    x_moments: ColumnMoments,
    term_moments: Sequence[ColumnMoments],
    terms: Sequence[TermData],
) -> Standardization:
    """:func:`standardize` of matrices known by their column moments (rows summed by
    chunk, e.g. over the partitions of a Dask frame).

    ``terms`` give the layout and structures (their rows may be empty); the
    standardisation's ``X`` and terms' ``Z`` are the given (empty) rows transformed.
    """
    p = x_moments.mean.size
    T = _transform_from_moments(x_moments, general=True, shift=True)
    transforms: list[FloatArray | None] = []
    for t, mom in zip(terms, term_moments, strict=True):
        kind = _term_kind(t.structure)
        transforms.append(
            None
            if kind is None
            else _transform_from_moments(mom, kind == "general", kind == "general")
        )
    return _standardization(np.zeros((0, p)), T, terms, transforms)
