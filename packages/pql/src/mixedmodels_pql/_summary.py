"""Printed summary of a glmmPQL fit (nlme's layout, flagged as quasi-likelihood)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mixedmodels.extending import format_coefmat, r_format

if TYPE_CHECKING:
    from ._results import PQLResult

__all__ = ["format_summary"]


def format_summary(fit: PQLResult) -> str:
    lines = [
        "Linear mixed-effects model fit by maximum likelihood",
        "  (penalized quasi-likelihood, MASS::glmmPQL: no log-likelihood, AIC or BIC)",
        f" Data: {fit.data_name} ",
        "  AIC BIC logLik",
        "   NA  NA     NA",
        "",
        "Random effects:",
    ]
    vc = fit.varcorr()
    for _, r in vc[vc["var2"].isna()].iterrows():
        lines.append(f" {r['grp']:<10} {r['var1']!s:<12} StdDev: {r['sdcor']:.7g}")
    sp = fit.structure_parameters()
    cor = sp[sp["effect"] == "cor_pars"] if "effect" in sp.columns else sp.iloc[0:0]
    if len(cor):
        lines.append("")
        lines.append("Correlation Structure:")
        for _, r in cor.iterrows():
            lines.append(f" {r['group']}: {r['estimate']:.7g}")
    lines.append(f"Variance function: fixed weights (working weights), family {fit.family.name}")
    lines.append("")
    ct = fit.coef_table()
    lines.append("Fixed effects: " + fit.model.formula)
    lines.append(
        format_coefmat(list(ct.index), list(ct.columns), ct.to_numpy(), digits=4).rstrip("\n")
    )
    lines.append("")
    lines.append(f"Number of Observations: {fit.nobs}")
    lines.append(
        f"PQL iterations: {fit.iterations}" + ("" if fit.converged else " (not converged)")
    )
    _ = r_format
    return "\n".join(lines) + "\n"
