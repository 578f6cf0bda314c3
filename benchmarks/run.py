"""Time mixedmodels against lme4 on the same data, in one run, and print the ratios.

Each case is fitted in a fresh subprocess (so its peak memory can be read) and, when
``Rscript`` with lme4 is installed, by ``lmer`` on the very same data written to CSV;
when the Python package ``mixedlm`` (the Rust-backed lme4 port) is installed, by it too,
in a subprocess of its own.  Peak RSS (``resource.getrusage``) is reported per engine:
for ours and mixedlm it includes the interpreter, numpy/pandas and the data.
Usage::

    python benchmarks/run.py [--repeat N] [--only NAME ...] [--no-r] [--no-mixedlm]
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

HERE = Path(__file__).parent


@dataclass
class Case:
    name: str
    formula: str
    reml: bool
    make_data: str  # Python expression producing a DataFrame `data`
    target: str  # what the issue asks for
    repeat: int = 3
    family: str | None = None  # a GLMM (glmer) when set


CASES = [
    Case(
        "sleepstudy",
        "Reaction ~ Days + (Days | Subject)",
        True,
        "mm.datasets.load('sleepstudy')",
        "under 2 ms per fit, ahead of mixedlm",
        repeat=50,
    ),
    Case(
        "Dyestuff",
        "Yield ~ 1 + (1 | Batch)",
        True,
        "mm.datasets.load('Dyestuff')",
        "under 1 ms per fit",
        repeat=50,
    ),
    Case(
        "InstEval",
        "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)",
        False,
        "mm.datasets.load('InstEval')",
        "at least 30x lme4 and 5x mixedlm",
    ),
    Case(
        "VerbAgg",
        "r2 ~ (Anger + Gender + btype + situ) + (1 | id) + (1 | item)",
        False,
        "mm.datasets.load('VerbAgg')",
        "GLMM at least 5x faster than glmer",
        family="binomial",
    ),
    Case(
        "sim200k",
        "y ~ x + (1 | f1) + (1 | f2)",
        False,
        "simulate_binary(200_000, 5_000, 200, seed=1)",
        "GLMM at least 5x faster than glmer",
        repeat=1,
        family="binomial",
    ),
    Case(
        "grouseNB",
        "TICKS ~ YEAR + (1 | BROOD)",
        False,
        "mm.datasets.load('grouseticks')",
        "glmer.nb (size estimated), faster than lme4",
        repeat=5,
        family="negative_binomial",
    ),
    Case(
        "sim1M",
        "y ~ x + (1 | f1) + (1 | f2)",
        False,
        "simulate_crossed(1_000_000, 20_000, 1_000, seed=1)",
        "under 8 s and 2 GiB peak",
        repeat=1,
    ),
]

PY_RUNNER = textwrap.dedent(
    """
    import json, resource, sys, time
    import numpy as np, pandas as pd
    import mixedmodels as mm
    sys.path.insert(0, {here!r})
    from simulate import simulate_binary, simulate_crossed
    data = {make_data}
    if {csv!r}:
        data.to_csv({csv!r}, index=False)
    times, cpus = [], []
    for _ in range({repeat}):
        start, cpu = time.perf_counter(), time.process_time()
        if {glmm!r}:
            fit = mm.glmm({formula!r}, data, family={family!r})
        else:
            fit = mm.lmm({formula!r}, data, reml={reml})
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    crit = fit.reml_criterion if fit.reml else -2 * fit.loglik
    print(json.dumps({{"seconds": min(times), "cpu": min(cpus),
                      "median": float(np.median(times)),
                      "criterion": crit, "peak_bytes": peak,
                      "n_evaluations": fit.optimizer.n_evaluations,
                      "converged": fit.converged}}))
    """
)

# mixedlm: the same data built by the same expression; glmer.nb as glmer_nb.
MIXEDLM_RUNNER = textwrap.dedent(
    """
    import json, resource, sys, time
    import numpy as np, pandas as pd
    import mixedlm
    import mixedmodels as mm
    sys.path.insert(0, {here!r})
    from simulate import simulate_binary, simulate_crossed
    data = {make_data}
    family = {family!r}
    times, cpus = [], []
    for _ in range({repeat}):
        start, cpu = time.perf_counter(), time.process_time()
        if family == "negative_binomial":
            fit = mixedlm.glmer_nb({formula!r}, data)
        elif family:
            fit = mixedlm.glmer({formula!r}, data, family=getattr(mixedlm.families, family)())
        else:
            fit = mixedlm.lmer({formula!r}, data, REML={reml})
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    crit = float(fit.REMLcrit()) if {reml} and not family else -2 * float(fit.logLik().value)
    print(json.dumps({{"seconds": min(times), "cpu": min(cpus), "criterion": crit,
                      "peak_bytes": peak}}))
    """
)

R_RUNNER = textwrap.dedent(
    """
    suppressMessages(library(lme4))
    data <- read.csv("{csv}", stringsAsFactors = TRUE)
    {factors}
    times <- numeric(0)
    cpus <- numeric(0)
    for (i in seq_len({repeat})) {{
      t <- system.time(fit <- {call})
      times <- c(times, t[["elapsed"]])
      cpus <- c(cpus, t[["user.self"]] + t[["sys.self"]])
    }}
    crit <- if ({reml}) REMLcrit(fit) else -2 * as.numeric(logLik(fit))
    peak <- tryCatch({{  # peak RSS (Linux): VmHWM of /proc/self/status, in kB
      hwm <- grep("VmHWM", readLines("/proc/self/status"), value = TRUE)
      as.numeric(gsub("[^0-9]", "", hwm)) * 1024
    }}, error = function(e) -1)
    cat(sprintf('{{"seconds": %.6f, "cpu": %.6f, "criterion": %.10f, "peak_bytes": %.0f}}\\n',
                min(times), min(cpus), crit, peak))
    """
)

FACTORS = {
    "sleepstudy": "data$Subject <- factor(data$Subject)",
    "Dyestuff": "data$Batch <- factor(data$Batch)",
    "InstEval": "for (v in c('s','d','dept','service')) data[[v]] <- factor(data[[v]])",
    "sim1M": "data$f1 <- factor(data$f1); data$f2 <- factor(data$f2)",
    "sim200k": "data$f1 <- factor(data$f1); data$f2 <- factor(data$f2)",
    "VerbAgg": "data$id <- factor(data$id); data$item <- factor(data$item)",
    "grouseNB": "data$YEAR <- factor(data$YEAR); data$BROOD <- factor(data$BROOD)",
}


def run_python(case: Case, csv: str | None, repeat: int) -> dict[str, float]:
    code = PY_RUNNER.format(
        here=str(HERE),
        make_data=case.make_data,
        csv=csv or "",
        repeat=repeat,
        formula=case.formula,
        reml=case.reml,
        glmm=case.family is not None,
        family=case.family or "gaussian",
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{case.name}: python run failed\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def have_mixedlm() -> bool:
    out = subprocess.run([sys.executable, "-c", "import mixedlm"], capture_output=True)
    return out.returncode == 0


def run_mixedlm(case: Case, repeat: int) -> dict[str, float] | None:
    code = MIXEDLM_RUNNER.format(
        here=str(HERE),
        make_data=case.make_data,
        repeat=repeat,
        formula=case.formula,
        reml=case.reml,
        family=case.family or "",
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  mixedlm failed: {out.stderr.strip()[-500:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_r(case: Case, csv: str, repeat: int) -> dict[str, float] | None:
    reml = "TRUE" if case.reml else "FALSE"
    if case.family == "negative_binomial":
        call = f"glmer.nb({case.formula}, data = data)"
    elif case.family:
        call = f"glmer({case.formula}, data = data, family = {case.family})"
    else:
        call = f"lmer({case.formula}, data = data, REML = {reml})"
    script = R_RUNNER.format(
        csv=csv,
        factors=FACTORS.get(case.name, ""),
        repeat=repeat,
        call=call,
        reml=reml,
    )
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  lme4 failed: {out.stderr.strip()[-500:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cpu_ratio(other: dict[str, float], ours: dict[str, float]) -> str:
    """The ratio of CPU times (min over the repeats; steadier than wall time on a
    loaded machine), with ours in ms."""
    if not other.get("cpu") or not ours.get("cpu"):
        return "n/a"
    return f"{other['cpu'] / ours['cpu']:.1f}x, ours {ours['cpu'] * 1000:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", help="case names to run")
    parser.add_argument("--repeat", type=int, help="override repetitions")
    parser.add_argument("--no-r", action="store_true", help="skip lme4")
    parser.add_argument("--no-mixedlm", action="store_true", help="skip mixedlm")
    args = parser.parse_args(argv)
    use_mixedlm = not args.no_mixedlm and have_mixedlm()
    if not use_mixedlm:
        print("mixedlm not installed (or --no-mixedlm): not timing it")
    have_r = not args.no_r and shutil.which("Rscript") is not None
    if not have_r:
        print("Rscript not found (or --no-r): timing mixedmodels only")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            if args.only and case.name not in args.only:
                continue
            repeat = args.repeat or case.repeat
            csv = str(Path(tmp) / f"{case.name}.csv") if have_r else None
            py = run_python(case, csv, repeat)
            line = (
                f"{case.name:<11} mixedmodels {py['seconds'] * 1000:9.1f} ms "
                f"(peak {py['peak_bytes'] / 2**30:.2f} GiB, {py['n_evaluations']} evals)"
            )
            r = run_r(case, csv, min(repeat, 5)) if have_r and csv else None
            if r is not None:
                ratio = r["seconds"] / py["seconds"]
                diff = py["criterion"] - r["criterion"]
                line += (
                    f" | lme4 {r['seconds'] * 1000:9.1f} ms | ratio {ratio:6.1f}x"
                    f" (CPU {_cpu_ratio(r, py)})"
                    f" | criterion diff {diff:+.2e}"
                )
                if r.get("peak_bytes", -1) > 0:
                    line += f" (lme4 RSS {r['peak_bytes'] / 2**30:.2f} GiB)"
            ml = run_mixedlm(case, repeat) if use_mixedlm else None
            if ml is not None:
                ratio = ml["seconds"] / py["seconds"]
                diff = py["criterion"] - ml["criterion"]
                line += (
                    f" | mixedlm {ml['seconds'] * 1000:9.1f} ms | ratio {ratio:6.1f}x"
                    f" (CPU {_cpu_ratio(ml, py)})"
                    f" | criterion diff {diff:+.2e} (peak {ml['peak_bytes'] / 2**30:.2f} GiB)"
                )
            print(line + f"   [target: {case.target}]", flush=True)
            rows.append({"case": case.name, "python": py, "lme4": r, "mixedlm": ml})
    out = HERE / "results.json"
    out.write_text(json.dumps(rows, indent=2))
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
