"""The GLMM posterior with one scalar random-effect term, its random effects integrated
out by adaptive Gauss-Hermite quadrature, for the independence sampler (:mod:`._imh`).

With one scalar term the random effects are independent across levels given the
hyperparameters, so the marginal likelihood is a product of one-dimensional integrals

    p(y_g | beta, sd) = ∫ prod_{i in g} p(y_i | eta_i = a_i + b_i sd z) phi(z) dz,

``a = offset + X beta``, ``b`` the term's column.  Each is computed by adaptive
Gauss-Hermite quadrature (lme4's nAGQ) centred at the integrand's mode with its
curvature: with 25 nodes the log marginal is exact to about 1e-12 on these smooth,
log-concave integrands (checked in the tests against 50 nodes), so the chain targets the
posterior of ``(beta, sd, shape)`` itself, not an approximation of it.  Given an accepted
state, each level's ``z`` is drawn exactly from its conditional by rejection sampling
under an envelope of tangent lines (every supported family and link is log-concave in
``eta``, and the normal prior makes each conditional strictly log-concave).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, gammaln, log_ndtr

from ._collapsed import _fixed_priors
from ._data import BayesData
from ._imh import _log_prior
from ._priors import PriorSet

__all__ = ["QUADRATURE_FAMILIES", "QuadratureTarget", "quadrature_reason"]

#: Families and links whose log-likelihood is concave in the linear predictor.
QUADRATURE_FAMILIES = {
    "binomial": ("logit", "probit", "cloglog"),
    "poisson": ("log",),
    "negative_binomial": ("log",),
    "Gamma": ("log",),
}
#: Gauss-Hermite nodes of the adaptive quadrature (lme4's largest nAGQ).
NODES = 25
_NEWTON_TOL = 1e-10


def quadrature_reason(bd: BayesData) -> str | None:
    """Why the quadrature target cannot take this model (``None`` when it can)."""
    links = QUADRATURE_FAMILIES.get(bd.family)
    if links is None or bd.link not in links:
        known = ", ".join(f"{f} ({'/'.join(ls)})" for f, ls in QUADRATURE_FAMILIES.items())
        return f"family {bd.family}/{bd.link} is not one of {known}"
    if len(bd.terms) != 1 or bd.terms[0].dim != 1:
        return (
            "it needs exactly one random-effect term with one column, e.g. (1 | g) "
            f"(this model has {len(bd.terms)} term(s) of dimensions "
            f"{[t.dim for t in bd.terms]})"
        )
    return None


def _loglik(family: str, link: str, y: Any, trials: Any, eta: Any, shape: Any) -> Any:
    """Row log-likelihoods up to terms that depend on the data only; ``shape`` broadcasts
    against ``eta``."""
    if family == "binomial":
        if link == "logit":
            return y * eta - trials * np.logaddexp(0.0, eta)
        if link == "probit":
            return y * log_ndtr(eta) + (trials - y) * log_ndtr(-eta)
        mu = -np.expm1(-np.exp(eta))  # cloglog
        return y * np.log(np.maximum(mu, 1e-300)) - (trials - y) * np.exp(eta)
    if family == "poisson":
        return y * eta - np.exp(eta)
    if family == "negative_binomial":
        return (
            gammaln(y + shape)
            - gammaln(shape)
            + shape * np.log(shape)
            + y * eta
            - (y + shape) * np.logaddexp(np.log(shape), eta)
        )
    # Gamma, log link
    return (
        shape * np.log(shape)
        - gammaln(shape)
        + (shape - 1.0) * np.log(y)
        - shape * (y * np.exp(-eta) + eta)
    )


def _derivatives(family: str, link: str, y: Any, trials: Any, eta: Any, shape: Any) -> Any:
    """First and second derivatives of the row log-likelihoods in ``eta``."""
    if family == "binomial":
        if link == "logit":
            p = expit(eta)
            return y - trials * p, -trials * p * (1.0 - p)
        if link == "probit":
            # d/de log Phi(e) = phi/Phi = r(e); d2 = -r (e + r)
            r1 = np.exp(-0.5 * eta * eta - log_ndtr(eta)) / np.sqrt(2 * np.pi)
            r2 = np.exp(-0.5 * eta * eta - log_ndtr(-eta)) / np.sqrt(2 * np.pi)
            d1 = y * r1 - (trials - y) * r2
            d2 = -y * r1 * (eta + r1) - (trials - y) * r2 * (r2 - eta)
            return d1, d2
        ee = np.exp(eta)  # cloglog: log mu = log(1 - exp(-e^eta))
        em = -np.expm1(-ee)
        q = np.where(em > 0, ee * np.exp(-ee) / np.maximum(em, 1e-300), 1.0)
        d1 = y * q - (trials - y) * ee
        # d/deta of ee e^{-ee}/em = q (1 - ee - q)
        d2 = y * q * (1.0 - ee - q) - (trials - y) * ee
        return d1, d2
    if family == "poisson":
        mu = np.exp(eta)
        return y - mu, -mu
    if family == "negative_binomial":
        mu = np.exp(eta)
        frac = mu / (shape + mu)
        return y - (y + shape) * frac, -(y + shape) * frac * (1.0 - frac)
    t = y * np.exp(-eta)  # Gamma, log link
    return shape * (t - 1.0), -shape * t


class QuadratureTarget:
    """Log posterior of ``(log sd, [log shape], beta)`` with the random effects of one
    scalar term integrated out; the same interface as :class:`._imh.CollapsedTarget`.

    Parameters
    ----------
    bd, ps
        Data and priors of a model that :func:`quadrature_reason` accepts.
    nodes : int
        Gauss-Hermite nodes per level.
    """

    dense = True  # proposals are evaluated in batches, no thread pool

    def __init__(self, bd: BayesData, ps: PriorSet, nodes: int = NODES) -> None:
        reason = quadrature_reason(bd)
        if reason is not None:
            raise ValueError(f"the quadrature target cannot take this model: {reason}")
        self.bd, self.ps = bd, ps
        self.family, self.link = bd.family, bd.link
        term = bd.terms[0]
        self.fixed_priors = _fixed_priors(bd, ps)
        self.X = np.column_stack([np.ones(bd.n), bd.Xc]) if bd.has_intercept else bd.Xc
        self.P = self.X.shape[1]
        self.ci = np.zeros(0, dtype=int)
        self.si = np.arange(self.P)
        self.pc = 0
        self.y = np.asarray(bd.y, dtype=float)
        self.trials = None if bd.trials is None else np.asarray(bd.trials, dtype=float)
        self.w = None if bd.weights is None else np.asarray(bd.weights, dtype=float)
        self.offset = np.asarray(bd.offset, dtype=float)
        self.zcol = np.asarray(term.Z, dtype=float)[:, 0]
        self.codes = np.asarray(term.codes)
        self.G = term.n_levels
        self.q = self.m = self.G
        self.offsets = [0]
        self.n = bd.n
        # rows -> levels: sums over a level's rows as a sparse product
        self.levels_by_rows = sp.csr_matrix(
            (np.ones(self.n), (self.codes, np.arange(self.n))), shape=(self.G, self.n)
        )
        x, wq = np.polynomial.hermite.hermgauss(nodes)
        self.gh_x, self.gh_logw = x, np.log(wq) + x * x
        self.has_shape = bd.family in ("negative_binomial", "Gamma")
        if self.has_shape and ps.shape is None:  # pragma: no cover - priors always set it
            raise ValueError(f"family {bd.family} needs a prior on shape")
        self.slices = {"sd_0": slice(0, 1)}
        pos = 1
        if self.has_shape:
            self.slices["shape"] = slice(1, 2)
            pos = 2
        self.slices["beta_s"] = slice(pos, pos + self.P)
        self.size = pos + self.P

    # ----------------------------------------------------------------- parameters
    def constrain(self, phi: Any) -> tuple[dict[str, Any], Any]:
        """Natural parameters of a batch ``phi`` ``(N, size)`` and the log prior density
        plus log Jacobian ``(N,)``."""
        phi = np.atleast_2d(phi)
        t = self.bd.terms[0]
        lsd = phi[:, self.slices["sd_0"]]
        out: dict[str, Any] = {"sd_0": np.exp(lsd)}
        lp = _log_prior(self.ps.sd[(t.group, t.columns[0])], out["sd_0"][:, 0]) + lsd[:, 0]
        if self.has_shape:
            assert self.ps.shape is not None
            lsh = phi[:, self.slices["shape"]][:, 0]
            out["shape"] = np.exp(lsh)
            lp = lp + _log_prior(self.ps.shape, out["shape"]) + lsh
        beta = phi[:, self.slices["beta_s"]]
        out["beta_s"] = beta
        for i in range(self.P):
            lp = lp + _log_prior(self.fixed_priors[i], beta[:, i])
        return out, lp

    def factors(self, theta: dict[str, Any], k: int) -> Any:
        """``sd`` of the term as ``(N, 1, 1)``."""
        return theta["sd_0"][:, :, None]

    # ------------------------------------------------------------------ quadrature
    def _rows(self, theta: dict[str, Any]) -> tuple[Any, Any, Any]:
        """``a = offset + X beta`` and ``b = z sd`` per row ``(N, n)``, and the shape
        ``(N, 1)`` (ones when the family has none)."""
        a = self.offset[None, :] + theta["beta_s"] @ self.X.T
        b = self.zcol[None, :] * theta["sd_0"][:, :1]
        N = a.shape[0]
        shape = theta["shape"][:, None] if self.has_shape else np.ones((N, 1))
        return a, b, shape

    def _level_sum(self, rows: Any) -> Any:
        """Sums over each level's rows, ``(N, n) -> (N, G)``."""
        return np.asarray((self.levels_by_rows @ rows.T).T)

    def _h(self, a: Any, b: Any, shape: Any, z: Any) -> Any:
        """``log p(y_g | z) - z^2/2`` per level at ``z`` ``(N, G)``."""
        eta = a + b * z[:, self.codes]
        ll = _loglik(self.family, self.link, self.y, self.trials, eta, shape)
        if self.w is not None:
            ll = ll * self.w
        return self._level_sum(ll) - 0.5 * z * z

    def _h_derivatives(self, a: Any, b: Any, shape: Any, z: Any) -> tuple[Any, Any, Any]:
        eta = a + b * z[:, self.codes]
        ll = _loglik(self.family, self.link, self.y, self.trials, eta, shape)
        d1, d2 = _derivatives(self.family, self.link, self.y, self.trials, eta, shape)
        if self.w is not None:
            ll, d1, d2 = ll * self.w, d1 * self.w, d2 * self.w
        h = self._level_sum(ll) - 0.5 * z * z
        return h, self._level_sum(d1 * b) - z, self._level_sum(d2 * b * b) - 1.0

    def _modes(self, a: Any, b: Any, shape: Any) -> tuple[Any, Any]:
        """Each level's mode of ``h`` and ``-h''`` there, by safeguarded Newton steps
        (``h`` is strictly concave: ``h'' <= -1``)."""
        z = np.zeros((a.shape[0], self.G))
        h, g, H = self._h_derivatives(a, b, shape, z)
        for _ in range(100):
            step = np.clip(-g / H, -2.0, 2.0)
            # halve a step that lowers h (rare: far from the mode)
            for _ in range(30):
                zn = z + step
                hn, gn, Hn = self._h_derivatives(a, b, shape, zn)
                worse = ~(hn >= h - 1e-12 * np.abs(h))
                if not np.any(worse):
                    break
                step = np.where(worse, 0.5 * step, step)
            z, h, g, H = zn, hn, gn, Hn
            if np.all((np.abs(g) <= _NEWTON_TOL * np.maximum(1.0, -H)) | ~np.isfinite(g)):
                break
        return z, -H

    def _log_marginal(self, a: Any, b: Any, shape: Any) -> tuple[Any, Any, Any]:
        """Adaptive Gauss-Hermite ``log ∫ exp(h(z)) phi(z)/exp(-z^2/2) dz`` per level,
        with the modes and curvatures used."""
        mode, curv = self._modes(a, b, shape)
        s = 1.0 / np.sqrt(curv)
        K = self.gh_x.size
        vals = np.empty((K, *mode.shape))
        for k in range(K):  # a few nodes; each is a vectorised pass over all rows
            z = mode + np.sqrt(2.0) * s * self.gh_x[k]
            vals[k] = self._h(a, b, shape, z) + self.gh_logw[k]
        top = vals.max(axis=0)
        log_int = top + np.log(np.sum(np.exp(vals - top), axis=0))
        return log_int + np.log(s) + 0.5 * np.log(2.0) - 0.5 * np.log(2.0 * np.pi), mode, s

    # ---------------------------------------------------------------- interface
    def evaluate(self, phi: Any, pool: Any = None) -> tuple[Any, Any, list[Any]]:
        """``(log posterior, natural parameters, states)`` of a batch; a state keeps
        what the conditional draw of the random effects needs."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            theta, lp = self.constrain(phi)
            a, b, shape = self._rows(theta)
            log_int, mode, s = self._log_marginal(a, b, shape)
        total = lp + np.sum(log_int, axis=1)
        total = np.where(np.isfinite(total), total, -np.inf)
        states = [(a[i], b[i], shape[i], mode[i], s[i]) for i in range(phi.shape[0])]
        return total, theta, states

    def chunk(self, threads: int = 1) -> int:
        """Batch size of one evaluation (memory-bounded)."""
        return max(1, min(256, int(2e6 // max(self.n, 1))))

    def log_posterior(self, phi: Any, pool: Any = None) -> Any:
        """Log posterior (up to a constant) of a batch ``(N, size)``."""
        size = self.chunk()
        parts = [self.evaluate(phi[i : i + size])[0] for i in range(0, phi.shape[0], size)]
        return np.concatenate(parts)

    def draw(self, states: list[Any], rng: np.random.Generator) -> Any:
        """Exact draws of the standardised random effects ``z`` given each state,
        ``(len(states), G)``, by rejection under a three-piece envelope: tangent lines
        of the concave ``h`` at ``mode -/+ s`` and its maximum between them."""
        a = np.stack([st[0] for st in states])
        b = np.stack([st[1] for st in states])
        shape = np.stack([st[2] for st in states])
        mode = np.stack([st[3] for st in states])
        s = np.stack([st[4] for st in states])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            hm = self._h(a, b, shape, mode)
            lo, hi = mode - s, mode + s
            h_lo, g_lo, _ = self._h_derivatives(a, b, shape, lo)
            h_hi, g_hi, _ = self._h_derivatives(a, b, shape, hi)
        # concavity with h'' <= -1: g_lo >= s > 0 and g_hi <= -s < 0
        z_left = lo + (hm - h_lo) / g_lo
        z_right = hi + (hm - h_hi) / g_hi
        mass = np.stack([1.0 / g_lo, z_right - z_left, -1.0 / g_hi])
        prob = mass / mass.sum(axis=0)
        out = np.full(mode.shape, np.nan)
        todo = np.ones(mode.shape, dtype=bool)
        for _ in range(1000):
            u = rng.uniform(size=mode.shape)
            e = rng.exponential(size=mode.shape)
            piece = (u > prob[0]).astype(int) + (u > prob[0] + prob[1]).astype(int)
            v = rng.uniform(size=mode.shape)
            z = np.where(
                piece == 0,
                z_left - e / g_lo,
                np.where(piece == 1, z_left + v * (z_right - z_left), z_right - e / g_hi),
            )
            env = np.where(
                piece == 0,
                hm + g_lo * (z - z_left),
                np.where(piece == 1, hm, hm + g_hi * (z - z_right)),
            )
            with np.errstate(over="ignore", invalid="ignore"):
                hz = self._h(a, b, shape, z)
            accept = todo & (np.log(rng.uniform(size=mode.shape)) < hz - env)
            out[accept] = z[accept]
            todo &= ~accept
            if not np.any(todo):
                return out
        raise RuntimeError(  # pragma: no cover - acceptance is about 0.8 per round
            "rejection sampling of the random effects did not finish in 1000 rounds"
        )

    def start(self) -> Any:
        """A starting point: the fixed effects from a few Newton steps on the model
        without random effects, the SD at 0.5 on the link scale, shape 1."""
        phi = np.zeros(self.size)
        phi[self.slices["sd_0"]] = np.log(0.5)
        beta = np.zeros(self.P)
        ones = np.ones((1, 1))
        for _ in range(25):
            eta = (self.offset + self.X @ beta)[None, :]
            d1, d2 = _derivatives(self.family, self.link, self.y, self.trials, eta, ones)
            w = np.ones(self.n) if self.w is None else self.w
            g = self.X.T @ (w * d1[0])
            H = self.X.T @ ((w * d2[0])[:, None] * self.X) - 1e-8 * np.eye(self.P)
            try:
                step = np.linalg.solve(H, -g)
            except np.linalg.LinAlgError:
                break
            beta = beta + np.clip(step, -5.0, 5.0)
            if np.max(np.abs(step)) < 1e-8:
                break
        if np.all(np.isfinite(beta)):
            phi[self.slices["beta_s"]] = beta
        return phi
