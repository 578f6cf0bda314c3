"""Spatial linear models fitted exactly or with a nearest-neighbour (Vecchia)
likelihood: ``y = X beta + w(s) + e``, ``cov(y) = sigma^2 ((1 - nugget) R(d) + nugget I)``
(nlme's ``gls(..., correlation = corExp(form = ~ x + y, nugget = TRUE))``; spNNGP's and
BRISC's response NNGP with ``sigma_w^2 = sigma^2 (1 - nugget)``, ``tau^2 = sigma^2
nugget``).

``beta`` and ``sigma`` are profiled out; the correlation parameters (log range, logit
nugget, log smoothness, ...) are optimised by L-BFGS-B on finite-difference gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, stats

import mixedmodels as mm

from ._kernel import SpatialKernel, make_kernel
from ._latent import LatentPlan, latent_gls, latent_plan
from ._structures import STRUCTURES, duplicate_locations
from ._vecchia import VecchiaPlan, exact_whiten, plan, whiten, whiten_derivatives

FloatArray = NDArray[np.float64]

__all__ = ["SpatialFit", "spatial_lmm"]

_FAMILY = {cls.name: (cls.family, cls.nu) for cls in STRUCTURES}


def _coords_from(data: pd.DataFrame, rows: pd.Index, coords: Sequence[str]) -> FloatArray:
    missing = [c for c in coords if c not in data.columns]
    if missing:
        raise KeyError(
            f"coordinate columns {missing} are not in the data (columns: {list(data.columns)})"
        )
    out = np.column_stack([pd.to_numeric(data.loc[rows, c], errors="coerce") for c in coords])
    return np.asarray(out, dtype=np.float64)


@dataclass
class _Problem:
    """The profiled (restricted) deviance of a spatial linear model."""

    kernel: SpatialKernel
    coords: FloatArray  # in the plan's order when nngp
    columns: FloatArray  # (n, 1 + p): y then X, same order
    reml: bool
    vp: VecchiaPlan | None
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.columns.shape[0])

    @property
    def p(self) -> int:
        return int(self.columns.shape[1] - 1)

    def whitened(self, params: FloatArray) -> tuple[FloatArray, float]:
        if self.vp is None:
            if "dist" not in self.cache and not self.kernel.anisotropy:
                self.cache["dist"] = self.kernel.distance(self.coords, self.coords, params)
            W, logdet, _ = exact_whiten(
                self.kernel, params, self.coords, self.columns, self.cache.get("dist")
            )
            return W, logdet
        return whiten(self.kernel, params, self.vp, self.columns)

    def gls(self, params: FloatArray) -> dict[str, Any]:
        W, logdet = self.whitened(params)
        y, X = W[:, 0], W[:, 1:]
        q, r = np.linalg.qr(X)
        beta = np.linalg.solve(r, q.T @ y)
        res = y - X @ beta
        rss = float(res @ res)
        logdet_xtx = 2.0 * float(np.sum(np.log(np.abs(np.diag(r)))))
        return {"beta": beta, "rss": rss, "logdet": logdet, "r": r, "logdet_xtx": logdet_xtx}

    def deviance(self, params: FloatArray, log_sigma: float | None = None) -> float:
        """-2 log-likelihood (restricted with ``reml``), ``sigma`` profiled unless given."""
        try:
            g = self.gls(params)
        except (np.linalg.LinAlgError, FloatingPointError):
            return np.inf
        nn = self.n - self.p if self.reml else self.n
        s2 = g["rss"] / nn if log_sigma is None else float(np.exp(2 * log_sigma))
        dev = nn * np.log(2 * np.pi * s2) + g["logdet"] + g["rss"] / s2
        if self.reml:
            dev += g["logdet_xtx"]
        return float(dev) if np.isfinite(dev) else np.inf


@dataclass
class _LatentProblem(_Problem):
    """The profiled deviance under the latent NNGP (columns in data order)."""

    lp: LatentPlan | None = None

    def gls(self, params: FloatArray) -> dict[str, Any]:
        assert self.lp is not None
        return latent_gls(self.kernel, params, self.lp, self.columns)


def _nngp_deviance_gradient(problem: _Problem, params: FloatArray) -> tuple[float, FloatArray]:
    """The profiled (restricted) deviance of the response NNGP and its analytic gradient.

    With ``e = W (y - X beta_hat)``, ``rss = e'e`` and ``s2 = rss / nn``: ``d dev = nn
    d rss / rss + d log det`` (plus ``d log det(X'V^{-1}X)`` for REML), where ``d rss =
    2 e' (dW_y - dW_X beta_hat)`` (``beta_hat`` minimises ``rss``: no term through it).
    """
    assert problem.vp is not None
    try:
        W, logdet, dW, dlogdet = whiten_derivatives(
            problem.kernel, params, problem.vp, problem.columns
        )
    except (np.linalg.LinAlgError, FloatingPointError):
        return np.inf, np.zeros(params.size)
    y, X = W[:, 0], W[:, 1:]
    q, r = np.linalg.qr(X)
    beta = np.linalg.solve(r, q.T @ y)
    res = y - X @ beta
    rss = float(res @ res)
    n, p = problem.n, problem.p
    nn = n - p if problem.reml else n
    dev = nn * np.log(2 * np.pi * rss / nn) + nn + logdet
    de = dW[:, :, 0] - dW[:, :, 1:] @ beta  # (q, n)
    grad = nn * 2.0 * (de @ res) / rss + dlogdet
    if problem.reml:
        dev += 2.0 * float(np.sum(np.log(np.abs(np.diag(r)))))
        # d log det(X'X) = 2 tr((X'X)^{-1} X' dX), X'X = r'r.
        rinv = np.linalg.inv(r)
        xtx_inv = rinv @ rinv.T
        grad += 2.0 * np.einsum("ab,nb,qna->q", xtx_inv, X, dW[:, :, 1:])
    if not np.isfinite(dev):
        return np.inf, np.zeros(params.size)
    return float(dev), np.asarray(grad, dtype=np.float64)


class SpatialFit:
    """A spatial linear model fitted by :func:`spatial_lmm`.

    Attributes
    ----------
    fixef : pandas.Series
        Fixed effects.
    sigma : float
        Residual SD (total: spatial plus nugget).
    params : numpy.ndarray
        The correlation's internal parameters (``kernel.param_names()``).
    loglik : float
        Log-likelihood (restricted for REML), exact or nearest-neighbour.
    """

    def __init__(
        self,
        model: Any,
        problem: _Problem,
        params: FloatArray,
        coords: FloatArray,
        coord_names: list[str],
        method: str,
        opt: Any,
        structure: str,
    ) -> None:
        self.model = model
        self._problem = problem
        self.kernel = problem.kernel
        self.params = np.asarray(params, dtype=np.float64)
        self.coords = coords  # data order
        self.coord_names = coord_names
        self.method = method
        self.structure = structure
        self.reml = problem.reml
        self.m = problem.vp.m if problem.vp is not None else None
        g = problem.gls(self.params)
        nn = problem.n - problem.p if problem.reml else problem.n
        self.sigma = float(np.sqrt(g["rss"] / nn))
        names = list(model.fixef_names)
        self.fixef = pd.Series(g["beta"], index=names, name="estimate")
        rinv = np.linalg.inv(g["r"])
        self._vcov = self.sigma**2 * (rinv @ rinv.T)
        self.loglik = -0.5 * problem.deviance(self.params)
        self.converged = bool(opt.success) if opt is not None else True
        self.optimizer_message = str(getattr(opt, "message", ""))
        self.n_evaluations = int(getattr(opt, "nfev", 0))
        self.nobs = problem.n
        self.df = problem.p + problem.kernel.n_params + 1

    # --- inference -------------------------------------------------------------------
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed effects (GLS, at the estimates)."""
        names = list(self.fixef.index)
        return pd.DataFrame(self._vcov, index=names, columns=names)

    @property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._vcov)), index=self.fixef.index, name="se")

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.df

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.df

    def structure_parameters(self, conf_int: bool = True, level: float = 0.95) -> pd.DataFrame:
        """The correlation's parameters as nlme reports them (``range``, ``nugget``,
        ``smoothness``), the partial sill and nugget variances (spNNGP's
        ``sigma.sq``, ``tau.sq``) and ``sigma``, with Wald intervals from the numerical
        Hessian of the deviance over the internal parameters and ``log sigma`` (nlme's
        ``intervals()``)."""
        natural = self.kernel.natural_parameters(self.params)
        v = self.kernel.unpack(self.params)
        rows = [(name, value) for name, value in natural]
        rows += [
            ("sigma.sq", self.sigma**2 * (1.0 - v["nugget"])),
            ("tau.sq", self.sigma**2 * v["nugget"]),
            ("sigma", self.sigma),
        ]
        table = pd.DataFrame(rows, columns=["term", "estimate"])
        if not conf_int:
            return table
        z0 = np.concatenate([self.params, [np.log(self.sigma)]])
        k = self.params.size

        def dev(z: FloatArray) -> float:
            return self._problem.deviance(z[:k], float(z[k]))

        hess = _hessian(dev, z0)
        try:
            cov = np.linalg.inv(0.5 * hess)
        except np.linalg.LinAlgError:
            cov = np.full_like(hess, np.nan)
        q = float(stats.norm.ppf(0.5 + level / 2.0))
        lows, highs = [], []

        def natural_at(z: FloatArray) -> list[float]:
            nat = [val for _, val in self.kernel.natural_parameters(z[:k])]
            vv = self.kernel.unpack(z[:k])
            s2 = float(np.exp(2 * z[k]))
            return [*nat, s2 * (1 - vv["nugget"]), s2 * vv["nugget"], float(np.exp(z[k]))]

        n_nat = len(natural)
        for j in range(len(rows)):
            idx = j if j < n_nat and n_nat == k else None
            if j == len(rows) - 1:
                idx = k
            if idx is not None:
                se = float(np.sqrt(cov[idx, idx])) if cov[idx, idx] >= 0 else np.nan
                vals = []
                for t in (z0[idx] - q * se, z0[idx] + q * se):
                    z = z0.copy()
                    z[idx] = t
                    vals.append(natural_at(z)[j])
                lows.append(min(vals))
                highs.append(max(vals))
            else:
                # Delta method on the log scale for the variances.
                f = lambda z, j=j: float(np.log(max(natural_at(z)[j], 1e-300)))  # noqa: E731
                grad = _gradient(f, z0)
                var = float(grad @ cov @ grad)
                se = float(np.sqrt(var)) if var >= 0 else float("nan")
                c = f(z0)
                lows.append(float(np.exp(c - q * se)))
                highs.append(float(np.exp(c + q * se)))
        table["conf.low"] = lows
        table["conf.high"] = highs
        return table

    # --- data ------------------------------------------------------------------------
    def fitted(self) -> pd.Series:
        """``X beta`` (the mean without the spatial field)."""
        return pd.Series(self.model.X @ self.fixef.to_numpy(), index=self.model.design.row_index)

    def residuals(self) -> pd.Series:
        """Marginal residuals ``y - X beta`` (they carry the spatial field)."""
        return pd.Series(self.model.y - self.fitted().to_numpy(), index=self.fitted().index)

    def predict(
        self, newdata: Any, method: str | None = None, m: int | None = None
    ) -> pd.DataFrame:
        """Kriging at new locations; see :func:`mixedmodels_spatial.krige`."""
        from ._kriging import krige

        return krige(self, newdata, method=method, m=m)

    def summary(self) -> str:
        how = {
            "exact": "exact",
            "nngp": f"nearest-neighbour (response, m = {self.m})",
            "latent": f"nearest-neighbour (latent, m = {self.m})",
        }[self.method]
        lines = [
            f"Spatial linear model, {self.structure} correlation, {how} likelihood, "
            f"{'REML' if self.reml else 'ML'}",
            f"  n = {self.nobs}, logLik = {self.loglik:.4f}, AIC = {self.aic:.4f}",
            "",
            "Fixed effects:",
            pd.DataFrame({"estimate": self.fixef, "se": self.fixef_se}).to_string(),
            "",
            "Correlation structure:",
            self.structure_parameters(conf_int=False).to_string(index=False),
        ]
        if not self.converged:
            lines.append(f"\nWARNING: the optimiser did not converge: {self.optimizer_message}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def _gradient(f: Any, z: FloatArray) -> FloatArray:
    g = np.empty(z.size)
    for i in range(z.size):  # a loop over parameters (few)
        h = 1e-4 * max(1.0, abs(z[i]))
        up, down = z.copy(), z.copy()
        up[i] += h
        down[i] -= h
        g[i] = (f(up) - f(down)) / (2 * h)
    return g


def _hessian(f: Any, z: FloatArray) -> FloatArray:
    k = z.size
    H = np.empty((k, k))
    h = 1e-3 * np.maximum(1.0, np.abs(z))
    f0 = f(z)
    for i in range(k):  # loops over parameters (few)
        for j in range(i, k):
            if i == j:
                up, down = z.copy(), z.copy()
                up[i] += h[i]
                down[i] -= h[i]
                H[i, i] = (f(up) - 2 * f0 + f(down)) / h[i] ** 2
            else:
                pp, pm, mp, mm_ = (z.copy() for _ in range(4))
                pp[[i, j]] += [h[i], h[j]]
                pm[[i, j]] += [h[i], -h[j]]
                mp[[i, j]] += [-h[i], h[j]]
                mm_[[i, j]] -= [h[i], h[j]]
                H[i, j] = H[j, i] = (f(pp) - f(pm) - f(mp) + f(mm_)) / (4 * h[i] * h[j])
    return H


def spatial_lmm(
    formula: str,
    data: Any,
    coords: Sequence[str],
    structure: str = "exp",
    *,
    nugget: bool = True,
    nu: float | None = None,
    metric: str = "euclidean",
    anisotropy: bool = False,
    method: str = "nngp",
    m: int = 15,
    ordering: str = "maxmin",
    reml: bool = False,
    start: Sequence[float] | None = None,
    seed: int = 0,
    gradient: bool = True,
) -> SpatialFit:
    """Fit a spatial linear model, exactly or by a nearest-neighbour Gaussian process.

    ``y = X beta + w(s) + e`` with ``cov(y) = sigma^2 ((1 - nugget) R(d / range) +
    nugget I)``: nlme's ``gls(y ~ x, correlation = corExp(form = ~ sx + sy, nugget =
    TRUE))`` with ``method="exact"``; spNNGP's / BRISC's response NNGP with
    ``method="nngp"`` (``m = n - 1`` is the exact likelihood).

    Parameters
    ----------
    formula
        Fixed-effects formula, ``"z ~ x1"``.
    data
        A data frame with the formula's columns and the coordinates.
    coords
        The coordinate columns (``["sx", "sy"]``; longitude then latitude, in degrees,
        with ``metric="great_circle"``).
    structure
        ``"exp"``, ``"gau"``, ``"spher"``, ``"ratio"``, ``"lin"``, ``"mat"`` (smoothness
        estimated unless ``nu``), ``"matern32"``, ``"matern52"``.
    nugget
        Estimate a nugget (needed with repeated locations).
    nu
        Fixed Matérn smoothness.
    metric
        ``"euclidean"`` or ``"great_circle"`` (km).
    anisotropy
        Estimate a geometric anisotropy (angle and ratio; two Euclidean coordinates).
    method
        ``"nngp"`` (response NNGP: Vecchia on ``y``), ``"latent"`` (latent NNGP: the
        field has the NNGP prior, the nugget is exact; needs ``nugget=True``; repeated
        locations share one field value) or ``"exact"``.
    m
        Number of nearest earlier neighbours (``1 <= m <= n - 1``; with ``"latent"``,
        at most the number of distinct locations less one).
    ordering
        ``"maxmin"`` (approximate), ``"coord"``, ``"sum"`` or ``"none"``.
    reml
        Restricted maximum likelihood (nlme's default for ``gls``); ML by default, as
        spNNGP and BRISC.
    start
        Start of the internal parameters (``log(range)``, ...).
    seed
        Seed of the ordering's ties and of the subsample that starts large fits.
    gradient
        Use the analytic gradient of the response NNGP's deviance (``O(n m^3)``, one
        pass with the likelihood; an anisotropy included); ``False``: finite
        differences.  Not for the latent NNGP or the exact method (differences there).

    Returns
    -------
    SpatialFit
    """
    if method not in ("nngp", "latent", "exact"):
        raise ValueError(f"method must be 'nngp', 'latent' or 'exact', got {method!r}")
    if structure not in _FAMILY:
        raise ValueError(
            f"unknown spatial structure {structure!r}; choose one of {sorted(_FAMILY)}"
        )
    fam, fixed_nu = _FAMILY[structure]
    if method == "latent" and not nugget:
        raise ValueError(
            "the latent NNGP needs a nugget (nugget=True): without one it is the response "
            "NNGP (method='nngp')"
        )
    if nu is not None and fixed_nu is not None:
        raise ValueError(f"{structure!r} has its smoothness fixed at {fixed_nu}")
    model = mm.Model(formula, data)
    if model.terms:
        raise ValueError(
            "spatial_lmm takes fixed effects only; use mm.lmm(..., correlation=...) or a "
            "field term exp(pos + 0 | group) for random effects"
        )
    coord_names = [coords] if isinstance(coords, str) else list(coords)
    rows = model.design.row_index
    frame = model.data
    xy = _coords_from(frame, rows, coord_names)
    kernel = make_kernel(
        fam,
        None,
        nugget=nugget,
        nu=nu if nu is not None else fixed_nu,
        metric=metric,
        anisotropy=anisotropy,
        range_start=1.0,
    )
    kernel.check(xy, coord_names)
    n = xy.shape[0]
    if not kernel.nugget:
        dup = duplicate_locations(xy, np.zeros(n, dtype=np.int64))
        if dup is not None:
            raise ValueError(
                f"rows {rows[dup[0]]!r} and {rows[dup[1]]!r} share a location: without a "
                "nugget the correlation matrix is singular; use nugget=True"
            )
    if method != "exact" and not (1 <= int(m) <= n - 1):
        raise ValueError(
            f"m = {m} neighbours: need 1 <= m <= n - 1 = {n - 1} (m = n - 1 is the exact "
            "likelihood)"
        )
    kernel = make_kernel(
        fam,
        xy,
        nugget=kernel.nugget,
        nu=kernel.nu,
        metric=kernel.metric,
        anisotropy=kernel.anisotropy,
    )
    columns = np.column_stack([model.y, model.X])
    problem: _Problem
    if method == "nngp":
        vp = plan(xy, int(m), ordering, kernel.metric, seed)
        problem = _Problem(kernel, vp.coords, columns[vp.order], reml, vp)
    elif method == "latent":
        lp = latent_plan(xy, int(m), ordering, kernel.metric, seed)
        problem = _LatentProblem(kernel, xy, columns, reml, lp.vp, lp=lp)
    else:
        problem = _Problem(kernel, xy, columns, reml, None)
    x0 = np.asarray(start, dtype=np.float64) if start is not None else kernel.start()
    if x0.size != kernel.n_params:
        raise ValueError(f"start needs {kernel.n_params} values ({kernel.param_names()})")
    if start is None and n > 4000:
        # A fit on a subsample starts the large one near its optimum.
        rng = np.random.default_rng(seed)
        sub = np.sort(rng.choice(n, 2000, replace=False))
        vs = plan(xy[sub], min(int(m), 1999), ordering, kernel.metric, seed)
        small = _Problem(kernel, vs.coords, columns[sub][vs.order], reml, vs)
        x0 = _optimise(small, x0, gradient).x
    opt = _optimise(problem, x0, gradient)
    return SpatialFit(model, problem, opt.x, xy, coord_names, method, opt, structure)


def _optimise(problem: _Problem, x0: FloatArray, gradient: bool = True) -> Any:
    lo, hi = problem.kernel.bounds()
    bounds = [
        (float(a) if np.isfinite(a) else None, float(b) if np.isfinite(b) else None)
        for a, b in zip(lo, hi, strict=True)
    ]
    scale = 1.0 / max(problem.n, 1)
    analytic = problem.vp is not None and not isinstance(problem, _LatentProblem)
    # The response NNGP: its analytic gradient (anisotropy included).
    if gradient and analytic:

        def fg(x: FloatArray) -> tuple[float, FloatArray]:
            dev, grad = _nngp_deviance_gradient(problem, x)
            return dev * scale, grad * scale

        return optimize.minimize(
            fg,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 200, "ftol": 1e-12, "gtol": 1e-7},
        )

    def f(x: FloatArray) -> float:
        return problem.deviance(x) * scale

    return optimize.minimize(
        f,
        x0,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 200, "ftol": 1e-12, "gtol": 1e-7, "eps": 1e-6},
    )
