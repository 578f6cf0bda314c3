"""The blocked LMM criterion for cross-products that change at every evaluation."""

from __future__ import annotations

import numpy as np

from ..interfaces import FloatArray
from .criterion import LMMProblem
from .layout import TermData

__all__ = ["DirectLMMProblem"]


class DirectLMMProblem(LMMProblem):
    """The blocked criterion with ``G = sum_j B_j W_j B_j'`` formed directly.

    For problems whose cross-products change at every evaluation (a residual structure
    whitens the data anew for each of its parameter values), the precomputed class map
    ``V`` of :class:`LMMProblem` costs more to build than it saves.  When the dense block
    is small, the per-level columns ``B_j`` of ``A_R1`` (``(n1, m, p1)``) are kept
    dense instead and ``G`` is one batched product; everything else is inherited.
    """

    def __init__(
        self,
        X: FloatArray,
        y: FloatArray,
        terms: list[TermData],
        weights: FloatArray | None = None,
        grams: FloatArray | None = None,
    ) -> None:
        if len(terms) != 1 or weights is not None:
            super().__init__(X, y, terms, weights)
            return
        # One term: every cross-product is a handful of bincounts (or given: per-level
        # Gram matrices of [Z X y], ``grams``); no classes (the levels' blocks differ
        # after whitening), no sparse matrices.
        n, p = X.shape
        first = terms[0]
        self.n, self.p = n, p
        self.terms = terms
        self.weights = None
        self.log_weights_sum = 0.0
        p1, n1 = first.dim, first.n_levels
        self.p1, self.n1 = p1, n1
        self.q_rest = 0
        self.m = m = p + 1
        self.rest_offsets = [0]
        if grams is not None:
            self._setup_single(
                first,
                np.ascontiguousarray(grams[:, :p1, :p1]),
                np.ascontiguousarray(grams[:, p1:, :p1]),
                grams[:, p1:, p1:].sum(axis=0),
            )
            return
        codes, Z = first.codes, first.Z
        # Per-level sums by bincount (measured faster than a sparse indicator product
        # or a sorted reduceat for these few columns).
        A11 = np.empty((n1, p1, p1))
        for k in range(p1):
            for l_ in range(k, p1):
                v = np.bincount(codes, weights=Z[:, k] * Z[:, l_], minlength=n1)
                A11[:, k, l_] = v
                A11[:, l_, k] = v
        D = np.column_stack([X, y])
        B = np.empty((n1, m, p1))
        for r in range(m):
            for k in range(p1):
                B[:, r, k] = np.bincount(codes, weights=D[:, r] * Z[:, k], minlength=n1)
        self._setup_single(first, A11, B, D.T @ D)

    def _setup_single(
        self, first: TermData, A11: FloatArray, B: FloatArray, A_RR: FloatArray
    ) -> None:
        n1, p1, m = self.n1, self.p1, self.m
        self.A11 = self.class_A = A11
        self.level_class = np.arange(n1)
        self.class_counts = np.ones(n1)
        self.n_classes = n1
        self.A_RR = A_RR
        self.y_sumsq = float(A_RR[-1, -1])
        self._B = B
        self._VT = {}
        self._low_flat = np.flatnonzero(np.tril(np.ones((m, m), dtype=bool)).ravel())
        self._A_R1_T = np.ascontiguousarray(B.transpose(0, 2, 1).reshape(n1 * p1, m))
        self._A_R1_RE = np.zeros((0, n1 * p1))
        self._theta_index = [0, first.structure.n_params]
        self._rest_scalar = True
        self._diag_re = np.arange(0)
        self._theta_lower = np.asarray(first.structure.bounds()[0], dtype=np.float64)
        self._eye_p1 = np.eye(p1)

    def _build_V(self) -> None:
        m, p1 = self.m, self.p1
        dense = self.A_R1.toarray().reshape(m, self.n1, p1)
        self._B = np.ascontiguousarray(dense.transpose(1, 0, 2))  # (n1, m, p1)
        self._VT = {}
        low = np.tril(np.ones((m, m), dtype=bool))
        self._low_flat = np.flatnonzero(low.ravel())

    def _add_G(self, wk: FloatArray, g: FloatArray) -> None:
        B = self._B
        BW = np.matmul(B, wk[self.level_class])  # (n1, m, p1)
        G = np.tensordot(BW, B, axes=([0, 2], [0, 2]))
        g[self._low_flat] += G.ravel()[self._low_flat]

    def _class_Q(self, S_hat: FloatArray) -> FloatArray:
        B = self._B
        SB = np.matmul(S_hat[None], B)  # (n1, m, p1)
        Qj = np.matmul(B.transpose(0, 2, 1), SB)  # (n1, p1, p1)
        Q = np.zeros((self.n_classes, self.p1, self.p1))
        np.add.at(Q, self.level_class, Qj)
        return Q
