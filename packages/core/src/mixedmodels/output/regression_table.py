"""Side-by-side regression tables (R's modelsummary, texreg, huxtable).

:func:`table` reads every model through the tidier registered for its type
(:func:`mixedmodels.tidy` and :func:`mixedmodels.glance`), so LMMs, GLMMs, GLS fits,
GEE fits and any result a plugin registers a tidier for go in one table; it assembles
a :class:`~mixedmodels.output.tabular.Tabular` and hands it to the table format
registered under ``format`` (``text``, ``markdown``, ``html``, ``latex``, or one a plugin
adds through the ``mixedmodels_table_formats`` hook).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .tabular import Section, Tabular, format_number

__all__ = ["RenderedTable", "coefficient_frame", "table", "variance_label"]

#: modelsummary's default stars: ``+ p < 0.1, * p < 0.05, ** p < 0.01, *** p < 0.001``.
DEFAULT_STARS: dict[str, float] = {"+": 0.1, "*": 0.05, "**": 0.01, "***": 0.001}

#: Goodness-of-fit rows: glance column → row label (modelsummary's labels).
GOF_LABELS: dict[str, str] = {
    "nobs": "Num.Obs.",
    "n.clusters": "Num.Clusters",
    "logLik": "Log.Lik.",
    "AIC": "AIC",
    "BIC": "BIC",
    "REMLcrit": "REML crit.",
    "deviance": "Deviance",
    "QIC": "QIC",
    "sigma": "Sigma",
}
DEFAULT_GOF = ("nobs", "n.clusters", "logLik", "AIC", "BIC", "QIC")


def variance_label(term: str, group: Any) -> str:
    """modelsummary's name of a variance parameter: ``sd__Days`` in ``Subject`` →
    ``SD (Days Subject)``, ``cor__(Intercept).Days`` → ``Cor (Intercept~Days Subject)``,
    the residual SD → ``SD (Observations)``."""
    group = "" if group is None or (isinstance(group, float) and math.isnan(group)) else group
    if str(group) == "Residual":
        return "SD (Observations)" if term.startswith("sd__") else f"{term} (Residual)"
    for prefix, word in (("sd__", "SD"), ("var__", "Var"), ("cor__", "Cor"), ("cov__", "Cov")):
        if term.startswith(prefix):
            body = term[len(prefix) :]
            if word in ("Cor", "Cov"):
                # broom.mixed joins the two terms with "."; the first may hold dots itself
                # only inside parentheses, as "(Intercept)".
                if body.startswith("(") and ")." in body:
                    left, right = body.split(").", 1)
                    body = f"{left})~{right}"
                elif "." in body:
                    left, right = body.split(".", 1)
                    body = f"{left}~{right}"
            body = body.replace("(Intercept)", "Intercept")
            return f"{word} ({body} {group})".replace(" )", ")")
    return f"{term} ({group})" if group else term


def _tidy_with_ci(result: Any, conf_level: float) -> pd.DataFrame:
    from .verbs import tidy

    try:
        coef = tidy(result, conf_int=True, conf_level=conf_level)
    except TypeError:  # a plugin's tidier without broom's conf_int option
        coef = tidy(result)
    if "conf.low" not in coef.columns or coef["conf.low"].isna().all():
        # Wald intervals on the normal scale when the tidier gives none.
        z = stats.norm.ppf(0.5 + conf_level / 2)
        se = (
            pd.to_numeric(coef["std.error"], errors="coerce")
            if "std.error" in coef.columns
            else np.nan
        )
        coef = coef.assign(
            **{"conf.low": coef["estimate"] - z * se, "conf.high": coef["estimate"] + z * se}
        )
    return coef


def coefficient_frame(
    models: Sequence[Any] | Mapping[str, Any], conf_level: float = 0.95
) -> pd.DataFrame:
    """Every model's tidy table stacked, with a ``model`` column (the table's and the
    coefficient plot's common input).

    Parameters
    ----------
    models
        Fitted results (any with a registered tidier), or ``{name: result}``.
    conf_level
        Level of ``conf.low``/``conf.high`` (the tidier's, else Wald on the normal scale).

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``effect``, ``group``, ``term``, ``estimate``, ``std.error``,
        ``p.value``, ``conf.low``, ``conf.high`` (missing ones ``NaN``).
    """
    named = _named(models)
    parts = []
    for name, result in named.items():
        coef = _tidy_with_ci(result, conf_level)
        if "effect" not in coef.columns:
            coef = coef.assign(effect="fixed")
        if "group" not in coef.columns:
            coef = coef.assign(group=None)
        for col in ("std.error", "p.value"):
            if col not in coef.columns:
                coef = coef.assign(**{col: np.nan})
        cols = ["effect", "group", "term", "estimate", "std.error", "p.value"]
        parts.append(coef[[*cols, "conf.low", "conf.high"]].assign(model=name))
    frame = pd.concat(parts, ignore_index=True)
    return frame[["model", *frame.columns.drop("model")]]


def _named(models: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(models, Mapping):
        named = {str(k): v for k, v in models.items()}
    else:
        if not isinstance(models, Sequence) or isinstance(models, str):
            models = [models]
        named = {f"({i + 1})": m for i, m in enumerate(models)}
    if not named:
        raise ValueError("table: no models given")
    return named


def _stars(p: float, levels: Mapping[str, float]) -> str:
    if p is None or not np.isfinite(p):
        return ""
    hit = [(cut, mark) for mark, cut in levels.items() if p < cut]
    return min(hit)[1] if hit else ""


def _gof_number(stat: str, value: Any) -> str:
    if stat in ("nobs", "n.clusters"):
        return "" if value is None or pd.isna(value) else str(int(value))
    return format_number(value, 1)


class RenderedTable(str):
    """A rendered table: the text itself, shown as HTML in notebooks."""

    table_format: str

    def __new__(cls, text: str, fmt: str) -> RenderedTable:
        obj = super().__new__(cls, text)
        obj.table_format = fmt
        return obj

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (str, (str(self),))

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        if self.table_format == "html":
            return str(self)
        return f"<pre>{html.escape(self)}</pre>"


def build_tabular(
    models: Sequence[Any] | Mapping[str, Any],
    statistic: str = "std.error",
    conf_level: float = 0.95,
    stars: bool | Mapping[str, float] = False,
    digits: int = 3,
    varcomp: bool = True,
    gof: Sequence[str] = DEFAULT_GOF,
    intercept: bool = True,
    title: str | None = None,
) -> Tabular:
    """The side-by-side :class:`Tabular` of :func:`table` (before rendering)."""
    if statistic not in ("std.error", "conf.int", "p.value", "none"):
        raise ValueError(
            f"statistic must be 'std.error', 'conf.int', 'p.value' or 'none', got {statistic!r}"
        )
    from .verbs import glance

    named = _named(models)
    frame = coefficient_frame(named, conf_level)
    levels: Mapping[str, float] = (
        DEFAULT_STARS if stars is True else ({} if stars is False else dict(stars))
    )
    names = list(named)

    def cells(rows: pd.DataFrame, with_stat: bool) -> list[list[str]]:
        out: list[list[str]] = []
        for label, key in dict.fromkeys(zip(rows["label"], rows["key"], strict=True)):
            est, extra = [label], [""]
            for name in names:
                hit = rows[(rows["model"] == name) & (rows["key"] == key)]
                if hit.empty:
                    est.append("")
                    extra.append("")
                    continue
                row = hit.iloc[0]
                est.append(format_number(row["estimate"], digits) + _stars(row["p.value"], levels))
                if statistic == "std.error":
                    se = format_number(row["std.error"], digits)
                    extra.append(f"({se})" if se else "")
                elif statistic == "conf.int":
                    lo = format_number(row["conf.low"], digits)
                    hi = format_number(row["conf.high"], digits)
                    extra.append(f"[{lo}, {hi}]" if lo and hi else "")
                elif statistic == "p.value":
                    p = format_number(row["p.value"], digits)
                    extra.append(f"({p})" if p else "")
            out.append(est)
            if with_stat and statistic != "none" and any(extra[1:]):
                out.append(extra)
        return out

    fixed = frame[frame["effect"] == "fixed"]
    if not intercept:
        fixed = fixed[fixed["term"] != "(Intercept)"]
    fixed = fixed.assign(label=fixed["term"], key=fixed["term"])
    sections = [Section(cells(fixed, True))]
    if varcomp:
        ran = frame[frame["effect"] == "ran_pars"]
        # The residual's rows last, as modelsummary and lme4's VarCorr print them.
        ran = ran.iloc[np.argsort((ran["group"] == "Residual").to_numpy(), kind="stable")]
        if len(ran):
            labels = [variance_label(t, g) for t, g in zip(ran["term"], ran["group"], strict=True)]
            ran = ran.assign(label=labels, key=labels)
            sections.append(Section(cells(ran, False)))
    glances = [glance(named[n]) for n in names]
    gof_rows = []
    for stat in gof:
        values = [g[stat].iloc[0] if stat in g.columns else None for g in glances]
        if all(v is None or pd.isna(v) for v in values):
            continue
        gof_rows.append([GOF_LABELS.get(stat, stat), *(_gof_number(stat, v) for v in values)])
    if gof_rows:
        sections.append(Section(gof_rows))
    notes = []
    if levels:
        ordered = sorted(levels.items(), key=lambda kv: -kv[1])
        notes.append(", ".join(f"{mark} p < {cut:g}" for mark, cut in ordered))
    if statistic == "conf.int":
        notes.append(f"[ ]: {conf_level:.0%} confidence intervals")
    elif statistic == "std.error":
        notes.append("( ): standard errors")
    elif statistic == "p.value":
        notes.append("( ): p-values")
    return Tabular(["", *names], sections, title=title, notes=notes)


def table(
    models: Sequence[Any] | Mapping[str, Any],
    format: str = "text",
    *,
    statistic: str = "std.error",
    conf_level: float = 0.95,
    stars: bool | Mapping[str, float] = False,
    digits: int = 3,
    varcomp: bool = True,
    gof: Sequence[str] = DEFAULT_GOF,
    intercept: bool = True,
    title: str | None = None,
) -> Any:
    """Regression table of several models side by side (R's ``modelsummary``).

    Parameters
    ----------
    models
        Fitted results (LMM, GLMM, GLS, GEE, or any result with a registered tidier),
        as a list (columns ``(1)``, ``(2)``, ...) or ``{column name: result}``.
    format
        ``"text"``, ``"markdown"``, ``"html"``, ``"latex"`` or a format a plugin
        registers (``mixedmodels_table_formats`` hook).
    statistic
        Under each estimate: ``"std.error"`` (default), ``"conf.int"``, ``"p.value"``
        or ``"none"``.
    conf_level
        Level of the intervals with ``statistic="conf.int"`` (the tidier's intervals:
        Wald, on t or normal quantiles as its ``tidy(conf_int=True)``).
    stars
        ``True`` for modelsummary's stars (``+ 0.1, * 0.05, ** 0.01, *** 0.001``), or a
        mapping ``{mark: cut-off}``; ``False`` (default) for none.
    digits
        Decimals of estimates and their statistics.
    varcomp
        Rows for the variance parameters (``SD (Days Subject)``, ``Cor (...)``,
        ``SD (Observations)``), from the tidiers' ``ran_pars`` rows.
    gof
        Goodness-of-fit rows, glance columns in order; those that no model has are left
        out.  Default: ``nobs``, ``n.clusters``, ``logLik``, ``AIC``, ``BIC``, ``QIC``.
    intercept
        Whether to keep the ``(Intercept)`` row.
    title
        Caption.

    Returns
    -------
    str or object
        For the built-in formats a :class:`str` (shown as HTML in notebooks); for a
        plugin's format whatever its renderer returns.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> sleep = mm.datasets.load("sleepstudy")
    >>> m1 = mm.lmm("Reaction ~ Days + (1 | Subject)", sleep)
    >>> m2 = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    >>> print(mm.table([m1, m2], stars=True))  # doctest: +SKIP
    """
    from ..plugin_manager.manager import lookup

    render = lookup("table_format", format)
    tab = build_tabular(
        models,
        statistic=statistic,
        conf_level=conf_level,
        stars=stars,
        digits=digits,
        varcomp=varcomp,
        gof=gof,
        intercept=intercept,
        title=title,
    )
    out = render(tab)
    return RenderedTable(out, format) if isinstance(out, str) else out
