"""Time mixedmodels-ordinal's clmm against ordinal::clmm (R) in the same run.

Cases: the reference wine model (72 rows, Laplace, and AGQ with 10 nodes), the probit
model with crossed judge and bottle effects (Laplace) and a
simulated 100,000-row model (five ordered categories, two covariates, 500 judges).
Prints seconds, the ratio R / ours and the log-likelihood difference.

    python benchmarks/ordinal_bench.py [--rows 100000] [--groups 500] [--no-r] [--skip-large]

Timings are end to end from the data frame (design, fit, Hessian); ours after a
warm-up fit, R's with packages loaded and one warm-up call; the small cases are the mean
of ``--reps`` fits on each side.  Both wall and CPU
seconds are printed (one BLAS thread each): on a shared, loaded machine the wall
times say little and the ratio of CPU times is the one to read.
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
WINE = ROOT / "packages" / "ordinal" / "tests" / "reference" / "wine.csv"


def wine() -> pd.DataFrame:
    d = pd.read_csv(WINE, dtype={"rating": str, "judge": str, "bottle": str})
    d["rating"] = pd.Categorical(d["rating"], categories=list("12345"), ordered=True)
    d["judge"] = pd.Categorical(d["judge"], categories=[str(i) for i in range(1, 10)])
    return d


def simulate(n: int, groups: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    x1 = rng.standard_normal(n)
    x2 = rng.integers(0, 2, n).astype(float)
    b = rng.standard_normal(groups) * 0.8
    latent = 0.7 * x1 - 0.5 * x2 + b[g] + rng.logistic(size=n)
    y = np.digitize(latent, [-2.0, -0.5, 0.5, 2.0]).astype(str)
    return pd.DataFrame(
        {
            "y": pd.Categorical(y, categories=list("01234"), ordered=True),
            "x1": x1,
            "x2": x2,
            "g": pd.Categorical([f"g{v:04d}" for v in g]),
        }
    )


CASES = [
    ("wine Laplace", "rating ~ temp + contact + (1 | judge)", "wine", 1, "logit"),
    ("wine AGQ 10", "rating ~ temp + contact + (1 | judge)", "wine", 10, "logit"),
    (
        "wine crossed",
        "rating ~ temp + contact + (1 | judge) + (1 | bottle)",
        "wine",
        1,
        "probit",
    ),
    ("simulated", "y ~ x1 + x2 + (1 | g)", "sim", 1, "logit"),
]

R_TEMPLATE = """
suppressPackageStartupMessages(library(ordinal))
d <- read.csv("{csv}")
d${resp} <- factor(d${resp}, levels = {levels}, ordered = TRUE)
d${grp} <- factor(d${grp})
if (!is.null(d$bottle)) d$bottle <- factor(d$bottle)

f <- clmm({formula}, data = d, nAGQ = {nagq}, link = "{link}")  # warm-up (byte compilation)
st <- system.time(for (i in seq_len({reps}))
    f <- clmm({formula}, data = d, nAGQ = {nagq}, link = "{link}"))
cat(st[["elapsed"]] / {reps}, (st[["user.self"]] + st[["sys.self"]]) / {reps},
    as.numeric(logLik(f)), "\\n")
"""


def run_r(  # type: ignore[no-untyped-def]
    frame: pd.DataFrame,
    formula: str,
    nagq: int,
    resp: str,
    grp: str,
    levels: list[str],
    reps: int = 1,
    link: str = "logit",
):
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        out = frame.copy()
        out.to_csv(csv, index=False)
        lv = "c(" + ", ".join(f'"{v}"' for v in levels) + ")"
        script = R_TEMPLATE.format(
            csv=csv,
            resp=resp,
            grp=grp,
            levels=lv,
            formula=formula,
            nagq=nagq,
            reps=reps,
            link=link,
        )
        run = subprocess.run(
            ["Rscript", "-e", script], capture_output=True, text=True, timeout=7200
        )
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
    ap.add_argument("--reps", type=int, default=20, help="fits timed per small case (mean)")
    args = ap.parse_args()
    from mixedmodels_ordinal import clmm

    data = {"wine": wine()}
    if not args.skip_large:
        data["sim"] = simulate(args.rows, args.groups)
    have_r = shutil.which("Rscript") is not None and not args.no_r
    clmm(CASES[0][1], data["wine"])  # warm-up: imports, plugin discovery
    print(
        f"{'case':<14} {'rows':>8} {'ours s':>8} {'R s':>8} {'ours cpu':>9} {'R cpu':>9} "
        f"{'R/ours cpu':>10} {'dlogLik':>10}"
    )
    for label, formula, key, nagq, link in CASES:
        if key not in data:
            continue
        frame = data[key]
        reps = args.reps if key == "wine" else 1
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            fit = clmm(formula, frame, nAGQ=nagq, link=link)
        ours, ours_cpu = (time.perf_counter() - t0) / reps, (time.process_time() - c0) / reps
        r_s, r_cpu, r_ll = (None, None, None)
        if have_r:
            resp, grp = ("rating", "judge") if key == "wine" else ("y", "g")
            levels = list(frame[resp].cat.categories)
            r_s, r_cpu, r_ll = run_r(frame, formula, nagq, resp, grp, levels, reps, link)
        ratio = f"{r_cpu / ours_cpu:10.1f}" if r_cpu else "         -"
        dll = f"{fit.loglik - r_ll:10.2e}" if r_ll is not None else "         -"
        rs = f"{r_s:8.4f}" if r_s else "       -"
        rc = f"{r_cpu:9.4f}" if r_cpu else "        -"
        print(f"{label:<14} {len(frame):>8} {ours:8.4f} {rs} {ours_cpu:9.4f} {rc} {ratio} {dll}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
