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

    def __init__(
        self, ipos: IntArray, keys: IntArray, lower: FloatArray, diag: FloatArray, version: int
    ):
        self._ipos = ipos  # original index -> permuted position
        self._keys = keys  # col * n + row of the strictly lower entries, sorted
        self._lower = lower
        self._diag = diag
        self.n = diag.size
        #: Changes when the ordering (and so :meth:`positions`) changes.
        self.version = version

    def positions(self, rows: IntArray, cols: IntArray) -> IntArray:
        """Where ``H^{-1}[rows, cols]`` lies in :meth:`values` (the same for every
        matrix of the pattern while ``version`` stays; pairs on the pattern only).

        Raises
        ------
        KeyError
            If a pair lies off the factor's pattern.
        """
        r, c = np.broadcast_arrays(self._ipos[rows], self._ipos[cols])
        hi, lo = np.maximum(r, c), np.minimum(r, c)
        key = lo * self.n + hi
        pos = np.minimum(np.searchsorted(self._keys, key), self._keys.size - 1)
        off = hi != lo
        if not np.array_equal(self._keys[pos[off]], key[off]):
            raise KeyError("an entry off the Cholesky factor's pattern was asked for")
        return np.where(off, pos, self._keys.size + hi)

    def values(self) -> FloatArray:
        """The strictly lower entries (permuted order) then the diagonal (see
        :meth:`positions`)."""
        return np.concatenate([self._lower, self._diag])

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
        self._symbolic: tuple[IntArray, IntArray, IntArray] | None = None
        self.version = 0

    def _ordering(self, H: sparse.csc_matrix) -> IntArray:
        same = (
            self._pattern is not None
            and np.array_equal(self._pattern[0], H.indptr)
            and np.array_equal(self._pattern[1], H.indices)
        )
        if not same:
            options = {"SymmetricMode": True}
            lu = splu(H, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options=options)
            p = np.argsort(lu.perm_c).astype(np.int64)
            # Postorder the elimination tree (same fill): parents follow their
            # children, so supernodes can be merged with their parents.
            lu = splu(H[p][:, p], permc_spec="NATURAL", diag_pivot_thresh=0.0, options=options)
            L = sparse.tril(lu.L, k=-1, format="csc")
            L.sort_indices()
            self._perm = p[_postorder(L.indptr, L.indices)]
            self._pattern = (H.indptr.copy(), H.indices.copy())
            self._symbolic = _symbolic_pattern(H, self._perm)
            self.version += 1
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
        L = _on_pattern(sparse.tril(lu.L, k=-1, format="csc"), self._symbolic, n)
        ipos = np.empty(n, dtype=np.int64)
        ipos[p] = np.arange(n)
        keys, lower, diag = _supernodal_takahashi(L, d)
        return SelectedInverse(ipos, keys, lower, diag, self.version)


