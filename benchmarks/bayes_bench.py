"""Benchmarks of mixedmodels-bayes (issue 13), with brms timed in the same run when R
and brms are installed.

    python benchmarks/bayes_bench.py [--insteval] [--chains 4] [--draws 2000]

Cases: sleepstudy ``Reaction ~ Days + (Days | Subject)`` with the collapsed and the
joint sampler, cbpp binomial GLMM (joint), and with ``--insteval`` the InstEval-sized
crossed model ``y ~ service + (1|s) + (1|d) + (1|dept:service)`` (collapsed).  For each:
wall time including JIT compilation, sampling time, minimum bulk ESS over the
population-level effects, SDs, correlations and sigma, and min bulk-ESS per second.
``JAX_PLATFORMS`` is respected (``cpu``, ``cuda``).  The last line printed is one JSON
object with every figure.
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
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for sub in ("core", "bayes"):
    sys.path.insert(0, str(ROOT / "packages" / sub / "src"))


def _min_bulk_ess(fit, names=None) -> tuple[float, str]:
    import arviz as az

    sc = fit.scalars
    names = names or list(sc)
    ess = {k: float(az.ess(sc[k], method="bulk")) for k in names}
    worst = min(ess, key=ess.get)
    return ess[worst], worst


def _run(label, formula, data, family, chains, draws, warmup, sampler, priors=None, names=None):
    import mixedmodels as mm

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mm.Model(formula, data, family=family).fit(
            method="nuts",
            chains=chains,
            draws=draws,
            warmup=warmup,
            seed=1,
            sampler=sampler,
            priors=priors,
            progress=False,
            warn=False,
        )
    wall = time.perf_counter() - t0
    ess, worst = _min_bulk_ess(fit, names)
    out = {
        "case": label,
        "sampler": fit.sampler,
        "chains": chains,
        "draws": draws,
        "warmup": warmup,
        "wall_s_incl_jit": round(wall, 3),
        "min_bulk_ess": round(ess, 1),
        "min_ess_param": worst,
        "min_bulk_ess_per_s": round(ess / wall, 2),
        "divergences": int(fit.sample_stats["diverging"].sum()),
    }
    print(json.dumps(out), flush=True)
    return out


def _brms(chains: int, draws: int, warmup: int) -> dict | None:
    """brms's sleepstudy fit (compile excluded) when Rscript and brms are installed."""
    if shutil.which("Rscript") is None:
        return None
    check = subprocess.run(
        ["Rscript", "-e", "quit(status = !requireNamespace('brms', quietly = TRUE))"],
        capture_output=True,
    )
    if check.returncode != 0:
        return {"brms": "not installed"}
    script = f"""
suppressMessages(library(brms)); data(sleepstudy, package = "lme4")
m <- brm(Reaction ~ Days + (Days | Subject), sleepstudy, chains = 0)
t <- system.time(f <- update(m, chains = {chains}, iter = {draws + warmup},
                 warmup = {warmup}, seed = 1, refresh = 0, cores = 2))[["elapsed"]]
s <- posterior::summarise_draws(posterior::as_draws_df(f))
v <- s[grepl("^(b_|sd_|cor_|sigma)", s$variable), ]
cat(sprintf('{{"brms_wall_s": %f, "brms_min_bulk_ess": %f}}\\n', t, min(v$ess_bulk)))
"""
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(script)
    res = subprocess.run(["Rscript", fh.name], capture_output=True, text=True)
    os.unlink(fh.name)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"brms": "failed", "stderr": res.stderr[-500:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--insteval", action="store_true")
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args(argv)
    import jax

    import mixedmodels as mm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sleep = mm.datasets.load("sleepstudy")
        cbpp = mm.datasets.load("cbpp")
    c, d, w = args.chains, args.draws, args.warmup
    results = {"jax_backend": jax.default_backend(), "cpu_count": os.cpu_count(), "cases": []}
    f_sleep = "Reaction ~ Days + (Days | Subject)"
    results["cases"].append(_run("sleepstudy", f_sleep, sleep, "gaussian", c, d, w, "collapsed"))
    results["cases"].append(_run("sleepstudy", f_sleep, sleep, "gaussian", c, d, w, "joint"))
    results["cases"].append(
        _run(
            "cbpp",
            "cbind(incidence, size - incidence) ~ period + (1 | herd)",
            cbpp,
            "binomial",
            c,
            d,
            w,
            "joint",
        )
    )
    if args.insteval:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inst = mm.datasets.load("InstEval")
        names = ["sigma", "sd_s__Intercept", "sd_d__Intercept", "sd_dept:service__Intercept"]
        results["cases"].append(
            _run(
                "InstEval",
                "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)",
                inst,
                "gaussian",
                c,
                max(d // 4, 300),
                max(w // 4, 300),
                "collapsed",
                names=names,
            )
        )
    if not args.no_r:
        r = _brms(c, d, w)
        if r is not None:
            results["brms"] = r
            if "brms_wall_s" in r:
                ours = results["cases"][0]
                results["ess_per_s_ratio_vs_brms"] = ours["min_bulk_ess_per_s"] / (
                    r["brms_min_bulk_ess"] / r["brms_wall_s"]
                )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
