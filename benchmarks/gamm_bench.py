"""Time mixedmodels-gamm's gamm4 against R's gamm4 in the same run.

Cases: the reference gamm4 model (400 rows, s(x) + (1 | g)), the two-smooth reference
(360 rows) and a simulated 100,000-row model (s(x) + (1 | g), 500 groups).  With more
than 2,000 unique covariate values both engines build the thin-plate basis on a random
subsample of 2,000 knots (mgcv's max.knots), each with its own draw, so the large
case's log-likelihoods agree only approximately.  Prints seconds, R / ours and the
log-likelihood difference.

    python benchmarks/gamm_bench.py [--rows 100000] [--groups 500] [--no-r] [--skip-large]

Wall and CPU seconds (one BLAS thread each); on a loaded machine read the CPU ratio.
The small cases are the mean of ``--reps`` fits on each side, R's after one warm-up
call (byte compilation).
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
REF = ROOT / "packages" / "gamm" / "tests" / "reference"


def simulate(n: int, groups: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x = rng.random(n)
    y = 2 + np.sin(2 * np.pi * x) + rng.normal(0, 0.5, groups)[g] + rng.normal(0, 0.3, n)
    return pd.DataFrame({"g": [f"g{v:04d}" for v in g], "x": x, "y": y})


CASES = [
    ("gamm_sim", "y ~ s(x)", "sim400"),
    ("two smooths", "y ~ s(x) + s(z)", "two"),
    ("simulated", "y ~ s(x)", "large"),
]


def run_r(frame: pd.DataFrame, formula: str, reps: int = 1):  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        frame.to_csv(csv, index=False)
        warm = f"f <- gamm4({formula}, random = ~ (1 | g), data = d)" if reps > 1 else ""
        script = f"""
suppressPackageStartupMessages(library(gamm4))
d <- read.csv("{csv}"); d$g <- factor(d$g)
{warm}
st <- system.time(for (i in seq_len({reps})) f <- gamm4({formula}, random = ~ (1 | g), data = d))
cat(st[["elapsed"]] / {reps}, (st[["user.self"]] + st[["sys.self"]]) / {reps},
    as.numeric(logLik(f$mer)), "\\n")
"""
        run = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
        if run.returncode != 0:
            return None, None, None
        secs, cpu, ll = run.stdout.split()[:3]
        return float(secs), float(cpu), float(ll)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--groups", type=int, default=500)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--reps", type=int, default=10, help="fits timed per small case (mean)")
    args = ap.parse_args()
    from mixedmodels_gamm import gamm4

    data = {
        "sim400": pd.read_csv(REF / "gamm_sim.csv")[["g", "x", "y"]],
        "two": pd.read_csv(REF / "gamm_two.csv"),
    }
    if not args.skip_large:
        data["large"] = simulate(args.rows, args.groups)
    have_r = shutil.which("Rscript") is not None and not args.no_r
    gamm4("y ~ s(x)", data["sim400"], random="(1 | g)")  # warm-up
    print(
        f"{'case':<14} {'rows':>8} {'ours s':>9} {'R s':>9} {'ours cpu':>9} "
        f"{'R/ours cpu':>7} {'dlogLik':>10}"
    )
    for label, formula, key in CASES:
        if key not in data:
            continue
        frame = data[key]
        reps = 1 if key == "large" else args.reps
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            fit = gamm4(formula, frame, random="(1 | g)")
            fit.edf()
        ours, ours_cpu = (time.perf_counter() - t0) / reps, (time.process_time() - c0) / reps
        r_s, r_cpu, r_ll = run_r(frame, formula, reps) if have_r else (None, None, None)
        ratio = f"{r_cpu / ours_cpu:7.1f}" if r_cpu else "      -"
        rs = f"{r_s:9.3f}" if r_s else "        -"
        dll = f"{fit.loglik - r_ll:10.2e}" if r_ll is not None else "         -"
        print(f"{label:<14} {len(frame):>8} {ours:9.3f} {rs} {ours_cpu:9.3f} {ratio} {dll}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
