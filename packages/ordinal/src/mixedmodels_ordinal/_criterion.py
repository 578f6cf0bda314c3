"""The clmm criterion: Laplace and adaptive Gauss-Hermite approximations of -log L.

For parameters ``(alpha, beta, st)`` the spherical random effects ``u`` (``b = Lambda u``,
``u ~ N(0, I)``) are found by Newton's method on the conditional negative
log-likelihood, with step halving (ordinal's ``update.u``); then

* Laplace: ``-log L = -sum_i w_i log p_i(u) + |u|^2 / 2 + log det(L)``, where ``L`` is the
  Cholesky factor of the observed Hessian ``(Z Lambda)' diag(phi2) (Z Lambda) + I``
  (ordinal's ``getNLA``);
* adaptive quadrature (one scalar term): per group, ``nagq`` Gauss-Hermite nodes
  centred at the mode and scaled by ``sqrt(2 / D)`` (ordinal's ``getNAGQ``).

Everything is vectorised over rows (``bincount`` per grouping level); a model with
one grouping factor has a block-diagonal Hessian, which is solved blockwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.special import expit

from mixedmodels.interfaces import FloatArray

from ._links import CumulativeLink

__all__ = ["ClmmProblem", "Mode", "ReTerm"]

_DENSE_MAX = 3000  # Hessians up to this size are factorised densely
_DENSE_ZL_MAX = 2_000_000  # Z Lambda kept as a dense array up to this many cells
_DENSE_INDICATOR_MAX = 100_000  # level indicator dense up to this many cells


@dataclass
class ReTerm:
    """One random-effect term: grouping codes, raw columns, levels and names."""

    group: str
    codes: np.ndarray
    Z: FloatArray
    levels: list[str]
    column_names: list[str]

    @property
    def dim(self) -> int:
        return int(self.Z.shape[1])

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_st(self) -> int:
        return self.dim * (self.dim + 1) // 2


@dataclass
class Mode:
    """The conditional mode and what the Laplace step computed there."""

    u: FloatArray
    nll: float  # -sum w log p + |u|^2 / 2
    logdet: float  # log det of the Cholesky factor (half the Hessian's log det)
    fitted: FloatArray
    hdiag: FloatArray  # per-level Hessian blocks (single term) or None
    converged: bool
    extra: dict[str, Any] = field(default_factory=dict)


def _logsumexp(a: FloatArray, keepdims: bool = False) -> FloatArray:
    """``log(sum(exp(a), axis=1))``, stabilised by the row maxima (scipy's
    ``logsumexp`` costs ~0.1 ms of dispatch per call, more than a small criterion)."""
    m = np.max(a, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = m + np.log(np.sum(np.exp(a - m), axis=1, keepdims=True))
    return out if keepdims else out[:, 0]


def term_factor(st: FloatArray, dim: int) -> FloatArray:
    """``Lambda = T diag(exp(s))`` from ``st = (s_1..s_d, T's strict lower triangle)``.

    ``s`` are log standard deviations; T is unit lower triangular, its entries listed
    column by column (R's ``ST[lower.tri(ST)]``)."""
    T = np.eye(dim)
    if dim > 1:
        rows, cols = np.tril_indices(dim, -1)
        order = np.lexsort((rows, cols))  # column-major, as R
        T[rows[order], cols[order]] = st[dim:]
    return T * np.exp(st[:dim])[None, :]


class ClmmProblem:
    """Data and criterion of one cumulative link mixed model.

    Parameters
    ----------
    y
        Response codes ``0..K-1``.
    X
        Location design without intercept.
    terms
        Random-effect terms.
    link
        Cumulative link.
    tjac
        Threshold Jacobian (thresholds x threshold parameters).
    weights, offset
        Prior weights and location offset.
    nominal
        Nominal-effects design ``W`` (n x m, first column the intercept) or ``None``:
        row-specific thresholds ``theta_ij = (W_i kron tJac_j) alpha`` (ordinal's
        ``nominal``), the parameters ordered by ``W``'s columns, then thresholds.
    """

    def __init__(
        self,
        y: np.ndarray,
        X: FloatArray,
        terms: list[ReTerm],
        link: CumulativeLink,
        tjac: FloatArray,
        weights: FloatArray,
        offset: FloatArray,
        nominal: FloatArray | None = None,
    ) -> None:
        self.y = np.asarray(y, dtype=np.int64)
        self.X = np.asarray(X, dtype=np.float64)
        self.terms = terms
        self.link = link
        self.tjac = tjac
        self.w = weights
        self.offset = offset
        self.n = self.y.shape[0]
        W = np.ones((self.n, 1)) if nominal is None else np.asarray(nominal, dtype=np.float64)
        self.nominal = nominal
        self.n_alpha = tjac.shape[1] * W.shape[1]
        self.n_beta = self.X.shape[1]
        self.n_st = sum(t.n_st for t in terms)
        self.n_par = self.n_alpha + self.n_beta + self.n_st
        self.q = sum(t.n_levels * t.dim for t in terms)
        self.ncat = tjac.shape[0] + 1
        offs = np.cumsum([0] + [t.n_levels * t.dim for t in terms])
        self._col_offsets = offs
        self.single = len(terms) == 1
        self.scalar_single = self.single and terms[0].dim == 1
        # several scalar terms (crossed, nested) with a dense Hessian: exact gradient
        # of the Laplace criterion by laplace_gradient_terms
        self.scalar_terms = (
            not self.single and all(t.dim == 1 for t in terms) and self.q <= _DENSE_MAX
        )
        self._u_start = np.zeros(self.q)
        # Rows whose upper (lower) threshold is +inf (-inf): fixed by the response, so
        # the links are evaluated at 0 there and the known limits put in.
        self._fin1 = (self.y < self.ncat - 1).astype(np.float64)
        self._fin2 = (self.y > 0).astype(np.float64)
        self._inf1 = self._fin1 == 0
        self._inf2 = self._fin2 == 0
        # d theta_{y} / d alpha and d theta_{y-1} / d alpha, one row per observation
        na0 = tjac.shape[1]
        up = np.vstack([tjac, np.zeros((1, na0))])[self.y]
        lo = np.vstack([np.zeros((1, na0)), tjac])[self.y]
        self.tj_up = (W[:, :, None] * up[:, None, :]).reshape(self.n, -1)
        self.tj_lo = (W[:, :, None] * lo[:, None, :]).reshape(self.n, -1)
        # the logistic takes +-inf as it is (F = 1 / 0, zero densities): one expit
        # call over both ends, no masks
        self._logit = link.name == "logit"
        self._unit_w = bool(np.all(self.w == 1.0))
        # d eta1 / d (alpha, beta) and d eta2 / d (alpha, beta): constant
        self._D1 = np.column_stack([self.tj_up, -self.X])
        self._D2 = np.column_stack([self.tj_lo, -self.X])

    def level_indicator(self) -> Any:
        """(levels x rows) indicator of the single term's grouping levels: sums over
        each level's rows of several columns in one product.  Dense when small (a
        sparse product costs ~50 us of dispatch, a small dense one ~2 us)."""
        if not hasattr(self, "_level_ind"):
            t = self.terms[0]
            ind: Any
            if t.n_levels * self.n <= _DENSE_INDICATOR_MAX:
                ind = np.zeros((t.n_levels, self.n))
                ind[t.codes, np.arange(self.n)] = 1.0
                self._level_ind = ind
            else:
                ind = sp.csr_matrix(
                    (np.ones(self.n), (t.codes, np.arange(self.n))), shape=(t.n_levels, self.n)
                )
                self._level_ind = ind
        return self._level_ind

    # ---------------------------------------------------------------------------
    def split(self, par: FloatArray) -> tuple[FloatArray, FloatArray, list[FloatArray]]:
        a, b = self.n_alpha, self.n_alpha + self.n_beta
        sts = []
        k = b
        for t in self.terms:
            sts.append(par[k : k + t.n_st])
            k += t.n_st
        return par[:a], par[a:b], sts

    def fixed_eta(self, par: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``theta_y - X beta - offset`` and ``theta_{y-1} - X beta - offset``."""
        alpha, beta, _ = self.split(par)
        loc = self.X @ beta + self.offset
        e1 = np.where(self._inf1, np.inf, self.tj_up @ alpha - loc)
        e2 = np.where(self._inf2, -np.inf, self.tj_lo @ alpha - loc)
        return e1, e2

    def _zl(self, sts: list[FloatArray]) -> list[FloatArray]:
        """Per term, ``Z_k Lambda_k`` (n x dim)."""
        return [t.Z @ term_factor(st, t.dim) for t, st in zip(self.terms, sts, strict=True)]

    def _b_expanded(self, zl: list[FloatArray], u: FloatArray) -> FloatArray:
        out = np.zeros(self.n)
        for k, (t, a) in enumerate(zip(self.terms, zl, strict=True)):
            uk = u[self._col_offsets[k] : self._col_offsets[k + 1]].reshape(t.n_levels, t.dim)
            out += (a * uk[t.codes]).sum(axis=1)
        return out

    def _sparse_zl(self, zl: list[FloatArray]) -> sp.csc_matrix | FloatArray:
        if self.n * self.q <= _DENSE_ZL_MAX:
            D = np.zeros((self.n, self.q))
            idx = np.arange(self.n)
            for k, (t, a) in enumerate(zip(self.terms, zl, strict=True)):
                for c in range(t.dim):
                    D[idx, self._col_offsets[k] + t.codes * t.dim + c] = a[:, c]
            return D
        rows, cols, vals = [], [], []
        idx = np.arange(self.n)
        for k, (t, a) in enumerate(zip(self.terms, zl, strict=True)):
            for c in range(t.dim):
                rows.append(idx)
                cols.append(self._col_offsets[k] + t.codes * t.dim + c)
                vals.append(a[:, c])
        return sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n, self.q),
        )

    def _probs(self, e1: FloatArray, e2: FloatArray) -> FloatArray:
        F1 = self.link._cdf(np.where(self._inf1, 0.0, e1))
        F2 = self.link._cdf(np.where(self._inf2, 0.0, e2))
        return np.where(self._inf1, 1.0, F1) - np.where(self._inf2, 0.0, F2)

    def _derivs(
        self, e1: FloatArray, e2: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """``p = F1 - F2``, then ``f1``, ``f2``, ``f1'``, ``f2'`` (zero at infinite ends)."""
        if self._logit:
            n = self.n
            P = expit(np.concatenate((e1, e2)))
            f = P * (1.0 - P)
            g = f * (1.0 - 2.0 * P)
            return P[:n] - P[n:], f[:n], f[n:], g[:n], g[n:]
        inf1, inf2, fin1, fin2 = self._masks(e1.ndim)
        F1, f1, g1 = self.link.all_finite(np.where(inf1, 0.0, e1))
        F2, f2, g2 = self.link.all_finite(np.where(inf2, 0.0, e2))
        p = np.where(inf1, 1.0, F1) - np.where(inf2, 0.0, F2)
        return p, f1 * fin1, f2 * fin2, g1 * fin1, g2 * fin2

    def _masks(self, ndim: int) -> tuple[Any, Any, FloatArray, FloatArray]:
        """The infinite-end masks, shaped for (rows x ...) arrays."""
        if ndim == 1:
            return self._inf1, self._inf2, self._fin1, self._fin2
        shape = (-1,) + (1,) * (ndim - 1)
        return tuple(m.reshape(shape) for m in (self._inf1, self._inf2, self._fin1, self._fin2))  # type: ignore[return-value]

    def _level_sum(self, v: FloatArray) -> FloatArray:
        """Sums over each level's rows (one scalar term): ``v`` is (rows,) or
        (rows, batch)."""
        t = self.terms[0]
        if v.ndim == 1:
            return np.asarray(np.bincount(t.codes, v, minlength=t.n_levels), dtype=np.float64)
        out = np.asarray(self.level_indicator() @ v.reshape(self.n, -1))
        return out.reshape((t.n_levels, *v.shape[1:]))

    def modes_batch(
        self, P: FloatArray, U0: FloatArray, tol: float = 1e-9
    ) -> tuple[FloatArray, tuple[FloatArray, FloatArray], tuple[FloatArray, ...]] | None:
        """Conditional modes at the rows of ``P`` at once (one scalar term), by full
        Newton steps from ``U0`` (levels x batch): for parameters a difference step
        away from a solved point, whose mode starts in the quadratic region.  Returns
        the modes, the fixed parts of the linear predictors and the link values, or
        ``None`` where a start is not close enough (the caller goes one by one)."""
        t = self.terms[0]
        a, k = self.n_alpha, self.n_alpha + self.n_beta
        loc = self.X @ P[:, a:k].T + self.offset[:, None]
        e1f = np.where(self._inf1[:, None], np.inf, self.tj_up @ P[:, :a].T - loc)
        e2f = np.where(self._inf2[:, None], -np.inf, self.tj_lo @ P[:, :a].T - loc)
        sz = t.Z[:, 0][:, None] * np.exp(P[:, k])[None, :]
        w = None if self._unit_w else self.w[:, None]
        U = np.array(U0, dtype=np.float64)
        for _ in range(30):
            b = sz * U[t.codes]
            dv = self._derivs(e1f - b, e2f - b)
            p, f1, f2, g1, g2 = dv
            if not np.all(p > 0):
                return None
            A = (f1 - f2) / p
            phi2 = A * A - (g1 - g2) / p
            if w is not None:
                A, phi2 = w * A, w * phi2
            grad = self._level_sum(sz * A) + U
            gmax = float(np.max(np.abs(grad)))
            if not np.isfinite(gmax) or gmax > 1e-3:
                return None
            if gmax < tol:
                return U, (e1f, e2f), dv
            U = U - grad / (self._level_sum(sz * sz * phi2) + 1.0)
        return None

    def _cond(
        self, e1f: FloatArray, e2f: FloatArray, b: FloatArray
    ) -> tuple[float, FloatArray, FloatArray]:
        e1, e2 = e1f - b, e2f - b
        p = self._probs(e1, e2)
        if np.any(~(p > 0)):
            return np.inf, p, np.empty(0)
        return float(-np.sum(self.w * np.log(p))), p, np.empty(0)

    # ---------------------------------------------------------------------------
    def mode(self, par: FloatArray, u0: FloatArray | None = None, tol: float = 1e-9) -> Mode:
        """Newton iterations for the conditional mode of ``u`` (ordinal's ``update.u``)."""
        if self.scalar_single:
            return self._mode_scalar(par, u0, tol)
        _, _, sts = self.split(par)
        e1f, e2f = self.fixed_eta(par)
        zl = self._zl(sts)
        szl = None if self.single else self._sparse_zl(zl)
        u = (self._u_start if u0 is None else u0).copy()

        def nll_at(uu: FloatArray) -> tuple[float, tuple[FloatArray, ...]]:
            """Criterion at ``uu`` and the link values there (p, f1, f2, g1, g2)."""
            b = self._b_expanded(zl, uu)
            d = self._derivs(e1f - b, e2f - b)
            p = d[0]
            if np.any(~(p > 0)):
                return np.inf, d
            return float(-np.sum(self.w * np.log(p)) + 0.5 * uu @ uu), d

        nll, dv = nll_at(u)
        if not np.isfinite(nll):
            u = np.zeros(self.q)
            nll, dv = nll_at(u)
        converged = False
        factor: tuple[str, Any] = ("none", None)
        logdet = np.nan
        grad = np.zeros(self.q)
        phi2 = np.zeros(self.n)
        for _ in range(200):
            p, f1, f2, g1, g2 = dv
            r = self.w * (f1 - f2) / p
            phi2 = self.w * (((f1 - f2) / p) ** 2 - (g1 - g2) / p)
            grad = self._zt_vec(zl, szl, r) + u
            factor, logdet = self._factor(zl, szl, phi2)
            if np.max(np.abs(grad)) < tol:
                converged = True
                break
            step = self._solve(factor, grad)
            sf = 1.0
            if np.max(np.abs(grad)) < 1e-3:
                # Quadratic region: take the full Newton step.  Comparing criterion
                # values here would stop at rounding noise (|du| ~ 1e-7), which the
                # log-determinant feels to first order.
                unew = u - step
                nnew, dnew = nll_at(unew)
                if np.isfinite(nnew):
                    u, nll, dv = unew, nnew, dnew
                    if np.max(np.abs(step)) < 1e-12:
                        converged = True
                        break
                    continue
            for _ in range(30):
                unew = u - sf * step
                nnew, dnew = nll_at(unew)
                if nnew <= nll:
                    break
                sf /= 2.0
            else:
                break  # no decrease: at the mode to rounding error
            u, nll, dv = unew, nnew, dnew
            if abs(sf * np.max(np.abs(step))) < 1e-14:
                converged = True
                break
        if not converged:
            # rounding-level stagnation still counts if the gradient is small
            converged = bool(np.max(np.abs(grad)) < 1e-6)
        self._u_start = u.copy()
        m = Mode(u=u, nll=nll, logdet=logdet, fitted=dv[0], hdiag=np.empty(0), converged=converged)
        m.extra["factor"] = factor
        m.extra["phi2"] = phi2
        m.extra["zl"] = zl
        m.extra["szl"] = szl
        m.extra["eta"] = (e1f, e2f)
        m.extra["derivs"] = dv  # p, f1, f2, f1', f2' at the mode
        return m

    def _mode_scalar(self, par: FloatArray, u0: FloatArray | None, tol: float) -> Mode:
        """:meth:`mode` for one scalar term, the same iterations in fewer array
        operations: the Hessian is diagonal, one ``bincount`` per level sum."""
        t = self.terms[0]
        codes, nl = t.codes, t.n_levels
        s = float(np.exp(par[self.n_alpha + self.n_beta]))
        sz = s * t.Z[:, 0]
        sz2 = sz * sz
        w = None if self._unit_w else self.w
        e1f, e2f = self.fixed_eta(par)
        u = (self._u_start if u0 is None else u0).copy()

        def nll_at(uu: FloatArray) -> tuple[float, tuple[FloatArray, ...]]:
            b = sz * uu[codes]
            d = self._derivs(e1f - b, e2f - b)
            p = d[0]
            if not np.all(p > 0):
                return np.inf, d
            lp = np.log(p)
            ll = float(lp.sum() if w is None else w @ lp)
            return -ll + 0.5 * float(uu @ uu), d

        nll, dv = nll_at(u)
        if not np.isfinite(nll):
            u = np.zeros(self.q)
            nll, dv = nll_at(u)
        converged = False
        h: Any = np.ones(nl)
        grad = np.zeros(self.q)
        phi2 = np.zeros(self.n)
        for _ in range(200):
            p, f1, f2, g1, g2 = dv
            A = (f1 - f2) / p
            phi2 = A * A - (g1 - g2) / p
            if w is not None:
                A = w * A
                phi2 = w * phi2
            grad = np.bincount(codes, sz * A, minlength=nl) + u
            h = np.bincount(codes, sz2 * phi2, minlength=nl) + 1.0
            gmax = float(np.max(np.abs(grad)))
            if gmax < tol:
                converged = True
                break
            step = grad / h
            if gmax < 1e-3:
                # quadratic region: the full Newton step (see mode)
                unew = u - step
                nnew, dnew = nll_at(unew)
                if np.isfinite(nnew):
                    u, nll, dv = unew, nnew, dnew
                    if np.max(np.abs(step)) < 1e-12:
                        converged = True
                        break
                    continue
            sf = 1.0
            for _ in range(30):
                unew = u - sf * step
                nnew, dnew = nll_at(unew)
                if nnew <= nll:
                    break
                sf /= 2.0
            else:
                break
            u, nll, dv = unew, nnew, dnew
            if abs(sf * np.max(np.abs(step))) < 1e-14:
                converged = True
                break
        if not converged:
            converged = bool(np.max(np.abs(grad)) < 1e-6)
        self._u_start = u.copy()
        logdet = 0.5 * float(np.sum(np.log(h)))
        m = Mode(u=u, nll=nll, logdet=logdet, fitted=dv[0], hdiag=np.empty(0), converged=converged)
        m.extra["factor"] = ("diag", h)
        m.extra["phi2"] = phi2
        m.extra["zl"] = [sz[:, None]]
        m.extra["eta"] = (e1f, e2f)
        m.extra["derivs"] = dv
        return m

    def _zt_vec(
        self, zl: list[FloatArray], szl: sp.csc_matrix | FloatArray | None, r: FloatArray
    ) -> FloatArray:
        if szl is not None:
            return np.asarray(szl.T @ r, dtype=np.float64)
        t, a = self.terms[0], zl[0]
        cols = [np.bincount(t.codes, a[:, c] * r, minlength=t.n_levels) for c in range(t.dim)]
        return np.column_stack(cols).ravel().astype(np.float64)

    def _factor(
        self, zl: list[FloatArray], szl: sp.csc_matrix | FloatArray | None, phi2: FloatArray
    ) -> tuple[tuple[str, Any], float]:
        """Cholesky (or LU) of ``(Z Lambda)' diag(phi2) (Z Lambda) + I`` and its log det / 2."""
        if szl is None:
            t, a = self.terms[0], zl[0]
            d = t.dim
            if d == 1:
                h = np.bincount(t.codes, phi2 * a[:, 0] ** 2, minlength=t.n_levels) + 1.0
                return ("diag", h), 0.5 * float(np.sum(np.log(h)))
            H = np.empty((t.n_levels, d, d))
            for i in range(d):
                for j in range(i + 1):
                    v = np.bincount(t.codes, phi2 * a[:, i] * a[:, j], minlength=t.n_levels)
                    H[:, i, j] = v
                    H[:, j, i] = v
            H += np.eye(d)[None]
            L = np.linalg.cholesky(H)
            return ("blocks", L), float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
        if isinstance(szl, np.ndarray):
            H = szl.T @ (szl * phi2[:, None]) + np.eye(self.q)
            L = sla.cholesky(H, lower=True)
            return ("dense", L), float(np.sum(np.log(np.diag(L))))
        W = sp.csc_matrix(szl.multiply(phi2[:, None]))
        H = (szl.T @ W).tocsc() + sp.identity(self.q, format="csc")
        if self.q <= _DENSE_MAX:
            L = sla.cholesky(H.toarray(), lower=True)
            return ("dense", L), float(np.sum(np.log(np.diag(L))))
        lu = spla.splu(H)
        return ("lu", lu), 0.5 * float(np.sum(np.log(np.abs(lu.U.diagonal()))))

    def _solve(self, factor: tuple[str, Any], rhs: FloatArray) -> FloatArray:
        kind, f = factor
        if kind == "diag":
            return rhs / f
        if kind == "blocks":
            nl, d, _ = f.shape
            R = rhs.reshape(nl, d, 1)
            y = np.linalg.solve(f, R)
            return np.linalg.solve(np.transpose(f, (0, 2, 1)), y).ravel()
        if kind == "dense":
            return sla.cho_solve((f, True), rhs)
        return f.solve(rhs)

    def inverse_diag_blocks(self, mode: Mode) -> list[FloatArray]:
        """Per term, the ``(n_levels, dim, dim)`` blocks of ``H^-1`` (spherical scale)."""
        kind, f = mode.extra["factor"]
        if kind == "diag":
            return [(1.0 / f)[:, None, None]]
        if kind == "blocks":
            Linv = np.linalg.inv(f)
            return [np.transpose(Linv, (0, 2, 1)) @ Linv]
        if kind == "dense":
            Hinv = sla.cho_solve((f, True), np.eye(self.q))
        else:
            Hinv = f.solve(np.eye(self.q))
        out = []
        for k, t in enumerate(self.terms):
            o = self._col_offsets[k]
            blk = Hinv[o : o + t.n_levels * t.dim, o : o + t.n_levels * t.dim]
            blocks = np.stack(
                [
                    blk[j * t.dim : (j + 1) * t.dim, j * t.dim : (j + 1) * t.dim]
                    for j in range(t.n_levels)
                ]
            )
            out.append(blocks)
        return out

    # ---------------------------------------------------------------------------
    def laplace(self, par: FloatArray, u0: FloatArray | None = None) -> float:
        """``-log L`` by the Laplace approximation (``inf`` where undefined)."""
        try:
            m = self.mode(par, u0)
        except (np.linalg.LinAlgError, ValueError):
            return np.inf
        value = m.nll + m.logdet
        return value if np.isfinite(value) else np.inf

    def agq(
        self, par: FloatArray, nodes: FloatArray, weights: FloatArray, u0: FloatArray | None = None
    ) -> float:
        """``-log L`` by adaptive Gauss-Hermite quadrature (one scalar term)."""
        try:
            m = self.mode(par, u0)
        except (np.linalg.LinAlgError, ValueError):
            return np.inf
        if not np.isfinite(m.nll):
            return np.inf
        t = self.terms[0]
        _, f = m.extra["factor"]
        D = np.asarray(f)
        if np.any(D <= 0):
            return np.inf
        K = np.sqrt(2.0 / D)
        e1f, e2f = m.extra["eta"]
        _, _, sts = self.split(par)
        sd = float(np.exp(sts[0][0]))
        z = t.Z[:, 0]
        # (n_levels, nagq) nodes on the u scale
        U = m.u[:, None] + K[:, None] * nodes[None, :]
        B = U[t.codes] * (sd * z)[:, None]
        inf1, inf2 = self._inf1[:, None], self._inf2[:, None]
        F1 = self.link._cdf(np.where(inf1, 0.0, e1f[:, None] - B))
        F2 = self.link._cdf(np.where(inf2, 0.0, e2f[:, None] - B))
        p = np.where(inf1, 1.0, F1) - np.where(inf2, 0.0, F2)
        with np.errstate(divide="ignore"):
            lp = self.w[:, None] * np.log(p)
        S = np.zeros((t.n_levels, nodes.shape[0]))
        for k in range(nodes.shape[0]):
            S[:, k] = np.bincount(t.codes, lp[:, k], minlength=t.n_levels)
        logw = (
            np.log(K)[:, None]
            + np.log(weights)[None, :]
            + nodes[None, :] ** 2
            - 0.5 * U**2
            - 0.5 * np.log(2 * np.pi)
        )
        return float(-np.sum(_logsumexp(S + logw)))


def fit_fixed(
    problem: ClmmProblem, start: FloatArray, gtol: float = 1e-10
) -> tuple[FloatArray, FloatArray | None]:
    """The model without random effects (ordinal's ``clm``) by Newton with the exact
    Hessian (BFGS if Newton fails): the clmm's starting thresholds and coefficients,
    and the inverse Hessian there (``None`` if the fit failed).  ``gtol``: Newton's
    stop on max|gradient| (a start needs no more than a few digits)."""
    from scipy import optimize

    pb = problem
    X, w = pb.X, pb.w
    tj_up, tj_lo = pb.tj_up, pb.tj_lo  # rows of d theta_y, d theta_{y-1} / d alpha
    k = pb.n_alpha + pb.n_beta

    def fg(x: FloatArray) -> tuple[float, FloatArray]:
        par = np.concatenate([x, np.zeros(pb.n_st)])
        e1, e2 = pb.fixed_eta(par)
        p, f1, f2, _, _ = pb._derivs(e1, e2)
        if np.any(~(p > 0)):
            return np.inf, np.zeros(k)
        a1, a2 = w * f1 / p, w * f2 / p
        ga = -(tj_up.T @ a1 - tj_lo.T @ a2)
        gb = X.T @ (a1 - a2)
        return float(-np.sum(w * np.log(p))), np.concatenate([ga, gb])

    D1 = np.column_stack([tj_up, -X])  # d eta1 / d (alpha, beta)
    D2 = np.column_stack([tj_lo, -X])

    def fgh(x: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        """Criterion, gradient and exact Hessian (clm's Newton, as ordinal's
        ``clm.fit``)."""
        par = np.concatenate([x, np.zeros(pb.n_st)])
        e1, e2 = pb.fixed_eta(par)
        p, f1, f2, g1, g2 = pb._derivs(e1, e2)
        if np.any(~(p > 0)):
            return np.inf, np.zeros(k), np.eye(k)
        l1, l2 = -w * f1 / p, w * f2 / p  # d nll / d eta1, d eta2
        h11 = -w * (g1 / p - (f1 / p) ** 2)
        h22 = w * (g2 / p + (f2 / p) ** 2)
        h12 = -w * f1 * f2 / p**2
        H = D1.T @ (h11[:, None] * D1 + h12[:, None] * D2) + D2.T @ (
            h12[:, None] * D1 + h22[:, None] * D2
        )
        return float(-np.sum(w * np.log(p))), l1 @ D1 + l2 @ D2, (H + H.T) / 2

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        x = np.array(start[:k], dtype=np.float64)
        f, g, H = fgh(x)
        for _ in range(50):
            if not np.isfinite(f):
                break
            if np.max(np.abs(g)) < gtol:
                try:
                    return x, np.asarray(np.linalg.inv(H), dtype=np.float64)
                except np.linalg.LinAlgError:
                    break
            try:
                step = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                break
            sf = 1.0
            for _ in range(30):
                fn, gn, Hn = fgh(x - sf * step)
                if fn <= f + 1e-12 * abs(f):
                    break
                sf /= 2.0
            else:
                break
            x, f, g, H = x - sf * step, fn, gn, Hn
        # Newton failed (not positive definite on the way): BFGS
        res = optimize.minimize(fg, start[:k], jac=True, method="BFGS", options={"gtol": 1e-6})
    if not np.isfinite(res.fun):
        return start[:k], None
    return np.asarray(res.x), np.asarray(res.hess_inv, dtype=np.float64)


def laplace_gradient(problem: ClmmProblem, par: FloatArray, mode: Mode) -> FloatArray:
    """Exact gradient of the Laplace criterion for one scalar random-effect term.

    ``L = nll(u^) + sum_j log(h_j) / 2`` with ``h_j = 1 + s^2 sum_i z_i^2 phi_i``; the
    mode moves with the parameters, ``du_j/dtheta = -(d^2 nll / du_j dtheta) / h_j``,
    and ``phi``'s derivatives need ``f''`` (third derivatives of ``log p``).  Summed
    over rows (:func:`laplace_gradient_at`).
    """
    e1f, e2f = mode.extra["eta"]
    return laplace_gradient_at(problem, par, mode.u, e1f, e2f, mode.extra.get("derivs"))


@dataclass
class _Rows:
    """Row-level derivatives at a mode (one scalar term), for the exact gradients:
    ``phi`` (the observed information), its derivatives in ``b`` and in the two ends'
    linear predictors, those of the score ``A``, and the level sums ``h``, ``dh/du``.
    Arrays are (rows,) or (rows, batch)."""

    s: Any
    z: FloatArray
    b: FloatArray
    A: FloatArray
    phi: FloatArray
    dA1: FloatArray
    dA2: FloatArray
    dphi1: FloatArray
    dphi2: FloatArray
    l1: FloatArray
    l2: FloatArray
    h: FloatArray
    dh_du: FloatArray


def _rows(
    pb: ClmmProblem,
    par: FloatArray,
    u: FloatArray,
    e1f: FloatArray,
    e2f: FloatArray,
    dv: tuple[FloatArray, ...] | None,
) -> _Rows:
    from ._links import ddpdf

    t = pb.terms[0]
    batch = par.ndim == 2
    s = np.exp(par[..., pb.n_alpha + pb.n_beta])
    z = t.Z[:, 0][:, None] if batch else t.Z[:, 0]
    b = s * z * u[t.codes]
    p, f1, f2, g1, g2 = pb._derivs(e1f - b, e2f - b) if dv is None else dv
    if pb._logit:
        # f'' = f ((1 - 2F)^2 - 2 f): zero at infinite ends
        P = expit(np.concatenate((e1f - b, e2f - b)))
        n = pb.n
        h1 = f1 * ((1.0 - 2.0 * P[:n]) ** 2 - 2.0 * f1)
        h2 = f2 * ((1.0 - 2.0 * P[n:]) ** 2 - 2.0 * f2)
    else:
        inf1, inf2, fin1, fin2 = pb._masks(b.ndim)
        h1 = ddpdf(pb.link, np.where(inf1, 0.0, e1f - b)) * fin1
        h2 = ddpdf(pb.link, np.where(inf2, 0.0, e2f - b)) * fin2
    ip = 1.0 / p
    A = (f1 - f2) * ip
    B = (g1 - g2) * ip
    phi = A * A - B
    dphi_db = 2 * A**3 - 3 * A * B + (h1 - h2) * ip
    dA1 = (g1 - A * f1) * ip
    dA2 = (A * f2 - g2) * ip
    dphi1 = 2 * A * dA1 - (h1 - B * f1) * ip
    dphi2 = 2 * A * dA2 - (B * f2 - h2) * ip
    l1, l2 = f1 * ip, -f2 * ip
    if not pb._unit_w:
        w = pb.w[:, None] if batch else pb.w
        phi, dphi_db, dA1, dA2, dphi1, dphi2 = (
            w * phi,
            w * dphi_db,
            w * dA1,
            w * dA2,
            w * dphi1,
            w * dphi2,
        )
        l1, l2, A = w * l1, w * l2, w * A
    z2 = z * z
    s2 = s * s
    h = 1.0 + s2 * pb._level_sum(z2 * phi)
    dh_du = s2 * s * pb._level_sum(z2 * z * dphi_db)
    return _Rows(s, z, b, A, phi, dA1, dA2, dphi1, dphi2, l1, l2, h, dh_du)


def _combine(
    pb: ClmmProblem, r: _Rows, gamma: FloatArray, kappa: FloatArray, q1: Any, q2: Any, tau: Any
) -> FloatArray:
    """``sum_j gamma_j dh_j/dtheta - kappa_j cross_j`` (``cross_j = -h_j du_j/dtheta``)
    plus the direct terms: ``q1``, ``q2`` per row and end (times d eta / d(alpha,
    beta)) and ``tau`` (the log SD's), summed over rows."""
    codes = pb.terms[0].codes
    rho = (r.s * r.s) * r.z * r.z * gamma[codes]
    kap = r.s * r.z * kappa[codes]
    p1 = rho * r.dphi1 - kap * r.dA1
    p2 = rho * r.dphi2 - kap * r.dA2
    g_tau = np.sum(2.0 * rho * r.phi - kap * r.A - r.b * (p1 + p2), axis=0) + tau
    q1, q2 = p1 + q1, p2 + q2
    if r.b.ndim == 2:
        return np.column_stack([q1.T @ pb._D1 + q2.T @ pb._D2, g_tau])
    return np.append(q1 @ pb._D1 + q2 @ pb._D2, g_tau)


def _mode_slope(pb: ClmmProblem, r: _Rows) -> FloatArray:
    """``du/dtheta = -cross / h`` (levels x parameters, one scalar term): predicts
    the mode at the next parameters (a warm start one Newton step closer)."""
    sz = r.s * r.z
    cross_ab = pb._level_sum(sz[:, None] * (r.dA1[:, None] * pb._D1 + r.dA2[:, None] * pb._D2))
    cross_tau = pb._level_sum(sz * (r.A - (r.dA1 + r.dA2) * r.b))
    return -np.column_stack([cross_ab, cross_tau]) / r.h[:, None]


def laplace_gradient_at(
    problem: ClmmProblem,
    par: FloatArray,
    u: FloatArray,
    e1f: FloatArray,
    e2f: FloatArray,
    dv: tuple[FloatArray, ...] | None = None,
    slope: list[FloatArray] | None = None,
) -> FloatArray:
    """The exact Laplace gradient (one scalar term) at mode ``u``; batched when
    ``par`` is (batch x parameters), ``u`` (levels x batch) and ``e1f``, ``e2f``
    (rows x batch), as :meth:`ClmmProblem.modes_batch` returns them.  ``slope``: a
    list to which the mode's derivative ``du/dtheta`` is appended (not batched)."""
    r = _rows(problem, par, u, e1f, e2f, dv)
    if slope is not None:
        slope.append(_mode_slope(problem, r))
    # Laplace: d/dtheta sum_j log(h_j) / 2 with the mode's movement du = -cross / h
    gamma = 0.5 / r.h
    tau = np.sum((r.l1 + r.l2) * r.b, axis=0)
    return _combine(problem, r, gamma, gamma * r.dh_du / r.h, -r.l1, -r.l2, tau)


def agq_gradient_at(
    problem: ClmmProblem,
    par: FloatArray,
    u: FloatArray,
    e1f: FloatArray,
    e2f: FloatArray,
    dv: tuple[FloatArray, ...] | None,
    nodes: FloatArray,
    weights: FloatArray,
    slope: list[FloatArray] | None = None,
) -> tuple[Any, FloatArray]:
    """The adaptive Gauss-Hermite criterion and its exact gradient (one scalar term)
    at mode ``u``, summed over rows as :func:`laplace_gradient_at` (batched likewise;
    see :func:`agq_gradient` for the formula).  Returns ``(value, gradient)``; the
    value is ``inf`` where a probability is zero."""
    pb = problem
    codes = pb.terms[0].codes
    r = _rows(pb, par, u, e1f, e2f, dv)
    if slope is not None:
        slope.append(_mode_slope(pb, r))
    batch = par.ndim == 2
    D = r.h
    K = np.sqrt(2.0 / D)
    nd = nodes[:, None] if batch else nodes
    U = u[:, None] + K[:, None] * nd  # levels x nodes (x batch)
    szq = (r.s * r.z)[:, None]
    B = U[codes] * szq
    p, f1, f2, _, _ = pb._derivs(e1f[:, None] - B, e2f[:, None] - B)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(p)
    if not pb._unit_w:
        wq = pb.w.reshape((-1,) + (1,) * (p.ndim - 1))
        lp = wq * lp
        f1, f2 = wq * f1, wq * f2
    lw = (np.log(weights) + nodes**2)[:, None] if batch else np.log(weights) + nodes**2
    lw = lw + pb._level_sum(lp) - 0.5 * U**2
    lse = _logsumexp(lw, keepdims=True)
    pi = np.exp(lw - lse)  # levels x nodes (x batch)
    value = -np.sum(lse[:, 0], axis=0) - np.sum(np.log(K), axis=0)
    value = value + 0.5 * D.shape[0] * np.log(2 * np.pi)
    value = np.where(np.all(p > 0, axis=(0, 1)) & np.isfinite(value), value, np.inf)
    A1, A2 = f1 / p, f2 / p
    Pi = pi[codes]
    a1 = np.sum(Pi * A1, axis=1)
    a2 = np.sum(Pi * A2, axis=1)
    direct_tau = np.sum(Pi * (A1 - A2) * B, axis=(0, 1))
    gprime = pb._level_sum(szq * (A1 - A2)) + U
    c1 = np.sum(pi * gprime, axis=1)
    c2 = np.sum(pi * gprime * nd, axis=1)
    # sum_j c1_j du_j + c2_j dK_j + dD_j / (2 D_j), dK = -K dD / (2 D)
    gamma = (0.5 - 0.5 * c2 * K) / D
    kappa = (gamma * r.dh_du + c1) / D
    g = _combine(pb, r, gamma, kappa, -a1, a2, direct_tau)
    return value, g


def agq_gradient(
    problem: ClmmProblem, par: FloatArray, mode: Mode, nodes: FloatArray, weights: FloatArray
) -> FloatArray:
    """Exact gradient of the adaptive Gauss-Hermite criterion (one scalar term).

    ``-log L = sum_j [log(D_j) / 2 - logsumexp_k(log w_k + x_k^2 - g_j(U_jk))] + c`` with
    nodes ``U_jk = u_j + sqrt(2 / D_j) x_k`` at the mode ``u_j`` and ``g_j`` the level's
    conditional criterion: the mode and ``D_j`` move with the parameters as in
    :func:`laplace_gradient`, each node with them.  The criterion's value is left in
    ``mode.extra["agq_value"]``.
    """
    e1f, e2f = mode.extra["eta"]
    value, g = agq_gradient_at(
        problem, par, mode.u, e1f, e2f, mode.extra.get("derivs"), nodes, weights
    )
    mode.extra["agq_value"] = float(value)
    return g


def laplace_gradient_terms(problem: ClmmProblem, par: FloatArray, mode: Mode) -> FloatArray:
    """Exact gradient of the Laplace criterion for several scalar terms (crossed or
    nested intercepts) with a dense factor.

    With ``A = Z Lambda`` (one column per level of each term), ``H = I + A' Phi A`` and
    the mode's movement ``du/dtheta = -H^-1 C`` (``C`` the cross derivatives of the
    inner gradient), ``d/dtheta log det(H) / 2 = sum_i m_i dphi_i / 2`` (plus
    ``sum_i phi_i m_it`` for term ``t``'s log SD), ``m_i = (A H^-1 A')_ii`` and
    ``m_it`` its term-``t`` part; ``dphi`` includes the mode's movement.
    """
    pb = problem
    kind, L = mode.extra["factor"]
    if kind != "dense":
        raise ValueError("laplace_gradient_terms needs the dense factor")
    kab = pb.n_alpha + pb.n_beta
    s = np.exp(par[kab:])  # one log SD per term
    z = np.column_stack([t.Z[:, 0] for t in pb.terms])
    a = z * s[None, :]  # (n, T): each row's column of A per term
    cols = np.column_stack([pb._col_offsets[j] + t.codes for j, t in enumerate(pb.terms)])  # (n, T)
    u = mode.u
    bt = a * u[cols]  # each term's part of b
    b = bt.sum(axis=1)
    e1f, e2f = mode.extra["eta"]
    r = _rows_scalar_b(pb, b, e1f, e2f, mode.extra.get("derivs"))
    Hinv = sla.cho_solve((L, True), np.eye(pb.q))
    Hsub = Hinv[cols[:, :, None], cols[:, None, :]]  # (n, T, T)
    mt = a * np.einsum("itk,ik->it", Hsub, a)  # (n, T)
    m = mt.sum(axis=1)
    D1, D2 = pb._D1, pb._D2
    # C = A' R (+ the score's own scaling for each log SD), R: d score / d theta
    dAb = -(r.dA1 + r.dA2)  # d score / d b
    R = np.column_stack([r.dA1[:, None] * D1 + r.dA2[:, None] * D2, dAb[:, None] * bt])
    szl = mode.extra["szl"]
    C = np.asarray(szl.T @ R, dtype=np.float64)
    for j in range(len(pb.terms)):
        C[:, kab + j] += np.bincount(cols[:, j], a[:, j] * r.A, minlength=pb.q)
    HC = Hinv @ C
    db = -np.einsum("it,itk->ik", a, HC[cols])  # (n, k): b's movement with the mode
    dphi_db = -(r.dphi1 + r.dphi2)
    dphi = dphi_db[:, None] * db
    dphi[:, :kab] += r.dphi1[:, None] * D1 + r.dphi2[:, None] * D2
    dphi[:, kab:] += dphi_db[:, None] * bt
    g = 0.5 * (m @ dphi)
    g[:kab] -= r.l1 @ D1 + r.l2 @ D2
    g[kab:] += r.A @ bt + r.phi @ mt
    return np.asarray(g, dtype=np.float64)


def _rows_scalar_b(
    pb: ClmmProblem, b: FloatArray, e1f: FloatArray, e2f: FloatArray, dv: Any
) -> _Rows:
    """:func:`_rows`' row derivatives for a given ``b`` (the level sums are unused)."""
    from ._links import ddpdf

    p, f1, f2, g1, g2 = pb._derivs(e1f - b, e2f - b) if dv is None else dv
    h1 = ddpdf(pb.link, np.where(pb._inf1, 0.0, e1f - b)) * pb._fin1
    h2 = ddpdf(pb.link, np.where(pb._inf2, 0.0, e2f - b)) * pb._fin2
    ip = 1.0 / p
    A = (f1 - f2) * ip
    B = (g1 - g2) * ip
    phi = A * A - B
    dA1 = (g1 - A * f1) * ip
    dA2 = (A * f2 - g2) * ip
    dphi1 = 2 * A * dA1 - (h1 - B * f1) * ip
    dphi2 = 2 * A * dA2 - (B * f2 - h2) * ip
    l1, l2 = f1 * ip, -f2 * ip
    if not pb._unit_w:
        w = pb.w
        phi, dA1, dA2, dphi1, dphi2 = w * phi, w * dA1, w * dA2, w * dphi1, w * dphi2
        l1, l2, A = w * l1, w * l2, w * A
    empty = np.empty(0)
    return _Rows(1.0, empty, b, A, phi, dA1, dA2, dphi1, dphi2, l1, l2, empty, empty)
