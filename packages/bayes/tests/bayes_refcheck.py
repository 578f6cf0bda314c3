"""Comparison of posterior draws with a brms reference case.

For every parameter of the case: the posterior mean within
``4 sqrt(mcse_ref^2 + mcse_ours^2)``, the posterior SD within ``max(3%, 4 mcse_sd_ours /
sd)`` (3% is the issue's figure; with fewer draws than the reference our own Monte Carlo
error of the SD can exceed it), and the 2.5% / 97.5% quantiles within
``4 sqrt(mcse_q_ref^2 + mcse_q_ours^2)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import arviz as az
import numpy as np

REFERENCE = Path(__file__).parent / "reference"


def load_case(name: str) -> dict:
    """A reference case copied from R (see ``reference/``)."""
    return json.loads((REFERENCE / f"{name}.json").read_text())


def our_draws(fit) -> dict[str, np.ndarray]:
    """brms-named draws ``(chains, draws)`` of every parameter, r_ included."""
    out = dict(fit.scalars)
    for k, t in enumerate(fit.data.terms):
        r = fit.draws[f"r_{k}"]
        for i, lev in enumerate(t.levels):
            for j, c in enumerate(t.columns):
                out[f"r_{t.key}[{lev},{c}]"] = r[:, :, i, j]
    return out


def compare(fit, case: dict) -> list[str]:
    """Failures (empty when every parameter agrees), with the numbers."""
    ours = our_draws(fit)
    failures = []
    for name, ref in case["posterior"].items():
        if name not in ours:
            failures.append(f"{name}: missing from our draws")
            continue
        x = ours[name]
        flat = x.reshape(-1)
        mean, sd = flat.mean(), flat.std(ddof=1)
        mcse = float(az.mcse(x, method="mean"))
        tol = 4 * np.hypot(ref["mcse_mean"], mcse)
        if abs(mean - ref["mean"]) > tol:
            failures.append(f"{name}: mean {mean:.6g} vs {ref['mean']:.6g} (tol {tol:.3g})")
        mcse_sd = float(az.mcse(x, method="sd"))
        rel = max(0.03, 4 * mcse_sd / ref["sd"])
        if abs(sd / ref["sd"] - 1) > rel:
            failures.append(f"{name}: sd {sd:.6g} vs {ref['sd']:.6g} (rel tol {rel:.3g})")
        for q, key in ((0.025, "q2.5"), (0.975, "q97.5")):
            val = float(np.quantile(flat, q))
            mq = float(az.mcse(x, method="quantile", prob=q))
            tol = 4 * np.hypot(ref[f"mcse_{key}"], mq)
            if abs(val - ref[key]) > tol:
                failures.append(f"{name}: {key} {val:.6g} vs {ref[key]:.6g} (tol {tol:.3g})")
    return failures
