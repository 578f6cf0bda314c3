"""ordinal's ``print(summary(clmm))`` layout."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mixedmodels.extending import format_coefmat, format_matrix, r_format

if TYPE_CHECKING:
    from ._results import ClmmResult

__all__ = ["format_summary"]


def _signif(x: float, digits: int) -> str:
    return r_format([float(f"{x:.{digits}g}")], digits=digits)[0].strip()


def format_summary(fit: ClmmResult) -> str:
    """The summary text: header, info table, random effects, coefficients, thresholds."""
    spec = fit.spec
    method = (
        "the Laplace approximation"
        if spec.nagq == 1
        else "the adaptive Gauss-Hermite quadrature approximation with "
        f"{spec.nagq} quadrature points"
    )
    lines = [f"Cumulative Link Mixed Model fitted with {method}", ""]
    lines.append(f"formula: {spec.formula}")
    lines.append(f"data:    {spec.data_name}")
    lines.append("")
    info_names = ["link", "threshold", "nobs", "logLik", "AIC", "niter", "max.grad", "cond.H"]
    info = [
        spec.link,
        spec.threshold,
        str(fit.nobs),
        f"{fit.loglik:.2f}",
        f"{fit.aic:.2f}",
        f"{fit.n_eval}",
        f"{fit.max_grad:.2e}",
        f"{fit.cond_hessian:.1e}",
    ]
    widths = [max(len(a), len(b)) for a, b in zip(info_names, info, strict=True)]
    lines.append(" " + " ".join(a.ljust(w) for a, w in zip(info_names, widths, strict=True)))
    lines.append(" " + " ".join(a.ljust(w) for a, w in zip(info, widths, strict=True)))
    lines.append("")
    lines.append("Random effects:")
    vc = fit.varcorr()
    main = vc[vc["var2"].isna()]
    cells = []
    rown = []
    prev = None
    for _, r in main.iterrows():
        rown.append("")
        cells.append(
            [
                r["grp"] if r["grp"] != prev else "",
                r["var1"],
                _signif(r["vcov"], 4),
                _signif(r["sdcor"], 4),
            ]
        )
        prev = r["grp"]
    table = format_matrix(rown, ["Groups", "Name", "Variance", "Std.Dev."], cells, right=False)
    lines.extend(table.rstrip("\n").splitlines())
    groups = " ".join(f"{t.group} {t.n_levels}" for t in fit._problem.terms)
    lines.append(f"Number of groups:  {groups} ")
    lines.append("")
    ct = fit.coef_table()
    if len(fit.beta):
        lines.append("Coefficients:")
        beta = ct.loc[list(fit.beta.index)]
        lines.append(
            format_coefmat(list(beta.index), list(beta.columns), beta.to_numpy(), digits=4).rstrip(
                "\n"
            )
        )
        lines.append("")
    lines.append("Threshold coefficients:")
    alpha = ct.loc[list(fit.alpha.index), ["Estimate", "Std. Error", "z value"]]
    lines.append(
        format_coefmat(list(alpha.index), list(alpha.columns), alpha.to_numpy(), digits=4).rstrip(
            "\n"
        )
    )
    if fit.singular:
        lines.append("")
        lines.append("A random-effect variance is estimated at zero (boundary fit).")
    if not fit.converged:
        lines.append("")
        lines.append(f"Warning: the optimiser did not converge (max|grad| = {fit.max_grad:.3g})")
    _ = np
    return "\n".join(lines) + "\n"
