"""Time the general Laplace engine (mixedmodels-families) against glmmTMB in one run.

The seven glmmTMB reference cases (data under ``packages/families/tests/reference``),
the simulated cases of the second round's families (compois, betabinomial, ordbeta;
lognormal and nbinom12 ours only: glmmTMB 1.1.5 lacks them) and a simulated
zero-inflated NB2 with two crossed random intercepts (``--rows`` 100,000 rows, 2,000 x
200 levels).  Prints seconds, the ratio glmmTMB / ours and the
log-likelihoods of both.

    python benchmarks/families_bench.py [--rows 100000] [--repeat 1] [--big-repeat 1]
        [--no-r] [--no-big] [--no-sim]

glmmTMB needs ``Rscript`` with glmmTMB installed.  Timings are end to end from the
data frame (model matrices, fit, Wald covariance: glmmTMB's ``sdreport`` runs inside
``glmmTMB()`` too; for glmmTMB the whole ``glmmTMB()`` call, TMB's taping included, as
users experience it); the best of ``--repeat`` runs.  Elapsed seconds give the ratio;
CPU seconds (ours: the process's; glmmTMB: ``system.time``'s user + system) are printed
too, for machines shared with other work, where elapsed time depends on the load.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packages" / "families" / "tests"))

from tmb_helpers import REFERENCE, load_case  # noqa: E402

# case -> (python arguments, the R call's arguments)
CASES = {
    "glmmtmb_salamanders_zinb2": (
        dict(formula="count ~ mined + (1 | site)", family="nbinom2", ziformula="~ mined"),
        "count ~ mined + (1 | site), ziformula = ~mined, family = nbinom2",
    ),
    "glmmtmb_owls_zinb1_offset": (
        dict(
            formula="SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize))"
            " + (1 | Nest)",
            family="nbinom1",
            ziformula="~ 1",
        ),
        "SiblingNegotiation ~ FoodTreatment * SexParent + offset(log(BroodSize)) + "
        "(1 | Nest), ziformula = ~1, family = nbinom1",
    ),
    "glmmtmb_beta_sim": (
        dict(formula="y ~ x + (1 | g)", family="beta"),
        "y ~ x + (1 | g), family = beta_family()",
    ),
    "glmmtmb_owls_tweedie": (
        dict(formula="NegPerChick ~ FoodTreatment * SexParent + (1 | Nest)", family="tweedie"),
        "NegPerChick ~ FoodTreatment * SexParent + (1 | Nest), family = tweedie",
    ),
    "glmmtmb_salamanders_genpois": (
        dict(formula="count ~ spp + mined + (1 | site)", family="genpois"),
        "count ~ spp + mined + (1 | site), family = genpois",
    ),
    "glmmtmb_salamanders_hurdle_truncnb2": (
        dict(
            formula="count ~ spp + mined + (1 | site)",
            family="truncated_nbinom2",
            ziformula="~ .",
        ),
        "count ~ spp + mined + (1 | site), ziformula = ~., family = truncated_nbinom2",
    ),
    "glmmtmb_orthodont_dispformula": (
        dict(
            formula="distance ~ age + Sex + (1 | Subject)",
            family="gaussian",
            dispformula="~ Sex",
        ),
        "distance ~ age + Sex + (1 | Subject), dispformula = ~Sex, family = gaussian",
    ),
}

# The simulated cases of issue 15's second round (tools/reference/glmmtmb_families/
# new_families.R); glmmTMB 1.1.5 has no lognormal or nbinom12: ours only for those.
SIM_CASES = {
    "compois_sim": (
        dict(formula="y ~ x + (1 | g)", family="compois"),
        "y ~ x + (1 | g), family = compois",
    ),
    "betabinomial_sim": (
        dict(formula="cbind(succ, fail) ~ x + (1 | g)", family="betabinomial"),
        "cbind(succ, size - succ) ~ x + (1 | g), family = betabinomial",
    ),
    "ordbeta_sim": (
        dict(formula="y ~ x + (1 | g)", family="ordbeta"),
        "y ~ x + (1 | g), family = ordbeta, start = list(psi = c(-1, 1))",
    ),
    "lognormal_sim": (dict(formula="y ~ x + (1 | g)", family="lognormal"), None),
    "nbinom12_sim": (dict(formula="y ~ x + (1 | g)", family="nbinom12"), None),
}


def load_sim(name: str) -> tuple[pd.DataFrame, dict]:
    """A simulated case's data and the factor levels for R."""
    data = pd.read_csv(REFERENCE / f"{name}.csv")
    data["g"] = pd.Categorical(data["g"].astype(str))
    if "succ" in data:
        data["fail"] = data["size"] - data["succ"]
    return data, {"g": {"levels": list(data["g"].cat.categories)}}


