"""brms's ``summary`` of a fit: header, group-level, population-level and
family-specific blocks, printed with brms's ``print_format`` (two decimals, ESS as
integers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._draws import correlation_pairs, summarise

__all__ = ["BayesSummary", "brms_summary", "format_block"]

_FAMILY_NAMES = {
    "gaussian": "gaussian",
    "binomial": "binomial",
    "poisson": "poisson",
    "negative_binomial": "negbinomial",
    "Gamma": "gamma",
}


@dataclass
class BayesSummary:
    """The tables of brms's ``summary``; ``str()`` prints them as brms does."""

    header: list[str]
    random: dict[str, pd.DataFrame] = field(default_factory=dict)
    levels: dict[str, int] = field(default_factory=dict)
    fixed: pd.DataFrame = field(default_factory=pd.DataFrame)
    spec_pars: pd.DataFrame = field(default_factory=pd.DataFrame)
    footer: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = list(self.header)
        if self.random:
            lines += ["", "Group-Level Effects: "]
            for g, table in self.random.items():
                lines.append(f"~{g} (Number of levels: {self.levels[g]}) ")
                lines += format_block(table)
                lines.append("")
            lines.pop()
        if len(self.fixed):
            lines += ["", "Population-Level Effects: "]
            lines += format_block(self.fixed)
        if len(self.spec_pars):
            lines += ["", "Family Specific Parameters: "]
            lines += format_block(self.spec_pars)
        lines += ["", *self.footer]
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # pragma: no cover - IPython
        p.text(str(self))


def format_block(table: pd.DataFrame, digits: int = 2) -> list[str]:
    """brms's ``print_format``: ``%.2f``, ESS as ``%.0f``, right-aligned columns."""
    cells = []
    for col in table.columns:
        fmt = "%.0f" if col in ("Bulk_ESS", "Tail_ESS") else f"%.{digits}f"
        cells.append([fmt % v if np.isfinite(v) else "NA" for v in table[col]])
    names = [str(i) for i in table.index]
    wn = max([len(n) for n in names] + [0])
    cols = list(table.columns)
    widths = [max(len(c), *(len(v) for v in vals)) for c, vals in zip(cols, cells, strict=True)]
    out = [" " * wn + "".join(" " + c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    for i, n in enumerate(names):
        out.append(
            n.ljust(wn)
            + "".join(" " + vals[i].rjust(w) for vals, w in zip(cells, widths, strict=True))
        )
    return out


def brms_summary(result: Any, prob: float = 0.95) -> BayesSummary:
    """The :class:`BayesSummary` of a :class:`~mixedmodels_bayes.BayesResult`."""
    bd = result.data
    sc = result.scalars
    links = f"mu = {bd.link}"
    if "sigma" in sc:
        links += "; sigma = identity"
    if "shape" in sc:
        links += "; shape = identity"
    data_name = getattr(result.model, "data_name", None) or "data"
    opts = result.options
    header = [
        f" Family: {_FAMILY_NAMES.get(bd.family, bd.family)} ",
        f"  Links: {links} ",
        f"Formula: {result.formula} ",
        f"   Data: {data_name} (Number of observations: {bd.n}) ",
        f"  Draws: {result.n_chains} chains, each with iter = {opts.warmup + opts.draws}; "
        f"warmup = {opts.warmup}; thin = 1;",
        f"         total post-warmup draws = {result.n_chains * result.n_draws}",
    ]
    random: dict[str, pd.DataFrame] = {}
    levels: dict[str, int] = {}
    groups: dict[str, list[int]] = {}
    for k, t in enumerate(bd.terms):
        groups.setdefault(t.group, []).append(k)
    for g, ks in groups.items():
        names, rows = [], []
        for k in ks:
            for c in bd.terms[k].columns:
                names.append(f"sd({c})")
                rows.append(summarise(sc[f"sd_{g}__{c}"], prob))
        for k in ks:
            t = bd.terms[k]
            if t.correlated:
                for j, m in correlation_pairs(t.columns):
                    names.append(f"cor({t.columns[j]},{t.columns[m]})")
                    rows.append(summarise(sc[f"cor_{g}__{t.columns[j]}__{t.columns[m]}"], prob))
        random[g] = pd.DataFrame(rows, index=names)
        levels[g] = bd.terms[ks[0]].n_levels
    fixed_names = [k for k in sc if k.startswith("b_")]
    fixed = pd.DataFrame(
        [summarise(sc[k], prob) for k in fixed_names], index=[k[2:] for k in fixed_names]
    )
    spec = [k for k in ("sigma", "shape") if k in sc]
    spec_pars = pd.DataFrame([summarise(sc[k], prob) for k in spec], index=spec)
    method = {
        "collapsed": "the collapsed sampler (exact conditional draws)",
        "collapsed_imh": "independence Metropolis-Hastings (collapsed)",
    }.get(result.sampler, "NUTS")
    footer = [
        f"Draws were sampled using {method}. For each parameter, Bulk_ESS",
        "and Tail_ESS are effective sample size measures, and Rhat is the potential",
        "scale reduction factor on split chains (at convergence, Rhat = 1).",
    ]
    return BayesSummary(header, random, levels, fixed, spec_pars, footer)
