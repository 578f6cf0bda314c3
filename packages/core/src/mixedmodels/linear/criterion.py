"""The profiled criterion of a linear mixed model over blocked cross-products.

Notation follows Bates et al. (2015), "Fitting Linear Mixed-Effects Models Using lme4":
``b = Lambda(theta) u``, ``u ~ N(0, sigma^2 I)``.  The random-effect terms are sorted by
number of levels (largest first).  The first term's block of ``Z'Z`` is block diagonal
(one ``p1 x p1`` block per level) and is eliminated analytically; everything else —
the other terms, ``X`` and ``y`` — forms one dense block ``R`` of size ``m``.  Its Schur
complement after eliminating the first term is

    S(theta) = Lambda_R' (A_RR - G(theta_1)) Lambda_R + I_RE,
    G(theta_1) = A_R1 W(theta_1) A_R1',   W_j = l1 (l1' A11_j l1 + I)^-1 l1'

and one dense Cholesky of ``S`` gives every piece of the criterion.  ``W_j`` depends on
level ``j`` only through its block ``A11_j``, so levels with equal blocks form classes
and ``G`` is a fixed linear map of the per-class ``W``: ``vec(G) = V w``, with ``V``
precomputed once (sparse or dense).  An evaluation therefore costs one product with
``V`` and one dense Cholesky of size ``m``, independent of the number of rows and of the
number of levels of the first term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray

from ..errors import ModelSpecificationError
from ..interfaces import FloatArray
from .cross_products import CrossProducts, lmm_cross_products
from .layout import Evaluation, TermData, ThetaLayout, profiled_objective

__all__ = ["Evaluation", "LMMProblem", "TermData", "ThetaLayout"]

# Budget for a dense per-class cross-product store (entries); beyond it V is sparse.
_DENSE_V_ENTRIES = 48_000_000
# Problems with at most this many per-level outer-product entries build V densely.
_SMALL_DENSE_ENTRIES = 200_000
# Number of level-pairs generated per chunk while building V (bounds peak memory).
_PAIR_CHUNK = 4_000_000
# A scalar first term whose A_R1 is at least this dense builds V by one dense product
# per class (BLAS syrk), not by sparse products (break-even measured near 0.03: with
# 600 of 1,000 crossed levels per level, 10^8 rows, the sparse product is ~40x slower).
_DENSE_CLASS_DENSITY = 0.04
# ... when V then has at most this many entries (lower triangles times classes), and
# at most this many classes (a Python loop over them), and levels per dense block.
_DENSE_CLASS_ENTRIES = 160_000_000
_DENSE_CLASS_MAX = 2_000
_DENSE_CLASS_CHUNK = 2_048

_syrk = sla.blas.dsyrk

# Two-stage factorisation (``LMMProblem._setup_split``): fewest columns of the second
# term, most trailing columns (or an eighth of the block), and stored first stages.
_SPLIT_MIN_LEAD = 256
_SPLIT_MAX_TRAIL = 64
_LEAD_CACHE = 8

# Distance from a bound at which the gradient is taken on boundary fits.
_BOUNDARY_STEP = 1e-7

_potrf = sla.lapack.dpotrf
_trtrs = sla.lapack.dtrtrs
_trtri = sla.lapack.dtrtri


def _batched_inverse_logdet(T: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Inverses and log-determinants of a stack of small matrices ``(c, k, k)``.

    Closed forms for k <= 2 (valid for any invertible matrix): numpy's batched LAPACK
    calls cost more in overhead than the arithmetic for the tiny blocks of a term.
    Larger blocks must be symmetric positive definite.
    """
    k = T.shape[-1]
    if k == 1:
        return 1.0 / T, np.log(T[:, 0, 0])
    if k == 2:
        a, b, c, d = T[:, 0, 0], T[:, 0, 1], T[:, 1, 0], T[:, 1, 1]
        det = a * d - b * c
        inv = np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], -2) / det[:, None, None]
        return inv, np.log(det)
    chol = np.linalg.cholesky(T)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    return np.asarray(np.linalg.inv(T), dtype=np.float64), np.asarray(logdet, dtype=np.float64)