def simulate_zinb2(rows: int, seed: int = 20240611) -> pd.DataFrame:
    """Zero-inflated NB2 counts with crossed random intercepts (2,000 x 200 levels)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2000, rows)
    b = rng.integers(0, 200, rows)
    x = rng.standard_normal(rows)
    z = rng.standard_normal(rows)
    eta = 0.5 + 0.4 * x + rng.normal(0, 0.5, 2000)[a] + rng.normal(0, 0.3, 200)[b]
    mu = np.exp(eta)
    size = 2.0
    y = rng.negative_binomial(size, size / (size + mu)).astype(float)
    pi = 1.0 / (1.0 + np.exp(-(-1.0 + 0.5 * z)))
    y[rng.random(rows) < pi] = 0.0
    return pd.DataFrame(
        {"y": y, "x": x, "z": z, "a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b]}
    )


BIG = (
    dict(formula="y ~ x + (1 | a) + (1 | b)", family="nbinom2", ziformula="~ z"),
    "y ~ x + (1 | a) + (1 | b), ziformula = ~z, family = nbinom2",
)


def time_ours(data: pd.DataFrame, spec: dict, repeat: int) -> tuple[float, float, float]:
    """Best elapsed and CPU seconds of ``repeat`` fits, and the log-likelihood."""
    import mixedmodels as mm

    args = dict(spec)
    formula = args.pop("formula")
    best, cpu, ll = np.inf, np.inf, np.nan
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = mm.glmm(formula, data, **args)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
        ll = fit.loglik
    return best, cpu, ll


def time_r(jobs: list[tuple], repeat: int) -> dict[str, tuple[float, float, float]]:
    """glmmTMB's elapsed and CPU seconds and log-likelihood per job (name, csv, factor
    levels, call, and optionally its own number of runs)."""
    lines = ["suppressPackageStartupMessages(library(glmmTMB))", "out <- list()"]
    for name, csv, levels, call, *runs in jobs:
        n_runs = runs[0] if runs else repeat
        lines.append(f'd <- read.csv("{csv}")')
        for col, spec in levels.items():
            lv = ", ".join(f'"{v}"' for v in spec["levels"])
            lines.append(f"d${col} <- factor(d${col}, levels = c({lv}))")
        lines.append(
            f"best <- Inf; cpu <- Inf; for (i in 1:{n_runs}) {{ t <- system.time(m <- "
            f"glmmTMB({call}, data = d)); best <- min(best, t[['elapsed']]); "
            "cpu <- min(cpu, t[['user.self']] + t[['sys.self']]) }"
        )
        lines.append(f'out[["{name}"]] <- c(best, cpu, as.numeric(logLik(m)))')
    lines.append("cat(jsonlite::toJSON(out, digits = NA))")
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write("\n".join(lines))
    res = subprocess.run(["Rscript", fh.name], capture_output=True, text=True, check=True)
    raw = json.loads(res.stdout.strip().splitlines()[-1])
    return {k: (float(v[0]), float(v[1]), float(v[2])) for k, v in raw.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--big-repeat", type=int, default=1, help="runs of the 100,000-row case")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-big", action="store_true")
    ap.add_argument("--no-sim", action="store_true", help="skip the second round's cases")
    ap.add_argument("--cases", nargs="*", default=list(CASES), help="reference cases to time")
    opt = ap.parse_args()
    jobs, ours = [], {}
    first = next(iter(CASES))
    time_ours(load_case(first)[1], CASES[first][0], 1)  # warm-up: imports, plugins
    for case_id in opt.cases:
        spec, rcall = CASES[case_id]
        case, data = load_case(case_id)
        ours[case_id] = time_ours(data, spec, opt.repeat)
        csv = REFERENCE / Path(case["data_file"]).name
        jobs.append((case_id, csv, case.get("factor_levels", {}), rcall))
        print(f"{case_id}: ours {ours[case_id][0]:.2f} s", flush=True)
    for name, (spec, rcall) in ({} if opt.no_sim else SIM_CASES).items():
        data, levels = load_sim(name)
        ours[name] = time_ours(data, spec, opt.repeat)
        if rcall is not None:
            jobs.append((name, REFERENCE / f"{name}.csv", levels, rcall))
        print(f"{name}: ours {ours[name][0]:.2f} s", flush=True)
    tmp = None
    if not opt.no_big:
        big = simulate_zinb2(opt.rows)
        tmp = Path(tempfile.mkdtemp()) / "zinb2_crossed.csv"
        big.to_csv(tmp, index=False)
        name = f"simulated_zinb2_crossed_{opt.rows}"
        ours[name] = time_ours(big, BIG[0], opt.big_repeat)
        jobs.append((name, tmp, {}, BIG[1], opt.big_repeat))
        print(f"{name}: ours {ours[name][0]:.2f} s", flush=True)
    theirs = {}
    if not opt.no_r and shutil.which("Rscript"):
        theirs = time_r(jobs, opt.repeat)
    print(
        f"\n{'case':40s} {'ours s':>8s} {'glmmTMB s':>10s} {'ratio':>7s} "
        f"{'ours cpu':>9s} {'TMB cpu':>8s} {'cpu ratio':>9s} {'logLik diff':>12s}"
    )
    for name, (secs, cpu, ll) in ours.items():
        if name in theirs:
            rs, rc, rll = theirs[name]
            print(
                f"{name:40s} {secs:8.3f} {rs:10.3f} {rs / secs:7.2f} {cpu:9.3f} {rc:8.3f} "
                f"{rc / cpu:9.2f} {ll - rll:12.2e}"
            )
        else:
            print(f"{name:40s} {secs:8.3f} {'-':>10s} {'-':>7s} {cpu:9.3f}")


if __name__ == "__main__":
    main()
