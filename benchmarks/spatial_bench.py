"""Benchmarks of mixedmodels-spatial (issue 14).

1. Exact fit on 2,000 points, exponential + nugget, ML: ``mm.gls(..., correlation=
   "exp(sx + sy, nugget = TRUE)")`` and ``spatial_lmm(method="exact")`` against nlme's
   ``gls(z ~ x1, correlation = corExp(form = ~sx + sy, nugget = TRUE), method = "ML")``
   timed in the same run when Rscript is present (target: at least 5x faster).
2. Nearest-neighbour GP (m = 15, exponential + nugget, one covariate) on 100,000
   simulated locations (target: under 30 s).
3. Kriging 10,000 new locations from that fit (target: under 5 s).
4. With ``--parts million``: the NNGP fit on 1,000,000 locations (target: under 10 minutes and
   8 GiB peak resident memory, reported).
5. With ``--parts latent``: CPU seconds of one latent-NNGP likelihood evaluation (m = 15) at
   10^4 and 10^5 locations: SuperLU with a new ordering each time (as before), SuperLU with
   the first ordering kept, CHOLMOD (cvxopt) with its symbolic analysis kept.
6. With ``--parts glmm``: a Poisson GLMM with an NNGP field (m = 15) on ``--glmm-n``
   locations (Laplace over the field, :func:`mixedmodels_spatial.spatial_glmm`).

Usage::

    python benchmarks/spatial_bench.py [--no-r] [--parts exact,nngp,million] [--r-timeout S]

Times are wall-clock seconds and, in brackets, this process's CPU seconds (the code is
single-threaded: on a loaded machine the CPU time is what an idle one would take).

The fields are simulated by random Fourier features of the exponential covariance
(2,000 features), exact Gaussian-process draws being out of reach at 10^5 points.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

R_SCRIPT = """
suppressMessages(library(nlme))
d <- read.csv(commandArgs(TRUE)[1])
t <- system.time(fit <- gls(z ~ x1, correlation = corExp(form = ~sx + sy, nugget = TRUE),
                            data = d, method = "ML"))
cat(sprintf('{"seconds": %.6f, "cpu": %.6f, "logLik": %.10f}\\n', t[["elapsed"]],
            t[["user.self"]] + t[["sys.self"]], as.numeric(logLik(fit))))
"""


def simulate(n: int, seed: int, range_: float = 0.1, nugget: float = 0.3) -> pd.DataFrame:
    """``z = 1 + 0.5 x1 + w(s) + e`` on the unit square, ``w`` an (approximately)
    exponential-covariance field of variance ``1 - nugget``, ``e`` white noise."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1, (n, 2))
    K = 2000
    # Spectral measure of exp(-d / r) in 2-D: a bivariate Cauchy (t, 1 df) of scale 1/r.
    omega = rng.normal(size=(K, 2)) / np.sqrt(rng.chisquare(1, K))[:, None] / range_
    phase = rng.uniform(0, 2 * np.pi, K)
    w = np.empty(n)
    for s in range(0, n, 20000):  # chunks (memory)
        w[s : s + 20000] = np.cos(xy[s : s + 20000] @ omega.T + phase).sum(1)
    w *= np.sqrt(2.0 / K * (1 - nugget))
    x1 = rng.normal(size=n)
    z = 1 + 0.5 * x1 + w + np.sqrt(nugget) * rng.normal(size=n)
    return pd.DataFrame({"sx": xy[:, 0], "sy": xy[:, 1], "x1": x1, "z": z})


