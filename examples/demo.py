"""Fit the classic lme4 examples and print lme4-style summaries."""

from __future__ import annotations

import time

import mixedmodels as mm


def main() -> None:
    sleep = mm.datasets.load("sleepstudy")
    fit = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)  # first call loads plugins
    start = time.perf_counter()
    fit = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    elapsed = time.perf_counter() - start
    print(fit.summary())
    print(f"\n(sleepstudy fitted in {elapsed * 1000:.1f} ms)\n")
    print(mm.tidy(fit).to_string(index=False))
    print()

    inst = mm.datasets.load("InstEval")
    start = time.perf_counter()
    fit = mm.lmm("y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)", inst, reml=False)
    elapsed = time.perf_counter() - start
    print(fit.summary())
    print(f"\n(InstEval, {fit.nobs} rows, fitted in {elapsed:.2f} s)\n")

    verb = mm.datasets.load("VerbAgg")
    start = time.perf_counter()
    glmm = mm.glmm(
        "r2 ~ (Anger + Gender + btype + situ) + (1 | id) + (1 | item)", verb, family="binomial"
    )
    elapsed = time.perf_counter() - start
    print(glmm.summary())
    print(f"\n(VerbAgg binary GLMM, {glmm.nobs} rows, fitted in {elapsed:.2f} s)\n")

    # Model checks from the mixedmodels-diagnostics plugin, when it is installed.
    if "diagnostics" in set(mm.plugins()["plugin"]):
        cbpp = mm.datasets.load("cbpp")
        herd = mm.glmm(
            "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"
        )
        mm.check(herd, seed=1)
        print()
        print(herd.confint(progress=False))


if __name__ == "__main__":
    main()
