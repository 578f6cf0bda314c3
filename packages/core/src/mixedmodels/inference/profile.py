"""Profile likelihood of an LMM (lme4's ``profile.merMod``) and the search for interval ends.

The ML deviance (a REML fit is refitted by ML first), profiled over all other
parameters, gives the signed root ``zeta(x) = sign(x - x_hat) sqrt(dev(x) - dev_min)``;
the interval ends are where ``zeta`` equals the normal quantiles.  Variance parameters
are profiled on the SD / correlation scale with the residual SD free; a fixed effect
``beta_j = b`` is profiled in closed form over the other fixed effects and sigma,
``r^2(theta, b) = r^2(theta) + (b - beta_j(theta))^2 / [(X'V^-1X)^-1]_jj``, and
numerically over theta.  Instead of lme4's spline through a grid of profile points,
the ends are found by root finding on ``zeta`` (a handful of profile points each).
:func:`profile_ends` and the inner minimiser are shared with the GLMM profile.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from ..interfaces import FloatArray
from ..numerics.derivatives import clipped_central_gradient
from .variance_parameters import _VarianceMap, variance_parameter_names

__all__ = ["profile_ends"]


# --- profiling ---------------------------------------------------------------------------
def _minimize(
    f: Callable[[FloatArray], float],
    x0: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    B0: FloatArray,
    h: float = 1e-5,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> tuple[FloatArray, float]:
    """Bounded quasi-Newton minimisation (BFGS from the curvature ``B0``, projected
    steps, variables held at a bound while the gradient pushes outwards).

    The inner problems of profiling are small, smooth and warm-started near their
    optimum, where a few quasi-Newton steps from the curvature at the overall optimum
    converge; scipy's general-purpose L-BFGS-B costs more in overhead than the
    deviance evaluations themselves here.
    """
    x = np.clip(np.asarray(x0, dtype=np.float64), lower, upper)
    if x.size == 0:
        return x, f(x)
    fx = f(x)
    if not np.isfinite(fx):
        # A start outside the domain (e.g. a non-PD covariance): back to the bounds' middle.
        raise FloatingPointError("profile: deviance not finite at the start")
    B = np.asarray(B0, dtype=np.float64).copy()
    w, V = np.linalg.eigh((B + B.T) / 2.0)
    B = (V * np.maximum(w, 1e-6 * max(w.max(initial=1.0), 1.0))) @ V.T
    g = clipped_central_gradient(f, x, lower, upper, h)
    for _ in range(max_iter):
        at_lo = (x <= lower) & (g > 0)
        at_hi = (x >= upper) & (g < 0)
        free = ~(at_lo | at_hi)
        if not free.any():
            break
        p = np.zeros(x.size)
        Bf = B[np.ix_(free, free)]
        try:
            p[free] = -np.linalg.solve(Bf, g[free])
        except np.linalg.LinAlgError:
            p[free] = -g[free]
        decrease = -float(g[free] @ p[free]) / 2.0
        if decrease < tol:
            break
        if decrease <= 0:  # not a descent direction: steepest descent
            p = np.where(free, -g, 0.0)
        t = 1.0
        while True:
            xn = np.clip(x + t * p, lower, upper)
            fn = f(xn)
            if np.isfinite(fn) and fn <= fx + 1e-4 * float(g @ (xn - x)):
                break
            t *= 0.5
            if t < 1e-10:
                return x, fx
        gn = clipped_central_gradient(f, xn, lower, upper, h)
        s_ = xn - x
        y_ = gn - g
        sy = float(s_ @ y_)
        if sy > 1e-12 * float(np.linalg.norm(s_) * np.linalg.norm(y_)):
            Bs = B @ s_
            B = B - np.outer(Bs, Bs) / float(s_ @ Bs) + np.outer(y_, y_) / sy
        improvement = fx - fn
        x, fx, g = xn, fn, gn
        if improvement < tol * 1e-2:
            break
    return x, fx


@dataclass
class _Path:
    """The profile of one parameter: evaluated points and their optimal nuisances."""

    xs: list[float] = field(default_factory=list)
    nuis: list[FloatArray] = field(default_factory=list)
    zetas: list[float] = field(default_factory=list)


class _Profiler:
    """Profile deviance of an ML fit (see the module docstring)."""

    def __init__(self, result: Any) -> None:
        if result._problem.residual is not None:
            raise NotImplementedError(
                "profile intervals with residual correlation or variance structures are "
                "not implemented; use method='wald' or 'boot'"
            )
        ml = result.refit_ml()
        self.ml = ml
        self.problem = ml._problem
        self.n = int(self.problem.n)
        self.base = float(ml._ev.objective)
        self.vmap = _VarianceMap(result.model)
        self.theta_hat = np.asarray(ml.theta, dtype=np.float64)
        self.sigma_hat = float(ml.sigma)
        self.psi_hat = self.vmap.from_theta(self.theta_hat, self.sigma_hat)
        self.beta_hat = ml.fixef.to_numpy()
        lows, highs = [], []
        for s in result.model.structures:
            lo, hi = s.bounds()
            lows.append(lo)
            highs.append(hi)
        self.theta_lower = np.concatenate(lows)
        self.theta_upper = np.concatenate(highs)
        self.evaluations = 0
        # Fixed-effect profiles minimise over theta: on standardised matrices (decision
        # 0014) over the standardised theta, where the criterion is well conditioned,
        # with beta_j = (T beta~)_j.
        transform = getattr(self.problem, "transform", None)
        self.nuisance = self.problem if transform is None else self.problem.inner
        self.T = None if transform is None else np.asarray(transform.T, dtype=np.float64)
        self.nuisance_hat = (
            self.theta_hat if transform is None else transform.theta_to_standard(self.theta_hat)[0]
        )
        from ..numerics.derivatives import richardson_derivatives

        # Curvature of the profiled ML deviance in theta (fixed-effect profiles).
        _, _, hess_t = richardson_derivatives(
            lambda t: np.array([self.nuisance.objective(t, False)]),
            self.nuisance_hat,
            step=1e-3,
            r=2,
        )
        assert hess_t is not None
        self.H_theta = (hess_t[0] + hess_t[0].T) / 2.0
        self._H: FloatArray | None = None
        self._se_psi: FloatArray | None = None

    def _psi_curvature(self) -> None:
        """Curvature of the deviance in psi at the optimum: scales and start values of
        the variance parameters' profiles (computed when one is profiled)."""
        from ..numerics.derivatives import richardson_derivatives

        _, _, hess = richardson_derivatives(
            lambda p: np.array([self.dev_psi(p)]), self.psi_hat, step=1e-3, r=2
        )
        assert hess is not None
        H = (hess[0] + hess[0].T) / 2.0
        if not np.all(np.isfinite(H)) and getattr(self.problem, "transform", None) is not None:
            H = self._standardized_psi_curvature()
        if not np.all(np.isfinite(H)):
            near = np.abs(np.abs(self.psi_hat[self.vmap.cor_mask]) - 1.0)
            raise ValueError(
                "profile intervals of the variance parameters need the deviance's "
                "curvature in the SDs and correlations, which is not finite at the "
                "estimates (a correlation within "
                f"{float(near.min(initial=1.0)):.1e} of +-1: in these units of the "
                "covariates the intercept and slope are nearly collinear; centring the "
                "covariate gives a well-defined profile). Fixed-effect profiles, "
                "method='wald' and method='boot' are available."
            )
        self._H = H
        self._se_psi = self._standard_errors(H)

    def _standardized_psi_curvature(self) -> FloatArray:
        """The curvature in psi by the chain rule where the steps of differences in psi
        leave the parameter space (a correlation near +-1 after a shifted covariate):
        ``J' H_z J`` with ``H_z`` the Hessian in the standardised ``z = (theta~,
        sigma)`` (well-scaled steps) and ``J = dz/dpsi`` by small differences of the
        exact map (decision 0014).  At the optimum the gradient term vanishes."""
        from ..numerics.derivatives import richardson_derivatives

        transform = self.problem.transform
        inner = self.problem.inner
        n = self.n

        def dev_z(z: FloatArray) -> float:
            ev = inner.evaluate(z[:-1], False)
            if ev is None or z[-1] <= 0:
                return np.inf
            pw, sigma = ev.pwrss, float(z[-1])
            return float(ev.objective + pw / sigma**2 - n + n * math.log(n * sigma**2 / pw))

        def z_of(psi: FloatArray) -> FloatArray:
            theta, sigma = self.vmap.to_theta(psi)
            return np.concatenate([transform.theta_to_standard(theta)[0], [sigma]])

        z_hat = z_of(self.psi_hat)
        _, _, hess = richardson_derivatives(lambda z: np.array([dev_z(z)]), z_hat, step=1e-3, r=2)
        assert hess is not None
        Hz = (hess[0] + hess[0].T) / 2.0
        k = self.psi_hat.size
        J = np.empty((z_hat.size, k))
        lower, upper = self.vmap.lower, self.vmap.upper
        for i in range(k):  # a loop over parameters (few)
            h = 1e-7 * max(abs(float(self.psi_hat[i])), 1e-3)
            up, down = self.psi_hat.copy(), self.psi_hat.copy()
            up[i] = min(up[i] + h, upper[i])
            down[i] = max(down[i] - h, lower[i])
            J[:, i] = (z_of(up) - z_of(down)) / (up[i] - down[i])
        return np.asarray(J.T @ Hz @ J, dtype=np.float64)

    @property
    def H(self) -> FloatArray:
        if self._H is None:
            self._psi_curvature()
        assert self._H is not None
        return self._H

    @property
    def se_psi(self) -> FloatArray:
        if self._se_psi is None:
            self._psi_curvature()
        assert self._se_psi is not None
        return self._se_psi

    def _standard_errors(self, H: FloatArray) -> FloatArray:
        try:
            cov = 2.0 * np.linalg.inv(H)
            se = np.sqrt(np.diag(cov))
        except np.linalg.LinAlgError:
            se = np.full(H.shape[0], np.nan)
        diag = np.diag(H)
        fallback = np.where(diag > 0, np.sqrt(2.0 / np.where(diag > 0, diag, 1.0)), np.nan)
        se = np.where(np.isfinite(se) & (se > 0), se, fallback)
        scale = np.maximum(np.abs(self.psi_hat), 1e-3 * self.sigma_hat)
        return np.where(np.isfinite(se) & (se > 0), se, 0.1 * scale)

    # deviances
    def dev_psi(self, psi: FloatArray) -> float:
        """ML deviance at ``psi``; an SD enters through its absolute value (the
        deviance is even in a scalar term's SD), so that derivatives at a zero SD
        exist."""
        sd = self.vmap.sd_mask
        if np.any(np.abs(psi[self.vmap.cor_mask]) > 1.0) or psi[-1] <= 0:
            return np.inf
        psi = np.where(sd, np.abs(psi), psi)
        theta, sigma = self.vmap.to_theta(psi)
        ev = self.problem.evaluate(theta, False)
        self.evaluations += 1
        if ev is None:
            return np.inf
        pw = ev.pwrss
        n = self.n
        return float(ev.objective + pw / sigma**2 - n + n * math.log(n * sigma**2 / pw))

    def dev_beta(self, theta: FloatArray, j: int, b: float) -> float:
        """ML deviance at ``beta_j = b``, profiled over the other fixed effects and
        sigma, at ``theta`` (the nuisance criterion's: standardised where the fit is)."""
        P = self.nuisance
        ev = P.evaluate(theta, False)
        self.evaluations += 1
        if ev is None:
            return np.inf
        beta, _, _ = P.solve(ev)
        V = P.vcov_unscaled(ev)
        if self.T is None:
            beta_j, vjj = float(beta[j]), float(V[j, j])
        else:
            t = self.T[j]
            beta_j, vjj = float(t @ beta), float(t @ V @ t)
        delta = b - beta_j
        return float(ev.objective + self.n * math.log1p(delta * delta / (vjj * ev.pwrss)))

    # profiles
    def zeta_var(self, w: int, x: float, path: _Path) -> float:
        k = self.vmap.n
        free = np.array([i for i in range(k) if i != w])
        scale = self.se_psi[free]
        # Start: the nearest profile point moved along the local profile trace.
        Hff = self.H[np.ix_(free, free)]
        slope = -np.linalg.lstsq(Hff, self.H[free, w], rcond=None)[0]
        if path.xs:
            i = int(np.argmin(np.abs(np.asarray(path.xs) - x)))
            start = path.nuis[i] + slope * (x - path.xs[i])
        else:
            start = self.psi_hat[free] + slope * (x - self.psi_hat[w])
        lo = self.vmap.lower[free]
        hi = self.vmap.upper[free]
        lo = np.where(free == k - 1, 1e-8 * self.sigma_hat, lo)

        def f(y: FloatArray) -> float:
            psi = np.empty(k)
            psi[w] = x
            psi[free] = y * scale
            return self.dev_psi(psi)

        B0 = Hff * np.outer(scale, scale)
        y, val = _minimize(f, start / scale, lo / scale, hi / scale, B0, h=1e-4)
        path.xs.append(x)
        path.nuis.append(y * scale)
        dev = max(val - self.base, 0.0)
        z = math.copysign(math.sqrt(dev), x - self.psi_hat[w])
        path.zetas.append(z)
        return z

    def zeta_beta(self, j: int, x: float, path: _Path) -> float:
        if path.xs:
            i = int(np.argmin(np.abs(np.asarray(path.xs) - x)))
            start = path.nuis[i]
        else:
            start = self.nuisance_hat
        th, val = _minimize(
            lambda t: self.dev_beta(t, j, x),
            start,
            self.theta_lower,
            self.theta_upper,
            self.H_theta,
            h=1e-5,
        )
        path.xs.append(x)
        path.nuis.append(th)
        dev = max(val - self.base, 0.0)
        z = math.copysign(math.sqrt(dev), x - self.beta_hat[j])
        path.zetas.append(z)
        return z

    @staticmethod
    def end(
        zeta: Callable[[float, _Path], float],
        center: float,
        se: float,
        target: float,
        lower: float,
        upper: float,
        path: _Path,
    ) -> float:
        """The point where ``zeta`` reaches ``target`` (or the bound if it does not).

        Safeguarded secant steps from the Wald guess (``zeta`` is close to linear),
        falling back to bisection inside a bracket; stops when ``zeta`` is within
        ``1e-7`` of the target (about ``1e-7`` standard errors from the end).
        """
        direction = math.copysign(1.0, target)
        bound = upper if direction > 0 else lower
        x0, z0 = center, 0.0
        x1 = center + target * se
        inside, outside = center, math.nan  # |zeta| < |target| at inside, > at outside
        for _ in range(60):
            if (direction > 0 and x1 >= bound) or (direction < 0 and x1 <= bound):
                x1 = bound
            z1 = zeta(x1, path)
            if abs(z1 - target) < 1e-7:
                return float(x1)
            if abs(z1) < abs(target):
                if x1 == bound:
                    return float(bound)
                inside = x1
            else:
                outside = x1
            step = (target - z1) * (x1 - x0) / (z1 - z0) if z1 != z0 else target * se
            x2 = x1 + step
            if math.isfinite(outside):
                lo_b, hi_b = min(inside, outside), max(inside, outside)
                if not lo_b < x2 < hi_b:
                    x2 = (inside + outside) / 2.0
            elif (x2 - center) * direction <= (inside - center) * direction:
                # Not moving outwards (a curved profile): step out by half the distance.
                x2 = inside + 0.5 * (inside - center) + direction * 0.05 * se
            x0, z0, x1 = x1, z1, x2
        return float("nan")


