"""InstEval ML, quiet and with several fits competing for the cores (decision 0015).

Each measurement is a fresh process that loads InstEval and times
``y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)`` by ML.  "quiet" runs one
such process at a time; "loaded" starts ``--procs`` of them at once (the situation of a
user running fits side by side, e.g. joblib over bootstrap samples) and reports each
one's fit time.  Both are run under each BLAS-thread policy:

- ``auto``: the default (as many BLAS threads as idle cores, ``MIXEDMODELS_NUM_THREADS``
  unset);
- ``all``: the BLAS library's own default in every process (``MIXEDMODELS_NUM_THREADS=all``),
  the behaviour before decision 0015.

With mixedlm installed (the Rust-backed Python peer) it is timed the same way; with
``Rscript`` and lme4 present (and ``--r``), lme4's ``lmer`` is timed the same way
on the same data.  The load on the machine before the run (load average) is printed:
on a shared machine "quiet" is only as quiet as the neighbours.

Usage::

    python benchmarks/load_bench.py [--procs 4] [--repeat 3] [--r]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

FORMULA = "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)"

PY_WORKER = textwrap.dedent(
    """
    import json, time, warnings
    import mixedmodels as mm
    data = mm.datasets.load("InstEval")
    warnings.simplefilter("ignore")
    t = time.perf_counter()
    fit = mm.lmm({formula!r}, data, reml=False)
    print(json.dumps({{"seconds": time.perf_counter() - t, "deviance": fit.deviance}}))
    """
)

# mixedlm (PyPI, the Rust-backed Python peer), when it is installed.
MIXEDLM_WORKER = textwrap.dedent(
    """
    import json, time, warnings
    import mixedlm
    import mixedmodels as mm
    data = mm.datasets.load("InstEval")
    warnings.simplefilter("ignore")
    t = time.perf_counter()
    fit = mixedlm.lmer({formula!r}, data, REML=False)
    seconds = time.perf_counter() - t
    deviance = fit.deviance() if callable(fit.deviance) else fit.deviance
    print(json.dumps({{"seconds": seconds, "deviance": float(deviance)}}))
    """
)

R_WORKER = textwrap.dedent(
    """
    suppressMessages(library(lme4))
    data <- read.csv("{csv}")
    for (v in c("s", "d", "dept", "service")) data[[v]] <- factor(data[[v]])
    t <- system.time(fit <- lmer({formula}, data = data, REML = FALSE))[["elapsed"]]
    cat(sprintf('{{"seconds": %.6f, "deviance": %.8f}}\\n', t, deviance(fit)))
    """
)


def _start(engine: str, policy: str, csv: str | None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("MIXEDMODELS_NUM_THREADS", None)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(var, None)  # the user's default: no thread setting at all
    if policy == "all":
        env["MIXEDMODELS_NUM_THREADS"] = "all"
    if engine == "python":
        cmd = [sys.executable, "-c", PY_WORKER.format(formula=FORMULA)]
    elif engine == "mixedlm":
        cmd = [sys.executable, "-c", MIXEDLM_WORKER.format(formula=FORMULA)]
    else:
        cmd = ["Rscript", "-e", R_WORKER.format(csv=csv, formula=FORMULA)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _collect(procs: list[subprocess.Popen[str]]) -> list[float]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"worker failed: {stderr[-800:]}")
        out.append(json.loads(stdout.strip().splitlines()[-1])["seconds"])
    return out


def measure(engine: str, policy: str, procs: int, repeat: int, csv: str | None) -> dict:
    quiet = [_collect([_start(engine, policy, csv)])[0] for _ in range(repeat)]
    t = time.perf_counter()
    loaded = _collect([_start(engine, policy, csv) for _ in range(procs)])
    wall = time.perf_counter() - t
    return {"quiet": quiet, "loaded": loaded, "loaded_wall": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--procs", type=int, default=4, help="competing processes")
    parser.add_argument("--repeat", type=int, default=3, help="quiet repetitions")
    parser.add_argument("--r", action="store_true", help="also time lme4 (slow)")
    parser.add_argument("--policy", nargs="*", default=["auto", "all"])
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cores} cores; load average before the run: {os.getloadavg()}")
    print(f"InstEval ML, {FORMULA}")
    print(
        f"{'engine':<12} {'threads':<7} {'quiet (median)':>15} "
        f"{f'{args.procs} at once (median, max)':>28}",
        flush=True,
    )

    def report(engine: str, policy: str, m: dict) -> None:
        q = statistics.median(m["quiet"])
        lo = statistics.median(m["loaded"])
        print(
            f"{engine:<12} {policy:<7} {q:>13.2f} s {lo:>16.2f} s, {max(m['loaded']):.2f} s"
            f"  (x{lo / q:.1f}; load average now {os.getloadavg()[0]:.1f})",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as tmp:
        for policy in args.policy:
            report("mixedmodels", policy, measure("python", policy, args.procs, args.repeat, None))
        if importlib.util.find_spec("mixedlm") is not None:
            report("mixedlm", "-", measure("mixedlm", "-", args.procs, args.repeat, None))
        if args.r and shutil.which("Rscript"):
            import mixedmodels as mm

            csv = str(Path(tmp) / "InstEval.csv")
            mm.datasets.load("InstEval").to_csv(csv, index=False)
            report("lme4", "-", measure("r", "-", args.procs, 1, csv))
    print(f"load average after the run: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
