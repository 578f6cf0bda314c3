"""Fixed costs before any fitting: loading InstEval, building a million-row design.

    python benchmarks/design_bench.py

Prints the best of five wall times of each step (no R counterpart: lme4's lFormula and
a CSV read are not the same work).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

import mixedmodels as mm
from mixedmodels.design.matrices import build_design  # Private: the design step alone


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "f1": np.char.add("s", rng.integers(0, 20_000, n).astype(str)).astype(object),
            "f2": rng.integers(0, 1_000, n),
        }
    )
    load = best_of(lambda: mm.datasets.load("InstEval"))
    design = best_of(lambda: build_design("y ~ x + (1|f1) + (1|f2)", data), repeat=3)
    print(f"load InstEval (73,421 rows)          {load * 1e3:8.1f} ms")
    print(f"build_design, 10^6 rows, 20,000 x 1,000 {design:8.2f} s")


if __name__ == "__main__":
    main()
