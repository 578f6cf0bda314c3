"""geepack-style summary text of a GEE fit.

The layout and number formatting follow ``print(summary(geeglm(...)))`` in a fresh R
session (``digits = 4``): R's ``printCoefmat`` for the coefficients with Wald tests,
``format.pval`` for the p-values, and ``print.data.frame`` for the scale and
correlation parameters.  The number formatting reuses the core's emulation of R's
``format()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mixedmodels.extending import format_matrix as _print_matrix
from mixedmodels.extending import r_format as _r_format
from mixedmodels.extending import r_round as _r_round

if TYPE_CHECKING:
    from ._results import GEEResult

__all__ = ["format_pval", "format_summary", "print_coefmat"]

_EPS = float(np.finfo(float).eps)
_LEGEND = (
    "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 "
    "\u2018.\u2019 0.1 \u2018 \u2019 1"
)


def format_pval(pv: Sequence[float], digits: int, eps: float = _EPS) -> list[str]:
    """R's ``format.pval`` (R >= 4.0: p-values down to 1e-4 in fixed notation)."""
    pv = [float(v) for v in pv]
    is0 = [v < eps for v in pv]
    out = [""] * len(pv)
    rest = [v for v, z in zip(pv, is0, strict=True) if not z]
    rr: list[str] = []
    if rest:
        expo = [math.floor(math.log10(v)) if v > 0 else -50 for v in rest]
        fix = [e >= -3 or (e == -4 and digits > 1) for e in expo]
        rr = [""] * len(rest)
        for flag in (True, False):
            idx = [i for i, f in enumerate(fix) if f == flag]
            if idx:
                strs = _r_format([rest[i] for i in idx], digits)
                for i, s in zip(idx, strs, strict=True):
                    rr[i] = s
        it = iter(rr)
        for i, z in enumerate(is0):
            if not z:
                out[i] = next(it)
    if any(is0):
        d = max(1, digits - 2)
        if rest:
            nc = max(len(s) for s in rr)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        eps_str = _r_format([eps], d)[0].strip()
        for i, z in enumerate(is0):
            if z:
                out[i] = "<" + sep + eps_str
    return out


def _stars(p: float) -> str:
    if not math.isfinite(p):
        return ""
    for cut, sym in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return sym
    return " "


def print_coefmat(
    rownames: Sequence[str],
    colnames: Sequence[str],
    coef: Sequence[float],
    se: Sequence[float],
    stat: Sequence[float],
    pvalue: Sequence[float],
    digits: int = 4,
) -> str:
    """R's ``printCoefmat`` with two coefficient columns, a test and a p-value column."""
    p = len(coef)
    cs = [float(v) for v in coef] + [float(v) for v in se]
    acs = [abs(v) for v in cs if math.isfinite(v) and v != 0]
    if acs:
        digmin = [1 + math.floor(math.log10(min(acs))), 1 + math.floor(math.log10(max(acs)))]
    else:
        digmin = [1, 1]
    dec = max(1, digits - digmin[0], digits - digmin[1])
    cs_str = _r_format([_r_round(v, dec) for v in cs], digits)
    for i, v in enumerate(cs):
        s = cs_str[i].strip()
        if math.isfinite(v) and (v == 0) != (float(s) == 0):
            cs_str[i] = _r_format([v], max(1, digits - 1))[0]
    dig_tst = max(1, min(5, digits - 1))
    t_str = _r_format([_r_round(float(v), dig_tst) for v in stat], digits)
    for i, v in enumerate(cs):
        if math.isnan(v):
            cs_str[i] = "NA"
    t_str = ["NA" if math.isnan(float(v)) else s for v, s in zip(stat, t_str, strict=True)]
    pv = [float(v) for v in pvalue]
    ok = [math.isfinite(v) for v in pv]
    p_str = ["NA"] * p
    if any(ok):
        formatted = format_pval([v for v, o in zip(pv, ok, strict=True) if o], dig_tst)
        it = iter(formatted)
        p_str = [next(it) if o else "NA" for o in ok]
    stars = any(o and v < 0.1 for v, o in zip(pv, ok, strict=True))
    rows = [[cs_str[i], cs_str[p + i], t_str[i], p_str[i]] for i in range(p)]
    cols = list(colnames)
    if stars:
        sym = [_stars(v) for v in pv]
        width = max(len(s) for s in sym)
        rows = [[*r, s.ljust(width)] for r, s in zip(rows, sym, strict=True)]
        cols = [*cols, ""]
    text = _print_matrix(list(rownames), cols, rows, right=True)
    if stars:
        text += "---\n" + _LEGEND + "\n"
    return text


