"""Confidence intervals of models fitted by the general Laplace engine (glmmTMB's
``confint``): Wald, and likelihood profiles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..generalized.laplace_engine import HeldProblem, fit_laplace

__all__ = ["profile_intervals", "wald_intervals"]

_COMP_BLOCK = {"cond": "beta", "zi": "betazi", "disp": "betad"}


def _rows(result: Any, full: bool) -> list[tuple[str, int, str]]:
    """``(label, parameter index, kind)`` in glmmTMB's order: fixed effects of ``cond``
    and ``zi`` (and ``disp`` when ``full``), then the SDs of scalar random-effect
    terms; ``kind`` is ``"beta"`` or ``"sd"``."""
    pr = result._problem
    rows = []
    comps = ("cond", "zi", "disp") if full else ("cond", "zi")
    for k in comps:
        b = pr.blocks.get(_COMP_BLOCK[k])
        if b is None:
            continue
        for j, name in enumerate(result.components[k].fixef_names):
            rows.append((f"{k}.{name}", b.start + j, "beta"))
    for k in pr.re_names:
        b = pr.blocks["theta" if k == "cond" else "thetazi"]
        i = b.start
        comp = result.components[k]
        for t, g, cols in zip(comp.terms, comp.group_names, comp.column_names, strict=True):
            if t.dim == 1 and t.structure.n_params == 1:
                rows.append((f"{k}.Std.Dev.{cols[0]}|{g}", i, "sd"))
            i += t.structure.n_params
    return rows


def _select(rows: list[tuple[str, int, str]], parm: Any) -> list[tuple[str, int, str]]:
    if parm is None:
        return rows
    wanted = [parm] if isinstance(parm, str) else list(parm)
    labels = [r[0] for r in rows]
    missing = [p for p in wanted if p not in labels]
    if missing:
        raise ValueError(f"unknown parameters {missing}; choose from {labels}")
    return [r for r in rows if r[0] in wanted]


def wald_intervals(
    result: Any, parm: Any = None, level: float = 0.95, full: bool = False
) -> pd.DataFrame:
    """Wald intervals: fixed effects on their scale; random-effect SDs on the log scale,
    then exponentiated (glmmTMB's ``confint(method = "wald")``)."""
    z = stats.norm.ppf(0.5 + level / 2.0)
    V = result._fit.vcov
    x = result.params
    out = []
    for label, i, kind in _select(_rows(result, full), parm):
        se = float(np.sqrt(V[i, i]))
        if kind == "beta":
            out.append((label, x[i] - z * se, x[i] + z * se, x[i]))
        else:
            lse = se / x[i]  # delta method: SE of log(sd)
            out.append((label, x[i] * np.exp(-z * lse), x[i] * np.exp(z * lse), x[i]))
    lo, hi = f"{100 * (1 - level) / 2:.3g} %", f"{100 * (1 + level) / 2:.3g} %"
    return pd.DataFrame(
        [r[1:] for r in out], index=[r[0] for r in out], columns=[lo, hi, "Estimate"]
    )


def profile_intervals(
    result: Any, parm: Any = None, level: float = 0.95, full: bool = False
) -> pd.DataFrame:
    """Likelihood-profile intervals: where ``2 (logLik - profile logLik)`` reaches the
    chi-square quantile, each other parameter re-optimised (glmmTMB's
    ``confint(method = "profile")``)."""
    pr = result._problem
    cut = stats.chi2.ppf(level, 1) / 2.0
    ll = result.loglik
    x = result.params
    V = result._fit.vcov
    lo_b, hi_b = pr.bounds()
    out = []
    for label, i, _kind in _select(_rows(result, full), parm):
        se = float(np.sqrt(V[i, i])) if np.isfinite(V[i, i]) else 0.1 * max(abs(x[i]), 1.0)
        warm = {"rest": np.delete(x, i)}

        def drop(v: float, i: int = i, warm: dict[str, np.ndarray] = warm) -> float:
            # every profile point starts from the estimates (warm starts from the last
            # point let L-BFGS-B stop short on the way out)
            held = HeldProblem(pr, i, v)
            fit = fit_laplace(held, start=warm["rest"], hessian=False)
            return ll - fit.loglik - cut

        ends = []
        for side in (-1.0, 1.0):
            warm["rest"] = np.delete(x, i)
            step = 2.0 * se
            inner, outer = float(x[i]), float(x[i] + side * step)
            bound = lo_b[i] if side < 0 else hi_b[i]
            end = np.nan
            for _ in range(8):  # widen the bracket until the profile crosses the cut
                if (side < 0 and outer <= bound) or (side > 0 and outer >= bound):
                    outer = float(bound)
                    end = outer if drop(outer) < 0 else np.nan
                    if np.isnan(end):
                        end = optimize.brentq(drop, inner, outer, xtol=1e-6 * max(se, 1e-8))
                    break
                if drop(outer) > 0:
                    end = optimize.brentq(drop, inner, outer, xtol=1e-6 * max(se, 1e-8))
                    break
                inner, outer = outer, outer + side * step
                step *= 2.0
            ends.append(end)
        pr._set_lambdas(x)
        pr.u = result._fit.u.copy()
        out.append((label, ends[0], ends[1], x[i]))
    lo, hi = f"{100 * (1 - level) / 2:.3g} %", f"{100 * (1 + level) / 2:.3g} %"
    return pd.DataFrame(
        [r[1:] for r in out], index=[r[0] for r in out], columns=[lo, hi, "Estimate"]
    )
