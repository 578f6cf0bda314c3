"""The registered DHARMa check: ``mixedmodels.check(fit)`` simulates scaled residuals
and runs the uniformity, dispersion, outlier and (count families) zero-inflation tests.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mixedmodels.interfaces import Diagnostic

from ._residual_tests import test_dispersion, test_outliers, test_uniformity, test_zero_inflation
from ._residuals import simulate_scaled_residuals, unsupported_reason

__all__ = ["DIAGNOSTICS", "DharmaDiagnostic"]


COUNT_FAMILIES = frozenset({"poisson", "negative_binomial"})

#: DHARMa's ``simulateResiduals(seed = 123)``: every call on one fit gives one verdict.
DEFAULT_SEED = 123

LMM_DISPERSION_NOTE = (
    " (linear mixed model: tested on simulations conditional on the fitted random "
    "effects, as DHARMa recommends; with unconditional simulation the test reports "
    "underdispersion for correct LMMs, a known false alarm)"
)


def _is_lmm(result: Any, family: str | None) -> bool:
    """A Gaussian model with random effects (an LMM, not a GLS fit)."""
    theta = getattr(result, "theta", None)
    n_theta = 0 if theta is None else int(np.size(np.asarray(theta)))
    return family == "gaussian" and n_theta > 0


def _verdict(p: float) -> str:
    if not np.isfinite(p):
        return "ok"
    return "problem" if p < 0.01 else ("warning" if p < 0.05 else "ok")


class DharmaDiagnostic(Diagnostic):
    """DHARMa's residual checks on simulated scaled residuals: uniformity (KS),
    dispersion, outliers, and zero inflation for count families."""

    name: ClassVar[str] = "dharma"
    description: ClassVar[str] = (
        "simulation-based scaled residuals (DHARMa): uniformity, dispersion, outliers, "
        "zero inflation"
    )

    def supports(self, result: Any) -> str | None:
        try:
            return unsupported_reason(result)
        except Exception as exc:  # must never raise
            return f"cannot inspect the result: {exc}"

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        """Simulate scaled residuals and test them.

        Options: ``n`` (simulations, default 250), ``seed`` (default 123, DHARMa's
        default; ``None`` for fresh entropy), ``conditional`` (simulate conditional on
        the fitted random effects; default false, DHARMa's default).  For a linear
        mixed model simulated unconditionally the dispersion test is run on a second,
        conditional simulation (DHARMa's recommendation): on unconditional simulations
        it reports underdispersion for correctly specified LMMs (the simulated spread
        around the conditional fit includes the random effects' variance), a known
        false alarm; the row's ``method`` says which simulation it used.
        """
        n = int(options.get("n", 250))
        seed = options.get("seed", DEFAULT_SEED)
        conditional = bool(options.get("conditional", False))
        sr = simulate_scaled_residuals(result, n=n, seed=seed, conditional=conditional)
        dispersion_note = ""
        if not conditional and _is_lmm(result, sr.family):
            # The same seed: one more deterministic simulation, conditional this time.
            sr_dispersion = simulate_scaled_residuals(result, n=n, seed=seed, conditional=True)
            dispersion_note = LMM_DISPERSION_NOTE
        else:
            sr_dispersion = sr
        checks = [
            (
                "uniformity",
                test_uniformity(sr),
                "the scaled residuals are not uniform: the distribution of the response "
                "does not match the model (KS test)",
            ),
            (
                "dispersion",
                test_dispersion(sr_dispersion),
                "the residual spread differs from the simulated one: over- (statistic > 1) "
                "or underdispersion (< 1)" + dispersion_note,
            ),
            (
                "outliers",
                test_outliers(sr, type="binomial"),
                "more (or fewer) observations outside the simulation envelope than expected",
            ),
        ]
        if sr.family in COUNT_FAMILIES:
            checks.append(
                (
                    "zero_inflation",
                    test_zero_inflation(sr),
                    "the number of zeros differs from the simulated one (ratio > 1: zero "
                    "inflation)",
                )
            )
        rows = []
        for check, out, problem in checks:
            verdict = _verdict(out.p_value)
            rows.append(
                {
                    "check": check,
                    "statistic": out.statistic,
                    "p_value": out.p_value,
                    "verdict": verdict,
                    "message": problem if verdict != "ok" else "",
                    "method": out.method + (dispersion_note if check == "dispersion" else ""),
                }
            )
        return pd.DataFrame(rows)


DIAGNOSTICS: list[Diagnostic] = [DharmaDiagnostic()]
