"""Two (or three) huge crossed factors (issue 18 item 3, decision 0031): ours and lme4
on the same simulated data in one run, each in a subprocess with its peak memory.

Cases modelled on MixedModels.jl's published benchmarks:

- ``movielens``: 1,000,000 ratings, 6,040 users x 3,706 items, ``y ~ 1 + (1|user) +
  (1|item)`` (MixedModels.jl 36.7 s).  The Schur complement of the items is dense
  (most pairs of items share a user); the class map would take ~2 GiB, so ``G`` is
  formed at every evaluation and factored densely.
- ``banded20k``: 1,000,000 rows, 20,000 x 20,000 levels whose crossings are local
  (level ``j`` meets levels ``j +- 100``): the sparse path (banded Cholesky after
  reverse Cuthill-McKee).
- ``d3``: ``y ~ 1 + u + (1+u|g) + (1+u|h) + (1+u|i)``, 500,000 rows, 40,000 x 8,000 x
  1,000 levels, crossings local: the sparse path.
- ``random20k`` (``--fill`` only): 20,000 x 20,000 levels crossed at random; prints the
  pattern density and the ordered envelope of the Schur complement, which is why no
  exact method fits it in 4 GiB (see decision 0031).

Usage::

    python benchmarks/crossed_bench.py [--only NAME ...] [--no-r] [--r-timeout S] [--fill]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).parent

CASES = {
    "movielens": ("y ~ 1 + (1 | user) + (1 | item)", "simulate_movielens()", ["user", "item"]),
    "banded20k": ("y ~ x + (1 | f1) + (1 | f2)", "simulate_banded()", ["f1", "f2"]),
    "d3": (
        "y ~ 1 + u + (1 + u | g) + (1 + u | h) + (1 + u | i)",
        "simulate_d3()",
        ["g", "h", "i"],
    ),
}

PY = textwrap.dedent(
    """
    import json, resource, sys, time
    sys.path.insert(0, {here!r})
    import mixedmodels as mm
    from mixedmodels.linear.layout import model_term_data
    from mixedmodels.linear.sparse import second_block
    from simulate import simulate_movielens, simulate_banded, simulate_d3
    data = {make}
    if {csv!r}:
        data.to_csv({csv!r}, index=False)
    model = mm.Model({formula!r}, data)
    kind = second_block(model_term_data(model), model.X.shape[1])
    wall, cpu = time.perf_counter(), time.process_time()
    fit = mm.lmm({formula!r}, data, reml=False)
    print(json.dumps({{"seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                      "criterion": -2 * fit.loglik, "path": kind,
                      "n_evaluations": fit.optimizer.n_evaluations,
                      "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
    """
)

R = textwrap.dedent(
    """
    suppressMessages(library(lme4))
    data <- read.csv("{csv}", stringsAsFactors = TRUE)
    for (v in c({factors})) data[[v]] <- factor(data[[v]])
    t <- system.time(fit <- lmer({formula}, data = data, REML = FALSE))
    hwm <- grep("VmHWM", readLines("/proc/self/status"), value = TRUE)
    peak <- as.numeric(gsub("[^0-9]", "", hwm)) * 1024
    cat(sprintf('{{"seconds": %.3f, "cpu": %.3f, "criterion": %.10f, "peak_bytes": %.0f}}\\n',
                t[["elapsed"]], t[["user.self"]] + t[["sys.self"]],
                -2 * as.numeric(logLik(fit)), peak))
    """
)


def fill_report() -> None:
    """Pattern density and ordered envelope of S_ZZ for random 20,000 x 20,000 crossing."""
    code = textwrap.dedent(
        """
        import numpy as np, scipy.sparse as sp
        import scipy.sparse.csgraph as csgraph
        from mixedmodels.linear.sparse import _pattern_envelope
        rng = np.random.default_rng(1)
        n, k = 1_000_000, 20_000
        f1, f2 = rng.integers(0, k, n), rng.integers(0, k, n)
        A = sp.csr_matrix((np.ones(n), (f2, f1)), shape=(k, k))
        A.data[:] = 1.0
        P = (A @ A.T).tocsr()
        print(f"random 20k x 20k: S_ZZ pattern {P.nnz / k**2:.1%} dense before any fill; "
              f"reverse Cuthill-McKee envelope {_pattern_envelope(P):.1%} of the square")
        """
    )
    subprocess.run([sys.executable, "-c", code], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--r-timeout", type=float, default=1800.0)
    parser.add_argument("--fill", action="store_true", help="print the random 20k fill")
    args = parser.parse_args(argv)
    if args.fill:
        fill_report()
    have_r = not args.no_r and shutil.which("Rscript") is not None
    with tempfile.TemporaryDirectory() as tmp:
        for name, (formula, make, factors) in CASES.items():
            if args.only is not None and name not in args.only:
                continue
            csv = str(Path(tmp) / f"{name}.csv") if have_r else ""
            code = PY.format(here=str(HERE), make=make, csv=csv, formula=formula)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{name}: ours failed\n{out.stderr[-1000:]}")
                continue
            py = json.loads(out.stdout.strip().splitlines()[-1])
            line = (
                f"{name:<10} ours {py['seconds']:8.1f} s (cpu {py['cpu']:.1f} s, "
                f"{py['path']}, {py['n_evaluations']} evals, peak "
                f"{py['peak_bytes'] / 2**30:.2f} GiB)"
            )
            if have_r:
                script = R.format(
                    csv=csv,
                    factors=", ".join(f"'{f}'" for f in factors),
                    formula=formula,
                )
                try:
                    r = subprocess.run(
                        ["Rscript", "-e", script],
                        capture_output=True,
                        text=True,
                        timeout=args.r_timeout,
                    )
                    rr = json.loads(r.stdout.strip().splitlines()[-1])
                    line += (
                        f" | lme4 {rr['seconds']:8.1f} s (cpu {rr['cpu']:.1f} s, peak "
                        f"{rr['peak_bytes'] / 2**30:.2f} GiB) | ratio "
                        f"{rr['seconds'] / py['seconds']:.1f}x | criterion diff "
                        f"{py['criterion'] - rr['criterion']:+.2e}"
                    )
                except subprocess.TimeoutExpired:
                    line += f" | lme4 did not finish in {args.r_timeout:.0f} s"
                except (json.JSONDecodeError, IndexError):
                    line += " | lme4 failed"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
