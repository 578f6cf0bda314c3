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
    print(f"\n(InstEval, {fit.nobs} rows, fitted in {elapsed:.2f} s)")


if __name__ == "__main__":
    main()
