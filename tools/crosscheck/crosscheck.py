"""Cross-check mixedmodels against lme4 on simulated data sets.

Simulates LMM and GLMM data (random intercepts and slopes, crossed and nested factors,
small and zero variances, several families and links), fits every model with lme4
(``Rscript crosscheck.R``) and with mixedmodels, and lists the fits whose criterion
(REML criterion or -2 log L) is worse than lme4's by more than the tolerance.  It found
the zero-variance stops of decision 0012.  Needs R with lme4 and jsonlite.

Usage::

    python tools/crosscheck/crosscheck.py [--seed 1] [--datasets 6] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import mixedmodels as mm

HERE = Path(__file__).parent

# id suffix, formula, family ("lmm" for lmer), link, nagq, reml, factors
MODELS = [
    ("lmm_slope", "y ~ x + (x | a)", "lmm", "", 1, True, "a"),
    ("lmm_uncorr_ml", "y ~ x + (x || a)", "lmm", "", 1, False, "a"),
    ("lmm_crossed", "y ~ x + (x | a) + (1 | b)", "lmm", "", 1, True, "a;b"),
    ("lmm_nested", "y ~ x + (1 | a/b)", "lmm", "", 1, False, "a;b"),
    ("bin_crossed", "ybin ~ x + (1 | a) + (1 | b)", "binomial", "logit", 1, False, "a;b"),
    ("bin_slope", "ybin ~ x + (x | a)", "binomial", "logit", 1, False, "a"),
    ("bin_probit", "ybin ~ x + (1 | a)", "binomial", "probit", 1, False, "a"),
    ("bin_agq", "ybin ~ x + (1 | a)", "binomial", "logit", 9, False, "a"),
    (
        "trials_cloglog",
        "cbind(succ, trials - succ) ~ x + (1 | a)",
        "binomial",
        "cloglog",
        1,
        False,
        "a",
    ),
    ("pois_slope", "ycnt ~ x + (x | a) + (1 | b)", "poisson", "log", 1, False, "a;b"),
    ("pois_uncorr", "ycnt ~ x + (x || a)", "poisson", "log", 1, False, "a"),
    ("nb", "ynb ~ x + (1 | a)", "negative_binomial", "log", 1, False, "a"),
]


def simulate(rng: np.random.Generator) -> pd.DataFrame:
    na, nb, reps = rng.integers(5, 25), rng.integers(3, 10), rng.integers(2, 6)
    a = np.repeat(np.arange(na), nb * reps)
    b = np.tile(np.repeat(np.arange(nb), reps), na)
    n = a.size
    x = rng.normal(size=n)
    # Standard deviations drawn so that some are tiny or zero (singular fits).
    sd_a, sd_b, sd_s = rng.choice([0.0, 0.02, 0.1, 0.3, 0.8], size=3)
    eta = -0.2 + 0.5 * x + rng.normal(0, sd_a, na)[a] + rng.normal(0, sd_b, nb)[b]
    eta = eta + rng.normal(0, sd_s, na)[a] * x
    data = pd.DataFrame({"a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b], "x": x})
    data["y"] = 2 + 3 * eta + rng.normal(0, 1.0, n)
    data["ybin"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    data["trials"] = rng.integers(1, 8, n)
    data["succ"] = rng.binomial(data["trials"], 1 / (1 + np.exp(-eta)))
    data["ycnt"] = rng.poisson(np.exp(eta))
    data["ynb"] = rng.negative_binomial(2.0, 2.0 / (2.0 + np.exp(eta + 0.5)))
    return data


def fit_ours(model: tuple, data: pd.DataFrame) -> tuple[float, np.ndarray]:
    _, formula, family, link, nagq, reml, _ = model
    if family == "lmm":
        fit = mm.lmm(formula, data, reml=reml)
        return (fit.reml_criterion if reml else fit.deviance), fit.theta
    fit = mm.glmm(formula, data, family=family, link=link or None, nagq=nagq)
    return fit.minus2loglik, fit.theta


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--datasets", type=int, default=6)
    parser.add_argument("--keep", help="directory to keep the data and lme4's results in")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    work = Path(args.keep or tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(args.datasets):
        simulate(rng).to_csv(work / f"data{k}.csv", index=False)
        for m in MODELS:
            rows.append(
                {
                    "id": f"{k}_{m[0]}",
                    "data": f"data{k}.csv",
                    "formula": m[1],
                    "family": m[2],
                    "link": m[3] or "identity",
                    "nagq": m[4],
                    "reml": m[5],
                    "factors": m[6],
                }
            )
    pd.DataFrame(rows).to_csv(work / "models.csv", index=False)
    subprocess.run(["Rscript", str(HERE / "crosscheck.R"), str(work)], check=True)
    ref = json.loads((work / "results.json").read_text())
    worse = 0
    warnings.simplefilter("ignore")
    for row in rows:
        if row["id"] not in ref:
            continue
        model = next(m for m in MODELS if row["id"].endswith("_" + m[0]))
        crit, theta = fit_ours(model, pd.read_csv(work / row["data"]))
        diff = crit - ref[row["id"]]["crit"]
        tol = 1e-6 if model[2] == "lmm" else 2e-4
        if diff > tol:
            worse += 1
            print(
                f"{row['id']:22s} worse by {diff:.2e}; theta {np.round(theta, 4)} "
                f"lme4 {np.round(np.atleast_1d(ref[row['id']]['theta']), 4)}"
            )
    print(f"{worse} of {len(ref)} fits worse than lme4 beyond tolerance (data in {work})")
    return 1 if worse else 0


if __name__ == "__main__":
    raise SystemExit(main())
