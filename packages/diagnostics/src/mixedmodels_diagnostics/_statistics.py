"""The ``performance``-style statistics and checks registered as
:class:`~mixedmodels.interfaces.Diagnostic` objects (module-level ``DIAGNOSTICS``), so
``mixedmodels.check(fit)`` reports them as table rows.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mixedmodels.interfaces import Diagnostic

from ._checks import (
    check_collinearity,
    check_convergence,
    check_overdispersion,
    check_zero_inflation,
    collinearity_reason,
    overdispersion_reason,
    zero_inflation_reason,
)
from ._result_kind import mixed_reason, type_name
from ._singularity import check_singularity
from ._variance_components import variance_decomposition, variance_reason
from ._variance_ratios import icc, icc_beta, r2_nakagawa

__all__ = [
    "DIAGNOSTICS",
    "check_collinearity",
    "check_convergence",
    "check_overdispersion",
    "check_singularity",
    "check_zero_inflation",
    "icc",
    "icc_beta",
    "r2_nakagawa",
    "variance_decomposition",
]


def _safe(reason_fn: Any, result: Any) -> str | None:
    """``supports`` must never raise: an error becomes the reason."""
    try:
        reason: str | None = reason_fn(result)
    except Exception as exc:
        return f"cannot inspect a {type_name(result)}: {type(exc).__name__}: {exc}"
    return reason


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(dict.fromkeys(k for r in rows for k in r)))


def _ratio_rows(compute: Any, result: Any, label: str, keys: tuple[str, str]) -> pd.DataFrame:
    """One row per variance ratio (ICC, R2); NaN on a singular fit, with a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the table's message says it
        values = compute(result)
    rows = []
    for key in keys:
        value = float(values[key])
        bad = math.isnan(value)
        rows.append(
            {
                "check": f"{label} ({key})",
                "statistic": value,
                "p_value": math.nan,
                "verdict": "warning" if bad else "ok",
                "message": "singular fit: the random-effect variance is not available"
                if bad
                else "",
            }
        )
    return _table(rows)


class ICCDiagnostic(Diagnostic):
    """Adjusted and conditional ICC (performance::icc)."""

    name: ClassVar[str] = "icc"
    description: ClassVar[str] = "intraclass correlation, adjusted and conditional (performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(lambda r: variance_reason(r, "icc"), result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        return _ratio_rows(icc, result, "ICC", ("adjusted", "conditional"))


class R2Diagnostic(Diagnostic):
    """Nakagawa's marginal and conditional R² (performance::r2_nakagawa)."""

    name: ClassVar[str] = "r2"
    description: ClassVar[str] = "Nakagawa's marginal and conditional R2 (performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(lambda r: variance_reason(r, "r2"), result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        return _ratio_rows(r2_nakagawa, result, "R2", ("marginal", "conditional"))


class SingularityDiagnostic(Diagnostic):
    """A random-effect covariance on the boundary (lme4::isSingular)."""

    name: ClassVar[str] = "check_singularity"
    description: ClassVar[str] = "singular (boundary) random-effect covariance (lme4/performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(lambda r: mixed_reason(r, "check_singularity"), result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        out = check_singularity(result, tol=float(options.get("tol", 1e-4)))
        message = (
            f"singular fit: a variance is (near) zero in {', '.join(out['terms'])}; "
            "simplify the random-effect structure"
            if out["singular"]
            else ""
        )
        return _table(
            [
                {
                    "check": "singularity (min theta)",
                    "statistic": out["min_theta"],
                    "p_value": math.nan,
                    "verdict": "problem" if out["singular"] else "ok",
                    "message": message,
                }
            ]
        )


class OverdispersionDiagnostic(Diagnostic):
    """Pearson chi-square overdispersion test (performance::check_overdispersion)."""

    name: ClassVar[str] = "check_overdispersion"
    description: ClassVar[str] = "Pearson chi-square test of overdispersion (performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(overdispersion_reason, result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        out = check_overdispersion(result)
        over = out["p_value"] < 0.05
        return _table(
            [
                {
                    "check": "overdispersion (Pearson ratio)",
                    "statistic": out["ratio"],
                    "p_value": out["p_value"],
                    "verdict": "problem" if over else "ok",
                    "message": (
                        f"overdispersion detected: Pearson chi2 = {out['chisq']:.4g} on "
                        f"{out['df']:.0f} df, ratio {out['ratio']:.3g}"
                    )
                    if over
                    else "",
                    "chisq": out["chisq"],
                    "df": out["df"],
                }
            ]
        )