ProfileSetup = Callable[[str], tuple[Callable[[float, _Path], float], float, float, float, float]]


def profile_ends(
    names: Sequence[str], level: float, progress: Any, setup: ProfileSetup
) -> dict[str, tuple[float, float]]:
    """Both ends of each named parameter's profile interval.

    ``setup(name)`` gives the parameter's ``zeta`` function, its estimate, a standard
    error (the first step) and its bounds; :meth:`_Profiler.end` finds each end.
    Shared by the LMM and GLMM profilers.
    """
    from ..numerics.progress import Progress

    z = float(stats.norm.ppf(0.5 + level / 2.0))
    out: dict[str, tuple[float, float]] = {}
    with Progress(2 * len(names), "profile", progress) as bar:
        for name in names:
            zeta, center, se, lo_b, hi_b = setup(name)
            ends = []
            for target in (-z, z):
                ends.append(_Profiler.end(zeta, center, se, target, lo_b, hi_b, _Path()))
                bar.update()
            out[name] = (ends[0], ends[1])
    return out


def _profile_intervals(
    result: Any, names: Sequence[str], level: float, progress: Any
) -> dict[str, tuple[float, float]]:
    prof = _Profiler(result)
    vnames = variance_parameter_names(result)
    fnames = list(result.model.fixef_names)
    vu = prof.problem.vcov_unscaled(prof.ml._ev)

    def setup(name: str) -> tuple[Callable[[float, _Path], float], float, float, float, float]:
        if name in vnames:
            w = vnames.index(name)
            zeta = functools.partial(prof.zeta_var, w)
            return zeta, prof.psi_hat[w], prof.se_psi[w], prof.vmap.lower[w], prof.vmap.upper[w]
        j = fnames.index(name)
        se = math.sqrt(prof.sigma_hat**2 * vu[j, j])
        return functools.partial(prof.zeta_beta, j), prof.beta_hat[j], se, -np.inf, np.inf

    return profile_ends(names, level, progress, setup)
