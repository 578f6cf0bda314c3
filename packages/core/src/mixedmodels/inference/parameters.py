"""Covariance-structure parameters on their natural scale, with Wald intervals.

Each random-effect structure reports its own parameterisation
(:meth:`~mixedmodels.interfaces.CovarianceStructure.natural_parameters`: ``ar1`` an SD
and ``phi``, ``cs`` the SDs and ``rho``, ...), the residual structure its correlation
and variance-function parameters (nlme's ``Phi``, ``Rho``, variance ratios, powers), and
the residual SD closes the table.

Intervals are Wald intervals as nlme's ``intervals()``: from the numerical Hessian of
the (restricted) deviance over all covariance parameters and ``log sigma``, on a scale
where the estimate is close to normal (log for SDs and ratios, Fisher's z for
correlations, logit for ``(0, 1)`` parameters, and for the residual structure's
one-to-one parameters the structure's own unconstrained scale, which is nlme's), then
mapped back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..generalized.criterion import GLMMProblem
from ..interfaces import FloatArray
from ..linear.interface import is_linear_criterion
from ..numerics.derivatives import central_gradient, central_hessian

__all__ = ["structure_parameters"]

_COLUMNS = ["effect", "group", "structure", "term", "estimate", "conf.low", "conf.high"]


def _deviance_with_sigma(result: Any) -> tuple[Callable[[FloatArray], float], FloatArray]:
    """The deviance as a function of ``(params, log sigma)`` (not profiled over sigma)
    and the point of the estimates."""
    problem = result._problem
    reml = result.reml
    n, p = problem.n, problem.p
    nu = n - p if reml else n

    def dev(z: FloatArray) -> float:
        ev = problem.evaluate(z[:-1], reml)
        if ev is None:
            return np.inf
        s2 = np.exp(2.0 * z[-1])
        profiled = nu * (1.0 + np.log(2.0 * np.pi * ev.pwrss / nu))
        return float(ev.objective - profiled + nu * np.log(2.0 * np.pi * s2) + ev.pwrss / s2)

    return dev, np.concatenate([result.theta, [np.log(result.sigma)]])


def _glmm_hessian(result: Any) -> FloatArray | None:
    """Hessian of ``-2 log L`` in ``(theta, beta)`` at a GLMM's optimum: central
    differences of the exact Laplace gradient where there is one (forward next to a
    lower bound), else the convergence check's."""
    P = result._problem
    theta = np.asarray(result.theta, dtype=np.float64)
    beta = np.asarray(result.fixef, dtype=np.float64)
    k = theta.size
    if result.nagq != 1 or P.observed_information:
        H = result.optimizer.hessian
        return None if H is None else np.asarray(H, dtype=np.float64)
    x = np.concatenate([theta, beta])
    lower = np.concatenate([_bounds(result)[0], np.full(beta.size, -np.inf)])

    def grad(z: FloatArray) -> FloatArray:
        _, g_t, g_b = P.laplace_gradient(z[:k], z[k:])
        if g_t is None or g_b is None:
            raise FloatingPointError("no gradient")
        return np.concatenate([g_t, g_b])

    try:
        g0 = grad(x)
        H = np.empty((x.size, x.size))
        for i in range(x.size):  # a loop over parameters (few)
            h = 1e-4 * max(abs(x[i]), 0.1)
            up = x.copy()
            up[i] += h
            if x[i] - h < lower[i]:
                H[:, i] = (grad(up) - g0) / h
            else:
                down = x.copy()
                down[i] -= h
                H[:, i] = (grad(up) - grad(down)) / (2 * h)
    except FloatingPointError:
        return None
    finally:
        P.pirls(theta, beta)  # leave the modes of the optimum in the problem
    return (H + H.T) / 2.0


def _glmm_covariance(result: Any) -> tuple[FloatArray | None, FloatArray]:
    """Covariance of ``(theta, log sigma)`` of a GLMM: ``2 H^-1`` of ``-2 log L`` in
    ``(theta, beta)`` at the optimum over the parameters off their bounds, restricted to
    theta (sigma is fixed at 1: a zero row and column; a theta on its bound: NaN)."""
    k = int(np.asarray(result.theta).size)
    z0 = np.concatenate([np.asarray(result.theta, dtype=np.float64), [0.0]])
    H = _glmm_hessian(result)
    if H is None:
        return None, z0
    lower = _bounds(result)[0]
    free = np.ones(H.shape[0], dtype=bool)
    free[:k] = ~(np.isfinite(lower) & (np.abs(z0[:k] - lower) < 1e-6))
    try:
        Hf = H[np.ix_(free, free)]
        if np.linalg.eigvalsh(Hf).min() <= 0:
            return None, z0
        inv = np.full(H.shape, np.nan)
        inv[np.ix_(free, free)] = 2.0 * np.linalg.inv(Hf)
    except np.linalg.LinAlgError:
        return None, z0
    cov = np.zeros((k + 1, k + 1))
    cov[:k, :k] = inv[:k, :k]
    return cov, z0


