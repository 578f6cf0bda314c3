"""Random lme4 formulas x random small data sets, fitted, with every outcome classified.

The reliability contract checked here: a fit either succeeds (possibly with one of the
library's warnings, e.g. :class:`~mixedmodels.ConvergenceWarning`) or raises one of the
library's documented exceptions (:class:`~mixedmodels.MixedModelsError` and its
subclasses) with a message; it never raises a raw internal error (``LinAlgError``,
``ZeroDivisionError``, ...), never lets a numpy ``RuntimeWarning`` escape, and never
takes longer than a per-fit time limit.

Run it for a while from the command line (``nox -s fuzz`` does)::

    python -m mixedmodels.testing.fuzz --seconds 600 --seed 1

The cases are deterministic given the seed and the case number.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FuzzCase", "FuzzOutcome", "FuzzTimeout", "fuzz", "random_case", "run_case"]

_KINDS = ("lmm", "lmm", "binomial", "poisson")


class FuzzTimeout(Exception):
    """A fit ran over the fuzz harness's per-fit time limit."""


@dataclass
class FuzzCase:
    """One random model: formula, data, kind (``"lmm"``, ``"binomial"``, ``"poisson"``)
    and extra keyword arguments of the fitting function."""

    seed: int
    formula: str
    data: pd.DataFrame
    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    def code(self) -> str:
        """A line of Python that reproduces the fit (data from :func:`random_case`)."""
        fn = "lmm" if self.kind == "lmm" else "glmm"
        fam = "" if self.kind == "lmm" else f", family={self.kind!r}"
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"mm.{fn}({self.formula!r}, random_case({self.seed}).data{fam}{opts})"


@dataclass
class FuzzOutcome:
    """What a fit did: ``outcome`` is ``"fit"``, ``"library error"``, ``"other error"``
    or ``"timeout"``; ``detail`` the exception's class (and for other errors its message);
    ``warnings`` the categories of the warnings it emitted."""

    case: FuzzCase
    outcome: str
    detail: str
    seconds: float
    warnings: list[str]
    message: str = ""

    @property
    def ok(self) -> bool:
        """Whether the outcome satisfies the contract."""
        return self.outcome in ("fit", "library error") and "RuntimeWarning" not in self.warnings


