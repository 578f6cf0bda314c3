"""The sums over rows that an LMM criterion needs, apart from the criterion itself.

Both unstructured LMM criteria (:class:`~mixedmodels.linear.dense.DenseLMMProblem` and
:class:`~mixedmodels.linear.criterion.LMMProblem`) read the rows once, into
cross-products of ``[Z X y]``; nothing after reads a row.  Those cross-products are
sums over rows, so they can be computed per chunk of rows (a partition of a Dask
frame, a file) and added: :class:`CrossProducts` holds them with ``+``, and
:func:`problem_from_cross_products` builds the same criterion from their total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..interfaces import FloatArray
from .layout import TermData

__all__ = [
    "DENSE_MAX_M",
    "CrossProducts",
    "lmm_cross_products",
    "uses_dense",
]

#: Largest [Z X y] (columns) fitted as one dense matrix: where numpy call overheads,
#: not arithmetic, dominate an evaluation.
DENSE_MAX_M = 120


def uses_dense(terms: list[TermData], p: int) -> bool:
    """Whether the criterion of these terms and ``p`` fixed effects is the dense one."""
    return sum(t.q for t in terms) + p + 1 <= DENSE_MAX_M


@dataclass
class CrossProducts:
    """Row sums of one set of rows (add two for the union of their rows).

    Attributes
    ----------
    n
        Number of rows.
    log_weights_sum
        Sum of the log prior weights (0 without weights).
    C
        Dense criterion: ``[Z X y]' W [Z X y]`` (``m x m``); else ``None``.
    A11
        Blocked criterion: the first term's per-level blocks ``(n1, p1, p1)``.
    A_RR
        Blocked: ``[Z_rest X y]' W [Z_rest X y]`` (dense ``m x m``).
    A_R1
        Blocked: ``[Z_rest X y]' W Z_1`` (sparse ``m x q1``).
    y_sumsq
        Blocked: ``y' W y``.
    """

    n: int
    log_weights_sum: float
    C: FloatArray | None = None
    A11: FloatArray | None = None
    A_RR: FloatArray | None = None
    A_R1: Any = None
    y_sumsq: float = 0.0

    def __add__(self, other: CrossProducts) -> CrossProducts:
        def add(a: Any, b: Any) -> Any:
            return None if a is None else a + b

        return CrossProducts(
            n=self.n + other.n,
            log_weights_sum=self.log_weights_sum + other.log_weights_sum,
            C=add(self.C, other.C),
            A11=add(self.A11, other.A11),
            A_RR=add(self.A_RR, other.A_RR),
            A_R1=None if self.A_R1 is None else (self.A_R1 + other.A_R1).tocsc(),
            y_sumsq=self.y_sumsq + other.y_sumsq,
        )


def _sparse_term(term: TermData, n: int) -> sp.csc_matrix:
    """The term's n x (levels * dim) indicator-weighted matrix, level-major columns."""
    p = term.dim
    rows = np.repeat(np.arange(n), p)
    cols = (term.codes[:, None] * p + np.arange(p)[None, :]).ravel()
    return sp.csc_matrix((term.Z.ravel(), (rows, cols)), shape=(n, term.q))


def lmm_cross_products(
    X: FloatArray,
    y: FloatArray,
    terms: list[TermData],
    weights: FloatArray | None = None,
    dense: bool | None = None,
) -> CrossProducts:
    """The cross-products of these rows for the dense (``dense``) or blocked criterion
    (by default the one :func:`problem_from_cross_products` builds for these sizes).

    ``terms`` are sorted by number of levels, largest first; every code is a valid
    level (``0 <= code < n_levels``) of the term's full set of levels.
    """
    n, p = X.shape
    if dense is None:
        dense = uses_dense(terms, p)
    sw = np.ones(n) if weights is None else np.sqrt(weights)
    lws = 0.0 if weights is None else float(np.sum(np.log(weights)))
    Xw = X * sw[:, None]
    yw = y * sw
    wterms = [TermData(t.codes, t.n_levels, t.Z * sw[:, None], t.structure) for t in terms]
    if dense:
        offsets = np.cumsum([0] + [t.q for t in terms]).tolist()
        q = offsets[-1]
        W = np.zeros((n, q + p + 1))
        rows = np.arange(n)
        for t, off in zip(wterms, offsets, strict=False):
            for j in range(t.dim):
                W[rows, off + t.codes * t.dim + j] = t.Z[:, j]
        W[:, q : q + p] = Xw
        W[:, -1] = yw
        return CrossProducts(n=n, log_weights_sum=lws, C=W.T @ W)
    first, rest = wterms[0], wterms[1:]
    p1, n1 = first.dim, first.n_levels
    A11 = np.empty((n1, p1, p1))
    for k in range(p1):
        for l_ in range(k, p1):
            v = np.bincount(first.codes, weights=first.Z[:, k] * first.Z[:, l_], minlength=n1)
            A11[:, k, l_] = v
            A11[:, l_, k] = v
    dense_xy = np.column_stack([Xw, yw])
    if rest:
        ZR = sp.hstack([_sparse_term(t, n) for t in rest], format="csc")
        zz = (ZR.T @ ZR).toarray()
        zxy = np.asarray(ZR.T @ dense_xy)
        A_RR = np.block([[zz, zxy], [zxy.T, dense_xy.T @ dense_xy]])
    else:
        ZR = None
        A_RR = dense_xy.T @ dense_xy
    Z1 = _sparse_term(first, n)
    top = (ZR.T @ Z1).tocsr() if ZR is not None else sp.csr_matrix((0, first.q))
    bottom = sp.csr_matrix(np.asarray((Z1.T @ dense_xy).T))
    A_R1 = sp.vstack([top, bottom], format="csc")
    return CrossProducts(
        n=n, log_weights_sum=lws, A11=A11, A_RR=A_RR, A_R1=A_R1, y_sumsq=float(yw @ yw)
    )
