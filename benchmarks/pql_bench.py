"""Time mixedmodels-pql's glmmPQL against MASS::glmmPQL (R) in the same run.

Cases: the reference cbpp model (56 rows), bacteria with an AR(1) residual correlation
(220 rows), and a simulated 100,000-row binary model (2,000 clusters of 50, random
intercept).  Prints seconds, the ratio R / ours and the largest relative difference of
the fixed effects.

    python benchmarks/pql_bench.py [--clusters 2000] [--size 50] [--no-r] [--skip-large]

Small cases: the mean of ``--reps`` fits on each side (R after one warm-up call).
Wall and CPU seconds (one BLAS thread each); on a loaded machine read the CPU ratio.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "packages" / "pql" / "tests" / "reference"


def cbpp() -> pd.DataFrame:
    d = pd.read_csv(REF / "cbpp.csv", dtype={"herd": str, "period": str})
    d["herd"] = pd.Categorical(d["herd"], categories=[str(i) for i in range(1, 16)])
    d["period"] = pd.Categorical(d["period"], categories=list("1234"))
    return d


def bacteria() -> pd.DataFrame:
    d = pd.read_csv(REF / "bacteria.csv")
    d["trt"] = pd.Categorical(d["trt"], categories=["placebo", "drug", "drug+"])
    d["y"] = pd.Categorical(d["y"], categories=["n", "y"])
    return d


def simulate(clusters: int, size: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = clusters * size
    g = np.repeat(np.arange(clusters), size)
    x = rng.standard_normal(n)
    t = np.tile(np.arange(size, dtype=float), clusters) / size
    b = rng.standard_normal(clusters)[g]
    eta = -0.3 + 0.6 * x - 0.4 * t + b
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "t": t, "g": [f"c{v:05d}" for v in g]})


CASES = [
    (
        "cbpp",
        "cbind(incidence, size - incidence) ~ period",
        "~ 1 | herd",
        None,
        "cbpp",
        "d$herd <- factor(d$herd); d$period <- factor(d$period)",
    ),
    (
        "bacteria AR1",
        "y ~ trt + I(week > 2)",
        "~ 1 | ID",
        "ar1(1 | ID)",
        "bacteria",
        'd$trt <- factor(d$trt, levels = c("placebo", "drug", "drug+")); d$y <- factor(d$y)',
    ),
    ("simulated", "y ~ x + t", "~ 1 | g", None, "sim", "d$g <- factor(d$g)"),
]


def run_r(frame: pd.DataFrame, fixed: str, random: str, ar1: bool, prep: str, reps: int = 1):  # type: ignore[no-untyped-def]
    cor = ", correlation = corAR1()" if ar1 else ""
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        frame.to_csv(csv, index=False)
        script = f"""
suppressPackageStartupMessages({{library(MASS); library(nlme)}})
d <- read.csv("{csv}"); {prep}
fit <- function() glmmPQL({fixed}, random = {random}, family = binomial,
                          data = d{cor}, verbose = FALSE)
f <- fit()  # warm-up (byte compilation)
st <- system.time(for (i in seq_len({reps})) f <- fit())
cat(st[["elapsed"]] / {reps}, (st[["user.self"]] + st[["sys.self"]]) / {reps}, fixef(f), "\\n")
"""
        run = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
        if run.returncode != 0:
            return None, None, None
        vals = [float(v) for v in run.stdout.split()]
        return vals[0], vals[1], np.array(vals[2:])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--size", type=int, default=50)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--reps", type=int, default=20, help="fits timed per small case (mean)")
    args = ap.parse_args()
    from mixedmodels_pql import glmmPQL

    data = {"cbpp": cbpp(), "bacteria": bacteria()}
    if not args.skip_large:
        data["sim"] = simulate(args.clusters, args.size)
    have_r = shutil.which("Rscript") is not None and not args.no_r
    glmmPQL(CASES[0][1], CASES[0][2], "binomial", data["cbpp"])  # warm-up
    print(
        f"{'case':<14} {'rows':>8} {'ours s':>9} {'R s':>9} {'ours cpu':>9} "
        f"{'R/ours cpu':>7} {'max rel dfixef':>15}"
    )
    for label, fixed, random, cor, key, prep in CASES:
        if key not in data:
            continue
        frame = data[key]
        reps = 1 if key == "sim" else args.reps
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            fit = glmmPQL(fixed, random, "binomial", frame, correlation=cor)
        ours, ours_cpu = (time.perf_counter() - t0) / reps, (time.process_time() - c0) / reps
        r_s, r_cpu, r_fix = (None, None, None)
        if have_r:
            r_s, r_cpu, r_fix = run_r(frame, fixed, random, cor is not None, prep, reps)
        ratio = f"{r_cpu / ours_cpu:7.1f}" if r_cpu else "      -"
        rs = f"{r_s:9.4f}" if r_s else "        -"
        diff = (
            f"{np.max(np.abs(fit.fixef.to_numpy() / r_fix - 1)):15.2e}"
            if r_fix is not None
            else "              -"
        )
        print(f"{label:<14} {len(frame):>8} {ours:9.4f} {rs} {ours_cpu:9.4f} {ratio} {diff}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
