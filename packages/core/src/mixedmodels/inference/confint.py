"""Confidence intervals: Wald, profile likelihood (as lme4's ``confint``) and bootstrap.

Parameters are named as lme4's ``confint(fit, oldNames = FALSE)``: random-effect SDs
``sd_(Intercept)|Subject``, correlations ``cor_Days.(Intercept)|Subject``, the residual
SD ``sigma``, then the fixed effects; lme4's old names (``.sig01``, ``.sigma``) are
accepted in ``parm`` too.

Profile intervals follow lme4 (``profile.merMod``): the ML deviance (a REML fit is
refitted by ML first), profiled over all other parameters, gives the signed root
``zeta(x) = sign(x - x_hat) sqrt(dev(x) - dev_min)``, and the interval ends are where
``zeta`` equals the normal quantiles.  Variance parameters are profiled on the SD /
correlation scale with the residual SD free; a fixed effect ``beta_j = b`` is profiled
in closed form over the other fixed effects and sigma,
``r^2(theta, b) = r^2(theta) + (b - beta_j(theta))^2 / [(X'V^-1X)^-1]_jj``, and
numerically over theta.  Instead of lme4's spline through a grid of profile points,
the ends are found by root finding on ``zeta`` (a handful of profile points each).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..generalized.criterion import GLMMProblem
from ..interfaces import FloatArray
from ..linear.interface import is_linear_criterion

__all__ = ["confint", "variance_parameter_names"]


# --- the variance parameters on the SD / correlation scale --------------------------------
@dataclass
class _Block:
    """Variance parameters of one random-effect term on the SD/correlation scale."""

    group: str
    columns: list[str]
    kind: str  # "us", "diag" or "scalar"
    pairs: list[tuple[int, int]]  # (row, col) of each parameter, lower triangle
    structure: Any


def _blocks(model: Any) -> list[_Block]:
    out = []
    # lme4's confint names use the grouping factor's name (also for the second term of
    # a `||` expansion), unless that would repeat a name.
    plain = [str(t.group_name) for t in model.terms]
    groups = (
        plain
        if len(set(plain)) == len(plain) or _distinct_columns(model)
        else list(model.group_names)
    )
    for t, s, group in zip(model.terms, model.structures, groups, strict=True):
        d = int(t.dim)
        name = getattr(s, "name", "")
        if d == 1:
            kind, pairs = "scalar", [(0, 0)]
        elif name == "us":
            cols, rows = np.triu_indices(d)
            kind = "us"
            pairs = [(int(r), int(c)) for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]
        elif name == "diag":
            kind, pairs = "diag", [(i, i) for i in range(d)]
        else:
            kind, pairs = name or "unknown", []
        out.append(_Block(str(group), [str(c) for c in t.column_names], kind, pairs, s))
    return out


def _distinct_columns(model: Any) -> bool:
    """Whether terms sharing a grouping factor have different columns (``||``)."""
    seen: set[tuple[str, str]] = set()
    for t in model.terms:
        for c in t.column_names:
            key = (str(t.group_name), str(c))
            if key in seen:
                return False
            seen.add(key)
    return True


def variance_parameter_names(result: Any, old: bool = False) -> list[str]:
    """Names of the random-effect SDs and correlations and of the residual SD.

    ``old=False``: lme4's ``oldNames = FALSE`` names (``sd_(Intercept)|Subject``,
    ``cor_Days.(Intercept)|Subject``, ``sigma``); ``old=True``: ``.sig01``, ...,
    ``.sigma``.
    """
    names = []
    for b in _blocks(result.model):
        if not b.pairs:
            cols, rows = np.triu_indices(len(b.columns))
            pairs = list(zip(rows.tolist(), cols.tolist(), strict=True))
        else:
            pairs = b.pairs
        for r, c in pairs:
            if r == c:
                names.append(f"sd_{b.columns[r]}|{b.group}")
            else:
                names.append(f"cor_{b.columns[r]}.{b.columns[c]}|{b.group}")
    sigma = _has_sigma(result)
    if old:
        width = max(2, len(str(len(names))))
        return [f".sig{i + 1:0{width}d}" for i in range(len(names))] + [".sigma"] * sigma
    return [*names, *["sigma"] * sigma]


def _has_sigma(result: Any) -> bool:
    """LMMs and GLMMs with a dispersion parameter report a residual SD (lme4's
    ``.sigma``); binomial, poisson and negative binomial GLMMs do not."""
    glmm = isinstance(getattr(result, "_problem", None), GLMMProblem)
    return not glmm or result.dispersion is not None


def _chol_psd(cov: FloatArray) -> FloatArray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots allowed)."""
    d = cov.shape[0]
    if d == 2:
        a, b, c = float(cov[0, 0]), float(cov[1, 0]), float(cov[1, 1])
        l11 = math.sqrt(a) if a > 0 else 0.0
        l21 = b / l11 if l11 > 0 else 0.0
        rest = c - l21 * l21
        return np.array([[l11, 0.0], [l21, math.sqrt(rest) if rest > 0 else 0.0]])
    L = np.zeros_like(cov)
    for j in range(d):
        s = cov[j, j] - L[j, :j] @ L[j, :j]
        if s <= 1e-14 * max(cov[j, j], 1e-300):
            L[j, j] = 0.0
            continue
        L[j, j] = math.sqrt(s)
        L[j + 1 :, j] = (cov[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return L


class _VarianceMap:
    """``psi`` (SDs, correlations, sigma) <-> ``(theta, sigma)`` for us/diag/scalar
    terms."""

    def __init__(self, model: Any) -> None:
        self.blocks = _blocks(model)
        bad = [b for b in self.blocks if not b.pairs]
        if bad:
            raise NotImplementedError(
                f"profile intervals on the SD/correlation scale need 'us' or 'diag' "
                f"covariance structures; term ({bad[0].group}) has {bad[0].kind!r}"
            )
        self.sizes = [len(b.pairs) for b in self.blocks]
        self.n = sum(self.sizes) + 1
        lower, upper = [], []
        for b in self.blocks:
            for r, c in b.pairs:
                lower.append(0.0 if r == c else -1.0)
                upper.append(np.inf if r == c else 1.0)
        self.lower = np.array([*lower, 0.0])
        self.upper = np.array([*upper, np.inf])
        # SDs (bounded below by 0) versus correlations; sigma counts as an SD here.
        self.sd_mask = np.isinf(self.upper)
        self.sd_mask[-1] = False
        self.cor_mask = ~self.sd_mask
        self.cor_mask[-1] = False

    def to_theta(self, psi: FloatArray) -> tuple[FloatArray, float]:
        sigma = float(psi[-1])
        thetas = []
        off = 0
        for b, k in zip(self.blocks, self.sizes, strict=True):
            vals = psi[off : off + k]
            off += k
            if b.kind in ("scalar", "diag"):
                thetas.append(np.asarray(vals) / sigma)
                continue
            d = len(b.columns)
            sd = np.zeros(d)
            corr = np.eye(d)
            for (r, c), v in zip(b.pairs, vals, strict=True):
                if r == c:
                    sd[r] = v
                else:
                    corr[r, c] = corr[c, r] = v
            cov = corr * np.outer(sd, sd) / sigma**2
            lam = _chol_psd(cov)
            thetas.append(np.array([lam[r, c] for r, c in b.pairs]))
        return np.concatenate(thetas), sigma

    def from_theta(self, theta: FloatArray, sigma: float) -> FloatArray:
        out = []
        off = 0
        for b, k in zip(self.blocks, self.sizes, strict=True):
            th = theta[off : off + k]
            off += k
            if b.kind in ("scalar", "diag"):
                out.extend((np.abs(th) * sigma).tolist())
                continue
            lam = np.asarray(b.structure.factor(th), dtype=np.float64)
            cov = lam @ lam.T * sigma**2
            sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
            for r, c in b.pairs:
                if r == c:
                    out.append(float(sd[r]))
                else:
                    den = sd[r] * sd[c]
                    out.append(float(cov[r, c] / den) if den > 0 else 0.0)
        return np.array([*out, sigma])


# --- profiling ---------------------------------------------------------------------------
def _gradient(
    f: Callable[[FloatArray], float],
    x: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    h: float,
) -> FloatArray:
    """Central differences, one-sided where a bound is within ``h``."""
    g = np.empty(x.size)
    for i in range(x.size):
        lo = max(x[i] - h, lower[i])
        hi = min(x[i] + h, upper[i])
        a = x.copy()
        b = x.copy()
        a[i], b[i] = lo, hi
        g[i] = (f(b) - f(a)) / (hi - lo) if hi > lo else 0.0
    return g


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
    g = _gradient(f, x, lower, upper, h)
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
        gn = _gradient(f, xn, lower, upper, h)
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
        # Curvature of the deviance in psi at the optimum: scales and start values.
        from .ddf import richardson_derivatives

        _, _, hess = richardson_derivatives(
            lambda p: np.array([self.dev_psi(p)]), self.psi_hat, step=1e-3, r=2
        )
        assert hess is not None
        H = (hess[0] + hess[0].T) / 2.0
        self.H = H
        self.se_psi = self._standard_errors(H)
        # Curvature of the profiled ML deviance in theta (fixed-effect profiles).
        _, _, hess_t = richardson_derivatives(
            lambda t: np.array([self.problem.objective(t, False)]), self.theta_hat, step=1e-3, r=2
        )
        assert hess_t is not None
        self.H_theta = (hess_t[0] + hess_t[0].T) / 2.0

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
        ev = self.problem.evaluate(theta, False)
        self.evaluations += 1
        if ev is None:
            return np.inf
        beta, _, _ = self.problem.solve(ev)
        vjj = float(self.problem.vcov_unscaled(ev)[j, j])
        delta = b - float(beta[j])
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
            start = self.theta_hat
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


# --- the public function ----------------------------------------------------------------------
def _percent_labels(level: float) -> list[str]:
    """R's ``format.perc``: ``"2.5 %"``, ``"97.5 %"``."""
    a = (1.0 - level) / 2.0
    labels = []
    for p in (a, 1.0 - a):
        v = 100.0 * p
        text = f"{float(f'{v:.3g}'):f}".rstrip("0").rstrip(".")
        labels.append(f"{text} %")
    return labels


def _select(result: Any, parm: Any) -> list[str]:
    vnames = variance_parameter_names(result)
    old = variance_parameter_names(result, old=True)
    fnames = list(result.model.fixef_names)
    every = vnames + fnames
    if parm is None:
        return every
    if isinstance(parm, str):
        parm = [parm]
    out: list[str] = []
    for p in parm:
        if isinstance(p, int | np.integer) and not isinstance(p, bool):
            if not 0 <= int(p) < len(every):
                raise ValueError(f"parameter index {p} out of range (0..{len(every) - 1})")
            out.append(every[int(p)])
        elif p == "theta_":
            out.extend(vnames)
        elif p == "beta_":
            out.extend(fnames)
        elif p in every:
            out.append(str(p))
        elif p in old:
            out.append(vnames[old.index(p)])
        else:
            raise ValueError(
                f"unknown parameter {p!r}; parameters are {every} (lme4's old names "
                f"{old} are accepted too, and 'theta_' / 'beta_' for all of a kind)"
            )
    return list(dict.fromkeys(out))


def confint(
    result: Any,
    parm: Any = None,
    level: float = 0.95,
    method: str = "profile",
    nsim: int = 500,
    seed: int | None = None,
    boot_type: str = "perc",
    n_jobs: int = 1,
    progress: Any = True,
) -> pd.DataFrame:
    """Confidence intervals for the fixed effects and the variance parameters.

    See :meth:`mixedmodels.LMMResult.confint`.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    key = str(method).strip().lower()
    names = _select(result, parm)
    labels = _percent_labels(level)
    vnames = variance_parameter_names(result)
    if key == "wald":
        z = float(stats.norm.ppf(0.5 + level / 2.0))
        fe = result.fixef
        se = result.fixef_se
        rows = {}
        for n in names:
            if n in vnames:
                rows[n] = (np.nan, np.nan)  # lme4: no Wald intervals for these
            else:
                rows[n] = (fe[n] - z * se[n], fe[n] + z * se[n])
    elif key == "profile":
        problem = getattr(result, "_problem", None)
        if isinstance(problem, GLMMProblem):
            from .glmm_profile import glmm_profile_intervals

            rows = glmm_profile_intervals(result, names, level, progress)
        elif is_linear_criterion(problem):
            rows = _profile_intervals(result, names, level, progress)
        else:
            raise TypeError(
                f"profile intervals are implemented for linear and generalized linear "
                f"mixed models, not {type(result).__name__}; use method='wald' or 'boot'"
            )
    elif key in ("boot", "bootstrap"):
        from .bootstrap import bootstrap

        boot = bootstrap(result, nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress)
        table = boot.confint(level=level, type=boot_type)
        values = table.loc[names].to_numpy(dtype=np.float64)
        rows = {n: (float(v[0]), float(v[1])) for n, v in zip(names, values, strict=True)}
    else:
        raise ValueError(f"unknown method {method!r}; use 'wald', 'profile' or 'boot'")
    return pd.DataFrame.from_dict(rows, orient="index", columns=labels).loc[names]
