"""Selected inverse of a sparse symmetric positive definite matrix (Takahashi's
equations): the entries of ``H^{-1}`` on the pattern of ``H``'s Cholesky factor, which
holds every entry of ``H`` itself.  The spatial GLMM's gradient needs ``diag(H^{-1})``
(the leverages of the Laplace log-determinant) and ``H^{-1}`` on the cliques of the
NNGP precision (``tr(H^{-1} dQ)``), never the dense inverse.

With ``P H P' = L D L'`` (``L`` unit lower triangular) and ``Z = (P H P')^{-1}``, for
``j = n-1, ..., 0`` and ``S`` the rows below the diagonal of column ``j`` of ``L``:
``Z[S, j] = -Z[S, S] L[S, j]`` and ``Z[j, j] = 1 / d_j - L[S, j]' Z[S, j]``; ``Z[S, S]``
lies on the pattern already computed (the factor's pattern is chordal).  The loop runs
over columns, each step vectorised over its ``|S|^2`` entries.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse.linalg import splu

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = ["SelectedInverse", "SelectedInverter"]


class SelectedInverse:
    """Entries of ``H^{-1}`` on the factor's pattern, looked up in ``H``'s own indexing."""

    def __init__(self, ipos: IntArray, keys: IntArray, lower: FloatArray, diag: FloatArray):
        self._ipos = ipos  # original index -> permuted position
        self._keys = keys  # col * n + row of the strictly lower entries, sorted
        self._lower = lower
        self._diag = diag
        self.n = diag.size

    def diagonal(self) -> FloatArray:
        """``diag(H^{-1})`` in ``H``'s indexing."""
        return self._diag[self._ipos]

    def entries(self, rows: IntArray, cols: IntArray) -> FloatArray:
        """``H^{-1}[rows, cols]`` (any shape) for pairs on the pattern (all entries of
        ``H`` and of its Cholesky factor).

        Raises
        ------
        KeyError
            If a pair lies off the factor's pattern.
        """
        r, c = np.broadcast_arrays(self._ipos[rows], self._ipos[cols])
        hi, lo = np.maximum(r, c), np.minimum(r, c)
        out = np.empty(r.shape)
        on = hi == lo
        out[on] = self._diag[hi[on]]
        key = lo[~on] * self.n + hi[~on]
        pos = np.searchsorted(self._keys, key)
        pos = np.minimum(pos, self._keys.size - 1)
        if not np.array_equal(self._keys[pos], key):
            raise KeyError("an entry off the Cholesky factor's pattern was asked for")
        out[~on] = self._lower[pos]
        return out


