"""Benchmark: an LMM, a binary GLMM or a GEE on a Parquet data set through Dask against
the in-memory fit.

Simulates ``y ~ x1 + x2 + (1 | a) + (1 | b)`` with crossed factors of 100,000 and
1,000 levels, writes it as Parquet (partitions of ``--partition-rows`` rows), fits it with
:func:`mixedmodels.lmm` on ``dask.dataframe.read_parquet`` and, unless ``--no-memory``,
with the in-memory path on the same rows; prints time, rows per second per core, peak
resident memory of each (measured in a fresh process each, so one does not inherit the
other's peak) and the largest differences between the two fits.

    python benchmarks/dask_bench.py                 # 10^7 rows (minutes here)
    python benchmarks/dask_bench.py --rows 1e8 --no-memory   # the issue's size
    python benchmarks/dask_bench.py --model gee     # 10^7-row binary panel GEE

``--model gee``: a binary panel, clusters of 8-12 rows (10 on average) correlated through
a shared latent effect, ``y ~ x1 + x2`` with an exchangeable working correlation; the
Parquet files hold whole clusters in order of the cluster ``id``, read with
``index="id", calculate_divisions=True`` (known divisions: no checking pass).

(No R comparison: lme4 does not fit data that outgrow memory; the in-memory fit is the
reference.)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FORMULA = "y ~ x1 + x2 + (1 | a) + (1 | b)"
GEE_FORMULA = "y ~ x1 + x2"
#: Levels of a and b: the LMM's 100,000 x 1,000 of the issue; the binary GLMM's
#: 10,000 x 100 (PIRLS forms the dense m x q1 block of [Z_b X]' W Z_a at every pass).
LEVELS = {"lmm": (100_000, 1_000), "glmm": (10_000, 100)}


def simulate_panel(path: Path, rows: int, partition_rows: int, seed: int = 1) -> None:
    """A binary panel for GEE, chunk by chunk: whole clusters of 8-12 rows per file,
    cluster ids increasing over the files."""
    import pandas as pd

    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    done, part, first = 0, 0, 0
    while done < rows:
        want = min(partition_rows, rows - done)
        sizes = rng.integers(8, 13, want // 8 + 1)
        sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), want)) + 1]
        sizes[-1] -= int(np.sum(sizes)) - want  # exactly `want` rows
        sizes = sizes[sizes > 0]
        k, K = int(np.sum(sizes)), sizes.size
        cluster = np.repeat(np.arange(K), sizes)
        start = np.repeat(np.cumsum(sizes) - sizes, sizes)
        x1, x2 = rng.normal(size=k), rng.uniform(size=k)
        b = rng.normal(scale=0.8, size=K)[cluster]  # exchangeable correlation
        eta = -0.3 + 0.5 * x1 - 0.4 * x2 + b
        y = (rng.uniform(size=k) < 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
        t = np.arange(k) - start + 1
        frame = pd.DataFrame({"id": first + cluster, "t": t, "y": y, "x1": x1, "x2": x2})
        frame.to_parquet(path / f"part-{part:05d}.parquet", index=False)
        done += k
        first += K
        part += 1


def simulate(path: Path, rows: int, partition_rows: int, seed: int = 1, model: str = "lmm") -> None:
    """Chunk by chunk (never all rows in memory), one Parquet file per chunk."""
    import pandas as pd

    if model == "gee":
        simulate_panel(path, rows, partition_rows, seed)
        return
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    na, nb = LEVELS[model]
    ua = rng.normal(scale=0.8, size=na)
    ub = rng.normal(scale=0.5, size=nb)
    done, part = 0, 0
    while done < rows:
        k = min(partition_rows, rows - done)
        a = rng.integers(0, na, k)
        b = rng.integers(0, nb, k)
        x1, x2 = rng.normal(size=k), rng.uniform(size=k)
        eta = 0.5 * x1 - 0.3 * x2 + ua[a] + ub[b]
        if model == "lmm":
            y = 1.0 + eta + rng.normal(size=k)
        else:
            y = (rng.uniform(size=k) < 1.0 / (1.0 + np.exp(-(eta - 0.2)))).astype(np.float64)
        frame = pd.DataFrame({"y": y, "x1": x1, "x2": x2, "a": a, "b": b})
        frame.to_parquet(path / f"part-{part:05d}.parquet", index=False)
        done += k
        part += 1


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss_gib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 2**20  # KiB on Linux


def run_one(
    kind: str, path: str, scheduler: str, workers: int, model: str = "lmm"
) -> dict[str, float]:
    """One fit in this process; returns its figures."""
    import dask

    import mixedmodels as mm

    def fit_on(data: object) -> object:
        if model == "gee":
            from mixedmodels_gee import gee

            fit = gee(GEE_FORMULA, data, groups="id", family="binomial", corstr="exchangeable")
            fit.vcov  # noqa: B018 - the robust variance: one more pass on Dask
            return fit
        if model == "glmm":
            return mm.glmm(FORMULA, data, family="binomial")
        return mm.lmm(FORMULA, data, reml=False)

    start = time.perf_counter()
    cpu0 = _cpu_seconds()
    if kind == "dask":
        import dask.dataframe as dd

        if model == "gee":
            # whole clusters per file, ids increasing: the cluster as the index with
            # known divisions (from the files' statistics) needs no checking pass
            ddf = dd.read_parquet(path, index="id", calculate_divisions=True)
        else:
            ddf = dd.read_parquet(path)
        if scheduler == "distributed":
            from distributed import Client, LocalCluster

            with (
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, dashboard_address=None
                ) as cluster,
                Client(cluster),
            ):
                fit = fit_on(ddf)
        else:
            with dask.config.set(scheduler="threads", num_workers=workers):
                fit = fit_on(ddf)
    else:
        import pandas as pd

        frame = pd.read_parquet(path)
        fit = fit_on(frame)
    seconds = time.perf_counter() - start
    figures = {
        "seconds": seconds,
        # CPU time of this process and its workers: rows per CPU-second do not depend
        # on how busy the machine is (wall time does, on a shared 2-core machine).
        "cpu_seconds": _cpu_seconds() - cpu0,
        "peak_rss_gib": _peak_rss_gib(),
        "nobs": float(fit.nobs),
    }
    if model == "gee":
        return {
            **figures,
            "fixef": [float(v) for v in fit.fixef],
            "alpha": [float(v) for v in fit.corr_params],
            "scale": [float(fit.scale)],
            "vcov": np.asarray(fit.vcov, dtype=float).ravel().tolist(),
            "n_iter": float(fit.n_iter),
        }
    return {
        **figures,
        "deviance": float(-2.0 * fit.loglik),
        "fixef": [float(v) for v in fit.fixef],
        "theta": [float(v) for v in fit.theta],
        "vcov": np.asarray(fit.vcov, dtype=float).ravel().tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--model", choices=["lmm", "glmm", "gee"], default="lmm")
    parser.add_argument("--partition-rows", type=int, default=1_000_000)
    parser.add_argument("--path", default=None, help="Parquet directory (default: a temp one)")
    parser.add_argument("--scheduler", choices=["threads", "distributed"], default="threads")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-memory", action="store_true", help="skip the in-memory fit")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # (child process)
    args = parser.parse_args()
    if args.one:
        kind, path = args.one
        print(json.dumps(run_one(kind, path, args.scheduler, args.workers, args.model)))
        return
    rows = int(args.rows)
    tmp = None
    if args.path is None:
        tmp = tempfile.TemporaryDirectory(prefix="mm-dask-bench-")
        path = Path(tmp.name) / "data"
    else:
        path = Path(args.path)
    if not path.exists() or not any(path.glob("*.parquet")):
        t0 = time.perf_counter()
        simulate(path, rows, args.partition_rows, model=args.model)
        print(f"simulated {rows:,} rows as Parquet in {time.perf_counter() - t0:.1f} s")
    results = {}
    for kind in ["dask"] + ([] if args.no_memory else ["memory"]):
        cmd = [sys.executable, __file__, "--one", kind, str(path)]
        cmd += ["--scheduler", args.scheduler, "--workers", str(args.workers)]
        cmd += ["--model", args.model]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[kind] = json.loads(out.strip().splitlines()[-1])
    cores = args.workers
    for kind, r in results.items():
        per_core = r["nobs"] / r["seconds"] / cores
        per_cpu = r["nobs"] / max(r["cpu_seconds"], 1e-9)
        print(
            f"{kind:>6}: {r['seconds']:8.1f} s  {per_core:12,.0f} rows/s/core  "
            f"CPU {r['cpu_seconds']:8.1f} s ({per_cpu:,.0f} rows per CPU-second)  "
            f"peak RSS {r['peak_rss_gib']:.2f} GiB  (n = {int(r['nobs']):,}, {cores} cores)"
        )
    if "memory" in results:
        d, m = results["dask"], results["memory"]

        def rel(key: str) -> float:
            a, b = np.asarray(d[key]), np.asarray(m[key])
            return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))

        if args.model == "gee":
            diffs = {k: rel(k) for k in ("fixef", "alpha", "scale", "vcov")}
        else:
            diffs = {
                "deviance": abs(d["deviance"] - m["deviance"]) / abs(m["deviance"]),
                **{k: rel(k) for k in ("fixef", "theta", "vcov")},
            }
        print(
            f"dask / memory time ratio {d['seconds'] / m['seconds']:.2f}, CPU ratio "
            f"{d['cpu_seconds'] / m['cpu_seconds']:.2f}; max relative difference: "
            + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
        )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