class CollinearityDiagnostic(Diagnostic):
    """Variance inflation factors of the fixed effects (performance::check_collinearity)."""

    name: ClassVar[str] = "check_collinearity"
    description: ClassVar[str] = "(generalised) variance inflation factors per fixed term"

    def supports(self, result: Any) -> str | None:
        return _safe(collinearity_reason, result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        table = check_collinearity(result)
        vif = table["vif"].to_numpy(dtype=float)
        # performance's bands: low < 5 <= moderate < 10 <= high.
        verdict = np.where(vif >= 10, "problem", np.where(vif >= 5, "warning", "ok"))
        band = np.where(vif >= 10, "high", "moderate")
        message = [
            f"{band[i]} collinearity: VIF {vif[i]:.3g}" if verdict[i] != "ok" else ""
            for i in range(len(vif))
        ]
        return pd.DataFrame(
            {
                "check": "VIF " + table["term"].astype(str),
                "statistic": vif,
                "p_value": np.nan,
                "verdict": verdict,
                "message": message,
                "term": table["term"],
                "adjusted_vif": table["adjusted_vif"],
                "tolerance": table["tolerance"],
            }
        )


class ConvergenceDiagnostic(Diagnostic):
    """lme4's scaled-gradient convergence check (performance::check_convergence)."""

    name: ClassVar[str] = "check_convergence"
    description: ClassVar[str] = "scaled gradient at the estimates (lme4/performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(lambda r: mixed_reason(r, "check_convergence"), result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        out = check_convergence(result, tolerance=float(options.get("tolerance", 0.001)))
        ok = out["converged"] and out["optimizer_converged"]
        notes = []
        if not out["converged"]:
            notes.append(
                f"scaled gradient {out['gradient']:.3g} exceeds the tolerance {out['tolerance']:g}"
            )
        if not out["optimizer_converged"]:
            notes.append("the optimizer reported no convergence")
        notes += [m for m in out["messages"] if m]
        return _table(
            [
                {
                    "check": "convergence (scaled gradient)",
                    "statistic": out["gradient"],
                    "p_value": math.nan,
                    "verdict": "ok" if ok else "problem",
                    "message": "; ".join(notes) if not ok else "",
                }
            ]
        )


class ZeroInflationDiagnostic(Diagnostic):
    """Observed vs predicted zeros of a count GLMM (performance::check_zeroinflation)."""

    name: ClassVar[str] = "check_zero_inflation"
    description: ClassVar[str] = "observed vs predicted zeros of a count model (performance)"

    def supports(self, result: Any) -> str | None:
        return _safe(zero_inflation_reason, result)

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        out = check_zero_inflation(result, tolerance=float(options.get("zi_tolerance", 0.05)))
        message = {
            "ok": "",
            "underfitting": "model is underfitting zeros (probable zero-inflation)",
            "overfitting": "model is overfitting zeros",
        }[out["verdict"]]
        if message:
            message += f": {out['observed']} observed, {out['predicted']} predicted"
        return _table(
            [
                {
                    "check": "zero inflation (predicted/observed zeros)",
                    "statistic": out["ratio"],
                    "p_value": math.nan,
                    "verdict": "ok" if out["verdict"] == "ok" else "warning",
                    "message": message,
                    "observed": out["observed"],
                    "predicted": out["predicted"],
                }
            ]
        )


DIAGNOSTICS: list[Diagnostic] = [
    ICCDiagnostic(),
    R2Diagnostic(),
    SingularityDiagnostic(),
    OverdispersionDiagnostic(),
    CollinearityDiagnostic(),
    ConvergenceDiagnostic(),
    ZeroInflationDiagnostic(),
]
