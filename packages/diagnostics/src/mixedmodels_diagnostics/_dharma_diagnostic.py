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
        n = int(options.get("n", 250))
        seed = options.get("seed")
        sr = simulate_scaled_residuals(
            result, n=n, seed=seed, conditional=bool(options.get("conditional", False))
        )
        checks = [
            (
                "uniformity",
                test_uniformity(sr),
                "the scaled residuals are not uniform: the distribution of the response "
                "does not match the model (KS test)",
            ),
            (
                "dispersion",
                test_dispersion(sr),
                "the residual spread differs from the simulated one: over- (statistic > 1) "
                "or underdispersion (< 1)",
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
                    "method": out.method,
                }
            )
        return pd.DataFrame(rows)


DIAGNOSTICS: list[Diagnostic] = [DharmaDiagnostic()]
