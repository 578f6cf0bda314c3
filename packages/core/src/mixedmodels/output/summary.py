"""lme4-style text summary of a fitted linear mixed model.

:func:`format_summary` reproduces the layout of R's ``print(summary(lmer(...)))``
(lme4 1.1): the numbers are formatted with R's rules (:mod:`.rformat`: ``format()``'s
common number of significant digits, ``printCoefmat``'s rounding, ``abbreviate()``'s
short names), so that the text agrees with R's in every printed digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .rformat import (
    _WIDTH,
    _abbreviate,
    _cat_fill,
    _cat_fill_sep0,
    _print_coefmat,
    _print_matrix,
    _print_named,
    _r_format,
    _r_num,
    _r_round,
    _strwrap,
    _zapsmall,
)

__all__ = ["format_summary"]

# R's getOption("lme4.summary.cor.max").
_COR_MAX = 12


def _title(result: Any, ddf: str = "none") -> str:
    """lme4's ``.prt.methTit``; with lmerTest's suffix when t tests have df."""
    # lme4's methTitle ends "maximum likelihood " (note the space) for ML fits.
    what = "REML" if result.reml else "maximum likelihood "
    title = f"Linear mixed model fit by {what}"
    cls = "lmerMod"
    if ddf != "none":
        method = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's"}[ddf]
        title += f". t-tests use {method} method"
        cls = "lmerModLmerTest"
    if len(title) + 5 + len(cls) > _WIDTH:
        return _cat_fill_sep0([*_strwrap(title, _WIDTH - 2, exdent=2), " [", cls, "]"])
    return f"{title} ['{cls}']\n"


def _data_name(result: Any) -> str | None:
    model = result.model
    name = getattr(model, "data_name", None)
    if name is None:
        attrs = getattr(getattr(model, "data", None), "attrs", None) or {}
        name = attrs.get("name")
    return None if name is None else str(name)


def _aic_table(result: Any) -> str:
    if result.reml:
        return _cat_fill(
            "REML criterion at convergence:", _r_num(_r_round(result.reml_criterion, 1))
        )
    vals = [result.aic, result.bic, result.loglik, result.deviance, float(result.nobs - result.df)]
    rounded = [_r_round(v, 1) for v in vals]
    strs = _r_format(rounded)
    strs[-1] = _r_num(rounded[-1])
    return _print_named(["AIC", "BIC", "logLik", "deviance", "df.resid"], strs)


def _residual_table(result: Any, digits: int) -> str:
    res = np.asarray(result.residuals(type="pearson", scaled=True), dtype=float)
    res = res[np.isfinite(res)]
    q = np.quantile(res, [0.0, 0.25, 0.5, 0.75, 1.0]) if res.size else np.full(5, np.nan)
    zapped = _zapsmall(list(q), digits + 1)
    return "Scaled residuals: \n" + _print_named(
        ["Min", "1Q", "Median", "3Q", "Max"], _r_format(zapped, digits)
    )


def _varcorr_table(result: Any, digits: int) -> str:
    """lme4's ``formatVC``: Groups, Name, Variance, Std.Dev. and lower-triangle Corr."""
    covs = result.covariance_matrices()
    groups: list[str] = []
    names: list[str] = []
    sds: list[float] = []
    corrs: list[list[list[str]]] = []
    for group, cov in covs.items():
        c = cov.to_numpy()
        sd = np.sqrt(np.maximum(np.diag(c), 0.0))
        k = len(sd)
        for i, col in enumerate(cov.columns):
            groups.append(str(group) if i == 0 else "")
            names.append(str(col))
            sds.append(float(sd[i]))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = c / np.outer(sd, sd)
        dig = max(2, digits - 2)
        flat = _r_format([_r_round(float(v), dig) for v in corr.ravel()], nsmall=dig)
        cells = [[flat[i * k + j] if j < i else "" for j in range(k)] for i in range(k)]
        corrs.append(cells)
    groups.append("Residual")
    names.append("")
    sds.append(float(result.sigma))
    variances = _r_format([s * s for s in sds], digits)
    stddevs = _r_format(sds, digits)
    colnames = ["Groups", "Name", "Variance", "Std.Dev."]
    rows = [[g, n, v, s] for g, n, v, s in zip(groups, names, variances, stddevs, strict=True)]
    maxlen = max((len(c) for c in corrs), default=1)
    if maxlen > 1:
        corr_rows: list[list[str]] = []
        for cells in corrs:
            for row in cells:
                corr_rows.append(row + [""] * (maxlen - len(row)))
        corr_rows = [r[: maxlen - 1] for r in corr_rows]
        while len(corr_rows) < len(rows):
            corr_rows.append([""] * (maxlen - 1))
        rows = [r + c for r, c in zip(rows, corr_rows, strict=True)]
        colnames += ["Corr"] + [""] * (maxlen - 2)
    return "Random effects:\n" + _print_matrix([""] * len(rows), colnames, rows, right=False)


