"""The fitted generalized least-squares model (nlme's ``gls``): :class:`GLSResult`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelSpecificationError
from ..interfaces import Tidier
from ..output.report import Summary
from .lmm import LMMResult

__all__ = ["GLS_TIDIERS", "GLSResult", "tidy_gls"]


class GLSResult(LMMResult):
    """A linear model with a residual structure fitted by REML or ML (nlme's ``gls``).

    Has the accessors of :class:`~mixedmodels.LMMResult` that make sense without random
    effects (``fixef``, ``vcov``, ``fitted``, ``residuals``, ``predict``, ``simulate``,
    ``loglik``, ``aic``, ``bic``, ``structure_parameters``); ``ranef`` is empty.
    """

    @property
    def bic(self) -> float:
        """BIC as nlme's ``gls``: for REML fits the penalty is ``log(n - p)`` per
        parameter (the restricted likelihood's number of observations)."""
        n = self.nobs - (len(self.fixef) if self.reml else 0)
        return -2.0 * self.loglik + np.log(n) * self.df

    def ranef(self, condvar: bool = False) -> Any:
        if condvar:
            return pd.DataFrame(columns=["grpvar", "term", "grp", "condval", "condsd"])
        return {}

    def summary(self, ddf: str = "none") -> Summary:
        """nlme-style text summary of a GLS fit (t tests on ``n - p`` df, as nlme)."""
        lines = [
            f"Generalized least squares fit by {'REML' if self.reml else 'maximum likelihood'}",
            f"  Model: {self.model.formula}",
            "",
            f"{'AIC':>10} {'BIC':>10} {'logLik':>10}",
            f"{self.aic:10.4f} {self.bic:10.4f} {self.loglik:10.4f}",
            "",
        ]
        table = self.structure_parameters(conf_int=False)
        if len(table):
            for comp, sub in table.groupby("group", sort=False):
                lines.append(f"{comp}:")
                lines.append(
                    "  "
                    + "  ".join(
                        f"{t} = {v:.6g}" for t, v in zip(sub.term, sub.estimate, strict=True)
                    )
                )
            lines.append("")
        fe = self.fixef
        se = self.fixef_se
        lines.append("Coefficients:")
        width = max(len(n) for n in fe.index) if len(fe) else 5
        lines.append(f"{'':{width}} {'Value':>12} {'Std.Error':>12} {'t-value':>10}")
        for name in fe.index:
            lines.append(
                f"{name:{width}} {fe[name]:12.6g} {se[name]:12.6g} {fe[name] / se[name]:10.4f}"
            )
        lines += ["", f"Residual standard error: {self.sigma:.6g}", f"Observations: {self.nobs}"]
        if self.messages:
            lines += ["", *self.messages]
        return Summary("\n".join(lines), self)

    def __repr__(self) -> str:
        return (
            f"<GLSResult {self.method}: {self.model.formula}, n={self.nobs}, "
            f"logLik={self.loglik:.4f}{'' if self.converged else ', NOT CONVERGED'}>"
        )


def tidy_gls(
    result: GLSResult,
    effects: Any = ("ran_pars", "fixed"),
    conf_int: bool = False,
    conf_level: float = 0.95,
    **_: Any,
) -> pd.DataFrame:
    """Coefficients with t tests on ``n - p`` degrees of freedom (nlme's ``summary.gls``)
    and, as ``ran_pars``, the residual SD and the correlation and variance-function
    parameters (group ``"Residual"``, nlme's names), with broom.mixed's columns."""
    effects = [effects] if isinstance(effects, str) else list(effects)
    parts = []
    if "fixed" in effects:
        est = result.fixef.to_numpy()
        se = result.fixef_se.to_numpy()
        df = float(result.nobs - len(est))
        t = est / se
        frame = pd.DataFrame(
            {
                "effect": "fixed",
                "group": None,
                "term": list(result.fixef.index),
                "estimate": est,
                "std.error": se,
                "statistic": t,
                "df": df,
                "p.value": 2.0 * stats.t.sf(np.abs(t), df),
            }
        )
        if conf_int:
            q = float(stats.t.ppf(0.5 + conf_level / 2.0, df))
            frame["conf.low"] = est - q * se
            frame["conf.high"] = est + q * se
        parts.append(frame)
    if "ran_pars" in effects:
        table = result.structure_parameters(conf_int=conf_int, level=conf_level)
        frame = pd.DataFrame(
            {
                "effect": "ran_pars",
                "group": "Residual",
                "term": ["sd__Observation" if t == "sigma" else t for t in table.term],
                "estimate": table.estimate.to_numpy(dtype=float),
            }
        )
        if conf_int:
            frame["conf.low"] = table["conf.low"].to_numpy(dtype=float)
            frame["conf.high"] = table["conf.high"].to_numpy(dtype=float)
        # The residual SD first, as broom.mixed orders ran_pars.
        order = np.argsort(frame.term.to_numpy() != "sd__Observation", kind="stable")
        parts.append(frame.iloc[order])
    if not parts:
        raise ModelSpecificationError(f"unknown effects {effects}; use 'fixed' and/or 'ran_pars'")
    return pd.concat(parts, ignore_index=True)


def _glance(result: GLSResult, **options: Any) -> pd.DataFrame:
    from ..output.tidiers import glance_lmm

    return glance_lmm(result, **options)


def _augment(result: GLSResult, **options: Any) -> pd.DataFrame:
    from ..output.tidiers import augment_lmm

    return augment_lmm(result, **options)


GLS_TIDIERS = [Tidier(GLSResult, tidy_gls, _glance, _augment)]
