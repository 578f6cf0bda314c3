"""VerbAgg with the logit, probit and cloglog links: ours and glmer in one run (issue 18
item 4: at least 15x glmer with the logit, non-canonical links no slower relative to
glmer than the logit).  Times are minima of ``--repeat`` fits (wall clock and, for
ours, process CPU time; on a loaded machine compare the ratios of one run).

Usage::

    python benchmarks/glmm_links_bench.py [--repeat N] [--no-r]
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

FORMULA = "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)"
LINKS = ("logit", "probit", "cloglog")

PY = textwrap.dedent(
    """
    import json, time
    import mixedmodels as mm
    data = mm.datasets.load("VerbAgg")
    out = {{}}
    for link in {links!r}:
        mm.glmm({formula!r}, data, family="binomial", link=link)  # warm caches
        wall, cpu = [], []
        for _ in range({repeat}):
            w, c = time.perf_counter(), time.process_time()
            fit = mm.glmm({formula!r}, data, family="binomial", link=link)
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
        out[link] = {{"seconds": min(wall), "cpu": min(cpu), "criterion": fit.minus2loglik,
                     "n_evaluations": fit.optimizer.n_evaluations}}
    print(json.dumps(out))
    """
)

R = textwrap.dedent(
    """
    suppressMessages(library(lme4))
    data <- read.csv("{csv}", stringsAsFactors = TRUE)
    data$id <- factor(data$id); data$item <- factor(data$item)
    out <- c()
    for (link in c("logit", "probit", "cloglog")) {{
      fam <- binomial(link = link)
      times <- c(); cpu <- c()
      for (i in seq_len({repeat})) {{
        t <- system.time(fit <- glmer({formula}, data = data, family = fam))
        times <- c(times, t[["elapsed"]]); cpu <- c(cpu, t[["user.self"]] + t[["sys.self"]])
      }}
      out <- c(out, sprintf('"%s": {{"seconds": %.4f, "cpu": %.4f, "criterion": %.8f}}',
                            link, min(times), min(cpu), -2 * as.numeric(logLik(fit))))
    }}
    cat("{{", paste(out, collapse = ", "), "}}\\n")
    """
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args(argv)
    code = PY.format(links=LINKS, formula=FORMULA, repeat=args.repeat)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ours = json.loads(out.stdout.strip().splitlines()[-1])
    theirs = None
    if not args.no_r and shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            csv = str(Path(tmp) / "VerbAgg.csv")
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"import mixedmodels as mm; mm.datasets.load('VerbAgg').to_csv({csv!r}, "
                    "index=False)",
                ],
                check=True,
            )
            script = R.format(csv=csv, formula=FORMULA, repeat=args.repeat)
            r = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
            if r.returncode == 0:
                theirs = json.loads(r.stdout.strip().splitlines()[-1])
            else:
                print(f"glmer failed: {r.stderr[-500:]}")
    for link in LINKS:
        o = ours[link]
        line = (
            f"VerbAgg {link:<8} ours {o['seconds'] * 1000:7.1f} ms (cpu {o['cpu'] * 1000:.1f} ms, "
            f"{o['n_evaluations']} evals)"
        )
        if theirs is not None:
            t = theirs[link]
            line += (
                f" | glmer {t['seconds'] * 1000:8.1f} ms (cpu {t['cpu'] * 1000:.1f} ms) | "
                f"ratio {t['seconds'] / o['seconds']:5.1f}x (cpu {t['cpu'] / o['cpu']:.1f}x) | "
                f"-2logLik diff {o['criterion'] - t['criterion']:+.2e}"
            )
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
