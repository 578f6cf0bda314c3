"""Time mixedmodels-diagnostics' influence() against R on the same data.

Cases (the target in brackets):

* exact group-deletion influence, sleepstudy ``Reaction ~ Days + (Days | Subject)`` by
  Subject [under 1 s]; R: influence.ME's ``influence(fit, group = "Subject")`` when
  influence.ME is installed, else the same loop with lme4 alone (``update(fit, data =
  subset)`` per level, then ``fixef``, ``vcov``, ``coef(summary())``: what
  influence.ME's ``influence`` does);
* exact observation-deletion influence, sleepstudy (180 refits);
* one-step (HLMdiag) observation-level influence, sleepstudy;
* exact herd-deletion influence, cbpp binomial GLMM.

Each timing is the minimum over repeats, warm (imports and first fit done).  Usage::

    python benchmarks/influence_bench.py [--repeat N] [--no-r]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "packages" / "core" / "src"))
sys.path.insert(0, str(ROOT / "packages" / "diagnostics" / "src"))

from mixedmodels_diagnostics import influence  # noqa: E402

import mixedmodels as mm  # noqa: E402

os.environ.setdefault("MIXEDMODELS_PROGRESS", "0")

R_SCRIPT = r"""
suppressMessages(library(lme4))
fm <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
have <- suppressWarnings(requireNamespace("influence.ME", quietly = TRUE))
run <- if (have) function() influence.ME::influence(fm, group = "Subject") else function() {
  fr <- model.frame(fm)
  for (s in levels(fr$Subject)) {
    upd <- update(fm, data = fr[fr$Subject != s, ])
    invisible(list(fixef(upd), sqrt(diag(vcov(upd))), vcov(upd), coef(summary(upd))))
  }
}
run()
times <- replicate(REPEAT, system.time(run())[["elapsed"]])
cat(if (have) "influence.ME" else "lme4-loop", min(times), "\n")
"""


def best(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def r_time(repeat: int) -> tuple[str, float] | None:
    if shutil.which("Rscript") is None:
        return None
    proc = subprocess.run(
        ["Rscript", "-e", R_SCRIPT.replace("REPEAT", str(repeat))],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"R failed: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    what, seconds = proc.stdout.split()[-2:]
    return what, float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args()
    sleep = mm.datasets.load("sleepstudy")
    fit = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    cbpp = mm.datasets.load("cbpp")
    gfit = mm.glmm(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"
    )
    rows = [
        (
            "sleepstudy by Subject, exact",
            best(lambda: influence(fit, group="Subject"), args.repeat),
            "under 1 s",
        ),
        (
            "sleepstudy by observation, exact",
            best(lambda: influence(fit), max(1, args.repeat // 2)),
            "",
        ),
        (
            "sleepstudy by observation, one-step",
            best(lambda: influence(fit, method="approx"), args.repeat),
            "",
        ),
        (
            "cbpp by herd, exact (GLMM)",
            best(lambda: influence(gfit, group="herd"), args.repeat),
            "",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'case':{width}}  {'seconds':>8}  target")
    for name, seconds, target in rows:
        print(f"{name:{width}}  {seconds:8.3f}  {target}")
    ok = rows[0][1] < 1.0
    print(f"\nsleepstudy by Subject under 1 s: {'yes' if ok else 'NO'}")
    if not args.no_r:
        r = r_time(args.repeat)
        if r is None:
            print("R timing skipped (Rscript with lme4 not available)")
        else:
            what, seconds = r
            print(
                f"R ({what}) sleepstudy by Subject: {seconds:.3f} s; "
                f"ratio R / Python = {seconds / rows[0][1]:.1f}x"
            )


if __name__ == "__main__":
    main()
