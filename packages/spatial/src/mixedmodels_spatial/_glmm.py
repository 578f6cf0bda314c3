"""Generalized linear models with a spatial Gaussian field, by the Laplace approximation
over the field (glmmTMB's ``y ~ x + mat(pos + 0 | group)`` with one group), the field's
prior a nearest-neighbour GP (sparse precision) or, with ``m = u - 1``, the exact GP.

``eta = X beta + Z w``, ``w ~ N(0, sigma^2 R~)`` at the ``u`` distinct locations,
``R~^{-1} = Q`` (:mod:`._latent`).  As glmmTMB (TMB's Laplace, nothing profiled):

``-log L = -sum l_i(eta^) + w^' Q w^ / (2 sigma^2) + (u log sigma^2 + sum log F_i) / 2
+ log det H / 2``, ``H = Z' W Z + Q / sigma^2``, ``W = -d^2 l / d eta^2``,

at the mode ``w^`` (Newton on the sparse ``H``, SuperLU, warm-started from the last
mode; CHOLMOD or SuperLU with the ordering kept, :mod:`._sparse_cholesky`).  The outer
parameters (``beta``, ``log sigma``, ``log range``, ``log nu``) are optimised by L-BFGS-B
on the analytic gradient (:meth:`_Problem.value_and_gradient`: the selected inverse of
``H`` and the derivatives of each location's ``m x m`` neighbour system).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, sparse, special, stats

import mixedmodels as mm

from ._batched import packed_index
from ._distance import anisotropy_matrix
from ._kernel import SpatialKernel, make_kernel
from ._latent import (
    LatentPlan,
    latent_plan,
    neighbour_weight_derivatives,
    neighbour_weights,
    precision,
    precision_lower,
)
from ._selinv import SelectedInverter
from ._sparse_cholesky import SparseCholesky

FloatArray = NDArray[np.float64]

__all__ = ["GLMFamily", "SpatialGLMMFit", "glm_family", "spatial_glmm"]

# Links each family takes (the first is the default).
_LINKS: dict[str, tuple[str, ...]] = {
    "poisson": ("log",),
    "binomial": ("logit", "probit", "cloglog"),
    "Gamma": ("log",),
    "negative_binomial": ("log",),
}
_FAMILY_ALIASES = {"gamma": "Gamma", "nbinom2": "negative_binomial"}
_FAMILIES = tuple(_LINKS)
# Outer parameters from which the analytic gradient is the default (decision 0021).
_ANALYTIC_FROM = 8


def _inverse_link(link: str, eta: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(mu, 1 - mu)`` of a binomial link (the complement computed directly)."""
    if link == "logit":
        return special.expit(eta), special.expit(-eta)
    if link == "probit":
        return special.ndtr(eta), special.ndtr(-eta)
    t = np.exp(eta)  # cloglog
    return -np.expm1(-t), np.exp(-t)


