"""Time mixedmodels against nlme on longitudinal models with residual structures.

One run simulates the data, fits it with ``mixedmodels`` in a fresh subprocess (after a
warm-up fit on a few rows, so that imports and plugin discovery are not timed) and,
when ``Rscript`` with nlme is installed, with ``nlme::lme`` / ``nlme::gls`` on the very
same data written to CSV; it prints both times, the ratio and the difference of the
log-likelihoods, and writes ``benchmarks/nlme_results.json``.  Usage::

    python benchmarks/nlme_bench.py [--only NAME ...] [--repeat N] [--no-r]
                                    [--subjects 5000] [--visits 10]

Cases (all REML):

* ``lme_ar1`` (the issue's benchmark): 5,000 subjects x 10 visits, random intercept and
  slope, AR(1) residuals over the visit number;
  ``lme(y ~ time * treat, random = ~ time | id, correlation = corAR1(form = ~ time | id))``.
* ``lme_car1_ident``: the same subjects with a fifth of the visits dropped at random
  (unbalanced) and jittered times, random intercept, continuous-time AR(1) and a
  variance per treatment arm (``corCAR1``, ``varIdent``).
* ``gls_ar1``: ``gls(y ~ time * treat, correlation = corAR1(form = ~ time | id))``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def simulate_longitudinal(
    n_subjects: int = 5000,
    n_visits: int = 10,
    phi: float = 0.6,
    seed: int = 1,
) -> pd.DataFrame:
    """Random intercept and slope per subject, AR(1) residuals over the visits."""
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(n_subjects), n_visits)
    time = np.tile(np.arange(n_visits, dtype=float), n_subjects)
    treat = np.repeat(rng.integers(0, 2, n_subjects), n_visits)
    b0 = rng.normal(0.0, 2.0, n_subjects)
    b1 = rng.normal(0.0, 0.5, n_subjects)
    e = np.empty((n_subjects, n_visits))
    e[:, 0] = rng.normal(size=n_subjects)
    for t in range(1, n_visits):
        e[:, t] = phi * e[:, t - 1] + np.sqrt(1 - phi**2) * rng.normal(size=n_subjects)
    y = (
        10.0
        + 0.5 * time
        + 1.0 * treat
        + 0.3 * time * treat
        + b0[subject]
        + b1[subject] * time
        + 1.5 * e.ravel()
    )
    return pd.DataFrame(
        {"y": y, "time": time, "treat": treat, "id": [f"s{i:05d}" for i in subject]}
    )


def simulate_unbalanced(n_subjects: int, n_visits: int, seed: int = 2) -> pd.DataFrame:
    """Continuous, unequally spaced times; a fifth of the visits missing; residual SD
    twice as large in one arm."""
    data = simulate_longitudinal(n_subjects, n_visits, seed=seed)
    rng = np.random.default_rng(seed)
    data["time"] = data["time"] + rng.uniform(-0.3, 0.3, len(data))
    data.loc[data["treat"] == 1, "y"] += rng.normal(0.0, 1.5, int((data["treat"] == 1).sum()))
    return data[rng.random(len(data)) > 0.2].reset_index(drop=True)


@dataclass
class Case:
    name: str
    data: str  # "balanced" or "unbalanced"
    python: str  # mixedmodels call on `data`
    r: str  # nlme call on `data`
    repeat: int = 3


CASES = [
    Case(
        "lme_ar1",
        "balanced",
        'mm.lmm("y ~ time * treat + (time | id)", data, correlation="ar1(time | id)")',
        "lme(y ~ time * treat, random = ~ time | id, data = data, "
        "correlation = corAR1(form = ~ time | id))",
    ),
    Case(
        "lme_car1_ident",
        "unbalanced",
        'mm.lmm("y ~ time * treat + (1 | id)", data, correlation="car1(time | id)", '
        'variance="ident(1 | treat)")',
        "lme(y ~ time * treat, random = ~ 1 | id, data = data, "
        "correlation = corCAR1(form = ~ time | id), weights = varIdent(form = ~ 1 | treat))",
    ),
    Case(
        "gls_ar1",
        "balanced",
        'mm.gls("y ~ time * treat", data, correlation="ar1(time | id)")',
        "gls(y ~ time * treat, data = data, correlation = corAR1(form = ~ time | id))",
    ),
]

PY_RUNNER = textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np, pandas as pd
    import mixedmodels as mm
    data = pd.read_csv({csv!r})
    data["id"] = pd.Categorical(data["id"])
    data["treat"] = pd.Categorical(data["treat"].astype(str))
    full = data
    data = full[full["id"].isin(full["id"].cat.categories[:30])].copy()
    data["id"] = data["id"].cat.remove_unused_categories()
    {call}  # warm-up: imports, plugin discovery
    data = full
    times = []
    for _ in range({repeat}):
        start = time.perf_counter()
        fit = {call}
        times.append(time.perf_counter() - start)
    print(json.dumps({{"seconds": min(times), "median": float(np.median(times)),
                      "loglik": fit.loglik, "converged": bool(fit.converged),
                      "n_evaluations": fit.optimizer.n_evaluations}}))
    """
)

