"""The profiled LMM (or GLS) criterion with residual correlation and variance functions.

With ``Var(e) = sigma^2 R(phi)`` (``R`` block diagonal over residual groups, its
blocks ``D_g C_g D_g``: SD multipliers from the variance functions times a correlation
matrix), the model for the whitened data ``R^-1/2 [Z X y]`` is an ordinary LMM with
independent residuals, and the criterion over ``(theta, phi)`` is

    d(theta, phi) = d_whitened(theta; phi) + log |R(phi)|.

Whitening keeps the one-level-per-row form of a random-effect term as long as each
residual group lies within one level of its grouping factor (nlme's rule: the
correlation's groups are nested in the random-effect groups).  For each ``phi`` the
columns are whitened group by group, batched by group size and coordinate pattern, and
an ordinary problem object is built on the result (dense, blocked with a direct ``G``,
or blocked with the class map); evaluations at equal ``phi`` share it.  The gradient
in ``theta`` is the inner problem's analytic one; in the correlation's parameters
analytic too for dense inner problems (:meth:`ResidualLMMProblem._correlation_gradient`),
otherwise (and in the variance functions' parameters) central differences.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from ..errors import ModelSpecificationError
from ..interfaces import FloatArray
from ..structures.whitening import BoundResidual, solve_lower
from .criterion import LMMProblem
from .cross_products import lmm_cross_products
from .dense import DenseLMMProblem
from .direct import DirectLMMProblem
from .layout import Evaluation, TermData, ThetaLayout, profiled_objective

__all__ = ["GLSProblem", "ResidualLMMProblem"]

_potrf = sla.lapack.dpotrf
_trtri = sla.lapack.dtrtri

# Inner problems with [Z X y] up to this many columns are dense (as build_problem).
_DENSE_MAX_M = 120
# Blocked inner problems with a dense block up to this size form G directly.
_DIRECT_MAX_M = 64
# Inner problems kept (distinct phi): the optimiser's differences revisit a few.
_CACHE_SIZE = 8
# Largest [Z X y] fitted densely when residual groups span levels of a term.
_GENERAL_MAX_M = 2000


def _dense_term(t: TermData, n: int) -> FloatArray:
    """The term's ``n x (levels * dim)`` model matrix, dense, level-major columns."""
    out = np.zeros((n, t.q))
    rows = np.arange(n)
    for j in range(t.dim):
        out[rows, t.codes * t.dim + j] = t.Z[:, j]
    return out


class GLSProblem(ThetaLayout):
    """The profiled criterion of a linear model with independent residuals (no random
    effects): the inner problem of a GLS after whitening.  Same interface as
    :class:`~mixedmodels.linear.criterion.LMMProblem` with no theta."""

    def __init__(
        self,
        X: FloatArray,
        y: FloatArray,
        weights: FloatArray | None = None,
        matrix: FloatArray | None = None,
    ) -> None:
        sw = self._set_data(X, [], weights)
        if matrix is None:
            matrix = np.column_stack([X * sw[:, None], y * sw])
        # ``matrix``: [X y] with any weights applied (a whitened one, from the caller).
        self.C = matrix.T @ matrix
        self.m = self.p + 1
        self.q = self.q_rest = 0

    def evaluate(
        self, theta: FloatArray, reml: bool, need_factor: bool = True
    ) -> Evaluation | None:
        U, info = _potrf(self.C, lower=0, clean=1, overwrite_a=0)
        if info != 0:
            return None
        L = U.T
        d = np.diag(L)
        if not (d[:-1].min(initial=1.0) > 0.0 and np.isfinite(d.sum())):
            return None
        logdet_RX = 2.0 * float(np.sum(np.log(d[:-1])))
        pwrss = float(d[-1] ** 2)
        obj = profiled_objective(0.0, logdet_RX, pwrss, self.n, self.p, reml)
        obj -= self.log_weights_sum
        theta = np.zeros(0)
        return Evaluation(theta, float(obj), 0.0, logdet_RX, pwrss, L, np.empty(0), [])

    def objective(self, theta: FloatArray, reml: bool) -> float:
        ev = self.evaluate(theta, reml)
        return np.inf if ev is None else ev.objective

    def gradient(self, theta: FloatArray, reml: bool) -> tuple[float, FloatArray | None]:
        return self.objective(theta, reml), np.zeros(0)

    def solve(self, ev: Evaluation) -> tuple[FloatArray, list[FloatArray], FloatArray]:
        L = ev.L
        beta = sla.solve_triangular(L[:-1, :-1].T, L[-1, :-1], lower=False)
        return np.asarray(beta, dtype=np.float64), [], np.zeros(0)

    def vcov_unscaled(self, ev: Evaluation) -> FloatArray:
        inv, _ = _trtri(ev.L[:-1, :-1], lower=1)
        return np.asarray(inv.T @ inv)

    def conditional_variances(self, ev: Evaluation) -> list[FloatArray]:
        return []


