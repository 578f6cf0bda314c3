"""Factorisations of the sparse positive definite matrices of the latent NNGP and the
spatial GLMM (``Q / (1 - g) + Z'Z / g``, ``Z'WZ + Q / sigma^2``): the pattern is the
same at every evaluation (it is the neighbour graph's), so the fill-reducing ordering
and the symbolic analysis are done once per pattern and only the numbers are factored
again.

Two backends:

* ``"cholmod"``: CHOLMOD's supernodal Cholesky through :mod:`cvxopt` (the optional
  ``cholmod`` extra; cvxopt ships wheels with CHOLMOD and BLAS inside): symbolic analysis
  (AMD ordering, elimination tree, supernodes) once, numeric factorisations after.  At
  10^4 locations, m = 15: 0.045 s CPU a factorisation against SuperLU's 0.27.
* ``"superlu"``: :func:`scipy.sparse.linalg.splu` in symmetric mode without pivoting; the
  first factorisation's minimum-degree column ordering is kept and later matrices are
  permuted by it and factored in their natural order (no new ordering).

``backend="auto"`` takes CHOLMOD when cvxopt imports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse.linalg import splu

FloatArray = NDArray[np.float64]

__all__ = ["SparseCholesky", "cholmod_available"]

_BACKENDS = ("auto", "cholmod", "superlu")


def cholmod_available() -> bool:
    """Whether CHOLMOD (through cvxopt) can be imported."""
    try:
        import cvxopt.cholmod  # noqa: F401
    except ImportError:
        return False
    return True


class SparseCholesky:
    """Repeated factorisations of symmetric positive definite matrices of one pattern.

    Parameters
    ----------
    backend
        ``"auto"``, ``"cholmod"`` or ``"superlu"``.

    After :meth:`factor` the attributes ``logdet`` (``log det`` of the matrix) and the
    method :meth:`solve` refer to the last matrix factored.
    """

    def __init__(self, backend: str = "auto") -> None:
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {list(_BACKENDS)}, got {backend!r}")
        if backend == "auto":
            backend = "cholmod" if cholmod_available() else "superlu"
        elif backend == "cholmod" and not cholmod_available():
            raise ImportError(
                "the 'cholmod' backend needs cvxopt: pip install 'mixedmodels-spatial[cholmod]'"
            )
        self.backend = backend
        self._pattern: tuple[Any, Any] | None = None
        self._symbolic: Any = None
        self._matrix: Any = None
        self._perm: NDArray[np.int64] | None = None
        self._lu: Any = None
        self.logdet = np.nan
        self.n_symbolic = 0  # how many symbolic analyses were done (tests)

    def _same_pattern(self, indptr: Any, indices: Any) -> bool:
        p = self._pattern
        return (
            p is not None
            and p[0].shape == indptr.shape
            and p[1].shape == indices.shape
            and bool(np.array_equal(p[0], indptr))
            and bool(np.array_equal(p[1], indices))
        )

    def factor(self, M: sparse.spmatrix, lower: bool = False) -> SparseCholesky:
        """Factor ``M`` (symmetric positive definite): both triangles stored, or with
        ``lower=True`` its lower triangle only (CSC, sorted indices).

        Raises
        ------
        numpy.linalg.LinAlgError
            If ``M`` is not (numerically) positive definite.
        """
        if self.backend == "cholmod":
            self._factor_cholmod(M if lower else sparse.tril(M, format="csc"))
        else:
            if lower:
                low = sparse.csc_matrix(M)
                M = low + sparse.tril(low, k=-1, format="csc").T
            self._factor_superlu(M)
        return self

    def _factor_cholmod(self, low: sparse.spmatrix) -> None:
        import cvxopt
        import cvxopt.cholmod as chm

        low = sparse.csc_matrix(low)
        low.sort_indices()
        values = cvxopt.matrix(np.ascontiguousarray(low.data, dtype=np.float64))
        if not self._same_pattern(low.indptr, low.indices):
            coo = low.tocoo()
            # Column-major (CSC) order, as cvxopt stores and as `values` is.
            self._matrix = cvxopt.spmatrix(values, coo.row.tolist(), coo.col.tolist(), low.shape)
            self._symbolic = chm.symbolic(self._matrix, uplo="L")
            self._pattern = (low.indptr.copy(), low.indices.copy())
            self.n_symbolic += 1
        else:
            self._matrix.V = values
        try:
            chm.numeric(self._matrix, self._symbolic)
        except ArithmeticError as exc:
            self._pattern = None  # a failed factor cannot be reused
            raise np.linalg.LinAlgError(f"matrix not positive definite ({exc})") from exc
        diag = np.asarray(chm.diag(self._symbolic)).ravel()
        self.logdet = 2.0 * float(np.sum(np.log(diag)))

    def _factor_superlu(self, M: sparse.spmatrix) -> None:
        csc = sparse.csc_matrix(M)
        csc.sort_indices()
        options = {"SymmetricMode": True}
        if not self._same_pattern(csc.indptr, csc.indices):
            lu = splu(csc, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options=options)
            # Keep the ordering: later matrices are permuted by it and factored as they are.
            self._perm = np.argsort(lu.perm_c).astype(np.int64)
            self._pattern = (csc.indptr.copy(), csc.indices.copy())
            self.n_symbolic += 1
            self._lu, self._permuted = lu, False
        else:
            p = self._perm
            assert p is not None
            lu = splu(csc[p][:, p], permc_spec="NATURAL", diag_pivot_thresh=0.0, options=options)
            self._lu, self._permuted = lu, True
        d = lu.U.diagonal()
        if not np.all(d > 0):
            raise np.linalg.LinAlgError("matrix not positive definite")
        self.logdet = float(np.sum(np.log(d)))

    def solve(self, b: FloatArray) -> FloatArray:
        """``M^{-1} b`` for the last matrix factored (``b`` a vector or ``(n, r)``)."""
        b = np.asarray(b, dtype=np.float64)
        if self.backend == "cholmod":
            import cvxopt
            import cvxopt.cholmod as chm

            x = cvxopt.matrix(np.array(b.reshape(b.shape[0], -1), order="F"))
            chm.solve(self._symbolic, x)
            return np.asarray(x).reshape(b.shape)
        if not self._permuted:
            return np.asarray(self._lu.solve(b))
        p = self._perm
        assert p is not None
        out = np.empty_like(b)
        out[p] = self._lu.solve(b[p])
        return out