class SelectedInverter:
    """Selected inverses of matrices of one pattern: the fill-reducing ordering (SuperLU's
    minimum degree on ``H + H'``) is found once and kept."""

    def __init__(self) -> None:
        self._pattern: tuple[Any, Any] | None = None
        self._perm: IntArray | None = None

    def _ordering(self, H: sparse.csc_matrix) -> IntArray:
        same = (
            self._pattern is not None
            and np.array_equal(self._pattern[0], H.indptr)
            and np.array_equal(self._pattern[1], H.indices)
        )
        if not same:
            lu = splu(
                H,
                permc_spec="MMD_AT_PLUS_A",
                diag_pivot_thresh=0.0,
                options={"SymmetricMode": True},
            )
            self._perm = np.argsort(lu.perm_c).astype(np.int64)
            self._pattern = (H.indptr.copy(), H.indices.copy())
        assert self._perm is not None
        return self._perm

    def __call__(self, H: sparse.spmatrix) -> SelectedInverse:
        """The selected inverse of ``H`` (symmetric positive definite).

        Raises
        ------
        numpy.linalg.LinAlgError
            If ``H`` is not positive definite.
        """
        H = sparse.csc_matrix(H)
        H.sort_indices()
        p = self._ordering(H)
        n = H.shape[0]
        lu = splu(
            H[p][:, p],
            permc_spec="NATURAL",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
        d = lu.U.diagonal()
        if not np.all(d > 0):
            raise np.linalg.LinAlgError("matrix not positive definite")
        L = sparse.tril(lu.L, k=-1, format="csc")
        L.sort_indices()
        ipos = np.empty(n, dtype=np.int64)
        ipos[p] = np.arange(n)
        keys, lower, diag = _supernodal_takahashi(L, d)
        return SelectedInverse(ipos, keys, lower, diag)


_GROUPS_BY_KEY = 30  # ancestors above which Z_RR is gathered by key, not block by block
_TRIL: dict[int, tuple[IntArray, IntArray]] = {}


def _tril_index(r: int) -> tuple[IntArray, IntArray]:
    """``numpy.tril_indices(r, -1)``, cached."""
    hit = _TRIL.get(r)
    if hit is None:
        ii, jj = np.tril_indices(r, -1)
        hit = (ii.astype(np.int64), jj.astype(np.int64))
        if r <= 512:
            _TRIL[r] = hit
    return hit


def _supernodes(indptr: IntArray, rows: IntArray, n: int) -> IntArray:
    """First columns of the supernodes (and ``n``): runs of columns ``t`` whose pattern
    below the diagonal is ``{t + 1}`` and column ``t + 1``'s."""
    count = np.diff(indptr)
    first_row = np.where(count > 0, rows[np.minimum(indptr[:-1], rows.size - 1)], -1)
    t = np.arange(n - 1)
    joins = (count[:-1] == count[1:] + 1) & (first_row[:-1] == t + 1)
    return np.concatenate([[0], np.flatnonzero(~joins) + 1, [n]]).astype(np.int64)


def _supernodal_takahashi(L: Any, d: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
    """``(keys, lower, diag)`` of ``(L D L')^{-1}`` on ``L``'s pattern, ``keys = col * n +
    row`` of the strictly lower entries (sorted).  Supernode by supernode from the last:
    with ``J`` its columns and ``R`` the rows below them, ``Z_RJ = -Z_RR L_RJ L_JJ^{-1}``,
    ``Z_JJ = (L_JJ^{-T} D_J^{-1} - Z_RJ' L_RJ) L_JJ^{-1}``; ``Z_RR`` is gathered from the
    blocks of the supernodes ``R`` falls in (done before: they come later)."""
    from scipy.linalg.lapack import dtrtri

    n = d.size
    indptr = L.indptr.astype(np.int64)
    rows = L.indices.astype(np.int64)
    vals = L.data
    cols = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    keys = cols * n + rows  # sorted: by column, then row
    first = _supernodes(indptr, rows, n)
    n_sup = first.size - 1
    sup_of = np.repeat(np.arange(n_sup), np.diff(first))
    block_rows: list[IntArray] = [np.empty(0, np.int64)] * n_sup  # J then R, sorted
    blocks: list[FloatArray] = [np.empty((0, 0))] * n_sup  # Z[J u R, J]
    diag = np.empty(n)
    lower = np.empty(rows.size)
    for K in range(n_sup - 1, -1, -1):  # a loop over supernodes, dense blocks inside
        f, e = int(first[K]), int(first[K + 1])
        w = e - f
        a, b = int(indptr[f]), int(indptr[e])
        # Column f holds rows f+1..e-1 then R; the others are nested in it.
        R = rows[a + (w - 1) : indptr[f + 1]]
        r = R.size
        here = np.concatenate([np.arange(f, e, dtype=np.int64), R])
        pos = np.searchsorted(here, rows[a:b])
        cj = cols[a:b] - f
        panel = np.zeros((w + r, w))
        panel[pos, cj] = vals[a:b]
        Ljj = panel[:w]
        Ljj[np.arange(w), np.arange(w)] = 1.0
        Lrj = panel[w:]
        Zrr = np.empty((r, r))
        if r:
            groups = sup_of[R]
            cuts = np.concatenate([[0], np.flatnonzero(np.diff(groups)) + 1, [r]])
            if cuts.size - 1 > _GROUPS_BY_KEY:
                # Many ancestors: one lookup of the lower triangle by key (those
                # supernodes' entries are already in `lower`).
                ii, jj = _tril_index(r)
                at = np.searchsorted(keys, R[jj] * n + R[ii])
                got = lower[at]
                Zrr[ii, jj] = got
                Zrr[jj, ii] = got
                Zrr[np.arange(r), np.arange(r)] = diag[R]
            else:
                for g0, g1 in itertools.pairwise(cuts.tolist()):  # ancestors of R
                    A = int(groups[g0])
                    at = np.searchsorted(block_rows[A], R[g0:])
                    part = blocks[A][at][:, R[g0:g1] - first[A]]
                    Zrr[g0:, g0:g1] = part
                    Zrr[g0:g1, g1:] = part[g1 - g0 :].T
        inv_ljj = dtrtri(Ljj, lower=1, unitdiag=1)[0]
        Zrj = -(Zrr @ Lrj) @ inv_ljj
        Zjj = (inv_ljj.T / d[f:e][None, :] - Zrj.T @ Lrj) @ inv_ljj
        Zjj = 0.5 * (Zjj + Zjj.T)
        block = np.vstack([Zjj, Zrj])
        block_rows[K], blocks[K] = here, block
        diag[f:e] = np.diagonal(Zjj)
        lower[a:b] = block[pos, cj]
    return keys, lower, diag