R_RUNNER = textwrap.dedent(
    """
    suppressMessages(library(nlme))
    data <- read.csv("{csv}")
    data$id <- factor(data$id); data$treat <- factor(data$treat)
    times <- numeric(0)
    for (i in seq_len({repeat})) {{
      t <- system.time(fit <- {call})[["elapsed"]]
      times <- c(times, t)
    }}
    cat(sprintf('{{"seconds": %.6f, "loglik": %.10f}}\\n', min(times), as.numeric(logLik(fit))))
    """
)


def run_python(case: Case, csv: str, repeat: int) -> dict[str, float]:
    code = PY_RUNNER.format(csv=csv, call=case.python, repeat=repeat)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{case.name}: python run failed\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_r(case: Case, csv: str, repeat: int) -> dict[str, float] | None:
    script = R_RUNNER.format(csv=csv, call=case.r, repeat=repeat)
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  nlme failed: {out.stderr.strip()[-500:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="case names to run")
    parser.add_argument("--repeat", type=int, help="override repetitions")
    parser.add_argument("--no-r", action="store_true", help="skip nlme")
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--visits", type=int, default=10)
    args = parser.parse_args(argv)
    have_r = not args.no_r and shutil.which("Rscript") is not None
    if not have_r:
        print("Rscript not found (or --no-r): timing mixedmodels only")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {
            "balanced": Path(tmp) / "balanced.csv",
            "unbalanced": Path(tmp) / "unbalanced.csv",
        }
        simulate_longitudinal(args.subjects, args.visits).to_csv(paths["balanced"], index=False)
        simulate_unbalanced(args.subjects, args.visits).to_csv(paths["unbalanced"], index=False)
        print(f"data: {args.subjects} subjects x {args.visits} visits")
        for case in CASES:
            if args.only and case.name not in args.only:
                continue
            repeat = args.repeat or case.repeat
            csv = str(paths[case.data])
            py = run_python(case, csv, repeat)
            line = f"{case.name:<15} mixedmodels {py['seconds'] * 1000:9.1f} ms"
            if not py["converged"]:
                line += " (NOT CONVERGED)"
            r = run_r(case, csv, min(repeat, 2)) if have_r else None
            if r is not None:
                ratio = r["seconds"] / py["seconds"]
                diff = py["loglik"] - r["loglik"]
                line += (
                    f" | nlme {r['seconds'] * 1000:9.1f} ms | ratio {ratio:6.1f}x"
                    f" | logLik diff {diff:+.2e}"
                )
            print(line, flush=True)
            rows.append({"case": case.name, "python": py, "nlme": r})
    out = HERE / "nlme_results.json"
    out.write_text(json.dumps(rows, indent=2))
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
