"""The profiled LMM criterion for small problems, on one dense cross-product matrix.

When all random effects together are few (sleepstudy: 36), the whole of
``[Z X y]' W [Z X y]`` is a small dense matrix and one LAPACK Cholesky of
``Lambda~' C Lambda~ + I`` costs microseconds: here the cost of an evaluation is the
number of numpy calls, not arithmetic, so this path makes as few as possible.  It has
the interface of :class:`~mixedmodels.linear.criterion.LMMProblem` (which the fitter and the result
use interchangeably) and is checked against it and against a textbook computation.
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.linalg as sla

from ..errors import ModelSpecificationError
from ..interfaces import FloatArray
from ..structures.unstructured import Diagonal, HomogeneousDiagonal, Unstructured
from .cross_products import CrossProducts, lmm_cross_products
from .layout import Evaluation, TermData, ThetaLayout, profiled_objective

__all__ = ["DenseLMMProblem"]

_potrf = sla.lapack.dpotrf
_trtrs = sla.lapack.dtrtrs
_trtri = sla.lapack.dtrtri
# Distance from a bound at which the gradient is taken on boundary fits.
_BOUNDARY_STEP = 1e-7


def _small_inverse(a: FloatArray) -> FloatArray:
    """Inverse of a small matrix, closed form up to 2 x 2 (numpy's call costs more)."""
    k = a.shape[0]
    if k == 1:
        return 1.0 / a
    if k == 2:
        (p, q), (r, s) = a.tolist()
        det = p * s - q * r
        return np.array([[s / det, -q / det], [-r / det, p / det]])
    return np.asarray(np.linalg.inv(a), dtype=np.float64)


class DenseLMMProblem(ThetaLayout):
    """Dense cross-products of ``[Z X y]`` and the profiled deviance / REML criterion.

    Parameters are as for :class:`~mixedmodels.linear.criterion.LMMProblem`.
    """

    def __init__(
        self,
        X: FloatArray,
        y: FloatArray,
        terms: list[TermData],
        weights: FloatArray | None = None,
        matrix: FloatArray | None = None,
    ) -> None:
        if not terms:
            raise ModelSpecificationError(
                "a linear mixed model needs at least one random-effect term"
            )
        self._set_data(X, terms, weights)
        # The whole [Z X y] given (e.g. whitened by a residual structure, which mixes
        # the rows of a term's levels): the terms only give the columns' layout.
        C: FloatArray | None = (
            matrix.T @ matrix
            if matrix is not None
            else lmm_cross_products(X, y, terms, weights, dense=True).C
        )
        self._setup(C)

    @classmethod
    def from_cross_products(
        cls, products: CrossProducts, terms: list[TermData], p: int
    ) -> DenseLMMProblem:
        """The criterion of summed cross-products (:func:`lmm_cross_products` of the
        dense kind); ``terms`` give the layout only (their rows may be empty)."""
        if not terms:
            raise ModelSpecificationError(
                "a linear mixed model needs at least one random-effect term"
            )
        self = cls.__new__(cls)
        self._set_sizes(products.n, p, terms, products.log_weights_sum)
        self._setup(products.C)
        return self

    def with_cross_products(self, C: FloatArray) -> DenseLMMProblem:
        """The same problem (terms, sizes, weights) on other cross-products ``C`` of the
        same layout: the layout's index arrays are shared, not rebuilt (a residual
        structure's whitened problems differ only in ``C``)."""
        if C.shape != self.C.shape:
            raise ValueError(f"cross-products of shape {C.shape}, expected {self.C.shape}")
        new = copy.copy(self)
        new.C = C
        new._last_ev = None
        new._last_grad = None
        new._hessian_parts = None
        return new

    def _setup(self, C: FloatArray | None) -> None:
        """Everything the evaluations need, from ``C = [Z X y]' W [Z X y]``."""
        assert C is not None
        terms, p = self.terms, self.p
        self.offsets = np.cumsum([0] + [t.q for t in terms]).tolist()
        q = self.q = self.offsets[-1]
        self.m = q + p + 1
        self.C = C
        # Positions of every element of every level's lambda block inside Lambda (q x q),
        # and for each the index of its value in the concatenated raveled lambdas.
        pos_r, pos_c, src = [], [], []
        src_off = 0
        for t, off in zip(terms, self.offsets, strict=False):
            d = t.dim
            base = off + np.arange(t.n_levels)[:, None, None] * d
            a = np.arange(d)
            pos_r.append((base + a[None, :, None] + 0 * a[None, None, :]).ravel())
            pos_c.append((base + 0 * a[None, :, None] + a[None, None, :]).ravel())
            src.append(np.tile(src_off + np.arange(d * d), t.n_levels))
            src_off += d * d
        self._pos = (np.concatenate(pos_r), np.concatenate(pos_c))
        self._src = np.concatenate(src)
        # (n_levels, dim, q, offset) per term: attribute look-ups cost on this path.
        self._shapes = [
            (t.n_levels, t.dim, t.q, off) for t, off in zip(terms, self.offsets, strict=False)
        ]
        self._diag_q = np.arange(q)
        self._eyes = [np.eye(t.dim) for t in terms]
        self._theta_lower = np.concatenate([t.structure.bounds()[0] for t in terms])
        # The factor's Jacobian is a constant 0/1 array for us and diag: built once.
        self._jacobians = [
            t.structure.factor_jacobian(t.structure.start())
            if type(t.structure).factor_jacobian
            in (
                Unstructured.factor_jacobian,
                Diagonal.factor_jacobian,
                HomogeneousDiagonal.factor_jacobian,
            )
            else None
            for t in terms
        ]
        # The last evaluation and gradient: the fitter asks for the same theta several
        # times in a row (start scan, restarts, Newton finish, convergence check), and
        # on this path each repeat costs as much as a new point.
        self._last_ev: tuple[bytes, bool, Evaluation | None] | None = None
        self._last_grad: tuple[bytes, bool, float, FloatArray | None] | None = None
        self._hessian_parts: tuple[FloatArray, FloatArray] | None = None

    def _linear_parts(self) -> tuple[FloatArray, FloatArray] | None:
        """``E_i = d Lambda / d theta_i`` (constant: us and diag factors are linear in
        theta) as ``(k, q, q)``, and ``E_i' C_ZZ E_j`` as ``(k, k, q * q)``; ``None`` for
        structures whose factor is not linear in theta."""
        if self._hessian_parts is None:
            if any(j is None for j in self._jacobians):
                return None
            k, q = self.n_theta, self.q
            # Row i of `flat` holds d(raveled lambdas)/d theta_i: term by term, the
            # jacobians (n_params, dim, dim) placed at the term's columns.
            flat = np.zeros((k, int(self._src.max()) + 1))
            row = col = 0
            for term, jac in zip(self.terms, self._jacobians, strict=True):
                assert jac is not None
                flat[row : row + jac.shape[0], col : col + term.dim**2] = jac.reshape(
                    jac.shape[0], -1
                )
                row, col = row + jac.shape[0], col + term.dim**2
            E = np.zeros((k, q, q))
            E[:, self._pos[0], self._pos[1]] = flat[:, self._src]
            CE = np.matmul(self.C[:q, :q], E)
            ECE = np.matmul(E.transpose(0, 2, 1)[:, None], CE[None])
            self._hessian_parts = (E, ECE.reshape(k, k, q * q))
        return self._hessian_parts

    # --- shared helpers ---------------------------------------------------------------
    def _Lambda(self, lambdas: list[FloatArray]) -> FloatArray:
        flat = (
            lambdas[0].ravel()
            if len(lambdas) == 1
            else np.concatenate([lam.ravel() for lam in lambdas])
        )
        Lam = np.zeros((self.q, self.q))
        Lam[self._pos] = flat[self._src]
        return Lam

    # --- criterion --------------------------------------------------------------------
    def evaluate(
        self, theta: FloatArray, reml: bool, need_factor: bool = True
    ) -> Evaluation | None:
        """The criterion and the dense lower factor ``L`` at ``theta``."""
        theta = np.array(theta, dtype=np.float64)  # a copy: the optimiser reuses its x
        key = theta.tobytes()
        last = self._last_ev
        if last is not None and last[0] == key and last[1] == reml:
            return last[2]
        ev = self._evaluate(theta, reml)
        self._last_ev = (key, reml, ev)
        return ev

    def _evaluate(self, theta: FloatArray, reml: bool) -> Evaluation | None:
        lambdas = self.lambdas(theta)
        Lam = self._Lambda(lambdas)
        q = self.q
        M = self.C.copy()
        M[:q] = Lam.T @ M[:q]
        M[:, :q] = M[:, :q] @ Lam
        M[self._diag_q, self._diag_q] += 1.0
        U, info = _potrf(M.T, lower=0, clean=1, overwrite_a=1)
        if info != 0:
            return None
        L = U.T
        d = np.diag(L)
        logs = 2.0 * np.log(d[:-1])  # positive: dpotrf succeeded
        if not np.isfinite(logs.sum() + d[-1]):
            return None
        logdet_L = float(logs[:q].sum())
        logdet_RX = float(logs[q:].sum())
        pwrss = float(d[-1] ** 2)
        obj = profiled_objective(logdet_L, logdet_RX, pwrss, self.n, self.p, reml)
        obj -= self.log_weights_sum
        return Evaluation(theta, float(obj), logdet_L, logdet_RX, pwrss, L, np.empty(0), lambdas)

    def objective(self, theta: FloatArray, reml: bool) -> float:
        ev = self.evaluate(theta, reml, need_factor=False)
        return np.inf if ev is None else ev.objective

    def solve(self, ev: Evaluation) -> tuple[FloatArray, list[FloatArray], FloatArray]:
        """Fixed effects, spherical random effects per term ``(n_levels, dim)``, all u."""
        L = ev.L
        q, p = self.q, self.p
        if L.shape[0] > 1:
            sol, _ = _trtrs(L[:-1, :-1], L[-1, :-1], lower=1, trans=1)
        else:  # nothing to solve for (LAPACK refuses an empty matrix, on stderr)
            sol = np.zeros(0)
        u, beta = sol[:q], sol[q : q + p]
        us = [u[off : off + qk].reshape(nl, d) for nl, d, qk, off in self._shapes]
        return beta, us, u

    def gradient(self, theta: FloatArray, reml: bool) -> tuple[float, FloatArray | None]:
        """The criterion and its analytic gradient (formulas as in
        :meth:`~mixedmodels.linear.criterion.LMMProblem.gradient`)."""
        theta = np.asarray(theta, dtype=np.float64)
        key = theta.tobytes()
        last = self._last_grad
        if last is not None and last[0] == key and last[1] == reml:
            return last[2], None if last[3] is None else last[3].copy()
        value, grad = self._gradient(theta, reml)
        self._last_grad = (key, reml, value, None if grad is None else grad.copy())
        return value, grad

    def _gradient(self, theta: FloatArray, reml: bool) -> tuple[float, FloatArray | None]:
        lower = self._theta_lower
        near = np.isfinite(lower) & (theta - lower < _BOUNDARY_STEP)
        if near.any():
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
        q, p = self.q, self.p
        beta, us, _ = self.solve(ev)
        b = np.concatenate([(uk @ lam.T).ravel() for uk, lam in zip(us, lambdas, strict=True)])
        coef = np.concatenate([-b, -beta, [1.0]])
        zr = self.C[:q] @ coef  # Z' r, r the weighted residuals
        s = q + p if reml else q
        Linv, _ = _trtri(ev.L[:s, :s], lower=1)
        Sinv = Linv[:, :q].T @ Linv[:, :q]  # RE block of Omega^-1
        nu = self.n - p if reml else self.n
        grads = []
        for t, jac, (nl, dim, qk, off), eye, lam, th, uk in zip(
            self.terms,
            self._jacobians,
            self._shapes,
            self._eyes,
            lambdas,
            self.split_theta(ev.theta),
            us,
            strict=True,
        ):
            blk = Sinv[off : off + qk, off : off + qk]
            phi = np.einsum("jajb->ab", blk.reshape(nl, dim, nl, dim))
            N = (eye * nl - phi) @ _small_inverse(lam)
            D = t.structure.factor_jacobian(th) if jac is None else jac
            zr_k = zr[off : off + qk].reshape(nl, dim)
            dlogdet = 2.0 * np.einsum("iab,ba->i", D, N)
            dr2 = -2.0 * np.einsum("iab,ab->i", D, zr_k.T @ uk)
            grads.append(dlogdet + nu * dr2 / ev.pwrss)
        grad = np.concatenate(grads)
        # A singular lambda (possible for structures other than us/diag) gives inf/nan.
        return value, grad if np.isfinite(grad).all() else None

    def hessian(self, theta: FloatArray, reml: bool) -> tuple[float, FloatArray, FloatArray] | None:
        """The criterion, its gradient and its analytic Hessian at ``theta``; ``None``
        where unavailable (a factor not linear in theta, theta within a hair of a bound,
        or the criterion undefined there).

        With ``M = Lambda~' C Lambda~ + I_q`` (``Lambda~ = diag(Lambda, I)``, the matrix
        that :meth:`evaluate` factors), the criterion is a combination of the
        log-determinants of leading blocks of ``M``: ``log|M_qq|``, ``log|M_ss|``
        (``s = q + p``) and ``log|M|`` (``log r^2 = log|M| - log|M_ss|``).  For each block
        ``d log|M_B| = tr(K A_i)`` and ``d^2 log|M_B| = tr(K M_ij) - tr(K A_i K A_j)``
        with ``K = M_B^-1``, ``A_i = dM/dtheta_i = F_i + F_i'``, ``F_i = E~_i' C Lambda~``
        and ``M_ij = E~_i' C E~_j + E~_j' C E~_i``: exact, from the factor the
        evaluation has already, instead of ``2k`` gradients by differences.
        """
        parts = self._linear_parts()
        theta = np.asarray(theta, dtype=np.float64)
        lower = self._theta_lower
        if parts is None or bool(np.any(np.isfinite(lower) & (theta - lower < _BOUNDARY_STEP))):
            return None
        ev = self.evaluate(theta, reml)
        if ev is None:
            return None
        E, ECE = parts
        q, p, m, n = self.q, self.p, self.m, self.n
        k = E.shape[0]
        Lam = self._Lambda(ev.lambdas)
        # F_i has rows :q only: E_i' (C Lambda~)[:q].
        CL = self.C[:q].copy()
        CL[:, :q] = CL[:, :q] @ Lam
        A = np.zeros((k, m, m))
        A[:, :q] = np.matmul(E.transpose(0, 2, 1), CL)
        A += A.transpose(0, 2, 1)
        Linv, info = _trtri(ev.L, lower=1)
        if info != 0:
            return None
        s = q + p
        nu = n - p if reml else n
        blocks = [(s, 1.0 - nu), (m, float(nu))] if reml else [(q, 1.0), (s, -nu), (m, nu)]
        grad = np.zeros(k)
        hess = np.zeros((k, k))
        for b, c in blocks:
            if b == 0:
                continue
            Lb = Linv[:b, :b]
            K = Lb.T @ Lb
            P = np.matmul(K, A[:, :b, :b]).reshape(k, b * b)
            grad += c * P[:, :: b + 1].sum(axis=1)  # traces
            # tr(K M_ij) (M_ij lives in the leading q x q block) - tr(P_i P_j)
            second = 2.0 * (ECE @ K[:q, :q].ravel())
            PT = P.reshape(k, b, b).transpose(0, 2, 1).reshape(k, b * b)
            hess += c * (second - P @ PT.T)
        hess = (hess + hess.T) / 2.0
        if not (np.isfinite(grad).all() and np.isfinite(hess).all()):
            return None
        return ev.objective, grad, hess

    def cross_product_gradient(self, theta: FloatArray, reml: bool) -> FloatArray | None:
        """``G`` (``m x m``, symmetric) with ``d objective = sum(G * dC)`` for a change
        ``dC`` of the cross-products at fixed ``theta`` (``None`` where the criterion is
        undefined): a residual structure's parameters move ``C`` only.

        As in :meth:`hessian`, the criterion is ``sum_B c_B log|M_B|`` over leading
        blocks of ``M = Lambda~' C Lambda~ + I_q``, so ``d log|M_B| =
        tr(K_B Lambda~_B' dC_B Lambda~_B)`` with ``K_B = M_B^-1``, i.e.
        ``G = sum_B c_B Lambda~_B K_B Lambda~_B'``.
        """
        theta = np.asarray(theta, dtype=np.float64)
        ev = self.evaluate(theta, reml)
        if ev is None:
            return None
        q, p, m, n = self.q, self.p, self.m, self.n
        Lam = self._Lambda(ev.lambdas)
        Linv, info = _trtri(ev.L, lower=1)
        if info != 0:
            return None
        s = q + p
        nu = n - p if reml else n
        blocks = [(s, 1.0 - nu), (m, float(nu))] if reml else [(q, 1.0), (s, -nu), (m, nu)]
        G = np.zeros((m, m))
        for b, c in blocks:
            if b == 0:
                continue
            Lb = Linv[:b, :b]
            K = Lb.T @ Lb
            # Lambda~_B K: the leading q rows are multiplied by Lambda, the rest stay
            TK = K.copy()
            TK[:q] = Lam @ K[:q]
            TKT = TK.copy()
            TKT[:, :q] = TK[:, :q] @ Lam.T
            G[:b, :b] += c * TKT
        return G if np.isfinite(G).all() else None

    def vcov_unscaled(self, ev: Evaluation) -> FloatArray:
        """``(X' V0^-1 X)^-1``; multiply by sigma^2 for the covariance of beta-hat."""
        q, p = self.q, self.p
        inv, _ = _trtri(ev.L[q : q + p, q : q + p], lower=1)
        return np.asarray(inv.T @ inv)

    def conditional_variances(self, ev: Evaluation) -> list[FloatArray]:
        """Per term ``(n_levels, dim, dim)`` blocks of ``Lambda (Lambda'Z'Z Lambda +
        I)^-1 Lambda'`` (multiply by sigma^2), lme4's ``condVar``."""
        q = self.q
        Linv, _ = _trtri(ev.L[:q, :q], lower=1)
        out = []
        for t, lam, off in zip(self.terms, ev.lambdas, self.offsets, strict=False):
            cols = Linv[:, off : off + t.q].reshape(q, t.n_levels, t.dim)
            cov_u = np.einsum("qni,qnj->nij", cols, cols)
            out.append(np.einsum("ij,njk,lk->nil", lam, cov_u, lam))
        return out