def _covariance(result: Any) -> tuple[FloatArray | None, Callable[[FloatArray], float], FloatArray]:
    dev, z0 = _deviance_with_sigma(result)
    k = z0.size
    lower = np.concatenate([_bounds(result)[0], [-np.inf]])
    upper = np.concatenate([_bounds(result)[1], [np.inf]])
    on_bound = np.isfinite(lower) & (np.abs(z0 - lower) < 1e-6)
    H = central_hessian(dev, z0, lower, upper, ~on_bound)
    free = ~on_bound
    cov = np.full((k, k), np.nan)
    try:
        Hf = H[np.ix_(free, free)]
        if np.linalg.eigvalsh(Hf).min() <= 0:
            return None, dev, z0
        cov[np.ix_(free, free)] = 2.0 * np.linalg.inv(Hf)
    except np.linalg.LinAlgError:
        return None, dev, z0
    return cov, dev, z0


def _bounds(result: Any) -> tuple[FloatArray, FloatArray]:
    problem = result._problem
    if is_linear_criterion(problem):
        lo, hi = problem.bounds()
        return np.asarray(lo, float), np.asarray(hi, float)
    structures = result.model.structures
    lo = np.concatenate([np.zeros(0), *[s.bounds()[0] for s in structures]])
    hi = np.concatenate([np.zeros(0), *[s.bounds()[1] for s in structures]])
    return lo, hi


_SCALES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "log": (np.log, np.exp),
    "z": (np.arctanh, np.tanh),
    "logit": (lambda v: np.log(v / (1.0 - v)), lambda t: 1.0 / (1.0 + np.exp(-t))),
    "identity": (lambda v: v, lambda t: t),
}


def _scale_for(kind: str, value: float) -> str:
    if kind in ("sd", "positive"):
        return "log" if value > 0 else "identity"
    if kind == "cor":
        return "z" if abs(value) < 1 else "identity"
    if kind == "unit":
        return "logit" if 0 < value < 1 else "identity"
    return "identity"