def _groups_line(result: Any) -> str:
    groups = "; ".join(f"{k}, {v}" for k, v in result.ngrps.items())
    return _cat_fill(f"Number of obs: {int(result.nobs)}, groups: ", groups)


def _coef_table(
    names: Sequence[str], est: Sequence[float], se: Sequence[float], digits: int
) -> str:
    """R's ``printCoefmat`` for Estimate, Std. Error and t value (no p-values)."""
    e = np.asarray(est, dtype=np.float64)
    s = np.asarray(se, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(s != 0, e / s, np.nan)
    return _print_coefmat(
        names, ["Estimate", "Std. Error", "t value"], np.column_stack([e, s, t]), digits
    )


def _correlation_table(names: Sequence[str], vcov: np.ndarray) -> str:
    p = len(names)
    sd = np.sqrt(np.diag(vcov))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = vcov / np.outer(sd, sd)
    flat = _r_format([_r_round(float(v), 3) for v in corr.T.ravel()], nsmall=3)
    rns = _abbreviate(names, 11)
    cns = _abbreviate(names, 6)
    # Column-major flat -> cell (i, j) is flat[j * p + i]; keep the strict lower triangle.
    cells = [[flat[j * p + i] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
    return "\nCorrelation of Fixed Effects:\n" + _print_matrix(
        rns[1:], cns[:-1], cells, right=False
    )


def _messages(result: Any) -> str:
    """Rank deficiency, convergence and singularity messages, as lme4 prints them last."""
    out = []
    dropped = list(getattr(result.model, "dropped_columns", []) or [])
    if dropped:
        k = len(dropped)
        out.append("fit warnings:")
        out.append(
            f"fixed-effect model matrix is rank deficient so dropping {k} "
            f"column{'s' if k > 1 else ''} / coefficient{'s' if k > 1 else ''}: "
            + ", ".join(dropped)
        )
    lines = [m for m in result.messages if not str(m).startswith("boundary (singular) fit")]
    if not result.converged:
        method = getattr(getattr(result, "optimizer", None), "method", "unknown")
        out.append(f"optimizer ({method}) convergence failure{':' if lines else ''}")
    out.extend(str(m) for m in lines)
    if result.singular:
        out.append("boundary (singular) fit: see help('isSingular')")
    return "".join(line + "\n" for line in out)


def format_summary(
    result: Any, digits: int = 4, correlation: bool | None = None, ddf: str | None = "none"
) -> str:
    """lme4's ``summary()`` text of a fitted linear mixed model (lmerTest's with ``ddf``).

    Parameters
    ----------
    result
        A fitted :class:`~mixedmodels.LMMResult`.
    digits
        Significant digits, as lme4's ``print(summary(fit), digits = ...)`` (default
        ``max(3, getOption("digits") - 3)``, i.e. 4).
    correlation
        Show the correlation of the fixed effects; ``None`` (default) shows it when
        there are at most 12 fixed effects, as lme4.
    ddf
        ``"none"`` (default): lme4's layout, t values without df.  ``"satterthwaite"``
        or ``"kenward-roger"``: lmerTest's layout, with ``df`` and ``Pr(>|t|)`` columns
        (Kenward-Roger also adjusts the standard errors) and significance stars.

    Returns
    -------
    str
        The summary.  The ``Data:`` line appears when the model knows its data's name
        (a ``data_name`` attribute of the model, or ``data.attrs["name"]``).  Messages
        come last: dropped rank-deficient columns, a failed convergence check and a
        singular (boundary) fit.
    """
    from ..inference.ddf import coef_table, normalize_ddf

    ddf = normalize_ddf(ddf)
    model = result.model
    parts = [_title(result, ddf), f"Formula: {model.formula}\n"]
    name = _data_name(result)
    if name is not None:
        parts.append(f"   Data: {name}\n")
    parts.append("\n")
    parts.append(_aic_table(result))
    parts.append("\n")
    parts.append(_residual_table(result, digits))
    parts.append("\n")
    parts.append(_varcorr_table(result, digits))
    parts.append(_groups_line(result))
    from ..inference.parameters import summary_block  # structured terms, residual structure

    parts.append(summary_block(result, digits))
    names = [str(n) for n in result.fixef.index]
    p = len(names)
    if p > 0:
        parts.append("\nFixed effects:\n")
        if ddf == "none":
            parts.append(
                _coef_table(names, result.fixef.to_numpy(), result.fixef_se.to_numpy(), digits)
            )
        else:
            table = coef_table(result, ddf)
            parts.append(_print_coefmat(names, list(table.columns), table.to_numpy(), digits))
        show = p <= _COR_MAX if correlation is None else correlation
        if show and p > 1:
            parts.append(_correlation_table(names, result.vcov.to_numpy()))
        elif correlation is None and p > _COR_MAX:
            parts.append(
                f"\nCorrelation matrix not shown by default, as p = {p} > {_COR_MAX}.\n"
                "Use format_summary(fit, correlation=True) or fit.vcov if you need it\n"
            )
    parts.append(_messages(result))
    return "".join(parts)
