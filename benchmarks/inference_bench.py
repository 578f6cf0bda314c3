"""Time the inference module against R (lme4, lmerTest, pbkrtest) on the same data.

Cases (what the issue asks for in brackets):

* profile confidence intervals, sleepstudy and Dyestuff [at least 5x faster than lme4's
  ``confint(fit, method = "profile")``];
* 1,000 parametric bootstrap refits of sleepstudy on 2 worker processes [under 10 s];
  R's ``bootMer`` with ``--r-boot`` (slow);
* Satterthwaite and Kenward-Roger coefficient tables, sleepstudy (lmerTest's
  ``summary``, pbkrtest's ``vcovAdj``);
* exact RLRT with 10,000 simulations (RLRsim's ``exactRLRT``).

Each timing is the minimum over repeats, warm (imports and first fit done).  R runs
when ``Rscript`` with the packages is installed.  Usage::

    python benchmarks/inference_bench.py [--repeat N] [--no-r] [--r-boot]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "packages" / "core" / "src"))

import mixedmodels as mm  # noqa: E402

os.environ.setdefault("MIXEDMODELS_PROGRESS", "0")


def best(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def python_times(repeat: int) -> dict[str, float]:
    sleep = mm.datasets.load("sleepstudy")
    dye = mm.datasets.load("Dyestuff")
    out: dict[str, float] = {}
    out["profile_sleepstudy"] = best(
        lambda: mm.lmm("Reaction ~ Days + (Days | Subject)", sleep).confint(progress=False),
        repeat,
    )
    out["profile_dyestuff"] = best(
        lambda: mm.lmm("Yield ~ 1 + (1 | Batch)", dye).confint(progress=False), repeat
    )
    fit = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    out["bootstrap_1000_sleepstudy_2_workers"] = best(
        lambda: mm.bootstrap(fit, nsim=1000, seed=1, n_jobs=2, progress=False), 1
    )
    out["satterthwaite_sleepstudy"] = best(
        lambda: mm.coef_table(mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)), repeat
    )
    out["kenward_roger_sleepstudy"] = best(
        lambda: mm.coef_table(
            mm.lmm("Reaction ~ Days + (Days | Subject)", sleep), ddf="kenward-roger"
        ),
        repeat,
    )
    m_a = mm.lmm("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep)
    m_0 = mm.lmm("Reaction ~ Days + (1 | Subject)", sleep)
    m = mm.lmm("Reaction ~ Days + (0 + Days | Subject)", sleep)
    out["exact_rlrt_10000"] = best(lambda: mm.exact_rlrt(m, m_a, m_0, nsim=10_000), repeat)
    return out


R_SCRIPT = r"""
suppressMessages({library(lme4); library(lmerTest); library(pbkrtest); library(RLRsim)})
args <- commandArgs(TRUE)
repeat_n <- as.integer(args[1]); do_boot <- args[2] == "1"; out_file <- args[3]
best <- function(expr) {
  f <- function() eval(expr, envir = globalenv())
  f()
  min(sapply(seq_len(repeat_n), function(i) system.time(f())[["elapsed"]]))
}
res <- list()
res$profile_sleepstudy <- best(quote(
  confint(lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy), method = "profile",
          quiet = TRUE)))
res$profile_dyestuff <- best(quote(
  confint(lme4::lmer(Yield ~ 1 + (1 | Batch), Dyestuff), method = "profile", quiet = TRUE)))
res$satterthwaite_sleepstudy <- best(quote(
  coef(summary(lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)))))
res$kenward_roger_sleepstudy <- best(quote(
  coef(summary(lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleepstudy),
               ddf = "Kenward-Roger"))))
mA <- lme4::lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), sleepstudy)
m0 <- lme4::lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
m <- lme4::lmer(Reaction ~ Days + (0 + Days | Subject), sleepstudy)
res$exact_rlrt_10000 <- best(quote(exactRLRT(m, mA, m0, nsim = 10000)))
if (do_boot) {
  fit <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
  res$bootstrap_1000_sleepstudy_2_workers <- system.time(
    bootMer(fit, function(x) c(getME(x, "theta"), fixef(x)), nsim = 1000,
            parallel = "multicore", ncpus = 2))[["elapsed"]]
}
writeLines(jsonlite::toJSON(res, auto_unbox = TRUE, digits = 6), out_file)
"""


def r_times(repeat: int, boot: bool) -> dict[str, float] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.R"
        out = Path(tmp) / "out.json"
        script.write_text(R_SCRIPT)
        proc = subprocess.run(
            ["Rscript", str(script), str(repeat), "1" if boot else "0", str(out)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not out.exists():
            print("R timings unavailable:", proc.stderr.strip()[-500:], file=sys.stderr)
            return None
        return {k: float(v) for k, v in json.loads(out.read_text()).items()}


TARGETS = {
    "profile_sleepstudy": "at least 5x faster than lme4",
    "profile_dyestuff": "",
    "bootstrap_1000_sleepstudy_2_workers": "under 10 s on 2 cores",
    "satterthwaite_sleepstudy": "",
    "kenward_roger_sleepstudy": "",
    "exact_rlrt_10000": "",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--r-boot", action="store_true", help="also time R's bootMer (slow)")
    args = parser.parse_args()
    py = python_times(args.repeat)
    r = None if args.no_r else r_times(args.repeat, args.r_boot)
    print(f"{'case':40s} {'mixedmodels':>12s} {'R':>10s} {'ratio':>8s}  target")
    rows = []
    for name, seconds in py.items():
        r_sec = None if r is None else r.get(name)
        ratio = r_sec / seconds if r_sec else None
        rows.append({"case": name, "mixedmodels_s": seconds, "R_s": r_sec, "ratio": ratio})
        r_text = f"{r_sec:10.3f}" if r_sec is not None else f"{'-':>10s}"
        ratio_text = f"{ratio:7.1f}x" if ratio else f"{'-':>8s}"
        print(f"{name:40s} {seconds:12.4f} {r_text} {ratio_text}  {TARGETS[name]}")
    (HERE / "inference_results.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