def _symbolic_pattern(H: sparse.csc_matrix, p: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """The strictly lower pattern of the Cholesky factor of ``H[p][:, p]`` whatever its
    values (``(indptr, indices, keys)``): SuperLU leaves out entries that are exactly
    zero (a correlation that underflows), so the factor of a matrix with ``H``'s pattern
    and generic values (positive, diagonally dominant) gives the fill once."""
    G = sparse.csc_matrix(H, copy=True)
    rng = np.random.default_rng(0)
    G.data = rng.uniform(0.1, 1.0, G.data.size)
    G = G + G.T + sparse.diags(np.asarray(abs(G).sum(axis=0)).ravel() * 2.0 + 1.0)
    G = sparse.csc_matrix(G[p][:, p])
    lu = splu(G, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    L = sparse.tril(lu.L, k=-1, format="csc")
    L.sort_indices()
    n = H.shape[0]
    cols = np.repeat(np.arange(n, dtype=np.int64), np.diff(L.indptr))
    keys = cols * n + L.indices
    return L.indptr.astype(np.int64), L.indices.astype(np.int64), keys


def _on_pattern(
    L: Any, symbolic: tuple[IntArray, IntArray, IntArray] | None, n: int
) -> sparse.csc_matrix:
    """``L`` on the kept symbolic pattern (entries SuperLU left out as zeros put back)."""
    L.sort_indices()
    if symbolic is None:
        return L
    indptr, indices, keys = symbolic
    if L.nnz == keys.size and np.array_equal(L.indptr, indptr):
        return L
    cols = np.repeat(np.arange(n, dtype=np.int64), np.diff(L.indptr))
    pos = np.searchsorted(keys, cols * n + L.indices)
    data = np.zeros(keys.size)
    data[pos] = L.data
    return sparse.csc_matrix((data, indices, indptr), shape=(n, n))


def _postorder(indptr: Any, rows: Any) -> IntArray:
    """A postorder of the elimination tree of a factor with this pattern (the parent of
    column ``j`` is its first row below the diagonal)."""
    n = indptr.size - 1
    count = np.diff(indptr)
    parent = np.full(n, -1, dtype=np.int64)
    has = count > 0
    parent[has] = rows[indptr[:-1][has]]
    # Children lists in CSR form (children in increasing order).
    kids = np.argsort(np.where(has, parent, n), kind="stable")[: int(np.sum(has))]
    start = np.searchsorted(parent[kids], np.arange(n + 1))
    kid_list = kids.tolist()
    start_list = start.tolist()
    order: list[int] = []
    stack = [(int(j), False) for j in np.flatnonzero(~has)[::-1]]
    while stack:  # depth first, a loop over columns (once per pattern)
        j, done = stack.pop()
        if done:
            order.append(j)
            continue
        stack.append((j, True))
        stack.extend((c, False) for c in kid_list[start_list[j] : start_list[j + 1]])
    return np.asarray(order, dtype=np.int64)


def _supernodes(indptr: IntArray, rows: IntArray, n: int) -> IntArray:
    """First columns of the supernodes (and ``n``): runs of columns ``t`` whose pattern
    below the diagonal is ``{t + 1}`` and column ``t + 1``'s (fundamental supernodes),
    then a supernode merged into the next one when that is its parent and the dense
    panel of the two holds at most half again as many entries as the factor there
    (relaxed supernodes: fewer, larger dense blocks; the zeros they add are exact)."""
    count = np.diff(indptr)
    first_row = np.where(count > 0, rows[np.minimum(indptr[:-1], rows.size - 1)], -1)
    t = np.arange(n - 1)
    joins = (count[:-1] == count[1:] + 1) & (first_row[:-1] == t + 1)
    fund = np.concatenate([[0], np.flatnonzero(~joins) + 1, [n]]).astype(np.int64)
    # Relaxation: a loop over the fundamental supernodes, integers only.
    last_count = count[fund[1:] - 1].tolist()  # |R| of each fundamental supernode
    parent_col = first_row[fund[1:] - 1].tolist()  # first row below its last column
    starts = fund.tolist()
    out = [0]
    for K in range(fund.size - 2):
        f, e_next = out[-1], starts[K + 2]
        if parent_col[K] != starts[K + 1]:  # the next supernode is not the parent
            out.append(starts[K + 1])
            continue
        w = e_next - f
        r = last_count[K + 1]
        dense = w * (w - 1) // 2 + w * r
        stored = int(indptr[e_next] - indptr[f])
        if dense > 1.5 * stored + 16 * w:
            out.append(starts[K + 1])
    out.append(n)
    return np.asarray(out, dtype=np.int64)


def _supernodal_takahashi(L: Any, d: FloatArray) -> tuple[IntArray, FloatArray, FloatArray]:
    """``(keys, lower, diag)`` of ``(L D L')^{-1}`` on ``L``'s pattern, ``keys = col * n +
    row`` of the strictly lower entries (sorted).  Supernode by supernode from the last:
    with ``J`` its columns and ``R`` the rows below them, ``Z_RJ = -Z_RR L_RJ L_JJ^{-1}``,
    ``Z_JJ = (L_JJ^{-T} D_J^{-1} - Z_RJ' L_RJ) L_JJ^{-1}``.  ``R`` lies within the
    parent supernode's ``J u R`` (the factor's pattern is chordal), so ``Z_RR`` is one
    gather from the parent's dense ``Z[J u R, J u R]``, kept until its last child is done.
    """
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
    # Parent supernode: the one holding the first row below the supernode's last column.
    last = first[1:] - 1
    has_parent = np.diff(indptr)[last] > 0
    parent = np.full(n_sup, -1, dtype=np.int64)
    parent[has_parent] = sup_of[rows[indptr[last[has_parent]]]]
    children = np.bincount(parent[has_parent], minlength=n_sup)
    kept: dict[int, tuple[IntArray, FloatArray]] = {}  # J u R and Z[J u R, J u R]
    diag = np.empty(n)
    lower = np.empty(rows.size)
    for K in range(n_sup - 1, -1, -1):  # a loop over supernodes, dense blocks inside
        f, e = int(first[K]), int(first[K + 1])
        w = e - f
        a, b = int(indptr[f]), int(indptr[e])
        # R: the rows below the last column; every column's rows lie in J u R.
        R = rows[indptr[e - 1] : b]
        r = R.size
        here = np.concatenate([np.arange(f, e, dtype=np.int64), R])
        pos = np.searchsorted(here, rows[a:b])
        cj = cols[a:b] - f
        panel = np.zeros((w + r, w))
        panel[pos, cj] = vals[a:b]
        Ljj = panel[:w]
        Ljj[np.arange(w), np.arange(w)] = 1.0
        Lrj = panel[w:]
        inv_ljj = dtrtri(Ljj, lower=1, unitdiag=1)[0]
        keep = bool(children[K])
        full = np.empty((w + r, w + r) if keep else (w + r, w))
        if r:
            P = int(parent[K])
            prow, pfull = kept[P]
            at = np.searchsorted(prow, R)
            Zrr = pfull[np.ix_(at, at)]
            children[P] -= 1
            if children[P] == 0:
                del kept[P]
            Zrj = -(Zrr @ Lrj) @ inv_ljj
            Zjj = (inv_ljj.T / d[f:e][None, :] - Zrj.T @ Lrj) @ inv_ljj
            full[w:, :w] = Zrj
            if keep:  # the children gather their Z_RR from this block
                full[w:, w:] = Zrr
                full[:w, w:] = Zrj.T
        else:
            Zjj = inv_ljj.T / d[f:e][None, :] @ inv_ljj
        full[:w, :w] = 0.5 * (Zjj + Zjj.T)
        if keep:
            kept[K] = (here, full)
        diag[f:e] = np.diagonal(full)[:w]
        lower[a:b] = full[pos, cj]
    return keys, lower, diag
