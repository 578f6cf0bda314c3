"""Benchmarks of mixedmodels-bayes (issue 13), with brms (sleepstudy) and rstanarm
(cbpp) timed in the same run when R and they are installed.

    python benchmarks/bayes_bench.py [--insteval] [--chains 4] [--draws 2000]

Cases: sleepstudy ``Reaction ~ Days + (Days | Subject)`` with the collapsed posterior
sampled by independence Metropolis-Hastings (``collapsed_imh``, numpy, nothing to
compile) and by NUTS (``collapsed``), and the joint NUTS sampler; cbpp binomial GLMM
(``collapsed_imh``: herd effects integrated out by adaptive quadrature; and joint NUTS);
and with ``--insteval`` the InstEval-sized crossed model
``y ~ service + (1|s) + (1|d) + (1|dept:service)`` (``collapsed_imh``).  For each:
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

_T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
for sub in ("core", "bayes"):
    sys.path.insert(0, str(ROOT / "packages" / sub / "src"))


IMPORT_S = None


def _min_bulk_ess(fit, names=None) -> tuple[float, str]:
    import arviz as az

    sc = fit.scalars
    names = names or list(sc)
    ess = {k: float(az.ess(sc[k], method="bulk")) for k in names}
    worst = min(ess, key=ess.get)
    return ess[worst], worst


def _fit(formula, data, family, chains, draws, warmup, sampler, priors, seed):
    import mixedmodels as mm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.Model(formula, data, family=family).fit(
            method="nuts",
            chains=chains,
            draws=draws,
            warmup=warmup,
            seed=seed,
            sampler=sampler,
            priors=priors,
            progress=False,
            warn=False,
        )


def _run(label, formula, data, family, chains, draws, warmup, sampler, *, names=None, twice=True):
    """Two fits of one model: the first compiles (JIT included), the second reuses the
    compiled program (the sampler's cache is keyed by structure).  Wall and process
    CPU seconds of both: on a loaded machine the CPU seconds are the honest figure.
    ``twice=False``: one fit (nothing to compile: ``collapsed_imh``)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fit = _fit(formula, data, family, chains, draws, warmup, sampler, None, seed=1)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ess, worst = _min_bulk_ess(fit, names)
    if twice:
        t0, c0 = time.perf_counter(), time.process_time()
        warm = _fit(formula, data, family, chains, draws, warmup, sampler, None, seed=2)
        wall_w, cpu_w = time.perf_counter() - t0, time.process_time() - c0
        ess_w, _ = _min_bulk_ess(warm, names)
    else:
        wall_w, cpu_w, ess_w = wall, cpu, ess
    out = {
        "case": label,
        "sampler": fit.sampler,
        "chains": chains,
        "draws": draws,
        "warmup": warmup,
        "wall_s_incl_jit": round(wall, 3),
        "cpu_s_incl_jit": round(cpu, 3),
        "wall_s_compiled": round(wall_w, 3),
        "cpu_s_compiled": round(cpu_w, 3),
        "min_bulk_ess": round(ess, 1),
        "min_ess_param": worst,
        "min_bulk_ess_per_s": round(ess / wall, 2),
        "min_bulk_ess_per_cpu_s_incl_jit": round(ess / cpu, 2),
        "min_bulk_ess_per_cpu_s_compiled": round(ess_w / cpu_w, 2),
        "divergences": int(fit.sample_stats["diverging"].sum()),
        "sampler_info": fit.sampler_info,
    }
    print(json.dumps(out), flush=True)
    return out


def _published_brms() -> dict:
    """brms's own figure from the reference case (rstan, 4 x 27,000 iterations, adapt_delta
    0.95, compile excluded): min bulk ESS over b_, sd_, cor_, sigma per second of
    summed chain time (per CPU second: the chains ran on 2 cores)."""
    path = ROOT / "packages/bayes/tests/reference/brms_sleepstudy_gaussian_ranslope.json"
    case = json.loads(path.read_text())
    post = case["posterior"]
    keys = [k for k in post if k.startswith(("b_", "sd_", "cor_", "sigma"))]
    ess = min(post[k]["ess_bulk"] for k in keys)
    sampler = case["sampler"]
    cpu = sum(sampler["elapsed_warmup_s"]) + sum(sampler["elapsed_sampling_s"])
    return {"min_bulk_ess": ess, "chain_s_total": cpu, "min_bulk_ess_per_cpu_s": ess / cpu}


def _r_json(package: str, script: str) -> dict | None:
    """Run an R script that prints one JSON line, when Rscript and ``package`` are
    installed; ``None`` without R, a note when the package is missing or R fails."""
    if shutil.which("Rscript") is None:
        return None
    check = subprocess.run(
        ["Rscript", "-e", f"quit(status = !requireNamespace('{package}', quietly = TRUE))"],
        capture_output=True,
    )
    if check.returncode != 0:
        return {package: "not installed"}
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(script)
    res = subprocess.run(["Rscript", fh.name], capture_output=True, text=True)
    os.unlink(fh.name)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {package: "failed", "stderr": res.stderr[-500:]}


def _brms(chains: int, draws: int, warmup: int) -> dict | None:
    """brms's sleepstudy fit (compile excluded) when Rscript and brms are installed."""
    script = f"""
suppressMessages(library(brms)); data(sleepstudy, package = "lme4")
m <- brm(Reaction ~ Days + (Days | Subject), sleepstudy, chains = 0)
st <- system.time(f <- update(m, chains = {chains}, iter = {draws + warmup},
                  warmup = {warmup}, seed = 1, refresh = 0, cores = 2))
t <- st[["elapsed"]]
cpu <- sum(st[c("user.self", "sys.self", "user.child", "sys.child")], na.rm = TRUE)
s <- posterior::summarise_draws(posterior::as_draws_df(f))
v <- s[grepl("^(b_|sd_|cor_|sigma)", s$variable), ]
cat(sprintf('{{"brms_wall_s": %f, "brms_cpu_s": %f, "brms_min_bulk_ess": %f}}\\n',
            t, cpu, min(v$ess_bulk)))
"""
    return _r_json("brms", script)


def _rstanarm_cbpp(chains: int, draws: int, warmup: int) -> dict | None:
    """rstanarm's cbpp binomial GLMM (precompiled Stan models: nothing to compile) when
    Rscript and rstanarm are installed; min bulk ESS over the fixed effects and the
    herd variance (bulk ESS is rank-based: the same for the variance and the SD)."""
    script = f"""
suppressMessages(library(rstanarm)); data(cbpp, package = "lme4")
st <- system.time(f <- stan_glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
                  data = cbpp, family = binomial, chains = {chains}, iter = {draws + warmup},
                  warmup = {warmup}, seed = 1, refresh = 0, cores = 2))
t <- st[["elapsed"]]
cpu <- sum(st[c("user.self", "sys.self", "user.child", "sys.child")], na.rm = TRUE)
s <- posterior::summarise_draws(posterior::as_draws_df(as.array(f)))
v <- s[!startsWith(s$variable, "b[") & s$variable != "lp__", ]
cat(sprintf('{{"rstanarm_wall_s": %f, "rstanarm_cpu_s": %f, "rstanarm_min_bulk_ess": %f}}\\n',
            t, cpu, min(v$ess_bulk)))
"""
    return _r_json("rstanarm", script)


def _compare_rstanarm(results: dict, args) -> None:
    """Ratios of the cbpp case's ESS rates to rstanarm's, timed in the same run."""
    cbpp = [case for case in results["cases"] if case["case"] == "cbpp"]
    if args.no_r or not cbpp:
        return
    r = _rstanarm_cbpp(args.chains, args.draws, args.warmup)
    if r is None:
        return
    results["rstanarm_cbpp"] = r
    if "rstanarm_wall_s" in r:
        wall_rate = r["rstanarm_min_bulk_ess"] / r["rstanarm_wall_s"]
        cpu_rate = r["rstanarm_min_bulk_ess"] / r["rstanarm_cpu_s"]
        results["cbpp_ratio_vs_rstanarm"] = {
            ours["sampler"]: {
                "ess_per_wall_s_incl_jit": ours["min_bulk_ess_per_s"] / wall_rate,
                "ess_per_cpu_s_incl_jit": ours["min_bulk_ess_per_cpu_s_incl_jit"] / cpu_rate,
                "ess_per_cpu_s_compiled": ours["min_bulk_ess_per_cpu_s_compiled"] / cpu_rate,
            }
            for ours in cbpp
        }


def _compare_brms(results: dict, args) -> None:
    """Ratios of the sleepstudy cases' ESS rates to brms's (published and timed)."""
    c, d, w = args.chains, args.draws, args.warmup
    pub = _published_brms()
    results["brms_published"] = pub
    results["ess_per_cpu_s_ratio_vs_published_brms"] = {
        case["sampler"]: {
            "incl_jit": case["min_bulk_ess_per_cpu_s_incl_jit"] / pub["min_bulk_ess_per_cpu_s"],
            "compiled": case["min_bulk_ess_per_cpu_s_compiled"] / pub["min_bulk_ess_per_cpu_s"],
        }
        for case in results["cases"][:2]
    }
    if not args.no_r:
        r = _brms(c, d, w)
        if r is not None:
            results["brms"] = r
            if "brms_wall_s" in r:
                brms_rate = r["brms_min_bulk_ess"] / r["brms_wall_s"]
                results["ess_per_s_ratio_vs_brms"] = {
                    case["sampler"]: case["min_bulk_ess_per_s"] / brms_rate
                    for case in results["cases"][:2]
                }
                if "brms_cpu_s" in r:
                    cpu_rate = r["brms_min_bulk_ess"] / r["brms_cpu_s"]
                    results["ess_per_cpu_s_ratio_vs_brms"] = {
                        case["sampler"]: case["min_bulk_ess_per_cpu_s_incl_jit"] / cpu_rate
                        for case in results["cases"][:2]
                    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--insteval", action="store_true")
    parser.add_argument("--insteval-draws", type=int, default=500)
    parser.add_argument("--insteval-warmup", type=int, default=100)
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--only-insteval", action="store_true")
    args = parser.parse_args(argv)
    global IMPORT_S
    import jax
    import mixedmodels_bayes  # noqa: F401

    import mixedmodels as mm

    IMPORT_S = round(time.perf_counter() - _T0, 3)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sleep = mm.datasets.load("sleepstudy")
        cbpp = mm.datasets.load("cbpp")
    c, d, w = args.chains, args.draws, args.warmup
    results = {"jax_backend": jax.default_backend(), "cpu_count": os.cpu_count(), "cases": []}
    f_sleep = "Reaction ~ Days + (Days | Subject)"
    results["import_s"] = IMPORT_S
    if not args.only_insteval:
        results["cases"].append(
            _run("sleepstudy", f_sleep, sleep, "gaussian", c, d, w, "collapsed_imh")
        )
        for sampler in ("collapsed", "joint"):
            results["cases"].append(
                _run("sleepstudy", f_sleep, sleep, "gaussian", c, d, w, sampler)
            )
        f_cbpp = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
        results["cases"].append(
            _run("cbpp", f_cbpp, cbpp, "binomial", c, d, w, "collapsed_imh", twice=False)
        )
        results["cases"].append(_run("cbpp", f_cbpp, cbpp, "binomial", c, d, w, "joint"))
    if args.insteval or args.only_insteval:
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
                args.insteval_draws,
                args.insteval_warmup,
                "collapsed_imh",
                names=names,
                twice=False,
            )
        )
    if not args.only_insteval:
        _compare_brms(results, args)
        _compare_rstanarm(results, args)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