@dataclass
class _CompactMap:
    """A linear map into ``R^(m*m)`` stored on its nonzero output rows only.

    A CSR matrix's product loops over every row, empty or not; the lower triangle of
    ``G`` has far fewer nonzero positions than ``m * m``, so products run on the
    compacted matrix and scatter into the output.
    """

    rows: np.ndarray
    matrix: Any  # dense ndarray or CSR, shape (len(rows), n_inputs)

    @classmethod
    def from_full(cls, full: Any) -> _CompactMap:
        if isinstance(full, sp.csr_matrix):
            csr = full
            rows = np.flatnonzero(np.diff(csr.indptr))
            return cls(rows, csr[rows])
        rows = np.flatnonzero(np.any(full != 0.0, axis=1))
        return cls(rows, np.ascontiguousarray(full[rows]))

    def add_product(self, w: FloatArray, out: FloatArray) -> None:
        """``out += M @ w``."""
        out[self.rows] += self.matrix @ np.ascontiguousarray(w)

    def adjoint(self, v: FloatArray) -> FloatArray:
        """``M' @ v``."""
        return np.asarray(self.matrix.T @ v[self.rows])


class LMMProblem(ThetaLayout):
    """Stored cross-products of ``[Z X y]`` and the profiled deviance / REML criterion.

    Parameters
    ----------
    X
        ``(n, p)`` full-rank fixed-effects matrix.
    y
        ``(n,)`` response (offset already subtracted).
    terms
        Random-effect terms, sorted by number of levels, largest first.
    weights
        Prior weights or ``None``.
    """

    # Columns of the second term when the block is factored in two stages (0: not).
    _split = 0

    def __init__(
        self,
        X: FloatArray,
        y: FloatArray,
        terms: list[TermData],
        weights: FloatArray | None = None,
    ) -> None:
        if not terms:
            raise ModelSpecificationError(
                "a linear mixed model needs at least one random-effect term"
            )
        self._set_data(X, terms, weights)
        self._setup(lmm_cross_products(X, y, terms, weights, dense=False))

    @classmethod
    def from_cross_products(
        cls, products: CrossProducts, terms: list[TermData], p: int
    ) -> LMMProblem:
        """The criterion of summed cross-products (:func:`lmm_cross_products` of the
        blocked kind); ``terms`` give the layout only (their rows may be empty)."""
        if not terms:
            raise ModelSpecificationError(
                "a linear mixed model needs at least one random-effect term"
            )
        self = cls.__new__(cls)
        self._set_sizes(products.n, p, terms, products.log_weights_sum)
        self._setup(products)
        return self

    def _setup(self, products: CrossProducts) -> None:
        """Everything the evaluations need, from the cross-products."""
        terms = self.terms
        first, rest = terms[0], terms[1:]
        p = self.p
        self.p1 = first.dim
        self.n1 = first.n_levels
        self.q_rest = sum(t.q for t in rest)
        self.m = self.q_rest + p + 1
        # Offsets of each non-first term inside the R block.
        self.rest_offsets = np.cumsum([0] + [t.q for t in rest]).tolist()

        # --- first term: per-level p1 x p1 blocks, grouped into classes -------------
        p1 = self.p1
        assert products.A11 is not None and products.A_RR is not None
        A11 = products.A11
        self.A11 = A11
        blocks, cls, counts = np.unique(
            A11.reshape(self.n1, p1 * p1), axis=0, return_inverse=True, return_counts=True
        )
        self.class_A = blocks.reshape(-1, p1, p1)
        self.level_class = cls.ravel()
        self.class_counts = counts.astype(np.float64)
        self.n_classes = len(counts)

        # --- R block: [Z_2 ... Z_K X y]' [Z_2 ... Z_K X y] --------------------------
        self.A_RR = products.A_RR
        self.y_sumsq = float(products.y_sumsq)
        # --- A_R1 = [Z_R X y]' Z_1 (m x q1), sparse in its RE rows -------------------
        self.A_R1 = sp.csc_matrix(products.A_R1)
        self._build_V()
        # Operators used at every solve; dense when small (sparse overheads dominate).
        if self.m * first.q <= 200_000:
            dense_A = self.A_R1.toarray()
            self._A_R1_T: Any = np.ascontiguousarray(dense_A.T)
            self._A_R1_RE: Any = dense_A[: self.q_rest]
        else:
            self._A_R1_T = self.A_R1.T.tocsr()
            self._A_R1_RE = self.A_R1.tocsr()[: self.q_rest]
        self._rest_scalar = all(t.dim == 1 for t in terms[1:])
        self._diag_re = np.arange(self.q_rest)
        self._theta_lower = np.concatenate([t.structure.bounds()[0] for t in terms])
        self._eye_p1 = np.eye(self.p1)
        self._setup_split()

    def _setup_split(self) -> None:
        """Where every other term is scalar and the second term holds nearly all of the
        dense block (InstEval: 1,128 of 1,159 columns), the block is factored in two
        stages: the second term's columns, which depend on the first two terms' theta
        only, then the small trailing Schur complement (the later terms, X and y).  The
        first stage is kept for the last few values of those two thetas, so that a
        change of the later terms' theta alone costs a factorisation of the trailing
        block only (decision 0036)."""
        self._split = 0
        self._lead_cache: dict[bytes, tuple[float, FloatArray]] = {}
        if len(self.terms) < 3 or not self._rest_scalar or self.p1 != 1:
            return
        lead = self.terms[1].q
        if lead < _SPLIT_MIN_LEAD or self.m - lead > max(_SPLIT_MAX_TRAIL, self.m // 8):
            return
        self._split = lead
        self._lead_theta = self._theta_index[2]  # theta of terms 0 and 1
        # The first stage works in one buffer laid out as the second term's k x k block
        # (C order, so that its lower triangle is LAPACK's upper one in place) followed
        # by the trailing rows (m - k) x m: no copies of the m x m block per evaluation.
        # G's map writes straight into that layout; A_RR's lower triangle is the base.
        m, k = self.m, lead
        (key,) = self._VT  # p1 == 1: the one component pair (0, 0)
        vmap = self._VT[key]
        r, s = np.divmod(vmap.rows, m)
        rows = np.where(r < k, r * k + s, k * k + (r - k) * m + s)
        self._split_map = _CompactMap(rows.astype(np.int64), vmap.matrix)
        base = np.empty(k * k + (m - k) * m)
        base[: k * k] = self.A_RR[:k, :k].ravel()
        base[k * k :] = self.A_RR[k:, :].ravel()
        self._split_base = base
        self._split_work = np.empty_like(base)
        # A single grouping factor's own block is diagonal (InstEval's instructors):
        # with the first term's theta at zero (G = 0) the first stage is diagonal too.
        A_LL = self.A_RR[:k, :k]
        self._lead_diagonal = not np.any(A_LL - np.diag(np.diag(A_LL)))

    @property
    def cheap_theta(self) -> NDArray[np.bool_] | None:
        """Mask of the parameters whose change alone costs only the trailing
        factorisation (:meth:`_setup_split`), or ``None``."""
        if not self._split:
            return None
        mask = np.zeros(self.n_theta, dtype=bool)
        mask[self._lead_theta :] = True
        return mask

    # ------------------------------------------------------------------------------
    def _build_V(self) -> None:
        """Precompute the linear maps from per-class ``W`` to the lower triangle of ``G``.

        For each component pair ``(k, l)`` of the first term, row ``c`` of ``VT[k, l]``
        holds the lower triangle of ``P_ckl = sum_{j in class c} a_jk a_jl'`` (``a_jk``:
        column ``(j, k)`` of ``A_R1``), flattened row-major over ``m x m``.  All classes
        come out of one sparse product: a copy of ``A_R1`` whose rows are shifted by
        ``class(j) * m``, times ``A_R1'``; its lower-triangle entries, taken as
        ``(r * m + s, c)``, are stored by one counting sort (COO to CSR) as the map's
        rows, each position's classes in increasing order.
        """
        m, p1 = self.m, self.p1
        ncls = self.n_classes
        if self.n1 * m * m * p1 * p1 <= _SMALL_DENSE_ENTRIES:
            # Small problems: dense outer products summed by class (sparse overheads
            # would dominate).
            Ad = self.A_R1.toarray().reshape(m, self.n1, p1)
            low = np.tril(np.ones((m, m), dtype=bool)).ravel()
            self._VT: dict[tuple[int, int], _CompactMap] = {}
            for k in range(p1):
                for l_ in range(p1):
                    outer = np.einsum("rj,sj->jrs", Ad[:, :, k], Ad[:, :, l_]).reshape(self.n1, -1)
                    per_class = np.zeros((ncls, m * m))
                    np.add.at(per_class, self.level_class, outer)
                    per_class[:, ~low] = 0.0
                    self._VT[(k, l_)] = _CompactMap.from_full(per_class.T)
            return
        if self._build_V_dense_classes():
            return
        A = self.A_R1.tocsc()
        # Chunks of classes bound the size of one product (~ sum of e_j^2 per class).
        entries = np.diff(A.indptr).reshape(self.n1, p1).sum(axis=1).astype(np.int64)
        class_work = np.bincount(self.level_class, weights=entries**2, minlength=ncls)
        chunk_of_class = (np.cumsum(class_work) // _PAIR_CHUNK).astype(np.int64)
        level_chunk = chunk_of_class[self.level_class]
        # Per component pair: the lower triangle's entries as (position r*m + s, class,
        # value), in class order within each position.
        parts: dict[tuple[int, int], list[tuple[Any, Any, Any]]] = {
            (k, l_): [] for k in range(p1) for l_ in range(p1)
        }
        for chunk in np.unique(chunk_of_class).tolist():
            levels = np.flatnonzero(level_chunk == chunk)
            chunk_classes = np.flatnonzero(chunk_of_class == chunk)
            first_class, n_chunk_classes = int(chunk_classes[0]), chunk_classes.size
            cls = self.level_class[levels] - first_class
            n_rows = n_chunk_classes * m
            row_r = np.arange(n_rows) % m
            row_c = np.arange(n_rows) // m + first_class
            for k in range(p1):
                Ak = A[:, levels * p1 + k].tocoo()
                shifted = sp.csr_matrix(
                    (Ak.data, (cls[Ak.col] * m + Ak.row, Ak.col)),
                    shape=(n_rows, levels.size),
                )
                for l_ in range(p1):
                    # rows (class, r) in class-major order, columns s
                    prod = (shifted @ A[:, levels * p1 + l_].T).tocsr()
                    counts = np.diff(prod.indptr)
                    r = np.repeat(row_r, counts)
                    keep = r >= prod.indices  # lower triangle of G
                    pos = r[keep].astype(np.int64) * m + prod.indices[keep]
                    parts[(k, l_)].append((pos, np.repeat(row_c, counts)[keep], prod.data[keep]))
        dense = ncls * m * m <= _DENSE_V_ENTRIES
        self._VT = {}
        for key, chunks in parts.items():
            pos, cls_, data = (np.concatenate(x) for x in zip(*chunks, strict=True))
            # A counting sort by position keeps each position's entries in class order
            # (evaluations compute g = V w: V is stored by rows in CSR), then only the
            # positions with entries are kept.
            V = sp.csr_matrix((data, (pos, cls_)), shape=(m * m, ncls))
            rows = np.flatnonzero(np.diff(V.indptr))
            indptr = np.concatenate([V.indptr[rows], V.indptr[-1:]])
            compact = sp.csr_matrix((V.data, V.indices, indptr), shape=(rows.size, ncls))
            self._VT[key] = _CompactMap(rows, compact.toarray() if dense else compact)

    def _build_V_dense_classes(self, force: bool = False) -> bool:
        """:meth:`_build_V` for a scalar first term with a dense ``A_R1``: per class,
        ``P_c = A_c A_c'`` by BLAS (``A_c``: the class's columns, dense, in chunks).
        Returns whether it applied."""
        m, ncls = self.m, self.n_classes
        A = self.A_R1.tocsc()
        lower = m * (m + 1) // 2
        dense_enough = A.nnz >= _DENSE_CLASS_DENSITY * m * self.n1
        if self.p1 != 1 or ncls > _DENSE_CLASS_MAX or ncls * lower > _DENSE_CLASS_ENTRIES:
            return False
        if not (dense_enough or force):
            return False
        r, s = np.tril_indices(m)
        V = np.empty((lower, ncls))
        order = np.argsort(self.level_class, kind="stable")
        bounds = np.searchsorted(self.level_class[order], np.arange(ncls + 1))
        for c in range(ncls):  # a loop over classes (few), each a BLAS product
            levels = order[bounds[c] : bounds[c + 1]]
            P = np.zeros((m, m), order="F")
            for start in range(0, levels.size, _DENSE_CLASS_CHUNK):
                block = A[:, levels[start : start + _DENSE_CLASS_CHUNK]].toarray()
                P = _syrk(1.0, block, beta=1.0, c=P, lower=1, overwrite_c=1)
            V[:, c] = P[r, s]
        self._VT = {(0, 0): _CompactMap(np.asarray(r * m + s, dtype=np.int64), V)}
        return True

    def _add_G(self, wk: FloatArray, g: FloatArray) -> None:
        """``g += vec(lower(G))`` for per-class ``W`` blocks ``wk`` ``(ncls, p1, p1)``."""
        for (k, l_), vmap in self._VT.items():
            vmap.add_product(wk[:, k, l_], g)

    def _class_Q(self, S_hat: FloatArray) -> FloatArray:
        """Per class ``sum_j B_j' S_hat B_j`` (``B_j``: level ``j``'s columns of A_R1)."""
        p1 = self.p1
        s_low = np.tril(S_hat).ravel()
        s_strict = np.tril(S_hat, -1).ravel()
        Q = np.empty((self.n_classes, p1, p1))
        for k in range(p1):
            for l_ in range(p1):
                Q[:, k, l_] = self._VT[(k, l_)].adjoint(s_low) + self._VT[(l_, k)].adjoint(s_strict)
        return Q

    # ------------------------------------------------------------------------------
    def _scale_vector(self, lambdas: list[FloatArray]) -> FloatArray:
        """Diagonal of Lambda_R when every non-first term is scalar."""
        scale = np.ones(self.m)
        for t, lam, off in zip(self.terms[1:], lambdas[1:], self.rest_offsets, strict=False):
            scale[off : off + t.q] = lam[0, 0]
        return scale

    def _scale_R(self, M: FloatArray, lambdas: list[FloatArray]) -> FloatArray:
        """``Lambda_R' M Lambda_R`` for the symmetric ``m x m`` matrix ``M``."""
        for t, lam, off in zip(self.terms[1:], lambdas[1:], self.rest_offsets, strict=False):
            sl = slice(off, off + t.q)
            if t.dim == 1:
                s = lam[0, 0]
                M[sl, :] *= s
                M[:, sl] *= s
            else:
                blk = M[sl, :].reshape(t.n_levels, t.dim, self.m)
                M[sl, :] = np.einsum("ji,njm->nim", lam, blk).reshape(t.q, self.m)
                blk = M[:, sl].reshape(self.m, t.n_levels, t.dim)
                M[:, sl] = np.einsum("mnj,ji->mni", blk, lam).reshape(self.m, t.q)
        return M

    def evaluate(
        self, theta: FloatArray, reml: bool, need_factor: bool = True
    ) -> Evaluation | None:
        """The criterion and its factor at ``theta``; ``None`` if S is not PD.

        With ``need_factor=False`` (the optimiser's calls) the returned ``L`` may be the
        factor of ``D^-1 S D^-1`` for the diagonal ``D = Lambda_R``, which skips two
        passes over the dense block; only the criterion is then meaningful.
        """
        theta = np.asarray(theta, dtype=np.float64)
        lambdas = self.lambdas(theta)
        l1 = lambdas[0]
        p1 = self.p1
        if p1 == 1:
            s2 = l1[0, 0] ** 2
            T = s2 * self.class_A + 1.0
            logdet1 = float(np.sum(self.class_counts * np.log(T[:, 0, 0])))
            w = s2 / T[:, 0, 0]
        else:
            T = l1.T @ self.class_A @ l1 + self._eye_p1
            Tinv, logdets = _batched_inverse_logdet(T)
            logdet1 = float(self.class_counts @ logdets)
            # W_c = l1 T_c^-1 l1'
            w = (l1 @ Tinv @ l1.T).reshape(-1)
        m = self.m
        wk = w.reshape(-1, p1, p1)
        g = np.zeros(m * m)
        self._add_G(wk, g)
        # S = Lambda_R' (A_RR - G) Lambda_R + I_RE, built in place in g's buffer.  Only
        # the lower triangle of G is stored; when every other term is scalar, Lambda_R
        # is diagonal and the lower triangle of S is all the factorisation reads.
        S = g.reshape(m, m)
        q = self.q_rest
        logdet_scale = 0.0
        if self._rest_scalar:
            np.subtract(self.A_RR, S, out=S)
            scale = self._scale_vector(lambdas)
            if not need_factor and np.all(scale[:q] > 0):
                # chol(D M D + I) = D chol(M + D^-2): no scaling passes over M.
                S[self._diag_re, self._diag_re] += scale[:q] ** -2
                logdet_scale = 2.0 * float(np.sum(np.log(scale[:q])))
            else:
                S *= scale[:, None]
                S *= scale[None, :]
                S[self._diag_re, self._diag_re] += 1.0
        else:
            S += np.tril(S, -1).T
            S = self._scale_R(self.A_RR - S, lambdas)
            S[self._diag_re, self._diag_re] += 1.0
        # A C-ordered symmetric S is its own transpose in Fortran order: factor S.T as
        # upper (U'U = S) without copying; U.T is the lower factor L.
        U, info = _potrf(S.T, lower=0, clean=1, overwrite_a=1)
        if info != 0:
            return None
        L = U.T
        d = np.diag(L)
        if not (d[:-1].min(initial=1.0) > 0.0 and np.isfinite(d.sum())):
            return None
        logdet_L = logdet1 + logdet_scale + 2.0 * float(np.sum(np.log(d[:q])))
        logdet_RX = 2.0 * float(np.sum(np.log(d[q : q + self.p])))
        pwrss = float(d[-1] ** 2)
        obj = profiled_objective(logdet_L, logdet_RX, pwrss, self.n, self.p, reml)
        obj -= self.log_weights_sum
        return Evaluation(theta, float(obj), logdet_L, logdet_RX, pwrss, L, T, lambdas)

    def objective(self, theta: FloatArray, reml: bool) -> float:
        if self._split:
            return self._split_objective(np.asarray(theta, dtype=np.float64), reml)
        ev = self.evaluate(theta, reml, need_factor=False)
        return np.inf if ev is None else ev.objective

    def _lead_stage(self, theta: FloatArray) -> tuple[float, FloatArray] | None:
        """``log|S_LL|`` and the trailing Schur complement before the trailing terms'
        scaling, ``N = M_TT - M_TL D_L S_LL^-1 D_L M_LT``, with ``M = A_RR - G``
        (``L``: the second term's columns, ``T``: the rest)."""
        key = theta[: self._lead_theta].tobytes()
        hit = self._lead_cache.get(key)
        if hit is not None:
            return hit
        lambdas = self.lambdas(theta)
        s2 = lambdas[0][0, 0] ** 2
        T = s2 * self.class_A + 1.0
        w = s2 / T[:, 0, 0]
        m, k = self.m, self._split
        # M = A_RR - G (lower triangle) in the first stage's layout; G's map times -w
        # is exactly -(G's map times w), so M is the one-stage M to the last bit.
        work = self._split_work
        np.copyto(work, self._split_base)
        self._split_map.add_product(-w, work)
        M_LL = work[: k * k].reshape(k, k)
        M_T = work[k * k :].reshape(m - k, m)
        d = float(lambdas[1][0, 0])
        if d == 0.0:  # S_LL = I
            N = np.tril(M_T[:, k:])
            N = N + np.tril(N, -1).T
            return self._store_lead(key, 0.0, N)
        # S_LL = d^2 M_LL + I = d^2 (M_LL + d^-2 I): its factor is d times that of
        # M_LL + d^-2 I (no scaling pass over the block), and L_LL^-1 (d M_LT) is
        # that factor's inverse times M_LT.
        M_LL[np.diag_indices(k)] += d**-2
        if s2 == 0.0 and self._lead_diagonal:
            # A diagonal block: its factor is the square roots of the diagonal and
            # the solve a division (equal to LAPACK's to rounding), no factorisation.
            diag = np.sqrt(np.diag(M_LL))
            if not diag.min() > 0.0:
                return None
            W = M_T[:, :k].T / diag[:, None]
        else:
            U, info = _potrf(M_LL.T, lower=0, clean=0, overwrite_a=1)
            if info != 0:
                return None
            diag = np.diag(U)
            if not diag.min() > 0.0:
                return None
            W, info = _trtrs(U, M_T[:, :k].T, lower=0, trans=1)
            if info != 0:
                return None
        N = np.tril(M_T[:, k:])
        N = N + np.tril(N, -1).T - W.T @ W
        logdet = 2.0 * float(np.sum(np.log(diag))) + k * np.log(d * d)
        return self._store_lead(key, logdet, N)

    def _store_lead(self, key: bytes, logdet: float, N: FloatArray) -> tuple[float, FloatArray]:
        """Keep a first stage for the last :data:`_LEAD_CACHE` leading thetas."""
        out = (float(logdet), N)
        if len(self._lead_cache) >= _LEAD_CACHE:
            self._lead_cache.pop(next(iter(self._lead_cache)))
        self._lead_cache[key] = out
        return out

    def _split_objective(self, theta: FloatArray, reml: bool) -> float:
        """The criterion by the two-stage factorisation of :meth:`_setup_split`."""
        lead = self._lead_stage(theta)
        if lead is None:
            return np.inf
        logdet_lead, N = lead
        lambdas = self.lambdas(theta)
        s2 = lambdas[0][0, 0] ** 2
        logdet1 = float(np.sum(self.class_counts * np.log(s2 * self.class_A[:, 0, 0] + 1.0)))
        k, q = self._split, self.q_rest
        scale = self._scale_vector(lambdas)[k:]
        S = N * scale[:, None]
        S *= scale[None, :]
        n_re = q - k
        S[np.arange(n_re), np.arange(n_re)] += 1.0
        U, info = _potrf(S, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            return np.inf
        d = np.diag(U)
        if not (d[:-1].min(initial=1.0) > 0.0 and np.isfinite(d.sum())):
            return np.inf
        logdet_L = logdet1 + logdet_lead + 2.0 * float(np.sum(np.log(d[:n_re])))
        logdet_RX = 2.0 * float(np.sum(np.log(d[n_re : n_re + self.p])))
        pwrss = float(d[-1] ** 2)
        obj = profiled_objective(logdet_L, logdet_RX, pwrss, self.n, self.p, reml)
        return float(obj - self.log_weights_sum)

    # ------------------------------------------------------------------------------
    def solve(self, ev: Evaluation) -> tuple[FloatArray, list[FloatArray], FloatArray]:
        """Fixed effects, spherical random effects per term ``(n_levels, dim)`` and the
        spherical random effects of the first term, at the evaluation ``ev``."""
        L = ev.L
        q, p = self.q_rest, self.p
        if L.shape[0] > 1:
            sol, _ = _trtrs(L[:-1, :-1], L[-1, :-1], lower=1, trans=1)
        else:  # nothing to solve for (LAPACK refuses an empty matrix, on stderr)
            sol = np.zeros(0)
        u_R, beta = sol[:q], sol[q : q + p]
        # First term: (l1' A11_j l1 + I) u_1j = l1' (A_1y - A_1X beta - A_1R Lambda_R u_R)
        lam_u_R = np.zeros(q)
        for t, lam, off in zip(self.terms[1:], ev.lambdas[1:], self.rest_offsets, strict=False):
            blk = u_R[off : off + t.q].reshape(t.n_levels, t.dim)
            lam_u_R[off : off + t.q] = (blk @ lam.T).ravel()
        coef = np.concatenate([-lam_u_R, -beta, [1.0]])
        r1 = np.asarray(self._A_R1_T @ coef).reshape(self.n1, self.p1)
        rhs = r1 @ ev.lambdas[0]  # rows are (l1' r_j)'
        if self.p1 == 1:
            u1 = rhs / ev.class_T[self.level_class, 0]
        else:
            Tinv, _ = _batched_inverse_logdet(ev.class_T)
            u1 = np.einsum("jab,jb->ja", Tinv[self.level_class], rhs)
        us = [u1]
        for t, off in zip(self.terms[1:], self.rest_offsets, strict=False):
            us.append(u_R[off : off + t.q].reshape(t.n_levels, t.dim))
        return beta, us, u_R

    def gradient(self, theta: FloatArray, reml: bool) -> tuple[float, FloatArray | None]:
        """The criterion and its analytic gradient at ``theta``.

        With ``Omega`` the (augmented, for REML) penalised system and ``r^2`` the
        penalised RSS, ``d = log|Omega| + nu log r^2 + const``; by the envelope theorem
        ``d r^2 / d theta_i = -2 r' Z_k D_i u_k`` and
        ``d log|Omega| / d theta_i = 2 tr(D_i (n_k I - Phi_k) lambda_k^-1)``, where
        ``D_i = d lambda_k / d theta_i`` and ``Phi_k`` is the sum over levels of the
        diagonal blocks of ``Omega^-1`` for term ``k``.  The gradient is ``None`` (use
        finite differences) where a ``lambda_k`` is singular, i.e. on the boundary.
        """
        theta = np.asarray(theta, dtype=np.float64)
        # On the boundary (a singular lambda) the criterion is still smooth in theta but
        # the formula needs lambda^-1: take the gradient a hair inside the box instead.
        lower = self._theta_lower
        near = np.isfinite(lower) & (theta - lower < _BOUNDARY_STEP)
        if np.any(near):
            value = self.objective(theta, reml)
            if not np.isfinite(value):
                return value, None
            ev = self.evaluate(np.where(near, lower + _BOUNDARY_STEP, theta), reml)
        else:
            ev = self.evaluate(theta, reml)
            value = np.inf if ev is None else ev.objective
        if ev is None:
            return value, None
        lambdas = ev.lambdas
        if min(float(np.abs(np.diagonal(lam)).min()) for lam in lambdas) < 1e-12:
            return value, None
        q, p, m, p1 = self.q_rest, self.p, self.m, self.p1
        beta, us, _ = self.solve(ev)
        bs = [u @ lam.T for u, lam in zip(us, lambdas, strict=True)]
        b_R = np.concatenate([b.ravel() for b in bs[1:]]) if q else np.zeros(0)
        coef = np.concatenate([-b_R, -beta, [1.0]])
        # Z_k' r per level from the stored cross-products (r: weighted residuals).
        zr1 = np.asarray(self._A_R1_T @ coef).reshape(self.n1, p1) - np.einsum(
            "jkl,jl->jk", self.A11, bs[0]
        )
        zrs = [zr1]
        if q:
            zrR = self.A_RR[:q] @ coef - np.asarray(self._A_R1_RE @ bs[0].ravel()).ravel()
            for t, off in zip(self.terms[1:], self.rest_offsets, strict=False):
                zrs.append(zrR[off : off + t.q].reshape(t.n_levels, t.dim))
        # Sum of diagonal blocks of Omega^-1 per term.
        s = q + p if reml else q
        phis: list[FloatArray] = []
        Tinv, _ = _batched_inverse_logdet(ev.class_T)
        phi1 = np.einsum("c,cij->ij", self.class_counts, Tinv)
        if s:
            Linv, _ = _trtri(ev.L[:s, :s], lower=1)
            Sinv = Linv.T @ Linv
            # S-hat = Lambda_sub S^-1 Lambda_sub', embedded in the m x m block.
            S_hat = np.zeros((m, m))
            S_hat[:s, :s] = Sinv
            S_hat = self._scale_R(S_hat, [lam.T for lam in lambdas])
            Q = self._class_Q(S_hat)
            l1 = lambdas[0]
            M = Tinv @ l1.T
            phi1 = phi1 + np.einsum("cia,cab,cjb->ij", M, Q, M)
        phis.append(phi1)
        if q:
            for t, off in zip(self.terms[1:], self.rest_offsets, strict=False):
                blk = Sinv[off : off + t.q, off : off + t.q]
                phis.append(
                    np.einsum("jajb->ab", blk.reshape(t.n_levels, t.dim, t.n_levels, t.dim))
                )
        nu = self.n - p if reml else self.n
        grads = []
        for t, lam, th, u, zr, phi in zip(
            self.terms, lambdas, self.split_theta(ev.theta), us, zrs, phis, strict=True
        ):
            D = t.structure.factor_jacobian(th)
            lam_inv = _batched_inverse_logdet(lam[None])[0][0] if t.dim <= 2 else np.linalg.inv(lam)
            N = (t.n_levels * np.eye(t.dim) - phi) @ lam_inv
            dlogdet = 2.0 * np.einsum("iab,ba->i", D, N)
            dr2 = -2.0 * np.einsum("iab,ab->i", D, zr.T @ u)
            grads.append(dlogdet + nu * dr2 / ev.pwrss)
        return value, np.concatenate(grads)

    def vcov_unscaled(self, ev: Evaluation) -> FloatArray:
        """``(X' V0^-1 X)^-1``; multiply by sigma^2 for the covariance of beta-hat."""
        q, p = self.q_rest, self.p
        LX = ev.L[q : q + p, q : q + p]
        inv = sla.solve_triangular(LX, np.eye(p), lower=True)
        return np.asarray(inv.T @ inv)

    def conditional_variances(self, ev: Evaluation) -> list[FloatArray]:
        """Per term ``(n_levels, dim, dim)`` blocks of ``Lambda (Lambda'Z'Z Lambda +
        I)^-1 Lambda'`` (multiply by sigma^2), lme4's ``condVar``."""
        q = self.q_rest
        lambdas = ev.lambdas
        out: list[FloatArray] = []
        Tinv = np.linalg.inv(ev.class_T)[self.level_class]  # (n1, p1, p1)
        l1 = lambdas[0]
        if q == 0:
            cov_u1 = Tinv
        else:
            L_RE = ev.L[:q, :q]
            # B = Lambda_R' A_R1[RE] Lambda_1 T^-1 ; Var(u1) = T^-1 + B' S^-1 B
            A = self.A_R1[:q, :].tocsc()
            M = A @ sp.kron(sp.eye(self.n1), l1, format="csr") if self.p1 > 1 else A * l1[0, 0]
            M = sp.csc_matrix(M)
            extra = np.zeros((self.n1, self.p1, self.p1))
            chunk = max(1, 4_000_000 // max(q, 1) // self.p1)
            for lo in range(0, self.n1, chunk):
                hi = min(self.n1, lo + chunk)
                cols = M[:, lo * self.p1 : hi * self.p1].toarray()
                cols = self._scale_R_rows(cols, lambdas)
                blk = cols.reshape(q, hi - lo, self.p1)
                blk = np.einsum("qnj,njk->qnk", blk, Tinv[lo:hi])
                H = sla.solve_triangular(L_RE, blk.reshape(q, -1), lower=True)
                H = H.reshape(q, hi - lo, self.p1)
                extra[lo:hi] = np.einsum("qni,qnj->nij", H, H)
            cov_u1 = Tinv + extra
        out.append(np.einsum("ij,njk,lk->nil", l1, cov_u1, l1))
        if q:
            Linv = sla.solve_triangular(ev.L[:q, :q], np.eye(q), lower=True)
            for t, lam, off in zip(self.terms[1:], lambdas[1:], self.rest_offsets, strict=False):
                # diag blocks of (L L')^-1 = Linv' Linv, restricted to this term's rows
                blocks = Linv[:, off : off + t.q].reshape(q, t.n_levels, t.dim)
                cov_u = np.einsum("qni,qnj->nij", blocks, blocks)
                out.append(np.einsum("ij,njk,lk->nil", lam, cov_u, lam))
        return out

    def _scale_R_rows(self, M: FloatArray, lambdas: list[FloatArray]) -> FloatArray:
        """``Lambda_RE' M`` for a matrix with the RE rows of the R block."""
        for t, lam, off in zip(self.terms[1:], lambdas[1:], self.rest_offsets, strict=False):
            sl = slice(off, off + t.q)
            if t.dim == 1:
                M[sl] *= lam[0, 0]
            else:
                blk = M[sl].reshape(t.n_levels, t.dim, -1)
                M[sl] = np.einsum("ji,njm->nim", lam, blk).reshape(t.q, -1)
        return M
