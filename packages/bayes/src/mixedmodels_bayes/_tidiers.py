"""broom.mixed's tidiers for brmsfit: ``tidy`` and ``glance``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._draws import correlation_pairs
from ._results import BayesResult

__all__ = ["glance_bayes", "tidy_bayes"]


def _r_term(c: str) -> str:
    return "(Intercept)" if c == "Intercept" else c


def tidy_bayes(
    result: BayesResult, effects: Any = ("fixed", "ran_pars"), conf_level: float = 0.95
) -> pd.DataFrame:
    """broom.mixed's ``tidy(<brmsfit>)``.

    Parameters
    ----------
    result
        A fit.
    effects
        Any of ``"fixed"`` (population-level effects), ``"ran_pars"`` (group-level SDs,
        correlations and the residual SD), ``"ran_vals"`` (group-level effects).
    conf_level
        Coverage of the equal-tailed interval.

    Returns
    -------
    pandas.DataFrame
        ``effect``, ``component``, ``group``, ``term`` (broom.mixed's names:
        ``sd__(Intercept)``, ``cor__(Intercept).Days``, ``sd__Observation``), ``level``
        for ``ran_vals``, ``estimate`` (posterior mean), ``std.error`` (posterior SD),
        ``conf.low``, ``conf.high``.
    """
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must lie strictly between 0 and 1, got {conf_level}")
    if isinstance(effects, str):
        effects = (effects,)
    known = {"fixed", "ran_pars", "ran_vals"}
    bad = set(effects) - known
    if bad:
        raise ValueError(f"unknown effects {sorted(bad)}; choose from {sorted(known)}")
    lo, hi = (1 - conf_level) / 2, 1 - (1 - conf_level) / 2
    sc = result.scalars
    bd = result.data
    rows: list[dict[str, Any]] = []

    def add(effect: str, group: str, term: str, x: np.ndarray, level: str | None = None) -> None:
        flat = np.asarray(x).reshape(-1)
        q = np.quantile(flat, [lo, hi])
        row: dict[str, Any] = {"effect": effect, "component": "cond", "group": group, "term": term}
        if "ran_vals" in effects:
            row["level"] = level
        row.update(
            {
                "estimate": flat.mean(),
                "std.error": flat.std(ddof=1),
                "conf.low": q[0],
                "conf.high": q[1],
            }
        )
        rows.append(row)

    if "fixed" in effects:
        for k, v in sc.items():
            if k.startswith("b_"):
                add("fixed", "", _r_term(k[2:]), v)
    if "ran_pars" in effects:
        for t in bd.terms:
            for c in t.columns:
                add("ran_pars", t.group, f"sd__{_r_term(c)}", sc[f"sd_{t.group}__{c}"])
            if t.correlated:
                for j, m in correlation_pairs(t.columns):
                    a, b = t.columns[j], t.columns[m]
                    add(
                        "ran_pars",
                        t.group,
                        f"cor__{_r_term(a)}.{_r_term(b)}",
                        sc[f"cor_{t.group}__{a}__{b}"],
                    )
        if "sigma" in sc:
            add("ran_pars", "Residual", "sd__Observation", sc["sigma"])
    if "ran_vals" in effects:
        for ti, t in enumerate(bd.terms):
            r = result.draws[f"r_{ti}"].reshape(-1, t.n_levels, t.dim)
            for j, c in enumerate(t.columns):
                for i, lev in enumerate(t.levels):
                    add("ran_vals", t.group, _r_term(c), r[:, i, j], lev)
    out = pd.DataFrame(rows)
    if "group" in out and not any(e != "fixed" for e in effects):
        out = out.drop(columns="group")
    return out


def glance_bayes(result: BayesResult) -> pd.DataFrame:
    """broom.mixed's ``glance(<brmsfit>)``: algorithm, pss (posterior sample size),
    nobs, sigma (posterior mean; NaN without one)."""
    sc = result.scalars
    return pd.DataFrame(
        {
            "algorithm": ["sampling"],
            "pss": [result.n_chains * result.n_draws],
            "nobs": [result.nobs],
            "sigma": [float(sc["sigma"].mean()) if "sigma" in sc else np.nan],
        }
    )
