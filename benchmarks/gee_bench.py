"""Time mixedmodels-gee against geepack (R) and statsmodels on the same simulated data.

A binary response in 20,000 clusters of 10 (200,000 rows; a random intercept makes the
rows of a cluster correlated), fitted with exchangeable and AR(1) working correlations
by each engine in one run.  Prints the seconds, the ratios (engine / mixedmodels-gee)
and the largest relative difference of the coefficients from ours.

    python benchmarks/gee_bench.py [--clusters 20000] [--size 10] [--repeat 3] [--no-r]
        [--no-statsmodels]

geepack needs ``Rscript`` with geepack installed (``apt-get install r-cran-geepack``);
statsmodels is needed only here (``pip install statsmodels``), never by the package.
Timings are end to end from the data frame: model matrix, fit, robust and naive
variances (geepack and statsmodels compute both too); the best of ``--repeat`` runs.
geepack runs twice: with its default ``epsilon = 1e-4``, which stops short of the
solution by up to ~1e-5 relative in the coefficients, and with ``epsilon = 1e-10``
(about what we iterate to), whose coefficients are the ones to compare.

statsmodels is fitted with ``ddof_scale=0`` (geepack's scale and exchangeable moment
estimators) and ``ctol=1e-10``.  Its AR(1) parameter is estimated differently from
geepack's (lag-one moments, ``grid=True``; geepack and we solve a least-squares
equation over all pairs), so its AR(1) coefficients differ from ours at the 1e-4
level; to check the coefficients on equal terms, we also fit with its AR(1) parameter
held fixed (``corstr=Fixed(alpha ** |i - j|)``) and compare those.
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

FORMULA = "y ~ x1 + x2 + t"


def simulate(n_clusters: int, size: int, seed: int = 20240611) -> pd.DataFrame:
    """Binary responses with a random intercept (SD 1) per cluster."""
    rng = np.random.default_rng(seed)
    n = n_clusters * size
    cid = np.repeat(np.arange(n_clusters), size)
    t = np.tile(np.arange(size, dtype=float), n_clusters)
    x1 = rng.standard_normal(n)
    x2 = np.repeat(rng.integers(0, 2, n_clusters), size).astype(float)
    b = np.repeat(rng.standard_normal(n_clusters), size)
    eta = -0.5 + 0.5 * x1 + 0.5 * x2 - 0.1 * t + b
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"id": cid, "t": t, "x1": x1, "x2": x2, "y": y})


def best_of(repeat: int, fn):  # type: ignore[no-untyped-def]
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run_ours(data: pd.DataFrame, corstr: str, repeat: int) -> tuple[float, np.ndarray, float]:
    from mixedmodels_gee import gee

    def fit():  # type: ignore[no-untyped-def]
        res = gee(FORMULA, data, groups="id", time="t", family="binomial", corstr=corstr)
        res.vcov  # noqa: B018 - robust and naive variances, as the other engines give
        res.get_vcov("naive")
        return res

    fit()  # warm-up: imports, plugin discovery
    secs, res = best_of(repeat, fit)
    return secs, res.fixef.to_numpy(), float(res.corr_params.iloc[0])


def run_statsmodels(
    data: pd.DataFrame, corstr: str, repeat: int
) -> tuple[float, np.ndarray, float] | None:
    try:
        import statsmodels.api as sm
    except ImportError:
        return None

    def fit():  # type: ignore[no-untyped-def]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cov = (
                sm.cov_struct.Exchangeable()
                if corstr == "exchangeable"
                else sm.cov_struct.Autoregressive(grid=True)
            )
            model = sm.GEE.from_formula(
                FORMULA,
                groups="id",
                time=data["t"].to_numpy(),
                data=data,
                family=sm.families.Binomial(),
                cov_struct=cov,
            )
            res = model.fit(ddof_scale=0, ctol=1e-10, maxiter=200)
            res.cov_robust  # noqa: B018
            res.cov_naive  # noqa: B018
            return res

    secs, res = best_of(repeat, fit)
    return secs, np.asarray(res.params), float(np.atleast_1d(res.model.cov_struct.dep_params)[0])


R_SCRIPT = r"""
suppressMessages(library(geepack))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
out <- list()
for (cs in c("exchangeable", "ar1")) {
  for (eps in c(1e-4, 1e-10)) {
    best <- Inf
    for (r in seq_len(as.integer(args[3]))) {
      el <- system.time(g <- geeglm(y ~ x1 + x2 + t, id = id, family = binomial,
                                    corstr = cs, data = d,
                                    control = geese.control(epsilon = eps, maxit = 100)))
      best <- min(best, el[["elapsed"]])
    }
    key <- paste(cs, if (eps > 1e-6) "default" else "converged")
    out[[key]] <- list(seconds = best, coef = unname(coef(g)), alpha = unname(g$geese$alpha),
                       error = g$geese$error)
  }
}
writeLines(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA), args[2])
"""


def run_geepack(data: pd.DataFrame, repeat: int) -> dict[str, dict[str, object]] | None:
    if shutil.which("Rscript") is None:
        return None
    check = subprocess.run(
        ["Rscript", "-e", "library(geepack); library(jsonlite)"],
        capture_output=True,
        check=False,
    )
    if check.returncode != 0:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        out = Path(tmp) / "out.json"
        script = Path(tmp) / "bench.R"
        data.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        subprocess.run(["Rscript", str(script), str(csv), str(out), str(repeat)], check=True)
        result: dict[str, dict[str, object]] = json.loads(out.read_text())
    return result


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clusters", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-statsmodels", action="store_true")
    args = ap.parse_args(argv)

    data = simulate(args.clusters, args.size)
    print(
        f"simulated binary data: {len(data):,} rows in {args.clusters:,} clusters of "
        f"{args.size}; formula {FORMULA}; best of {args.repeat}"
    )
    geepack = None if args.no_r else run_geepack(data, args.repeat)
    if geepack is None and not args.no_r:
        print("(geepack not run: Rscript with geepack and jsonlite not found)")
    rows = []
    for corstr in ("exchangeable", "ar1"):
        ours_s, ours_b, ours_a = run_ours(data, corstr, args.repeat)
        rows.append(("mixedmodels-gee", corstr, ours_s, 1.0, 0.0, ours_a))
        if geepack is not None:
            for label, key in (
                ("geepack (epsilon 1e-4, default)", f"{corstr} default"),
                ("geepack (epsilon 1e-10)", f"{corstr} converged"),
            ):
                g = geepack[key]
                secs = float(g["seconds"])  # type: ignore[arg-type]
                gb = np.asarray(g["coef"], dtype=float)
                ga = float(np.atleast_1d(np.asarray(g["alpha"], dtype=float))[0])
                rows.append((label, corstr, secs, secs / ours_s, rel_diff(gb, ours_b), ga))
        sm_res = None if args.no_statsmodels else run_statsmodels(data, corstr, args.repeat)
        if sm_res is not None:
            s_s, s_b, s_a = sm_res
            rows.append(("statsmodels", corstr, s_s, s_s / ours_s, rel_diff(s_b, ours_b), s_a))
            if corstr == "ar1":
                from mixedmodels_gee import gee

                T = args.size
                R = s_a ** np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
                fixed = gee(FORMULA, data, groups="id", time="t", family="binomial", corstr=R)
                rows.append(
                    (
                        "  ours at statsmodels' alpha",
                        corstr,
                        np.nan,
                        np.nan,
                        rel_diff(s_b, fixed.fixef.to_numpy()),
                        s_a,
                    )
                )
    table = pd.DataFrame(
        rows, columns=["engine", "corstr", "seconds", "ratio", "max_rel_coef_diff", "alpha"]
    )
    with pd.option_context("display.width", 120, "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))
    print(
        "ratio = engine seconds / mixedmodels-gee seconds; max_rel_coef_diff = largest "
        "relative difference of the coefficients from mixedmodels-gee's (for the last "
        "row: statsmodels' against ours with its AR(1) parameter fixed)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
