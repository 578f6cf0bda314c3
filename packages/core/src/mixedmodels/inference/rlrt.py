"""Exact restricted likelihood-ratio test for one variance component (RLRsim's
``exactRLRT``; Crainiceanu & Ruppert 2004, Scheipl, Greven & Küchenhoff 2008).

Under ``H0: var(b) = 0`` the restricted likelihood-ratio statistic of a model with one
random effect has the finite-sample distribution of

    sup_lambda  (n - p) log(1 + N(lambda) / D(lambda)) - sum_s log(1 + lambda mu_s),
    N = sum_s lambda mu_s w_s / (1 + lambda mu_s),
    D = sum_s w_s / (1 + lambda mu_s) + w_0,

with ``w_s ~ chi^2_1`` and ``w_0 ~ chi^2_(n - p - K)`` independent and ``mu_s`` the
eigenvalues of ``Z'(I - P_X)Z`` (scaled to a maximum of 1).  It is simulated on
RLRsim's grid of ``lambda`` (0 and ``exp(seq(-10, 8, length = 199))``), taking as
RLRsim the first local maximum along the grid, vectorised over simulations.  With other
random effects in the model, the test compares the full model ``mA`` with ``m0``
(``mA`` without the effect) and takes the null distribution from ``m``, the model with
the tested effect only (as RLRsim).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..interfaces import FloatArray
from ..linear.interface import is_linear_criterion

__all__ = ["RLRTResult", "exact_rlrt"]

# Simulations per vectorised block (bounds the nsim x grid work array).
_BLOCK = 2000


@dataclass
class RLRTResult:
    """Result of :func:`exact_rlrt`.

    Attributes
    ----------
    statistic
        The restricted likelihood-ratio statistic ``RLRT``.
    p_value
        Share of simulated null values above the statistic (RLRsim's
        ``mean(rlrt.obs < sample)``); 1 (and no simulation) when the statistic is 0.
    nsim
        Number of simulated values.
    sample
        The simulated null distribution.
    seed
        The seed used.
    """

    statistic: float
    p_value: float
    nsim: int
    sample: FloatArray
    seed: int | None

    @property
    def method(self) -> str:
        return (
            "simulated finite sample distribution of RLRT "
            f"(p-value based on {self.nsim} simulated values)"
        )

    def __repr__(self) -> str:
        return f"<RLRTResult RLRT = {self.statistic:.6g}, p-value = {self.p_value:.4g}>"


def _eigen_mu(model: Any) -> FloatArray:
    """Eigenvalues of ``Z'(I - P_X)Z`` (RLRsim's squared singular values of
    ``(I - P_X) Z``) scaled to a maximum of 1, from cross-products (``Z`` sparse)."""
    X = np.asarray(model.X, dtype=np.float64)
    n = X.shape[0]
    sw = None if model.weights is None else np.sqrt(np.asarray(model.weights, dtype=np.float64))
    blocks = []
    for t in model.terms:
        if t.dim != 1:
            raise NotImplementedError(
                f"exact RLRT: the model with the tested effect only must have scalar "
                f"random effects; term ({t.expr}) has {t.dim} columns"
            )
        z = np.asarray(t.Z[:, 0], dtype=np.float64)
        if sw is not None:
            z = z * sw
        blocks.append(
            sp.csr_matrix((z, (np.arange(n), np.asarray(t.codes))), shape=(n, t.n_levels))
        )
    Z = sp.hstack(blocks, format="csc")
    if sw is not None:
        X = X * sw[:, None]
    Q, _ = np.linalg.qr(X)
    ZQ = np.asarray(Z.T @ Q)
    M = (Z.T @ Z).toarray() - ZQ @ ZQ.T
    mu = np.sort(np.maximum(np.linalg.eigvalsh((M + M.T) / 2.0), 0.0))[::-1]
    mu = mu[: min(n, mu.size)]
    return np.asarray(mu / mu.max())


def simulate_rlrt(
    mu: FloatArray,
    n: int,
    p: int,
    nsim: int,
    rng: np.random.Generator,
    log_grid: tuple[float, float] = (-10.0, 8.0),
    gridlength: int = 200,
) -> FloatArray:
    """Draws of the null distribution of the RLRT (RLRsim's ``RLRTSim``, lambda0 = 0)."""
    k = mu.size
    lam = np.concatenate([[0.0], np.exp(np.linspace(log_grid[0], log_grid[1], gridlength - 1))])
    # Equal eigenvalues (balanced designs) share their chi-square draws: a sum of c
    # chi^2_1 variables is one chi^2_c.
    values, counts = np.unique(np.round(mu, 12), return_counts=True)
    lm = np.outer(values, lam)  # (distinct, g)
    fD = 1.0 / (1.0 + lm)
    fN = lm * fD
    penalty = (np.log1p(lm) * counts[:, None]).sum(axis=0)  # (g,)
    out = np.empty(nsim)
    rest = n - p - k
    for lo in range(0, nsim, _BLOCK):
        m = min(_BLOCK, nsim - lo)
        w = rng.chisquare(counts.astype(np.float64), size=(m, counts.size))
        w0 = rng.chisquare(rest, m) if rest > 0 else np.zeros(m)
        D = w @ fD + w0[:, None]
        lik = (n - p) * np.log1p((w @ fN) / D) - penalty[None, :]  # exactly 0 at lambda 0
        # RLRsim walks up the grid and stops where the likelihood ratio first drops:
        # the first local maximum, which is also the global one for a unimodal profile.
        drops = np.diff(lik, axis=1) < 0
        first = np.where(drops.any(axis=1), drops.argmax(axis=1), lik.shape[1] - 1)
        out[lo : lo + m] = np.maximum(lik[np.arange(m), first], 0.0)
    return out


def exact_rlrt(
    m: Any,
    mA: Any = None,
    m0: Any = None,
    nsim: int = 10_000,
    seed: int | None = None,
    log_grid: tuple[float, float] = (-10.0, 8.0),
    gridlength: int = 200,
) -> RLRTResult:
    """Exact (simulated) restricted likelihood-ratio test that one variance is zero
    (RLRsim's ``exactRLRT``).

    Parameters
    ----------
    m
        A linear mixed model fit whose only random effect is the one tested (scalar
        terms), by REML.
    mA, m0
        With other random effects: the full model and the model without the tested
        effect (same fixed effects); ``m`` then supplies the null distribution.
    nsim
        Number of simulated null values.
    seed
        Seed of the simulation.
    log_grid, gridlength
        The grid of ``log(lambda)`` (RLRsim's ``log.grid.lo``, ``log.grid.hi``) and its
        length.

    Returns
    -------
    RLRTResult
        ``statistic``, ``p_value`` and the simulated ``sample``.

    Raises
    ------
    ValueError
        Only one of ``mA`` and ``m0`` given; different fixed effects; ``m0`` not
        ``mA`` less one variance parameter; ``m`` with several random effects and no
        ``mA``/``m0``; ``nsim`` not a positive integer.
    """
    from .bootstrap import _check_nsim

    nsim = _check_nsim(nsim)
    for fit, name in ((m, "m"), (mA, "mA"), (m0, "m0")):
        if fit is not None and not is_linear_criterion(getattr(fit, "_problem", None)):
            raise TypeError(
                f"exact_rlrt needs linear mixed model fits; {name} is {type(fit).__name__}"
            )
    if not m.reml:
        warnings.warn(
            "Using restricted likelihood evaluated at ML estimators; refit with REML for "
            "exact results",
            UserWarning,
            stacklevel=2,
        )
    if (mA is None) != (m0 is None):
        raise ValueError("give both mA (full model) and m0 (model without the tested effect)")
    if mA is None:
        if len(m.model.terms) != 1 or m.model.terms[0].dim != 1:
            raise ValueError(
                "multiple random effects in model: exact_rlrt needs m with only a single "
                "random effect, or the full model mA and the null model m0"
            )
        zero = np.zeros_like(np.asarray(m.theta, dtype=np.float64))
        crit = m._problem.objective(m.theta, True)
        stat = max(0.0, float(m._problem.objective(zero, True) - crit))
    else:
        XA, X0 = np.asarray(mA.model.X), np.asarray(m0.model.X)
        if XA.shape != X0.shape or not np.array_equal(XA, X0):
            raise ValueError(
                "fixed effects structures of mA and m0 are not identical: REML-based "
                "inference is not appropriate"
            )
        if abs(int(mA.df) - int(m0.df)) > 1:
            raise ValueError(
                "random effects not independent (covariances set to 0 under H0): "
                "exact_rlrt can only test a single variance"
            )
        crit_a = mA._problem.objective(mA.theta, True)
        crit_0 = m0._problem.objective(m0.theta, True)
        stat = max(0.0, float(crit_0 - crit_a))
    if stat == 0.0:
        return RLRTResult(0.0, 1.0, 0, np.empty(0), seed)
    mu = _eigen_mu(m.model)
    n, p = m.model.X.shape
    sample = simulate_rlrt(mu, n, p, nsim, np.random.default_rng(seed), log_grid, gridlength)
    if np.quantile(sample, 0.9) == 0:
        warnings.warn(
            f"Null distribution has mass {np.mean(sample == 0):.3g} at zero.",
            UserWarning,
            stacklevel=2,
        )
    return RLRTResult(stat, float(np.mean(stat < sample)), nsim, sample, seed)