def structure_parameters(result: Any, conf_int: bool = True, level: float = 0.95) -> pd.DataFrame:
    """Covariance-structure parameters of a fitted LMM or GLS on their natural scale.

    Parameters
    ----------
    result
        An :class:`~mixedmodels.LMMResult` (or GLS result).
    conf_int
        Add Wald intervals (columns ``conf.low``, ``conf.high``; costs a numerical
        Hessian, about ``k^2`` evaluations of the criterion for ``k`` parameters).
    level
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        Columns ``effect`` (``ran_pars`` for random-effect structures, ``cor_pars``
        and ``var_pars`` for the residual correlation and variance functions,
        ``sigma`` for the residual SD), ``group`` (grouping factor, or the residual
        component as written), ``structure``, ``term``, ``estimate`` and, with
        ``conf_int``, ``conf.low`` and ``conf.high``.
    """
    model = result.model
    problem = result._problem
    theta = np.asarray(result.theta, dtype=np.float64)
    n_re = sum(int(s.n_params) for s in model.structures)
    residual = getattr(problem, "residual", None)

    # Each entry: (row dict, function of z = (params, log sigma) -> natural value, kind).
    entries: list[tuple[dict[str, Any], Callable[[FloatArray], float], str]] = []
    start = 0
    for s, name in zip(model.structures, model.group_names, strict=True):
        k = int(s.n_params)
        natural = s.natural_parameters(theta[start : start + k])
        for j, (term, value, kind) in enumerate(natural):

            def f(z: FloatArray, s: Any = s, a: int = start, k: int = k, j: int = j) -> float:
                nat = s.natural_parameters(z[a : a + k])
                v = float(nat[j][1])
                return v * float(np.exp(z[-1])) if nat[j][2] == "sd" else v

            est = value * result.sigma if kind == "sd" else value
            row = {"effect": "ran_pars", "group": name, "structure": s.name, "term": term}
            row["estimate"] = float(est)
            entries.append((row, f, kind))
        start += k
    if residual is not None:
        phi = theta[n_re:]
        natural = residual.natural_parameters(phi)
        coordinatewise = _coordinatewise(residual, phi)
        for j, (component, term, value) in enumerate(natural):
            effect = "cor_pars" if component.startswith("correlation") else "var_pars"
            structure = (
                residual.correlation.name
                if effect == "cor_pars" and residual.correlation is not None
                else component.split(" ", 1)[-1].split("(", 1)[0]
            )

            def g(z: FloatArray, j: int = j) -> float:
                return float(residual.natural_parameters(z[n_re:-1])[j][2])

            kind = "internal" if coordinatewise[j] is not None else "other"
            row = {
                "effect": effect,
                "group": component.split(" ", 1)[-1],
                "structure": structure,
                "term": term,
                "estimate": float(value),
            }
            entries.append((row, g, kind))
    glmm = isinstance(result._problem, GLMMProblem)
    if glmm and result.dispersion is not None:
        # lme4's sigma() of a glmer fit; its interval would need the outer fit of phi.
        row = {"effect": "sigma", "group": "Residual", "structure": "", "term": "sigma"}
        row["estimate"] = float(np.sqrt(result.dispersion))
        entries.append((row, lambda z: float("nan"), "fixed"))
    elif not glmm:
        entries.append(
            (
                {
                    "effect": "sigma",
                    "group": "Residual",
                    "structure": "",
                    "term": "sigma",
                    "estimate": float(result.sigma),
                },
                lambda z: float(np.exp(z[-1])),
                "sd",
            )
        )
    rows = [e[0] for e in entries]
    if not conf_int:
        return pd.DataFrame(rows, columns=_COLUMNS[:5])
    if glmm:
        cov, z0 = _glmm_covariance(result)
    else:
        cov, _, z0 = _covariance(result)
    q = float(stats.norm.ppf(0.5 + level / 2.0))
    coordinatewise = _coordinatewise(residual, theta[n_re:]) if residual is not None else []
    j_res = 0
    for row, fun, kind in entries:
        lo = hi = np.nan
        if cov is not None and kind != "fixed":
            if kind == "internal":
                idx = n_re + int(coordinatewise[j_res])  # type: ignore[arg-type]
                se = float(np.sqrt(cov[idx, idx]))
                if np.isfinite(se):
                    a = (z0[idx] - q * se, z0[idx] + q * se)
                    vals = []
                    for t in a:
                        z = z0.copy()
                        z[idx] = t
                        vals.append(fun(z))
                    lo, hi = min(vals), max(vals)
            else:
                nat_kind = kind if kind in ("sd", "cor", "positive", "unit") else "other"
                scale = _scale_for(nat_kind, row["estimate"])
                to, back = _SCALES[scale]
                grad = central_gradient(_composed(to, fun), z0)
                var = float(grad @ np.nan_to_num(cov, nan=0.0) @ grad)
                touches_nan = bool(np.any(np.isnan(cov[np.abs(grad) > 0][:, np.abs(grad) > 0])))
                if np.isfinite(var) and var >= 0 and not touches_nan:
                    c = float(to(row["estimate"]))
                    se = np.sqrt(var)
                    lo, hi = float(back(c - q * se)), float(back(c + q * se))
        if row["effect"] in ("cor_pars", "var_pars"):
            j_res += 1
        row["conf.low"], row["conf.high"] = lo, hi
    return pd.DataFrame(rows, columns=_COLUMNS)


def _composed(
    to: Callable[[Any], Any], fun: Callable[[FloatArray], float]
) -> Callable[[FloatArray], float]:
    def composed(z: FloatArray) -> float:
        return float(to(fun(z)))

    return composed


def _coordinatewise(residual: Any, phi: FloatArray) -> list[int | None]:
    """For each natural residual parameter, the index of the one internal parameter it
    depends on (monotonically), or ``None`` when it depends on several."""
    base = residual.natural_parameters(phi)
    n = len(base)
    if n != phi.size:
        return [None] * n
    deps: list[list[int]] = [[] for _ in range(n)]
    for i in range(phi.size):
        moved = phi.copy()
        moved[i] += 1e-4 * max(1.0, abs(phi[i]))
        nat = residual.natural_parameters(moved)
        for j in range(n):
            if abs(nat[j][2] - base[j][2]) > 1e-12 * max(1.0, abs(base[j][2])):
                deps[j].append(i)
    return [d[0] if len(d) == 1 and d[0] == j else None for j, d in enumerate(deps)]