def start_r(csv: str) -> subprocess.Popen[str] | None:
    """Start nlme's fit in the background (it runs while ours are timed)."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
    return subprocess.Popen(
        ["Rscript", fh.name, csv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_r(proc: subprocess.Popen[str], timeout: float) -> dict | None:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return {"seconds": float("inf"), "cpu": float("nan"), "timeout": timeout}
    if proc.returncode != 0:
        print(err, file=sys.stderr)
        return None
    return json.loads(out.strip().splitlines()[-1])


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument(
        "--parts", default="exact,nngp", help="exact, nngp, glmm, million, million-probe"
    )
    parser.add_argument("--r-timeout", type=float, default=1800.0)
    parser.add_argument("--exact-n", type=int, default=2000, help="points of the exact fit")
    parser.add_argument("--glmm-n", type=int, default=10_000, help="locations of the GLMM")
    parser.add_argument(
        "--glmm-differences",
        action="store_true",
        help="also fit the GLMM with the gradient by differences (as before the analytic one)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    import mixedmodels_spatial as ms

    import mixedmodels as mm

    results: dict[str, object] = {}
    if "exact" in parts:
        d = simulate(args.exact_n, 1, range_=0.1)
        proc = None
        if not args.no_r:
            with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as fh:
                d.to_csv(fh.name, index=False)
            proc = start_r(fh.name)
            t_r0 = time.time()
        t, c = time.perf_counter(), time.process_time()
        core = mm.gls("z ~ x1", d, correlation="exp(sx + sy, nugget = TRUE)", reml=False)
        t_core, c_core = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        own = ms.spatial_lmm("z ~ x1", d, ["sx", "sy"], method="exact")
        t_own, c_own = time.perf_counter() - t, time.process_time() - c
        print(
            f"exact, {args.exact_n} points: mm.gls {t_core:.1f} s [{c_core:.1f}] (logLik "
            f"{core.loglik:.6f}); spatial_lmm(exact) {t_own:.1f} s [{c_own:.1f}] (logLik "
            f"{own.loglik:.6f})"
        )
        results[f"exact_{args.exact_n}"] = {
            "mm_gls_s": t_core,
            "spatial_lmm_s": t_own,
            "loglik_gls": core.loglik,
            "loglik_own": own.loglik,
        }
        if proc is not None:
            r = wait_r(proc, max(1.0, args.r_timeout - (time.time() - t_r0)))
            if r is not None:
                best = min(t_core, t_own)
                best_cpu = min(c_core, c_own)
                print(
                    f"  nlme gls(corExp(nugget = TRUE)): {r['seconds']:.1f} s "
                    f"[{r.get('cpu', float('nan')):.1f}] (logLik "
                    f"{r.get('logLik', float('nan')):.6f}); ratio nlme / ours "
                    f"{r['seconds'] / best:.1f}x wall, "
                    f"{r.get('cpu', float('nan')) / best_cpu:.1f}x CPU (target >= 5x)"
                )
                results[f"exact_{args.exact_n}"]["nlme_s"] = r["seconds"]  # type: ignore[index]

    if "nngp" in parts:
        # One field: 100,000 locations to fit, 10,000 held out for kriging.
        both = simulate(110_000, 2)
        d, new = both.iloc[:100_000], both.iloc[100_000:]
        t, c = time.perf_counter(), time.process_time()
        fit = ms.spatial_lmm("z ~ x1", d, ["sx", "sy"], m=15)
        t_fit, c_fit = time.perf_counter() - t, time.process_time() - c
        sp = fit.structure_parameters(conf_int=False).set_index("term")["estimate"]
        print(
            f"NNGP m = 15, 100,000 points: {t_fit:.1f} s [{c_fit:.1f}] (target < 30 s); "
            f"converged {fit.converged}; {fit.n_evaluations} evaluations; range "
            f"{sp['range']:.4f} (0.1), nugget {sp['nugget']:.4f} (0.3), x1 "
            f"{fit.fixef['x1']:.4f} (0.5)"
        )
        t, c = time.perf_counter(), time.process_time()
        pred = fit.predict(new)
        t_pred, c_pred = time.perf_counter() - t, time.process_time() - c
        rmse = float(np.sqrt(np.mean((pred["fit"] - new["z"]) ** 2)))
        cover = float(np.mean(np.abs(pred["fit"] - new["z"]) < 1.96 * pred["se"]))
        print(
            f"kriging 10,000 held-out locations (m = 15): {t_pred:.2f} s [{c_pred:.2f}] "
            f"(target < 5 s); RMSE {rmse:.4f}, 95% interval coverage {cover:.3f}"
        )
        results["nngp_1e5"] = {
            "fit_s": t_fit,
            "fit_cpu_s": c_fit,
            "krige_1e4_s": t_pred,
            "peak_rss_gib": peak_rss_gib(),
        }

    if "glmm" in parts:
        # Poisson with a spatial field (no nugget), NNGP prior m = 15, Laplace over the field.
        n = args.glmm_n
        d = simulate(n, 5, nugget=0.0)
        rng = np.random.default_rng(6)
        d["y"] = rng.poisson(np.exp(0.2 + 0.4 * d["x1"] + 0.6 * (d["z"] - 1 - 0.5 * d["x1"])))
        for analytic in (True, False) if args.glmm_differences else (True,):
            t, c = time.perf_counter(), time.process_time()
            g = ms.spatial_glmm("y ~ x1", d, ["sx", "sy"], m=15, gradient=analytic)
            t_fit, c_fit = time.perf_counter() - t, time.process_time() - c
            sp = g.structure_parameters().set_index("term")["estimate"]
            how = "analytic gradient" if analytic else "gradient by differences"
            print(
                f"Poisson GLMM, NNGP field m = 15, {n:,} locations, {how}: {t_fit:.1f} s "
                f"[{c_fit:.1f}]; converged {g.converged}; {g.n_evaluations} evaluations, "
                f"{g._problem.n_inner} sparse Newton steps; logLik {g.loglik:.6f}; sd "
                f"{sp['sd']:.3f} (0.6), range {sp['range']:.4f} (0.1), x1 {g.fixef['x1']:.4f} "
                f"(0.4)"
            )
            results[f"glmm_{n}_{'analytic' if analytic else 'differences'}"] = {
                "fit_s": t_fit,
                "fit_cpu_s": c_fit,
                "loglik": g.loglik,
            }
        # Kriging the fitted field at 10,000 new locations (m = 15 neighbours each).
        new = simulate(10_000, 8, nugget=0.0)
        t, c = time.perf_counter(), time.process_time()
        pred = g.predict(new, type="response")
        t_pred, c_pred = time.perf_counter() - t, time.process_time() - c
        print(
            f"spatial_glmm predict, 10,000 new locations (m = 15, response scale with "
            f"se and the lognormal mean): {t_pred:.2f} s [{c_pred:.2f}]; median se of eta "
            f"{float(np.median(pred['se'] / pred['fit'])):.3f}"
        )
        results[f"glmm_{n}_predict_10000"] = {"predict_s": t_pred, "predict_cpu_s": c_pred}

    if "latent" in parts:
        from mixedmodels_spatial._fit import _LatentProblem
        from mixedmodels_spatial._kernel import make_kernel
        from mixedmodels_spatial._latent import latent_plan
        from mixedmodels_spatial._sparse_cholesky import SparseCholesky, cholmod_available

        backends = ["superlu-new-ordering", "superlu", *(["cholmod"] * cholmod_available())]
        for n in (10_000, 100_000):
            d = simulate(n, 7)
            xy = d[["sx", "sy"]].to_numpy()
            cols = np.column_stack([d["z"], np.ones(n), d["x1"]])
            kernel = make_kernel("exponential", xy, nugget=True)
            lp = latent_plan(xy, 15)
            row = {}
            for backend in backends:
                lp.backend = backend.split("-")[0]
                lp.cache.clear()
                prob = _LatentProblem(kernel, xy, cols, False, lp.vp, lp=lp)
                cpu, devs = [], []
                for params in ([np.log(0.1), -1.0], [np.log(0.12), -0.8], [np.log(0.09), -1.1]):
                    if backend == "superlu-new-ordering":
                        lp.cache["cholesky"] = SparseCholesky("superlu")
                    c = time.process_time()
                    devs.append(prob.deviance(np.array(params)))
                    cpu.append(time.process_time() - c)
                row[backend] = float(np.median(cpu[1:]))
                print(
                    f"latent NNGP m = 15, {n:,} locations, {backend}: one evaluation "
                    f"[{row[backend]:.3f}] CPU s (first {cpu[0]:.3f}); deviance {devs[-1]:.6f}"
                )
            results[f"latent_eval_cpu_{n}"] = row

    if "million" in parts:
        d = simulate(1_000_000, 4)
        t, c = time.perf_counter(), time.process_time()
        fit = ms.spatial_lmm("z ~ x1", d, ["sx", "sy"], m=15)
        t_fit, c_fit = time.perf_counter() - t, time.process_time() - c
        print(
            f"NNGP m = 15, 1,000,000 points: {t_fit:.1f} s [{c_fit:.1f}] (target < 600 s); "
            f"peak RSS "
            f"{peak_rss_gib():.2f} GiB (target < 8); converged {fit.converged}"
        )
        results["nngp_1e6"] = {"fit_s": t_fit, "fit_cpu_s": c_fit, "peak_rss_gib": peak_rss_gib()}
    if "million-probe" in parts:
        # The full fit's pieces at 10^6 when a loaded machine cannot wait for it: the
        # ordering and neighbour search, then likelihood evaluations (a fit takes ~30).
        from mixedmodels_spatial._fit import _Problem
        from mixedmodels_spatial._kernel import make_kernel
        from mixedmodels_spatial._vecchia import plan

        d = simulate(1_000_000, 4)
        xy = d[["sx", "sy"]].to_numpy()
        cols = np.column_stack([d["z"], np.ones(len(d)), d["x1"]])
        t, c = time.perf_counter(), time.process_time()
        vp = plan(xy, 15, "maxmin")
        t_plan, c_plan = time.perf_counter() - t, time.process_time() - c
        kernel = make_kernel("exponential", xy, nugget=True)
        problem = _Problem(kernel, vp.coords, cols[vp.order], False, vp)
        evals = []
        for params in ([np.log(0.1), np.log(0.3 / 0.7)], [np.log(0.12), np.log(0.25 / 0.75)]):
            t, c = time.perf_counter(), time.process_time()
            problem.deviance(np.array(params))
            evals.append((time.perf_counter() - t, time.process_time() - c))
        print(
            f"NNGP m = 15, 1,000,000 points, pieces: plan {t_plan:.1f} s [{c_plan:.1f}]; "
            f"first evaluation (distances cached) {evals[0][0]:.1f} s [{evals[0][1]:.1f}], "
            f"next {evals[1][0]:.1f} s [{evals[1][1]:.1f}]; peak RSS {peak_rss_gib():.2f} GiB"
        )
        results["nngp_1e6_pieces"] = {
            "plan_s": t_plan,
            "plan_cpu_s": c_plan,
            "evaluation_s": evals[1][0],
            "evaluation_cpu_s": evals[1][1],
            "peak_rss_gib": peak_rss_gib(),
        }
    print(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