def _random_data(rng: np.random.Generator, n: int) -> pd.DataFrame:
    n_g = int(rng.choice([2, 3, 5, 10, max(2, n // 2), n]))
    g1 = rng.integers(0, n_g, n)
    g2 = rng.integers(0, int(rng.choice([2, 3, 4, 8])), n)
    x1 = rng.normal(size=n) * float(rng.choice([1.0, 1.0, 1e-3, 1e3]))
    x2 = rng.normal(size=n)
    if rng.random() < 0.2:
        x2 = 2.0 * x1 + 1.0  # collinear with x1 and the intercept
    times = rng.integers(0, int(rng.choice([2, 3, 4])), n)
    frame = pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "f": pd.Categorical(np.array(["a", "b", "c"])[rng.integers(0, 3, n)]),
            "g1": pd.Categorical([f"s{i}" for i in g1]),
            "g2": pd.Categorical([f"t{i}" for i in g2]),
            "tf": pd.Categorical([f"{i}" for i in times], ordered=True),
            "w": rng.uniform(0.5, 2.0, n),
            "off": rng.normal(scale=0.1, size=n),
        }
    )
    u = rng.normal(scale=float(rng.choice([0.0, 0.3, 1.0])), size=n_g)[g1]
    eta = 0.3 + 0.5 * x2 / (1.0 + np.abs(x2)) + u
    frame["y"] = eta + rng.normal(size=n)
    frame["yb"] = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    frame["yc"] = rng.poisson(np.exp(np.clip(eta, -5, 3)))
    if rng.random() < 0.3:
        # Missing values in a few columns.
        for col in rng.choice(["x1", "x2", "y", "yb", "yc"], size=2, replace=False):
            frame.loc[rng.random(n) < 0.1, col] = np.nan
    return frame


_RANDOM_TERMS = [
    "(1 | g1)",
    "(1 | g2)",
    "(x1 | g1)",
    "(x1 || g1)",
    "(0 + x1 | g2)",
    "(1 | g1/g2)",
    "(1 | g1:g2)",
    "(x2 | g2)",
    "cs(0 + f | g1)",
    "diag(x1 | g1)",
    "ar1(0 + tf | g1)",
    "toep(0 + tf | g1)",
    "us(1 + x1 | g2)",
    "(f | g1)",
]
_FIXED_TERMS = ["x1", "x2", "f", "x1:f", "x1*x2", "I(x1^2)", "offset(off)", "tf", "log(w)"]


def random_case(seed: int) -> FuzzCase:
    """The ``seed``-th random case (formula, data and kind)."""
    rng = np.random.default_rng(seed)
    n = int(rng.choice([4, 6, 10, 20, 40, 80, 150, 280]))
    data = _random_data(rng, n)
    kind = str(rng.choice(_KINDS))
    response = {"lmm": "y", "binomial": "yb", "poisson": "yc"}[kind]
    fixed = list(rng.choice(_FIXED_TERMS, size=int(rng.integers(0, 4)), replace=False))
    random = list(rng.choice(_RANDOM_TERMS, size=int(rng.integers(1, 3)), replace=False))
    rhs = " + ".join(["1", *fixed, *random])
    options: dict[str, Any] = {}
    if kind == "lmm" and rng.random() < 0.3:
        options["reml"] = False
    if rng.random() < 0.1:
        options["weights"] = "w"
    return FuzzCase(seed, f"{response} ~ {rhs}", data, kind, options)


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`FuzzTimeout` in the main thread after ``seconds`` (POSIX only;
    elsewhere no limit)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise FuzzTimeout(f"over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_case(case: FuzzCase, timeout: float = 30.0) -> FuzzOutcome:
    """Fit one case and classify what happened."""
    import mixedmodels as mm

    base = getattr(mm, "MixedModelsError", None)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with _time_limit(timeout):
                if case.kind == "lmm":
                    mm.lmm(case.formula, case.data, **case.options)
                else:
                    mm.glmm(case.formula, case.data, family=case.kind, **case.options)
            outcome, detail, message = "fit", "", ""
        except FuzzTimeout:
            outcome, detail, message = "timeout", "", ""
        except Exception as err:
            message = str(err)
            detail = type(err).__name__
            if base is not None and isinstance(err, base) and message:
                outcome = "library error"
            else:
                outcome = "other error"
                frames = traceback.extract_tb(err.__traceback__)
                inner = [f for f in frames if "mixedmodels" in f.filename] or frames
                if inner:
                    message += f" [at {inner[-1].filename.rsplit('/', 1)[-1]}:{inner[-1].lineno}]"
    seconds = time.perf_counter() - start
    categories = sorted({w.category.__name__ for w in caught})
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    if runtime:
        w = runtime[0]
        message += f" [RuntimeWarning {w.message} at {w.filename.rsplit('/', 1)[-1]}:{w.lineno}]"
    return FuzzOutcome(case, outcome, detail, seconds, categories, message)


def fuzz(
    n_cases: int | None = None,
    seconds: float | None = None,
    seed: int = 0,
    timeout: float = 30.0,
) -> list[FuzzOutcome]:
    """Run cases ``seed, seed + 1, ...`` until ``n_cases`` are done or ``seconds`` have
    passed (whichever comes first; at least one of them must be given)."""
    if n_cases is None and seconds is None:
        raise ValueError("give n_cases or seconds")
    out: list[FuzzOutcome] = []
    start = time.perf_counter()
    i = 0
    while (n_cases is None or i < n_cases) and (
        seconds is None or time.perf_counter() - start < seconds
    ):
        out.append(run_case(random_case(seed + i), timeout))
        i += 1
    return out


def summarize(outcomes: list[FuzzOutcome]) -> str:
    """Counts by outcome, by error class, by warning category, and the slowest fits."""
    lines = [f"{len(outcomes)} cases"]
    by_outcome = Counter(o.outcome for o in outcomes)
    lines += [f"  {k}: {v}" for k, v in by_outcome.most_common()]
    errors = Counter(f"{o.outcome}: {o.detail}" for o in outcomes if o.detail)
    lines.append("errors by class:")
    lines += [f"  {k}: {v}" for k, v in errors.most_common()]
    warned = Counter(w for o in outcomes for w in o.warnings)
    lines.append("fits/errors emitting each warning category (first seeds):")
    for k, v in warned.most_common():
        seeds = [o.case.seed for o in outcomes if k in o.warnings][:5]
        lines.append(f"  {k}: {v} {seeds}")
    slow = sorted(outcomes, key=lambda o: -o.seconds)[:3]
    lines.append("slowest: " + ", ".join(f"{o.seconds:.1f} s (seed {o.case.seed})" for o in slow))
    bad = [o for o in outcomes if not o.ok]
    if bad:
        lines.append("contract violations (first 20):")
        for o in bad[:20]:
            lines.append(
                f"  seed {o.case.seed} {o.outcome} {o.detail} {o.warnings}: "
                f"{o.case.code()} :: {o.message[:160]}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the fuzzer, print the summary, exit 1 on a contract violation."""
    parser = argparse.ArgumentParser(prog="python -m mixedmodels.testing.fuzz")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--cases", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    outcomes = fuzz(args.cases, args.seconds, args.seed, args.timeout)
    print(summarize(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
