"""A short run of the fuzz harness (``mixedmodels.testing.fuzz``): random lme4 formulas x
random small data sets, LMM and GLMM (binomial, poisson).  Every outcome must be a fit or
one of the library's documented errors with a message; no numpy RuntimeWarning; no fit
over the per-fit limit (30 s, enforced by the harness, not a timing assertion).  The long
run is ``nox -s fuzz``."""

from __future__ import annotations

from mixedmodels.testing.fuzz import fuzz, random_case, summarize

# Fixed seeds; the run stops after N_CASES or SECONDS, whichever comes first, so that
# it stays short on a slow machine (each case that runs is checked in full).
N_CASES = 40
SECONDS = 45.0


def test_random_formulas_and_data_fit_or_fail_cleanly() -> None:
    outcomes = fuzz(n_cases=N_CASES, seconds=SECONDS, seed=0, timeout=30.0)
    assert outcomes
    bad = [o for o in outcomes if not o.ok]
    assert not bad, summarize(outcomes)


def test_cases_are_reproducible() -> None:
    a, b = random_case(7), random_case(7)
    assert a.formula == b.formula and a.kind == b.kind and a.options == b.options
    assert a.data.equals(b.data)