def _link_derivatives(
    link: str, eta: FloatArray, mu: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``d^k mu / d eta^k``, ``k = 1, 2, 3``, of a binomial link."""
    if link == "logit":
        m1 = mu * (1.0 - mu)
        return m1, m1 * (1.0 - 2.0 * mu), m1 * (1.0 - 6.0 * m1)
    if link == "probit":
        phi = np.exp(-0.5 * eta * eta) / np.sqrt(2.0 * np.pi)
        return phi, -eta * phi, (eta * eta - 1.0) * phi
    t = np.exp(eta)  # cloglog: mu = 1 - exp(-t), t = exp(eta)
    m1 = t * np.exp(-t)
    return m1, m1 * (1.0 - t), m1 * ((1.0 - t) ** 2 - t)


@dataclass(frozen=True)
class GLMFamily:
    """A family and link of :func:`spatial_glmm`: the log-likelihood of each
    observation and its derivatives in ``eta``.

    ``information="observed"``: ``W = -d^2 l / d eta^2`` (the Laplace approximation proper,
    glmmTMB's / TMB's); ``"expected"``: the Fisher weights ``mu'^2 / Var(y)`` (lme4's and
    the core's PIRLS weights for a link that is not canonical).  The two coincide for the
    canonical links (Poisson log, binomial logit).  Negative binomial (NB2, size
    ``theta``) and Gamma (dispersion ``phi``, shape ``1 / phi``) carry one family
    parameter, estimated on the log scale."""

    name: str
    link: str
    information: str = "observed"

    @property
    def n_params(self) -> int:
        return 1 if self.name in ("Gamma", "negative_binomial") else 0

    @property
    def parameter_name(self) -> str:
        return {"Gamma": "dispersion", "negative_binomial": "size"}.get(self.name, "")

    @property
    def canonical(self) -> bool:
        return (self.name, self.link) in (("poisson", "log"), ("binomial", "logit"))

    @property
    def uses_observed(self) -> bool:
        return self.information == "observed" or self.canonical

    def inverse(self, eta: FloatArray) -> FloatArray:
        """The mean ``mu`` (binomial: the probability)."""
        if self.name == "binomial":
            return _inverse_link(self.link, eta)[0]
        return np.exp(eta)

    def mu_eta(self, eta: FloatArray) -> FloatArray:
        if self.name == "binomial":
            mu = _inverse_link(self.link, eta)[0]
            return _link_derivatives(self.link, eta, mu)[0]
        return np.exp(eta)

    def terms(
        self, y: FloatArray, eta: FloatArray, trials: FloatArray, log_fp: float = 0.0
    ) -> tuple[float, FloatArray, FloatArray, FloatArray]:
        """``(sum l_i, dl/deta, W, dW/deta)``, constants included (R's densities);
        ``log_fp``: the log of the family parameter."""
        observed = self.uses_observed
        if self.name == "poisson":
            mu = np.exp(eta)
            ll = float(np.sum(y * eta - mu - special.gammaln(y + 1.0)))
            return ll, y - mu, mu, mu
        if self.name == "binomial":
            mu, q = _inverse_link(self.link, eta)
            const = (
                special.gammaln(trials + 1)
                - special.gammaln(y + 1)
                - special.gammaln(trials - y + 1)
            )
            f = trials - y
            with np.errstate(divide="ignore", invalid="ignore"):
                ll = float(
                    np.sum(
                        np.where(y > 0, y * np.log(mu), 0.0)
                        + np.where(f > 0, f * np.log(q), 0.0)
                        + const
                    )
                )
                if self.link == "logit":
                    w = trials * mu * q
                    return ll, y - trials * mu, w, w * (q - mu)
                m1, m2, m3 = _link_derivatives(self.link, eta, mu)
                l1 = y / mu - f / q
                d1 = l1 * m1
                if observed:
                    l2 = -y / mu**2 - f / q**2
                    l3 = 2.0 * y / mu**3 - 2.0 * f / q**3
                    w = -(l2 * m1 * m1 + l1 * m2)
                    dw = -(l3 * m1**3 + 3.0 * l2 * m1 * m2 + l1 * m3)
                else:  # Fisher: trials mu'^2 / (mu q)
                    v = mu * q
                    w = trials * m1 * m1 / v
                    dw = trials * (2.0 * m1 * m2 / v - m1**3 * (q - mu) / v**2)
            return ll, d1, w, dw
        mu = np.exp(eta)
        fp = float(np.exp(log_fp))
        if self.name == "Gamma":  # shape k = 1 / phi, log link
            k = 1.0 / fp
            r = y / mu
            ll = float(np.sum(k * np.log(k * r) - k * r - np.log(y) - special.gammaln(k)))
            if observed:
                return ll, k * (r - 1.0), k * r, -k * r
            return ll, k * (r - 1.0), np.full_like(eta, k), np.zeros_like(eta)
        # negative binomial NB2, size theta, log link
        th = fp
        s = th + mu
        ll = float(
            np.sum(
                special.gammaln(y + th)
                - special.gammaln(th)
                - special.gammaln(y + 1.0)
                + th * np.log(th / s)
                + y * (eta - np.log(s))
            )
        )
        d1 = y - (y + th) * mu / s
        if observed:
            return ll, d1, (y + th) * th * mu / s**2, (y + th) * th * mu * (th - mu) / s**3
        return ll, d1, th * mu / s, th * th * mu / s**2


def glm_family(name: str, link: str | None = None, information: str = "observed") -> GLMFamily:
    """The :class:`GLMFamily` of ``name`` and ``link``, or a clear error for one that
    :func:`spatial_glmm` does not take."""
    fam = _FAMILY_ALIASES.get(name, name)
    if fam not in _LINKS:
        raise ValueError(
            f"spatial_glmm takes the families {list(_FAMILIES)}; got family={name!r} "
            "(fit other families with an exact field in mm.glmm, e.g. "
            "'y ~ x + exp(pos + 0 | group)')"
        )
    links = _LINKS[fam]
    chosen = links[0] if link is None else link
    if chosen not in links:
        raise ValueError(
            f"spatial_glmm's {fam} family takes the links {list(links)}; got link={link!r}"
        )
    if information not in ("observed", "expected"):
        raise ValueError(f"information must be 'observed' or 'expected', got {information!r}")
    return GLMFamily(fam, chosen, information)


@dataclass
class _Mode:
    """The field's conditional mode and what the Laplace value and gradient need there."""

    w: FloatArray
    value: float
    d1: FloatArray
    d2: FloatArray
    d3: FloatArray


class _Problem:
    """The Laplace objective of a spatial GLMM at outer parameters ``z`` and its
    gradient (:meth:`value_and_gradient`)."""

    def __init__(
        self,
        family: str | GLMFamily,
        kernel: SpatialKernel,
        lp: LatentPlan,
        y: FloatArray,
        X: FloatArray,
        trials: FloatArray,
        offset: FloatArray | None = None,
    ) -> None:
        self.family = family if isinstance(family, GLMFamily) else glm_family(family)
        self.kernel = kernel
        self.lp = lp
        self.y, self.X, self.trials = y, X, trials
        self.offset = np.zeros(y.size) if offset is None else np.asarray(offset, np.float64)
        self.log_fp = 0.0  # the family parameter's log (NB size, Gamma dispersion)
        self.Z = lp.z()
        self.Zt = self.Z.T.tocsr()
        self.p = X.shape[1]
        self.w = np.zeros(lp.u)  # the last mode (warm start)
        self.n_inner = 0
        self.chol = SparseCholesky(lp.backend)
        self.selinv = SelectedInverter()
        self._clique: tuple[int, Any] | None = None

    @property
    def n_outer(self) -> int:
        return self.p + 1 + self.kernel.n_params + self.family.n_params

    def split(self, z: FloatArray) -> tuple[FloatArray, float, FloatArray]:
        """``(beta, log sd, kernel parameters)``; the family parameter (last, if any)
        is set on the problem."""
        q = self.p + 1 + self.kernel.n_params
        if self.family.n_params:
            self.log_fp = float(z[q])
        return z[: self.p], float(z[self.p]), z[self.p + 1 : q]

    def weights(self, params: FloatArray) -> tuple[FloatArray, FloatArray]:
        """The prior's neighbour weights and conditional variances (with a nugget: of
        the location-level effect, field plus nugget)."""
        return neighbour_weights(self.kernel, params, self.lp.vp, nugget=True)

    def _hessian(
        self, d2: FloatArray, prior: tuple[FloatArray, FloatArray, float]
    ) -> sparse.csc_matrix:
        """``H = Z' W Z + Q / sigma^2`` (``Z' W Z`` diagonal: one location per row) on the
        neighbour graph's kept pattern: entries that are exactly zero (a correlation that
        underflows) stay in it, so the selected inverse's ordering and the cliques'
        positions in it stay too."""
        B, F, s2 = prior
        low = precision_lower(self.lp.vp, B, F, 1.0 / s2, np.bincount(self.lp.loc, d2, self.lp.u))
        coo = low.tocoo()
        off = coo.row != coo.col
        rows = np.concatenate([coo.row, coo.col[off]])
        cols = np.concatenate([coo.col, coo.row[off]])
        data = np.concatenate([coo.data, coo.data[off]])
        return sparse.csc_matrix((data, (rows, cols)), shape=low.shape)

    def _factor_h(self, d2: FloatArray, prior: tuple[FloatArray, FloatArray, float]) -> None:
        """Factor ``H`` from its lower triangle summed into the kept pattern."""
        B, F, s2 = prior
        low = precision_lower(self.lp.vp, B, F, 1.0 / s2, np.bincount(self.lp.loc, d2, self.lp.u))
        self.chol.factor(low, lower=True)

    def _mode(
        self, beta: FloatArray, P: sparse.csc_matrix, prior: tuple[FloatArray, FloatArray, float]
    ) -> _Mode:
        """Newton with step halving from the last mode; on return ``self.chol`` holds
        the factor of ``H`` at the mode."""
        fixed = self.X @ beta + self.offset
        w = self.w.copy()
        fam, log_fp = self.family, self.log_fp

        def value(w: FloatArray) -> tuple[float, FloatArray, FloatArray, FloatArray]:
            ll, d1, d2, d3 = fam.terms(self.y, fixed + self.Z @ w, self.trials, log_fp)
            return -ll + 0.5 * float(w @ (P @ w)), d1, d2, d3

        f, d1, d2, d3 = value(w)
        fresh = False  # whether self.chol factors H at the current w
        for _ in range(100):  # Newton iterations on the field (few)
            g = self.Zt @ d1 - P @ w
            self._factor_h(d2, prior)
            fresh = True
            self.n_inner += 1
            if float(np.max(np.abs(g))) < 1e-9 * max(1.0, float(np.max(np.abs(w)))):
                break
            step = self.chol.solve(g)
            t = 1.0
            for _ in range(30):  # step halving
                f_new, d1_new, d2_new, d3_new = value(w + t * step)
                if f_new <= f + 1e-12 * abs(f):
                    break
                t *= 0.5
            else:
                break
            w, f, d1, d2, d3 = w + t * step, f_new, d1_new, d2_new, d3_new
            fresh = False
            if float(np.max(np.abs(t * step))) < 1e-11:
                break
        if not fresh:
            self._factor_h(d2, prior)
        self.w = w
        return _Mode(w, f, d1, d2, d3)

    def objective(self, z: FloatArray) -> float:
        """``-log L`` (Laplace), or ``inf`` where the inner problem fails."""
        try:
            beta, log_sigma, params = self.split(np.asarray(z, dtype=np.float64))
            B, F = self.weights(params)
            s2 = float(np.exp(2.0 * log_sigma))
            P = (precision(self.lp.vp, B, F) * (1.0 / s2)).tocsc()
            mode = self._mode(beta, P, (B, F, s2))
        except (np.linalg.LinAlgError, RuntimeError, FloatingPointError):
            return np.inf
        logdet_prior = float(np.sum(np.log(F))) + self.lp.u * np.log(s2)
        return float(mode.value + 0.5 * logdet_prior + 0.5 * self.chol.logdet)

    def value_and_gradient(self, z: FloatArray) -> tuple[float, FloatArray]:
        """``-log L`` and its gradient in ``z = (beta, log sd, kernel parameters)``.

        With ``H = Z'WZ + P``, ``P = Q / sigma^2``, at the mode ``w`` (where the
        penalised log-likelihood is stationary, so only explicit derivatives and
        ``log det H`` through ``w`` count): ``lev = diag(H^{-1})`` and ``H^{-1}`` on
        ``Q``'s cliques from the selected inverse; ``g_w = lev * Z'W' / 2`` the
        derivative of ``log det H / 2`` in ``w`` and ``s = H^{-1} g_w``; the mode moves
        by ``dw = -H^{-1} dP w`` (kernel parameters, ``sigma``) and
        ``dw = -H^{-1} Z'WX dbeta``.  ``dQ`` from ``dA`` and ``dF`` (each location's
        ``m x m`` system): ``Q = sum_i a_i a_i'``, ``a_i = (e_i - b_i) / sqrt(F_i)``.
        """
        z = np.asarray(z, dtype=np.float64)
        bad = (np.inf, np.zeros_like(z))
        try:
            beta, log_sigma, params = self.split(z)
            vp = self.lp.vp
            if not self.family.uses_observed:
                raise NotImplementedError("the analytic gradient needs the observed information")
            B, F, dB, dF = neighbour_weight_derivatives(self.kernel, params, vp)
            s2 = float(np.exp(2.0 * log_sigma))
            P = (precision(vp, B, F) * (1.0 / s2)).tocsc()
            mode = self._mode(beta, P, (B, F, s2))
            logdet_h = self.chol.logdet
            H = self._hessian(mode.d2, (B, F, s2))
            sel = self.selinv(H)
        except (np.linalg.LinAlgError, RuntimeError, FloatingPointError):
            return bad
        loc, u = self.lp.loc, self.lp.u
        value = float(
            mode.value + 0.5 * (float(np.sum(np.log(F))) + u * np.log(s2)) + 0.5 * logdet_h
        )
        w = mode.w
        lev = sel.diagonal()
        g_w = 0.5 * lev * np.bincount(loc, mode.d3, u)
        s = self.chol.solve(g_w)
        grad = np.empty_like(z)
        # beta: explicit (-X'd1, log det H through eta) and the mode's move.
        grad[: self.p] = self.X.T @ (-mode.d1 + 0.5 * lev[loc] * mode.d3 - mode.d2 * s[loc])
        # log sigma: dP = -2 P.
        Pw = P @ w
        grad[self.p] = (
            -float(w @ Pw) + float(lev @ np.bincount(loc, mode.d2, u)) + 2.0 * float(s @ Pw)
        )
        # Kernel parameters, location by location on its conditioning set.
        aug = vp.augmented()
        root = np.sqrt(F)
        a = np.concatenate([-B.T, np.ones((u, 1))], axis=1) / root[:, None]  # (u, k)
        wa, sa = w[aug], s[aug]
        aw, as_ = np.sum(a * wa, axis=1), np.sum(a * sa, axis=1)
        # H^{-1} on each location's clique (packed lower triangles, (T, u)); where the
        # entries lie is fixed while the ordering stays.
        rows_t, cols_t = packed_index(aug.shape[1])
        if self._clique is None or self._clique[0] != sel.version:
            pos = sel.positions(aug[:, rows_t].T, aug[:, cols_t].T)
            self._clique = (sel.version, pos.astype(np.int32 if pos.max() < 2**31 else np.int64))
        zc = sel.values()[self._clique[1]]
        half = np.where(rows_t == cols_t, 0.5, 1.0)[:, None]
        for j in range(dB.shape[0]):  # a loop over kernel parameters (few)
            da = np.concatenate([-dB[j].T, np.zeros((u, 1))], axis=1) / root[:, None]
            da -= a * (0.5 * dF[j] / F)[:, None]
            daw, das = np.sum(da * wa, axis=1), np.sum(da * sa, axis=1)
            # tr(H^{-1} dQ) = 2 sum_i a_i' Z_i da_i (Z_i symmetric: lower triangle).
            pair = a[:, rows_t].T * da[:, cols_t].T + a[:, cols_t].T * da[:, rows_t].T
            trace = 2.0 * float(np.sum(zc * pair * half))
            grad[self.p + 1 + j] = (
                float(aw @ daw) / s2
                + 0.5 * float(np.sum(dF[j] / F))
                + 0.5 * trace / s2
                - float(as_ @ daw + das @ aw) / s2
            )
        if self.family.n_params:
            # The family parameter (log scale): explicit, log det H through W, and the
            # mode's move dw = H^{-1} Z' d(d1)/dlog fp; the per-observation derivatives
            # by central differences of the closed-form terms (elementwise, cheap).
            eta = self.X @ beta + self.offset + w[loc]
            h = 1e-5
            up = self.family.terms(self.y, eta, self.trials, self.log_fp + h)
            down = self.family.terms(self.y, eta, self.trials, self.log_fp - h)
            dll = (up[0] - down[0]) / (2.0 * h)
            dd1 = (up[1] - down[1]) / (2.0 * h)
            dW = (up[2] - down[2]) / (2.0 * h)
            grad[-1] = -dll + 0.5 * float(lev[loc] @ dW) + float(s[loc] @ dd1)
        return value, grad


_RE_FORM_NONE = ("NA", "~0", "~ 0")
_CHUNK_DOUBLES = 500_000


class SpatialGLMMFit:
    """A spatial GLMM fitted by :func:`spatial_glmm`.

    Attributes
    ----------
    fixef : pandas.Series
        Fixed effects.
    sd : float
        The SD of the location-level effect (glmmTMB's ``sd``; with a nugget, of field
        plus nugget: the field's SD is ``sd * sqrt(1 - nugget)``).
    loglik : float
        Laplace log-likelihood (nearest-neighbour prior unless ``m = u - 1``).
    mode : numpy.ndarray
        The location-level effect's conditional mode at each distinct location, in the
        plan's order (``coords`` gives the locations).
    """

    def __init__(
        self,
        problem: _Problem,
        z: FloatArray,
        opt: Any,
        names: list[str],
        model: Any = None,
        coord_names: Sequence[str] = (),
    ) -> None:
        self._problem = problem
        self.z = np.asarray(z, dtype=np.float64)
        beta, log_sigma, params = problem.split(self.z)
        self.loglik = -problem.objective(self.z)
        self.fixef = pd.Series(beta, index=names, name="estimate")
        self.sd = float(np.exp(log_sigma))
        self.params = params
        self.family_parameter = float(np.exp(problem.log_fp)) if problem.family.n_params else None
        self.kernel = problem.kernel
        self.m = problem.lp.m
        self.family = problem.family
        self.converged = bool(opt.success)
        self.optimizer_message = str(opt.message)
        self.n_evaluations = int(opt.nfev)
        self.nobs = problem.y.size
        self.df = self.z.size
        self.mode = problem.w.copy()
        self.coords = problem.lp.vp.coords
        self.model = model
        self.coord_names = list(coord_names)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.df

    def glmmtmb_theta(self) -> FloatArray:
        """glmmTMB's ``theta``: ``log(sd)``, ``log(range)`` (and ``log(smoothness)``); a
        nugget's ``logit`` and an anisotropy's parameters follow (glmmTMB has neither: its
        nugget is a separate ``(1 | pos)`` term)."""
        return np.concatenate([[np.log(self.sd)], self.params])

    def structure_parameters(self, conf_int: bool = False, level: float = 0.95) -> pd.DataFrame:
        """``sd``, ``range`` (then ``smoothness``, ``nugget``, the anisotropy's angle and
        ratio) and the family parameter (NB ``size``, Gamma ``dispersion``); with
        ``conf_int``, Wald intervals on the internal scale (``log``, ``logit``, the
        angle's ``pi * logistic``) from :meth:`covariance`, transformed (glmmTMB's
        ``confint(method = "wald")`` for its log-scale theta)."""
        rows = [("sd", self.sd), *self.kernel.natural_parameters(self.params)]
        if self.family_parameter is not None:
            rows.append((self.family.parameter_name, self.family_parameter))
        table = pd.DataFrame(rows, columns=["term", "estimate"])
        if not conf_int:
            return table
        if not 0.0 < float(level) < 1.0:
            raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
        p = self.fixef.size
        se = np.sqrt(np.diag(self.covariance().to_numpy()))[p:]
        zq = float(stats.norm.ppf(0.5 + float(level) / 2.0))
        internal = self.z[p:]
        q = self.kernel.n_params

        def natural(j: int, value: float) -> float:
            if j == 0:
                return float(np.exp(value))
            if j <= q:
                params = self.params.copy()
                params[j - 1] = value
                return float(self.kernel.natural_parameters(params)[j - 1][1])
            return float(np.exp(value))

        ends = [
            sorted((natural(j, v - zq * e), natural(j, v + zq * e)))
            for j, (v, e) in enumerate(zip(internal, se, strict=True))
        ]
        table["std_error_internal"] = se
        table["lower"] = [a for a, _ in ends]
        table["upper"] = [b for _, b in ends]
        return table

    def covariance(self) -> pd.DataFrame:
        """Covariance of all outer parameters ``z = (beta, log sd, kernel parameters[, log
        family parameter])``: the inverse Hessian of ``-log L`` (Laplace) at the
        estimates, by central differences of the analytic gradient where there is one
        (step 1e-4), else of the objective (step 1e-3: the inner Newton's tolerance
        makes it noisy at ~1e-10); glmmTMB's ``vcov(fit, full = TRUE)``."""
        P = self._problem
        z = self.z
        n = z.size
        H = np.empty((n, n))
        if P.family.uses_observed:
            h = 1e-4
            for j in range(n):  # a loop over outer parameters (few)
                e = np.zeros(n)
                e[j] = h
                H[:, j] = (P.value_and_gradient(z + e)[1] - P.value_and_gradient(z - e)[1]) / (
                    2.0 * h
                )
        else:
            h = 1e-3
            f0 = P.objective(z)
            step = np.eye(n) * h
            for i in range(n):  # loops over outer parameters (few)
                H[i, i] = (
                    -P.objective(z + 2 * step[i])
                    + 16.0 * P.objective(z + step[i])
                    - 30.0 * f0
                    + 16.0 * P.objective(z - step[i])
                    - P.objective(z - 2 * step[i])
                ) / (12.0 * h * h)
                for j in range(i):
                    H[i, j] = H[j, i] = (
                        P.objective(z + step[i] + step[j])
                        - P.objective(z + step[i] - step[j])
                        - P.objective(z - step[i] + step[j])
                        + P.objective(z - step[i] - step[j])
                    ) / (4.0 * h * h)
        self._at_mode()
        H = 0.5 * (H + H.T)
        names = [*self.fixef.index, "log(sd)", *self.kernel.param_names()]
        if P.family.n_params:
            names.append(f"log({P.family.parameter_name})")
        return pd.DataFrame(np.linalg.inv(H), index=names, columns=names)

    def _at_mode(self) -> tuple[FloatArray, FloatArray, float, FloatArray]:
        """Re-establish the mode at the estimates: ``(beta, kernel parameters, sigma^2,
        W at the mode)``; the problem's factor then holds ``H`` there."""
        P = self._problem
        P.w = self.mode.copy()
        P.objective(self.z)
        beta, log_sigma, params = P.split(self.z)
        eta = P.X @ beta + P.offset + P.w[P.lp.loc]
        _, _, W, _ = P.family.terms(P.y, eta, P.trials, P.log_fp)
        return beta, params, float(np.exp(2.0 * log_sigma)), W

    def _fixed_pieces(self, W: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(H^{-1} Z'WX (u, p), V_beta)``: ``V_beta = (X'WX - X'WZ H^{-1} Z'WX)^{-1}``,
        the fixed effects' covariance from the joint Laplace precision of ``(beta, w)``
        (covariance parameters taken as known; lme4's ``vcov`` of a GLMM)."""
        P = self._problem
        WX = P.X * W[:, None]
        ZWX = np.column_stack([np.bincount(P.lp.loc, WX[:, j], P.lp.u) for j in range(P.p)]).astype(
            np.float64
        )
        HB = P.chol.solve(ZWX)
        S = P.X.T @ WX - ZWX.T @ HB
        return HB, np.asarray(np.linalg.inv(0.5 * (S + S.T)), dtype=np.float64)

    def vcov(self) -> pd.DataFrame:
        """The fixed effects' covariance, conditional on the covariance parameters (the
        Schur complement of the field in the joint Laplace precision of ``(beta, w)``,
        as lme4's ``vcov`` of a GLMM and the core's)."""
        *_, W = self._at_mode()
        _, V = self._fixed_pieces(W)
        names = list(self.fixef.index)
        return pd.DataFrame(V, index=names, columns=names)

    def predict(
        self,
        newdata: Any,
        type: str = "link",
        re_form: str | None = None,
        m: int | None = None,
        nugget: bool = True,
        uncertainty: str = "fixed",
        level: float = 0.95,
    ) -> pd.DataFrame:
        """Predict at new locations: kriging of the location-level effect conditional on
        the fitted parameters and the Laplace approximation of its posterior.

        Each new location joins the nearest-neighbour prior last, conditioned on its
        ``m`` nearest fitted locations ``N`` (kriging weights ``b``, conditional variance
        ``sigma^2 F0``).  The Laplace posterior of the field at the fitted locations is
        ``N(w^, H^{-1})`` (``w^`` the mode, ``H = Z'WZ + Q / sigma^2``), so the linear
        predictor ``eta0 = x0' beta + w0`` has mean ``x0' beta + b' w^_N`` and variance
        ``sigma^2 F0 + b' (H^{-1})_NN b`` plus, with ``uncertainty="fixed"``,
        ``u' V_beta u``, ``u = x0 - (H^{-1} Z'WX)_N' b`` (the joint Laplace precision of
        ``beta`` and ``w``: the core's conditional ``se.fit``, Henderson's equations).
        With ``m`` = all fitted locations and ``m = u - 1`` in the fit this is exact
        kriging under the exact GP (the default for such a fit).  A new location on a
        fitted one gets that location's posterior.

        Parameters
        ----------
        newdata
            Data frame with the fixed-effect columns and the coordinates.
        type
            ``"link"``: the linear predictor; ``"response"``: the mean ``g^{-1}(eta0)``
            at the predicted ``eta0`` (the posterior median of the mean), ``se`` by the
            delta method, the interval's ends transformed, and ``mean``: the mean's
            expectation over the normal predictive of ``eta0`` (lognormal in closed form
            for a log link, Gauss-Hermite quadrature with 40 nodes for the binomial
            links: the logit-normal mean).
        re_form
            ``None`` (default): with the field; ``"NA"`` or ``"~0"``: the fixed effects
            only (population level, variance ``x0' V_beta x0``).
        m
            Neighbours of each new location (default: the fit's ``m``; every fitted
            location when the fit is exact, ``m = u - 1``).
        nugget
            Whether a new location's effect includes its own nugget (default: the
            linear predictor of a new observation there); ``False``: the smooth field
            (no difference without a nugget).
        uncertainty
            ``"fixed"`` (default): the variance includes the fixed effects' uncertainty,
            the covariance parameters taken as known (the core's ``se.fit``);
            ``"none"``: all parameters known; ``"all"``: TMB's generalized delta method
            (glmmTMB's ``se.fit``): the variance with all parameters known plus
            ``J V J'``, ``V`` = :meth:`covariance` of all outer parameters and ``J`` the
            derivative of the predicted ``eta0`` in them, the mode moving with them
            (central differences, step 1e-4: two mode searches per parameter).
        level
            Of the intervals ``lower``, ``upper``.

        Returns
        -------
        pandas.DataFrame
            ``fit``, ``se``, ``lower``, ``upper`` (and ``mean`` for ``"response"``),
            indexed as ``newdata``.
        """
        from scipy.spatial import cKDTree

        from mixedmodels.extending import fixed_matrix

        from ._neighbours import search_points

        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', got {type!r}")
        if re_form is not None and str(re_form).strip() not in _RE_FORM_NONE:
            raise ValueError(
                f"re_form must be None (with the field) or 'NA' / '~0' (without); got {re_form!r}"
            )
        if not 0.0 < float(level) < 1.0:
            raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
        if uncertainty not in ("none", "fixed", "all"):
            raise ValueError(f"uncertainty must be 'none', 'fixed' or 'all', got {uncertainty!r}")
        if self.model is None:
            raise ValueError("this fit has no model to evaluate newdata with")
        frame = newdata if isinstance(newdata, pd.DataFrame) else pd.DataFrame(newdata)
        X0, offset0 = fixed_matrix(self.model, frame)
        beta, params, s2, W = self._at_mode()
        eta0 = X0 @ beta + (0.0 if offset0 is None else offset0)
        HB, Vb = self._fixed_pieces(W)
        n0 = X0.shape[0]
        if re_form is None:
            missing = [c for c in self.coord_names if c not in frame.columns]
            if missing:
                raise KeyError(f"newdata lacks the coordinate columns {missing}")
            xy0 = np.column_stack(
                [pd.to_numeric(frame[c], errors="coerce") for c in self.coord_names]
            ).astype(np.float64)
            self.kernel.check(xy0, self.coord_names)
            P = self._problem
            lp = P.lp
            u = lp.u
            k = int(m) if m is not None else (u if self.m >= u - 1 else self.m)
            if not 1 <= k <= u:
                raise ValueError(f"m = {k} neighbours: need 1 <= m <= {u} (fitted locations)")
            v = self.kernel.unpack(params)
            g = v["nugget"]
            fitted, new = self.coords, xy0
            if self.kernel.anisotropy:  # neighbours by the anisotropic distance
                root = np.linalg.cholesky(anisotropy_matrix(v["angle"], v["ratio"]))
                fitted, new = fitted @ root, new @ root
            tree = cKDTree(search_points(fitted, self.kernel.metric))
            dist, found = tree.query(search_points(new, self.kernel.metric), k=k)
            idx: NDArray[np.int64] = np.asarray(found, dtype=np.int64).reshape(n0, k)
            at_site = np.asarray(dist, dtype=np.float64).reshape(n0, k)[:, 0] == 0.0
            b, F0 = self._new_weights(params, xy0, idx, at_site, nugget)
            eta0 = eta0 + np.einsum("ic,ci->c", b, self.mode[idx])
            # On a fitted location (its correlation with it 1): that location's posterior.
            same = at_site & (nugget or not g)
            var = _kriging_variances(P, params, s2, W, idx, b, F0, same)
            U = X0 - np.einsum("ic,cip->cp", b, HB[idx])
        else:
            var = np.zeros(n0)
            U = X0
        if uncertainty == "fixed":
            var = var + np.einsum("ij,jk,ik->i", U, Vb, U)
        elif uncertainty == "all":
            V = self.covariance().to_numpy()
            P = self._problem
            J = np.empty((n0, self.z.size))
            h = 1e-4
            for j in range(self.z.size):  # a loop over outer parameters (few)
                ends = []
                for sign in (1.0, -1.0):
                    zz = self.z.copy()
                    zz[j] += sign * h
                    P.w = self.mode.copy()
                    P.objective(zz)  # the mode at zz
                    bj, _, pj = P.split(zz)
                    mean = X0 @ bj
                    if re_form is None:
                        bw, _ = self._new_weights(pj, xy0, idx, at_site, nugget)
                        mean = mean + np.einsum("ic,ci->c", bw, P.w[idx])
                    ends.append(mean)
                J[:, j] = (ends[0] - ends[1]) / (2.0 * h)
            self._at_mode()
            var = var + np.einsum("ij,jk,ik->i", J, V, J)
        se = np.sqrt(np.maximum(var, 0.0))
        zq = float(stats.norm.ppf(0.5 + float(level) / 2.0))
        lower, upper = eta0 - zq * se, eta0 + zq * se
        if type == "link":
            out = {"fit": eta0, "se": se, "lower": lower, "upper": upper}
        else:
            fam = self.family
            out = {
                "fit": fam.inverse(eta0),
                "se": se * np.abs(fam.mu_eta(eta0)),
                "lower": fam.inverse(lower),
                "upper": fam.inverse(upper),
                "mean": _predictive_mean(fam, eta0, var),
            }
        return pd.DataFrame(out, index=frame.index)

    def _new_weights(
        self,
        params: FloatArray,
        xy0: FloatArray,
        idx: NDArray[np.int64],
        at_site: NDArray[np.bool_],
        nugget: bool,
    ) -> tuple[FloatArray, FloatArray]:
        """Kriging weights ``b (k, n0)`` of the new locations on their neighbours ``idx``
        and conditional variances ``F0`` (over ``sigma^2``), batched in chunks."""
        from ._batched import backward_solve, cholesky_packed

        n0, k = idx.shape
        v = self.kernel.unpack(params)
        g = v["nugget"]
        kk = k + 1
        rows, cols = packed_index(kk)
        on_diag = rows == cols
        last = np.flatnonzero((rows == k) & (cols == k))[0]
        cross0 = np.flatnonzero((rows == k) & (cols == 0))[0]
        b = np.empty((k, n0))
        F0 = np.empty(n0)
        size = max(1, _CHUNK_DOUBLES // (kk * kk))
        for s, e in _ranges(n0, size):  # chunks of new points (memory)
            pts = np.concatenate([self.coords[idx[s:e]], xy0[s:e, None, :]], axis=1)
            d = self.kernel.distance(pts, pts, params)[:, rows, cols].T
            C = self.kernel.rho(d, v) * (1.0 - g)
            C[on_diag] = 1.0
            site = at_site[s:e]
            if not nugget:
                C[last] = 1.0 - g
            elif g:  # on a fitted location: that location's effect itself
                C[cross0, site] = 1.0
            C[last, site] += 1e-10
            L = cholesky_packed(C, kk)
            b[:, s:e] = backward_solve(L[:k, :k], L[-1, :k][:, None, :])[:, 0]
            F0[s:e] = L[-1, -1] ** 2
        return b, F0

    def summary(self) -> str:
        lines = [
            f"Spatial GLMM ({self.family.name}, {self.family.link} link), "
            f"{self.kernel.family.label} field, Laplace, nearest-neighbour prior (m = {self.m})",
            f"  n = {self.nobs}, logLik = {self.loglik:.4f}, AIC = {self.aic:.4f}",
            "",
            "Fixed effects:",
            self.fixef.to_string(),
            "",
            "Field:",
            self.structure_parameters().to_string(index=False),
        ]
        if not self.converged:
            lines.append(f"\nWARNING: the optimiser did not converge: {self.optimizer_message}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def _kriging_variances(
    P: _Problem,
    params: FloatArray,
    s2: float,
    W: FloatArray,
    idx: NDArray[np.int64],
    b: FloatArray,
    F0: FloatArray,
    same: NDArray[np.bool_],
) -> FloatArray:
    """``Var(w0 | y) = sigma^2 F0 + b' (H^{-1})_NN b`` of every new location at once: the
    diagonal of the selected inverse of the joint posterior precision of the fitted and
    the new locations' effects (each new one a leaf of the NNGP: prior precision
    ``a a' / sigma^2``, ``a = (e_0 - b) / sqrt(F0)``; no data on it), whose fitted block's
    inverse is still ``H^{-1}``.  One sparse factorisation and Takahashi's equations
    instead of a solve per new location (10,000 new locations: 29 s -> ~2 s CPU at
    10^4 fitted ones).  New locations on a fitted one (``same``, ``F0 ~ 1e-10``) take
    that location's ``(H^{-1})_ii`` instead of an ill-conditioned leaf."""
    u = P.lp.u
    B, F = P.weights(params)
    H = P._hessian(W, (B, F, s2)).tocoo()
    new = np.flatnonzero(~same)
    k = idx.shape[1]
    bn, inv = b[:, new].T, 1.0 / (s2 * F0[new])  # (c, k), (c,)
    nodes = u + np.arange(new.size)
    Nn = idx[new]
    rows: list[Any] = [H.row, np.broadcast_to(Nn[:, :, None], (new.size, k, k)).ravel()]
    cols: list[Any] = [H.col, np.broadcast_to(Nn[:, None, :], (new.size, k, k)).ravel()]
    vals: list[Any] = [H.data, (bn[:, :, None] * bn[:, None, :] * inv[:, None, None]).ravel()]
    cross = -(bn * inv[:, None]).ravel()
    rows += [Nn.ravel(), np.repeat(nodes, k), nodes]
    cols += [np.repeat(nodes, k), Nn.ravel(), nodes]
    vals += [cross, cross, inv]
    size = u + new.size
    Haug = sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )
    diag = SelectedInverter()(Haug).diagonal()
    out = np.empty(F0.size)
    out[new] = diag[u:]
    at = np.flatnonzero(same)
    out[at] = s2 * F0[at] + diag[idx[at, 0]] * b[0, at] ** 2
    return out


def _ranges(n: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(n, s + size)) for s in range(0, n, size)]


def _predictive_mean(fam: GLMFamily, eta: FloatArray, var: FloatArray) -> FloatArray:
    """``E[g^{-1}(eta0)]`` for ``eta0 ~ N(eta, var)``: lognormal mean for a log link,
    Gauss-Hermite quadrature (40 nodes) otherwise."""
    if fam.name != "binomial":
        return np.asarray(np.exp(eta + 0.5 * var))
    x, wts = np.polynomial.hermite_e.hermegauss(40)
    vals = fam.inverse(eta[:, None] + np.sqrt(np.maximum(var, 0.0))[:, None] * x[None, :])
    return np.asarray(vals @ wts / np.sqrt(2.0 * np.pi))


def spatial_glmm(
    formula: str,
    data: Any,
    coords: Sequence[str],
    family: str = "poisson",
    structure: str = "exp",
    *,
    link: str | None = None,
    nu: float | None = None,
    nugget: bool = False,
    anisotropy: bool = False,
    metric: str = "euclidean",
    m: int = 15,
    trials: str | None = None,
    ordering: str = "maxmin",
    start: Sequence[float] | None = None,
    seed: int = 0,
    gradient: bool | None = None,
    information: str = "observed",
    polish: bool | None = None,
    backend: str = "auto",
) -> SpatialGLMMFit:
    """Fit a generalized linear model with a spatial Gaussian field (Laplace).

    ``eta = X beta + offset + w(s)``, ``w`` a Gaussian location-level effect with SD
    ``sd`` and correlation ``structure`` (with ``nugget``: ``(1 - nugget) rho`` between
    distinct locations, an iid location-level part of share ``nugget``); the Laplace
    approximation over it as glmmTMB's ``y ~ x + exp(pos + 0 | group)`` (one group; with a
    nugget, ``+ (1 | pos)``), its prior the nearest-neighbour GP of the location-level
    covariance with ``m`` neighbours (``m = u - 1``, ``u`` the distinct locations: the
    exact GP, glmmTMB's likelihood).

    Parameters
    ----------
    formula
        Fixed effects, ``"y ~ x"`` (an ``offset()`` term is honoured).
    data
        Data frame with the formula's columns and the coordinates.
    coords
        Coordinate columns.
    family
        ``"poisson"`` (log link), ``"binomial"`` (``y`` successes out of ``trials``, 1 by
        default; links ``"logit"``, ``"probit"``, ``"cloglog"``), ``"negative_binomial"``
        (alias ``"nbinom2"``: glmmTMB's NB2 with its size estimated, log link) or
        ``"Gamma"`` (log link only, unlike R's default inverse link; the dispersion
        ``phi`` estimated, shape ``1 / phi``).  Other families are refused.
    structure
        ``"exp"``, ``"gau"``, ``"mat"`` (smoothness estimated unless ``nu``), ``"matern32"``,
        ``"matern52"``, ``"spher"``, ``"ratio"``.
    link
        The family's link (its first listed one by default).
    nu
        Fixed Matérn smoothness.
    nugget
        An iid location-level effect beside the field (parameter ``logit(nugget)``,
        nlme's).
    anisotropy
        Geometric anisotropy (two Euclidean coordinates; angle and ratio estimated).
    metric
        ``"euclidean"`` or ``"great_circle"`` (longitude/latitude in degrees, km).
    m
        Neighbours of each location (``1 <= m <= u - 1``).
    trials
        Column of binomial trials.
    ordering
        Ordering of the locations (``"maxmin"``, ``"coord"``, ``"sum"``, ``"none"``).
    start
        Start of ``(beta, log sd, kernel parameters[, log family parameter])``.
    seed
        Seed of the ordering's ties.
    gradient
        ``True``: the analytic gradient of the Laplace approximation (selected inverse
        of ``H``, implicit-function derivative of the mode); ``False``: forward
        differences; ``None`` (default): analytic from 8 outer parameters on, where it
        is available (the observed information; a family parameter's part from
        differences of the per-observation terms).
    information
        ``"observed"`` (default): ``W = -d^2 l / d eta^2`` in ``H``, the Laplace
        approximation proper (glmmTMB's); ``"expected"``: Fisher's weights (lme4's and
        the core's for the binomial probit/cloglog and negative binomial links; the
        core's Gamma uses the observed).  The same for canonical links.
    polish
        With difference gradients, whether a second L-BFGS-B run on central differences
        follows the forward-difference one (default: below 2,000 locations, where it
        costs little and moves the estimates by ~1e-4).
    backend
        Sparse Cholesky of ``H`` in the Newton steps: ``"auto"`` (CHOLMOD through
        cvxopt when installed, else SuperLU), ``"cholmod"``, ``"superlu"``.

    Returns
    -------
    SpatialGLMMFit
    """
    from ._fit import _FAMILY, _coords_from

    fam_obj = glm_family(family, link, information)
    if structure not in _FAMILY:
        raise ValueError(
            f"unknown spatial structure {structure!r}; choose one of {sorted(_FAMILY)}"
        )
    fam, fixed_nu = _FAMILY[structure]
    model = mm.Model(formula, data)
    if model.terms:
        raise ValueError("spatial_glmm takes fixed effects only; the field is the random effect")
    names = [coords] if isinstance(coords, str) else list(coords)
    rows = model.design.row_index
    xy = _coords_from(model.data, rows, names)
    opts: dict[str, Any] = {"nugget": nugget, "metric": metric, "anisotropy": anisotropy}
    kernel = make_kernel(fam, None, nu=nu if nu is not None else fixed_nu, **opts)
    kernel.check(xy, names)
    kernel = make_kernel(fam, xy, nu=kernel.nu, **opts)
    y = np.asarray(model.y, dtype=np.float64)
    if trials is None:
        t = np.ones_like(y)
    else:
        if trials not in model.data.columns:
            raise KeyError(f"trials column {trials!r} is not in the data")
        t = pd.to_numeric(model.data.loc[rows, trials], errors="coerce").to_numpy(np.float64)
    if fam_obj.name in ("poisson", "negative_binomial") and (
        np.any(y < 0) or np.any(y != np.round(y))
    ):
        raise ValueError(f"a {fam_obj.name} response must be non-negative counts")
    if fam_obj.name == "binomial" and (
        np.any(y < 0) or np.any(y > t) or not np.all(np.isfinite(t))
    ):
        raise ValueError("a binomial response must lie between 0 and the trials")
    if fam_obj.name == "Gamma" and not np.all(y > 0):
        raise ValueError("a Gamma response must be positive")
    lp = latent_plan(xy, int(m), ordering, kernel.metric, seed, backend=backend)
    offset = None if model.offset is None else np.asarray(model.offset, dtype=np.float64)
    X = np.asarray(model.X, dtype=np.float64)
    problem = _Problem(fam_obj, kernel, lp, y, X, t, offset)
    n_fp = fam_obj.n_params
    if start is None:
        # A GLM without the field starts beta (and the family parameter).
        off = problem.offset

        p = X.shape[1]

        def glm(x: FloatArray) -> tuple[float, FloatArray]:
            # -log L and its gradient: analytic in beta, a central difference in the
            # family parameter.
            fp = float(x[-1]) if n_fp else 0.0
            ll, d1, _, _ = fam_obj.terms(y, X @ x[:p] + off, t, fp)
            grad = np.empty_like(x)
            grad[:p] = -(X.T @ d1)
            if n_fp:
                h = 1e-6
                up = fam_obj.terms(y, X @ x[:p] + off, t, fp + h)[0]
                down = fam_obj.terms(y, X @ x[:p] + off, t, fp - h)[0]
                grad[p] = -(up - down) / (2.0 * h)
            return -ll, grad

        x0 = np.zeros(p + n_fp)
        glm_fit = optimize.minimize(glm, x0, jac=True, method="BFGS")
        starts: list[FloatArray] = []
        z0 = np.concatenate(
            [glm_fit.x[: X.shape[1]], [np.log(0.5)], kernel.start(), glm_fit.x[X.shape[1] :]]
        )
        if kernel.nugget:
            # Two starts, the nugget's share at 0.1 and at 0.9, the better optimum kept:
            # a short range mimics a nugget, and the likelihood can have a basin there
            # besides the one with the larger range.
            at = X.shape[1] + 1 + kernel.param_names().index("logit(nugget)")
            z_high = z0.copy()
            z_high[at] = np.log(0.9 / 0.1)
            starts.append(z_high)
    else:
        z0 = np.asarray(start, dtype=np.float64)
        starts = []
        if z0.size != problem.n_outer:
            extra = f", log({fam_obj.parameter_name})" if n_fp else ""
            raise ValueError(
                f"start needs {problem.n_outer} values (beta, log sd, "
                f"{kernel.param_names()}{extra})"
            )
    lo, hi = kernel.bounds()
    bounds = (
        [(None, None)] * (X.shape[1] + 1)
        + [
            (float(a) if np.isfinite(a) else None, float(b) if np.isfinite(b) else None)
            for a, b in zip(lo, hi, strict=True)
        ]
        + [(-15.0, 15.0)] * n_fp
    )
    analytic_ok = fam_obj.uses_observed
    if gradient and not analytic_ok:
        raise ValueError(
            "the analytic gradient needs the observed information (information="
            "'observed'); use gradient=False (forward differences)"
        )
    if gradient is None:
        gradient = analytic_ok and z0.size >= _ANALYTIC_FROM
    if polish is None:
        polish = lp.u < 2000

    def run(z0: FloatArray) -> Any:
        problem.w = np.zeros(lp.u)
        if gradient:
            return optimize.minimize(
                problem.value_and_gradient,
                z0,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-6},
            )
        opt = optimize.minimize(
            problem.objective,
            z0,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-6, "eps": 1e-6},
        )
        if polish:
            # Forward differences stop where their error (~1e-6 of the gradient) hides
            # the slope; central differences from there reach the optimum to ~1e-9.
            nfev = int(opt.nfev)
            opt = optimize.minimize(
                problem.objective,
                opt.x,
                jac="3-point",
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 30, "ftol": 1e-12, "gtol": 1e-7},
            )
            opt.nfev = int(opt.nfev) + nfev
        return opt

    opt = run(z0)
    for other in starts:
        alt = run(other)
        if alt.fun < opt.fun:
            alt.nfev = int(alt.nfev) + int(opt.nfev)
            opt = alt
    problem.w = np.zeros(lp.u)
    return SpatialGLMMFit(
        problem, opt.x, opt, list(model.fixef_names), model=model, coord_names=names
    )