def _phi(result: Any) -> FloatArray:
    problem = result._problem
    return np.asarray(problem.split(result.theta)[1], dtype=np.float64)


def structured_residuals(result: Any, r: FloatArray, type: str) -> FloatArray:
    """Residuals of a fit with a residual structure: ``"response"`` as they are,
    ``"pearson"`` divided by each observation's SD multiplier (variance functions and
    prior weights), ``"normalized"`` whitened within groups, ``R^-1/2 r``."""
    problem = result._problem
    residual = problem.residual
    phi = _phi(result)
    if type == "response":
        return r
    if type == "pearson":
        ls = residual.log_sd(phi, problem.fitted)
        return r if ls is None else r * np.exp(-ls)
    if type == "normalized":
        white = residual.whiten(phi, np.asarray(r, dtype=np.float64)[:, None], problem.fitted)
        if white is None:
            raise RuntimeError("the residual structure is not positive definite at the estimates")
        return np.asarray(white[0][:, 0], dtype=np.float64)
    raise ValueError(f"unknown residual type {type!r}; use 'response', 'pearson' or 'normalized'")


def residual_noise(result: Any, rng: np.random.Generator, nsim: int) -> FloatArray:
    """``(n, nsim)`` draws of the residuals divided by sigma, with the fitted residual
    correlation and variance functions."""
    problem = result._problem
    residual = problem.residual
    out = np.empty((problem.n, nsim))
    for rows, cov in residual.covariance_blocks(_phi(result), problem.fitted):
        L = np.linalg.cholesky(cov)  # (G, k, k)
        z = rng.standard_normal((rows.shape[0], rows.shape[1], nsim))
        out[rows] = np.matmul(L, z)
    return out


def tidy_structure_rows(result: Any) -> pd.DataFrame:
    """Rows for ``tidy(fit)``'s ``ran_pars``: the residual correlation and variance
    function parameters (group ``"Residual"``, nlme's names: ``Phi``, ``Rho``, a
    stratum's SD ratio, ``power``); empty for models without a residual structure."""
    if getattr(getattr(result, "_problem", None), "residual", None) is None:
        return pd.DataFrame(columns=["effect", "group", "term", "estimate"])
    table = structure_parameters(result, conf_int=False)
    sub = table[table.effect.isin(["cor_pars", "var_pars"])]
    return pd.DataFrame(
        {
            "effect": "ran_pars",
            "group": "Residual",
            "term": sub["term"].to_numpy(),
            "estimate": sub["estimate"].to_numpy(dtype=float),
        }
    )


def summary_block(result: Any, digits: int = 4) -> str:
    """Lines for ``summary()`` after the random-effects table: each structured term's
    own parameters (glmmTMB's ``ar1``: SD and ``phi``) and the residual correlation and
    variance functions (nlme's "Correlation Structure" and "Variance function"
    blocks).  Empty for models with only ``us``/``diag`` terms and no residual structure.
    """
    structures = getattr(getattr(result, "model", None), "structures", None)
    residual = getattr(getattr(result, "_problem", None), "residual", None)
    if structures is None:
        return ""
    plain = all(s.name in ("us", "diag") for s in structures)
    if plain and residual is None:
        return ""
    table = structure_parameters(result, conf_int=False)
    lines = []

    def fmt(rows: pd.DataFrame) -> str:
        pairs = zip(rows.term.astype(str), rows.estimate.astype(float), strict=True)
        return "  ".join(f"{t} {v:.{digits}g}" for t, v in pairs)

    ran = table[table.effect == "ran_pars"]
    structured = ran[~ran.structure.isin(["us", "diag"])]
    if len(structured):
        lines.append("Covariance structures:")
        for (group, structure), rows in structured.groupby(["group", "structure"], sort=False):
            lines.append(f" {group!s} {structure!s}(): {fmt(rows)}")
    for effect, title in (("cor_pars", "Correlation structure"), ("var_pars", "Variance function")):
        rows = table[table.effect == effect]
        for group, sub in rows.groupby("group", sort=False):
            lines.append(f"{title}: {group!s}")
            lines.append(f" {fmt(sub)}")
    return "\n".join(lines) + "\n" if lines else ""
