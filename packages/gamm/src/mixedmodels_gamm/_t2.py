"""mgcv's ``t2(x, z)`` tensor product smooth (Wood, Scheipl and Faraway 2013), as
``smooth.construct.t2.smooth.spec`` builds it with its defaults (``bs = "cr"``,
``k = 5`` per margin, ``full = FALSE``).

Each margin is reparametrised by mgcv's ``nat.param(type = 3, unit.fnorm = TRUE)``:
the penalty's eigenvectors, range columns scaled to an identity penalty, null-space
columns to the mean range column norm, the null space rotated by the eigenvectors of
its centred cross-product, then both parts scaled to unit root mean square.  The
tensor product's columns are the row-wise Kronecker products range x range, null x
range, range x null (each with an identity penalty of its own) and null x null
(unpenalised), whose sum-to-zero constraint is absorbed by a Householder step.

The null space of a margin's penalty has no unique eigenvector basis, and the result
depends on the basis chosen (through the column scaling).  R's ``eigen`` (LAPACK
``dsyevr``) returns, for these penalties, a null-space basis in which one vector has a
zero first element; we take that basis, which reproduces mgcv's columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedmodels.interfaces import FloatArray

from ._cr import _cr_matrix, _cr_parts, absorb_sum_to_zero

__all__ = ["T2", "t2_basis"]


@dataclass
class _Margin:
    knots: FloatArray
    F: FloatArray
    P: FloatArray  # raw basis coefficients -> reparametrised columns
    rank: int

    def matrix(self, x: FloatArray) -> FloatArray:
        return _cr_matrix(x, self.knots, self.F) @ self.P


@dataclass
class T2:
    """A constructed ``t2`` basis: ``X`` (n x (k1 k2 - 1)), the column blocks of its
    penalties (``blocks``: sizes of the penalised blocks, in order; the remaining
    columns are unpenalised) and the margins for prediction."""

    X: FloatArray
    blocks: list[int]
    margins: list[_Margin]
    Z: FloatArray  # constraint on the null x null block

    def predict_matrix(self, x: FloatArray, z: FloatArray) -> FloatArray:
        m1 = self.margins[0].matrix(np.asarray(x, dtype=np.float64))
        m2 = self.margins[1].matrix(np.asarray(z, dtype=np.float64))
        return _assemble(m1, m2, self.margins[0].rank, self.margins[1].rank, self.Z)


def _null_basis(N: FloatArray) -> FloatArray:
    """R's null-space basis: one vector with a zero first element, and its orthogonal
    complement in the null space."""
    if N.shape[1] != 2:
        return N
    a = np.array([N[0, 1], -N[0, 0]])
    if np.linalg.norm(a) == 0:
        return N
    a = a / np.linalg.norm(a)
    u1 = N @ a
    u2 = N @ np.array([-a[1], a[0]])
    return np.column_stack([u1, u2])


def _nat_param(X: FloatArray, S: FloatArray, rank: int) -> tuple[FloatArray, FloatArray]:
    """mgcv's ``nat.param(X, S, rank, type = 3, unit.fnorm = TRUE)``: columns and the
    coefficient map ``P`` (columns = ``X P``)."""
    vals, vecs = np.linalg.eigh(S)
    order = np.argsort(-vals, kind="stable")
    vals, vecs = vals[order], vecs[:, order]
    p = X.shape[1]
    vecs = np.column_stack([vecs[:, :rank], _null_basis(vecs[:, rank:])])
    E = np.ones(p)
    E[:rank] = np.sqrt(vals[:rank])
    XV = X @ vecs
    col_norm = np.sum(XV**2, axis=0) / E**2
    av = col_norm[:rank].mean()
    E[rank:] = np.sqrt(col_norm[rank:] / av)
    P = vecs / E[None, :]
    Xn = XV / E[None, :]
    if rank < p - 1:
        ind = np.arange(rank, p)
        nul = Xn[:, ind] - Xn[:, ind].mean(axis=0)
        _, um = np.linalg.eigh(nul.T @ nul)
        um = um[:, ::-1]  # decreasing, as R's eigen
        Xn[:, ind[::-1]] = Xn[:, ind] @ um
        P[:, ind[::-1]] = P[:, ind] @ um
    scale = 1.0 / np.sqrt(np.mean(Xn[:, :rank] ** 2))
    Xn[:, :rank] *= scale
    P[:, :rank] *= scale
    if rank < p:
        scalef = 1.0 / np.sqrt(np.mean(Xn[:, rank:] ** 2))
        Xn[:, rank:] *= scalef
        P[:, rank:] *= scalef
    return Xn, P


def _rowkron(A: FloatArray, B: FloatArray) -> FloatArray:
    """Row-wise Kronecker product, columns ordered as mgcv's (A's column outer)."""
    return (A[:, :, None] * B[:, None, :]).reshape(A.shape[0], -1)


def _assemble(m1: FloatArray, m2: FloatArray, r1: int, r2: int, Z: FloatArray) -> FloatArray:
    Z1, N1 = m1[:, :r1], m1[:, r1:]
    Z2, N2 = m2[:, :r2], m2[:, r2:]
    return np.column_stack(
        [_rowkron(Z1, Z2), _rowkron(N1, Z2), _rowkron(Z1, N2), _rowkron(N1, N2) @ Z]
    )


def t2_basis(x: FloatArray, z: FloatArray, k: int = 5, term: str = "t2(x,z)") -> T2:
    """mgcv's ``t2(x, z)`` with cubic regression spline margins of dimension ``k``.

    Raises
    ------
    ValueError
        If a covariate has fewer than ``k`` unique values or ``k < 3``.
    """
    margins, mats = [], []
    for v in (x, z):
        v = np.asarray(v, dtype=np.float64)
        uniq = np.unique(v)
        if k > uniq.size:
            raise ValueError(
                f"{term}: k = {k} basis functions per margin but a covariate has only "
                f"{uniq.size} unique values; lower k"
            )
        if k < 3:
            raise ValueError(f"{term}: k must be at least 3, got {k}")
        knots = np.quantile(uniq, np.linspace(0.0, 1.0, k))
        F, S = _cr_parts(knots)
        X = _cr_matrix(v, knots, F)
        Xm, P = _nat_param(X, S, k - 2)
        margins.append(_Margin(knots, F, P, k - 2))
        mats.append(Xm)
    r1, r2 = margins[0].rank, margins[1].rank
    nn = _rowkron(mats[0][:, r1:], mats[1][:, r2:])
    Z = absorb_sum_to_zero(nn)
    X = _assemble(mats[0], mats[1], r1, r2, Z)
    n1, n2 = k - r1, k - r2
    return T2(X, [r1 * r2, n1 * r2, r1 * n2], margins, Z)