def _frame(rownames: Sequence[str], est: Sequence[float], se: Sequence[float], digits: int) -> str:
    """``print(data.frame(Estimate, Std.err), digits)``: each column formatted alone."""
    e = _r_format([float(v) for v in est], digits)
    se_str = _r_format([float(v) for v in se], digits)
    s = ["NA" if math.isnan(float(v)) else x for v, x in zip(se, se_str, strict=True)]
    rows = [[a.strip(), b.strip()] for a, b in zip(e, s, strict=True)]
    return _print_matrix(list(rownames), ["Estimate", "Std.err"], rows, right=True)


def _call(result: GEEResult) -> str:
    opts = result._data.options
    parts = [f"formula = {result.model.formula}", f"family = {result.family.name}"]
    if result.link.name != result.family.default_link:
        parts.append(f"link = {result.link.name}")
    groups = opts.get("groups_label")
    if groups:
        parts.append(f"groups = {groups}")
    if opts.get("time_label"):
        parts.append(f"time = {opts['time_label']}")
    parts.append(f'corstr = "{result.corstr.name}"')
    m = getattr(result.corstr, "m", None)
    if m is not None:
        parts.append(f"mdep = {m}")
    if result.scale_fixed:
        parts.append(f"scale_fix = {result.scale:g}")
    if result.std_err != "robust":
        parts.append(f'std_err = "{result.std_err}"')
    lines: list[str] = []
    current = "gee("
    for i, part in enumerate(parts):
        piece = part + (", " if i < len(parts) - 1 else ")")
        if len(current) + len(piece.rstrip()) > 80 and current.strip() != "gee(":
            lines.append(current.rstrip())
            current = "    "
        current += piece
    lines.append(current)
    return "\n".join(lines) + "\n"


def format_summary(result: GEEResult, digits: int = 4) -> str:
    """The summary text of a fitted :class:`~mixedmodels_gee.GEEResult`."""
    table = result.coef_table()
    out = ["\nCall:\n", _call(result), "\n Coefficients:\n"]
    out.append(
        print_coefmat(
            list(table.index),
            ["Estimate", "Std.err", "Wald", "Pr(>|W|)"],
            table["Estimate"].tolist(),
            table["Std.err"].tolist(),
            table["Wald"].tolist(),
            table["Pr(>|W|)"].tolist(),
            digits,
        )
    )
    if result.std_err != "robust":
        out.append(f"Std. errors: {result.std_err_label}\n")
    out.append(f"\nCorrelation structure = {result.corstr.describe()} \n")
    if not result.scale_fixed:
        out.append("Estimated Scale Parameters:\n\n")
        out.append(_frame(["(Intercept)"], [result.scale], [result.scale_se], digits))
    else:
        out.append("Scale is fixed.\n\n")
    if not result.corstr.is_independence:
        out.append("  Link = identity \n")
        out.append("\nEstimated Correlation Parameters:\n")
        params = result.corr_params
        if len(params):
            out.append(
                _frame(list(params.index), params.tolist(), result.corr_params_se.tolist(), digits)
            )
        else:
            out.append("(none: the working correlation is fixed)\n")
    out.append(
        f"Number of clusters:   {result.n_clusters}  Maximum cluster size: "
        f"{result.max_cluster_size} \n"
    )
    dropped = list(getattr(result.model, "dropped_columns", []) or [])
    if dropped:
        out.append(
            "fixed-effect model matrix is rank deficient so dropping "
            f"{len(dropped)} column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}\n"
        )
    if not result.converged:
        out.append(f"Warning: the GEE iterations did not converge ({result.n_iter} iterations)\n")
    return "".join(out)