class ResidualLMMProblem(ThetaLayout):
    """An LMM (or, without random-effect terms, a GLS) with a residual structure.

    The parameter vector is ``theta`` (the random-effect structures', in term order)
    then ``phi`` (:class:`~mixedmodels.residual.BoundResidual`'s).  The interface is
    that of :class:`~mixedmodels.linear.criterion.LMMProblem`, over the whole vector; evaluations
    keep the whitened problem's evaluation in ``Evaluation.inner``.
    """

    residual: BoundResidual

    def __init__(
        self,
        X: FloatArray,
        y: FloatArray,
        terms: list[TermData],
        residual: BoundResidual,
        group_names: list[str] | None = None,
    ) -> None:
        # Prior weights enter through the residual structure's variance (its whitening).
        self._set_data(X, terms, None)
        n, p = X.shape
        self.residual = residual
        self.n_phi = residual.n_params
        # Covariate of fitted-value variance functions (power()): held fixed during one
        # optimisation and updated between them by the fitter; ordinary least squares'
        # fitted values to start.
        self.fitted: FloatArray | None = None
        if residual.uses_fitted:
            self.fitted = X @ np.linalg.lstsq(X, y, rcond=None)[0]
        q = sum(t.q for t in terms)
        nested = self._nested()
        if not all(nested) and q + p + 1 > _GENERAL_MAX_M:
            self._nesting_error(nested, group_names)
        dims = [t.dim for t in terms]
        self._z_index = np.cumsum([0, *dims]).tolist()
        if all(nested):
            cols = [t.Z for t in terms] + [X, y[:, None]]
        else:
            # A term whose levels share residual groups: whitening mixes its levels'
            # rows, so the whole [Z X y] is whitened and fitted densely.
            cols = [_dense_term(t, n) for t in terms] + [X, y[:, None]]
            self._z_index = np.cumsum([0, *[t.q for t in terms]]).tolist()
        # Rows in the order of the residual batches (groups of one size, one after
        # another), so that whitening works on contiguous slabs, not gathers.  The
        # criterion does not depend on the order of the rows.
        self._perm: np.ndarray | None = None
        self._slabs: list[tuple[int, int]] = []
        if residual.correlation is not None and residual.batches:
            parts = [b.rows.ravel() for b in residual.batches]
            covered = np.zeros(n, dtype=bool)
            start = 0
            for part in parts:
                covered[part] = True
                self._slabs.append((start, start + part.size))
                start += part.size
            self._perm = np.concatenate([*parts, np.flatnonzero(~covered)])
        M = np.column_stack(cols)
        if self._perm is not None:
            M = M[self._perm]
        self._M = np.ascontiguousarray(M, dtype=np.float64)
        self._codes = [t.codes if self._perm is None else t.codes[self._perm] for t in terms]
        if not terms:
            self.kind = "gls"
        elif not all(nested):
            self.kind = "dense_general"
        elif q + p + 1 <= _DENSE_MAX_M:
            self.kind = "dense"
        else:
            m = q - terms[0].q + p + 1
            self.kind = "direct" if m <= _DIRECT_MAX_M else "blocked"
        # One term, correlated groups: per-level cross-products come from per-group Gram
        # matrices of the whitened slabs (each group lies in one level).
        self._gram_plan: list[tuple[int, int, int, int, np.ndarray, bool]] | None = None
        if self.kind == "direct" and len(terms) == 1 and self._slabs:
            codes = self._codes[0]
            plan = []
            for b, (lo, hi) in zip(residual.batches, self._slabs, strict=True):
                G, k = b.rows.shape
                levels = codes[lo:hi:k]
                plan.append((lo, hi, G, k, levels, bool(np.unique(levels).size == G)))
            rest = self._slabs[-1][1]
            if rest < n:
                levels = codes[rest:]
                unique = bool(np.unique(levels).size == n - rest)
                plan.append((rest, n, n - rest, 1, levels, unique))
            self._gram_plan = plan
        self._cache: dict[bytes, tuple[Any, float] | None] = {}
        # The whitened [Z X y] of the cached dense problems (the analytic gradient in
        # the correlation's parameters needs them).
        self._whitened: dict[bytes, tuple[FloatArray, Any]] = {}
        self._last_factors: Any = None
        self._dense_template: DenseLMMProblem | None = None
        built = self._inner(self.residual.start())
        if built is None:
            raise ModelSpecificationError(
                "the residual structure is not positive definite at its start"
            )
        self.m = int(built[0].m)

    # ------------------------------------------------------------------------------
    def _nested(self) -> list[bool]:
        """Per term: whether each residual group lies within one of its levels."""
        res = self.residual
        if res.correlation is None or res.groups is None or not res.batches:
            return [True] * len(self.terms)
        groups = res.groups
        n_groups = int(groups.max()) + 1
        out = []
        for t in self.terms:
            low = np.full(n_groups, np.iinfo(np.int64).max)
            high = np.full(n_groups, -1)
            np.minimum.at(low, groups, t.codes)
            np.maximum.at(high, groups, t.codes)
            out.append(bool(np.all(low == high)))
        return out

    def _nesting_error(self, nested: list[bool], group_names: list[str] | None) -> None:
        i = nested.index(False)
        name = group_names[i] if group_names else f"term {i + 1}"
        raise ModelSpecificationError(
            f"{self.residual.corr_label}: its groups span several levels of {name!r}; "
            f"that needs the dense criterion, limited to {_GENERAL_MAX_M} random and "
            f"fixed effects; group the correlation by {name!r} or a factor nested within "
            "the grouping factor of every random-effect term"
        )

    def split(self, params: FloatArray) -> tuple[FloatArray, FloatArray]:
        params = np.asarray(params, dtype=np.float64)
        return params[: self.n_theta], params[self.n_theta :]

    def start(self) -> FloatArray:
        """theta's start, then the residual structure's parameters'."""
        return np.concatenate([super().start(), self.residual.start()])

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """Bounds of theta, then of the residual structure's parameters."""
        lower, upper = super().bounds()
        rlo, rhi = self.residual.bounds()
        return np.concatenate([lower, rlo]), np.concatenate([upper, rhi])

    # ------------------------------------------------------------------------------
    def _inner(self, phi: FloatArray) -> tuple[Any, float] | None:
        """The whitened problem at ``phi`` and ``log |R(phi)|`` (cached)."""
        key = np.asarray(phi, dtype=np.float64).tobytes()
        if key in self._cache:
            return self._cache[key]
        out = self._build(np.asarray(phi, dtype=np.float64), key)
        if len(self._cache) >= _CACHE_SIZE:
            first = next(iter(self._cache))
            self._cache.pop(first)
            self._whitened.pop(first, None)
        self._cache[key] = out
        return out

    def _whiten(self, phi: FloatArray) -> tuple[FloatArray, float] | None:
        """``R^-1/2 [Z X y]`` (rows in batch order) and ``log |R|``."""
        res = self.residual
        corr, _ = res.split(phi)
        logdet = 0.0
        ls = res.log_sd(phi, self.fitted)
        if ls is not None:
            if not np.all(np.isfinite(ls)):
                return None
            if self._perm is not None:
                ls = ls[self._perm]
            out = self._M * np.exp(-ls)[:, None]
            logdet += 2.0 * float(ls.sum())
        else:
            out = self._M.copy()
        self._last_factors = None
        if self._slabs:
            factors = res.correlation_factors(corr)
            if factors is None:
                return None
            self._last_factors = factors
            c = out.shape[1]
            for b, (Lc, ld), (lo, hi) in zip(res.batches, factors, self._slabs, strict=True):
                G, k = b.rows.shape
                block = out[lo:hi].reshape(G, k, c)
                block[...] = solve_lower(Lc, b.pattern, block)
                logdet += float(b.counts @ ld)
        return out, logdet

    def _build(self, phi: FloatArray, key: bytes | None = None) -> tuple[Any, float] | None:
        white = self._whiten(phi)
        if white is None:
            return None
        Mt, logdet = white
        if not np.all(np.isfinite(logdet)):
            return None
        if key is not None and self.kind in ("dense", "dense_general"):
            self._whitened[key] = (Mt, self._last_factors)
        zi = self._z_index
        terms = [
            TermData(codes, t.n_levels, Mt[:, zi[i] : zi[i + 1]], t.structure)
            for i, (t, codes) in enumerate(zip(self.terms, self._codes, strict=True))
        ]
        p = self.p
        X = Mt[:, zi[-1] : zi[-1] + p]
        y = Mt[:, -1]
        inner: Any
        if self.kind == "gls":
            inner = GLSProblem(X, y, matrix=Mt)
        elif self.kind == "dense_general":
            inner = DenseLMMProblem(X, y, self.terms, matrix=Mt)
        elif self.kind == "dense":
            # one layout for every phi: later problems reuse the first one's index arrays
            if self._dense_template is None:
                inner = self._dense_template = DenseLMMProblem(X, y, terms)
            else:
                inner = self._dense_template.with_cross_products(self._cross_products(Mt))
        elif self.kind == "direct":
            grams = None if self._gram_plan is None else self._level_grams(Mt)
            inner = DirectLMMProblem(X, y, terms, grams=grams)
        else:
            inner = LMMProblem(X, y, terms)
        return inner, float(logdet)

    def _cross_products(self, Mt: FloatArray) -> FloatArray:
        """The dense inner problem's cross-products of the whitened ``[Z X y]``."""
        if self.kind == "dense_general":
            return np.asarray(Mt.T @ Mt, dtype=np.float64)
        zi, p = self._z_index, self.p
        terms = [
            TermData(codes, t.n_levels, Mt[:, zi[i] : zi[i + 1]], t.structure)
            for i, (t, codes) in enumerate(zip(self.terms, self._codes, strict=True))
        ]
        C = lmm_cross_products(Mt[:, zi[-1] : zi[-1] + p], Mt[:, -1], terms, None, dense=True).C
        assert C is not None  # dense=True
        return C

    def _correlation_gradient(
        self, theta: FloatArray, phi: FloatArray, inner: Any, reml: bool
    ) -> FloatArray | None:
        """The criterion's derivatives in the correlation's parameters, for dense inner
        problems: ``Mt = L^-1 M`` per residual group, so ``dMt = -Phi(L^-1 dR L^-T) Mt``
        (``Phi``: the lower triangle, half the diagonal) and ``d log|R| =
        tr(L^-1 dR L^-T)``; ``dC`` (bilinear in ``Mt``) goes through the inner
        criterion's :meth:`~DenseLMMProblem.cross_product_gradient`.  ``dR`` of the
        small per-pattern correlation matrices by central differences (error ~1e-12),
        the rest exact: one whitening per gradient instead of three per parameter."""
        res = self.residual
        key = np.asarray(phi, dtype=np.float64).tobytes()
        white = self._whitened.get(key)
        G = inner.cross_product_gradient(theta, reml)
        if white is None or white[1] is None or G is None or res.correlation is None:
            return None
        Mt, factors = white
        corr, _ = res.split(phi)
        lo_b, hi_b = res.bounds()
        out = np.empty(corr.size)
        # All batches' patterns padded to one size (diag(L, I), diag(dR, 0)): one
        # inverse and one set of products for all group sizes.
        sizes = [Lc.shape for Lc, _ in factors]
        kmax = max(k for _, k, _ in sizes)
        offsets = np.cumsum([0, *[P for P, _, _ in sizes]]).tolist()
        Li = np.zeros((offsets[-1], kmax, kmax))
        Li[:, np.arange(kmax), np.arange(kmax)] = 1.0
        for (Lc, _), at in zip(factors, offsets, strict=False):
            P, k, _ = Lc.shape
            Li[at : at + P, :k, :k] = Lc
        Li = np.linalg.inv(Li)
        counts = np.concatenate([b.counts for b in res.batches])
        c = Mt.shape[1]
        for i in range(corr.size):
            h = 1e-6 * max(1.0, abs(corr[i]))
            if corr[i] + h > hi_b[i] or corr[i] - h < lo_b[i]:
                return None
            up, down = corr.copy(), corr.copy()
            up[i] += h
            down[i] -= h
            dR = np.zeros_like(Li)
            for b, at, (P, k, _) in zip(res.batches, offsets, sizes, strict=False):
                dR[at : at + P, :k, :k] = (
                    np.asarray(res.correlation.correlations(up, b.patterns), dtype=np.float64)
                    - np.asarray(res.correlation.correlations(down, b.patterns), dtype=np.float64)
                ) / (2.0 * h)
            S = Li @ dR @ Li.transpose(0, 2, 1)
            dlogdet = float(counts @ np.trace(S, axis1=1, axis2=2))
            K = np.tril(S)
            K[:, np.arange(kmax), np.arange(kmax)] *= 0.5
            dMt = np.zeros_like(Mt)
            for b, at, (P, k, _), (lo, hi) in zip(
                res.batches, offsets, sizes, self._slabs, strict=False
            ):
                block = Mt[lo:hi].reshape(b.rows.shape[0], k, c)
                Kb = K[at : at + P, :k, :k]
                dMt[lo:hi] = -np.matmul(Kb[b.pattern], block).reshape(hi - lo, c)
            # dC = B(dMt, Mt) + B(Mt, dMt) for the bilinear B(A, A) = C(A): exact from
            # two cross-products, dMt scaled to Mt's size for the rounding.
            size = float(np.linalg.norm(dMt))
            if size == 0.0:
                dC = np.zeros_like(G)
            else:
                t = float(np.linalg.norm(Mt)) / size
                dC = (self._cross_products(Mt + t * dMt) - self._cross_products(Mt - t * dMt)) / (
                    2.0 * t
                )
            out[i] = float(np.sum(G * dC)) + dlogdet
        return out if np.isfinite(out).all() else None

    def _level_grams(self, Mt: FloatArray) -> FloatArray:
        """``(levels, c, c)``: ``[Z X y]' [Z X y]`` over each level's whitened rows."""
        assert self._gram_plan is not None
        c = Mt.shape[1]
        out = np.zeros((self.terms[0].n_levels, c, c))
        for lo, hi, G, k, levels, unique in self._gram_plan:
            block = Mt[lo:hi].reshape(G, k, c)
            gram = np.matmul(block.transpose(0, 2, 1), block)
            if unique:
                out[levels] += gram
            else:
                np.add.at(out, levels, gram)
        return out

    def inner_problem(self, params: FloatArray) -> Any:
        """The whitened problem at the residual parameters of ``params``."""
        built = self._inner(self.split(params)[1])
        if built is None:
            raise ModelSpecificationError("the residual structure is not positive definite here")
        return built[0]

    # ------------------------------------------------------------------------------
    def evaluate(
        self, params: FloatArray, reml: bool, need_factor: bool = True
    ) -> Evaluation | None:
        params = np.asarray(params, dtype=np.float64)
        theta, phi = self.split(params)
        built = self._inner(phi)
        if built is None:
            return None
        inner, logdet = built
        ev = inner.evaluate(theta, reml, need_factor)
        if ev is None:
            return None
        return Evaluation(
            params,
            ev.objective + logdet,
            ev.logdet_L,
            ev.logdet_RX,
            ev.pwrss,
            ev.L,
            ev.class_T,
            ev.lambdas,
            inner=ev,
        )

    def objective(self, params: FloatArray, reml: bool) -> float:
        ev = self.evaluate(params, reml, need_factor=False)
        return np.inf if ev is None else ev.objective

    def gradient(self, params: FloatArray, reml: bool) -> tuple[float, FloatArray | None]:
        """Analytic in theta (the whitened problem's) and, for dense inner problems, in
        the correlation's parameters; central differences in the other residual ones."""
        params = np.asarray(params, dtype=np.float64)
        theta, phi = self.split(params)
        built = self._inner(phi)
        if built is None:
            return np.inf, None
        inner, logdet = built
        value, g_theta = inner.gradient(theta, reml)
        if not np.isfinite(value) or g_theta is None:
            return value + logdet, None
        g_phi = np.empty(phi.size)
        analytic = 0
        if self.kind in ("dense", "dense_general") and self.residual.correlation is not None:
            g_corr = self._correlation_gradient(theta, phi, inner, reml)
            if g_corr is not None:
                analytic = g_corr.size
                g_phi[:analytic] = g_corr
        for i in range(analytic, phi.size):
            h = 1e-5 * max(1.0, abs(phi[i]))
            up, down = params.copy(), params.copy()
            up[self.n_theta + i] += h
            down[self.n_theta + i] -= h
            fu, fd = self.objective(up, reml), self.objective(down, reml)
            if not (np.isfinite(fu) and np.isfinite(fd)):
                return value + logdet, None
            g_phi[i] = (fu - fd) / (2 * h)
        return value + logdet, np.concatenate([g_theta, g_phi])

    def _inner_of(self, ev: Evaluation) -> tuple[Any, Evaluation]:
        assert ev.inner is not None
        return self.inner_problem(ev.theta), ev.inner

    def solve(self, ev: Evaluation) -> tuple[FloatArray, list[FloatArray], FloatArray]:
        inner, iev = self._inner_of(ev)
        return inner.solve(iev)  # type: ignore[no-any-return]

    def vcov_unscaled(self, ev: Evaluation) -> FloatArray:
        inner, iev = self._inner_of(ev)
        return np.asarray(inner.vcov_unscaled(iev), dtype=np.float64)

    def conditional_variances(self, ev: Evaluation) -> list[FloatArray]:
        inner, iev = self._inner_of(ev)
        return list(inner.conditional_variances(iev))
