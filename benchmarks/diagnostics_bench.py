"""Time DHARMa-style scaled residuals (mixedmodels_diagnostics.simulate_residuals).

Target (issue): 250 simulations of scaled residuals for the VerbAgg GLMM (7584 rows) in
under 2 s, excluding the fit.  When ``Rscript`` with lme4 and DHARMa is installed, the
same model is fitted by glmer and ``DHARMa::simulateResiduals(fit, n = 250)`` timed in
the same run.  Usage::

    python benchmarks/diagnostics_bench.py [--repeat N] [--no-r]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORMULA = "r2 ~ (Anger + Gender + btype + situ) + (1|id) + (1|item)"
TARGET = 2.0

R_SCRIPT = """
suppressMessages({library(lme4); library(DHARMa)})
d <- read.csv(commandArgs(TRUE)[1], stringsAsFactors = TRUE)
d$r2 <- as.integer(d$r2 == "Y" | d$r2 == 1)
fit <- glmer(r2 ~ (Anger + Gender + btype + situ) + (1|id) + (1|item), d, family = binomial)
times <- replicate(%d, system.time(simulateResiduals(fit, n = 250))[["elapsed"]])
cat(sprintf('{"seconds": %%.6f}\\n', min(times)))
"""


def run_r(data_csv: str, repeat: int) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    check = subprocess.run(
        ["Rscript", "-e", "quit(status = !requireNamespace('DHARMa', quietly = TRUE))"],
        capture_output=True,
    )
    if check.returncode != 0:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT % repeat)
    out = subprocess.run(["Rscript", fh.name, data_csv], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return None
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args()

    import mixedmodels_diagnostics as mmd

    import mixedmodels as mm

    data = mm.datasets.load("VerbAgg")
    t0 = time.perf_counter()
    fit = mm.glmm(FORMULA, data, family="binomial")
    fit_s = time.perf_counter() - t0
    mmd.simulate_residuals(fit, n=10, seed=0)  # warm-up (imports)
    sims, tests = [], []
    for i in range(args.repeat):
        t0 = time.perf_counter()
        res = mmd.simulate_residuals(fit, n=250, seed=i)
        t1 = time.perf_counter()
        mmd.test_uniformity(res)
        mmd.test_dispersion(res)
        mmd.test_outliers(res, type="binomial")
        tests.append(time.perf_counter() - t1)
        sims.append(t1 - t0)
    best = min(sims)
    print(f"VerbAgg GLMM ({fit.nobs} rows): fit {fit_s:.2f} s (not counted)")
    print(
        f"simulate_residuals(n=250): {best:.3f} s (best of {args.repeat}); "
        f"target < {TARGET:.0f} s: {'met' if best < TARGET else 'NOT met'}"
    )
    print(f"uniformity + dispersion + outlier tests: {min(tests) * 1000:.1f} ms")
    if not args.no_r:
        with tempfile.TemporaryDirectory() as tmp:
            csv = str(Path(tmp) / "VerbAgg.csv")
            data.to_csv(csv, index=False)
            r = run_r(csv, max(1, min(args.repeat, 3)))
        if r is None:
            print("DHARMa: not timed (Rscript with lme4 and DHARMa not installed)")
        else:
            print(f"DHARMa simulateResiduals(n=250): {r:.3f} s; ratio {r / best:.1f}x")


if __name__ == "__main__":
    main()
