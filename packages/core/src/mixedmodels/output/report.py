"""The object ``summary()`` returns: R's printed text, which notebooks show as HTML.

:class:`Summary` is a :class:`str` (every caller that compares, writes or slices the
summary keeps working, and golden tests compare it to R's output as before) with
``_repr_html_`` for Jupyter, a ``__repr__`` that is the text itself (so that the REPL
prints the layout instead of an escaped string), and ``to_markdown()`` /
``to_latex()`` that render the fit's tidy tables.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from .tabular import Section, Tabular, format_number, render

__all__ = ["Summary", "tidy_tabular"]

_HTML_STYLE = (
    "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    "font-size:0.9em;line-height:1.25;white-space:pre;overflow-x:auto"
)


def _cells(frame: pd.DataFrame, label: str, digits: int) -> list[list[str]]:
    values = frame.drop(columns=[label]).to_numpy(dtype=object)
    labels = frame[label].astype(str).tolist()
    return [
        [name, *(format_number(v, digits, significant=True) for v in row)]
        for name, row in zip(labels, values, strict=True)
    ]


def tidy_tabular(result: Any, title: str | None = None, digits: int = 4) -> list[Tabular]:
    """The fit's tidy tables: goodness of fit (glance), fixed effects, variance
    parameters (tidy's ``ran_pars`` rows), for any result with a registered tidier."""
    from .verbs import glance, tidy

    tables: list[Tabular] = []
    fit = glance(result)
    rows = [[str(c), format_number(fit[c].iloc[0], digits + 2, significant=True)] for c in fit]
    tables.append(Tabular(["statistic", "value"], [Section(rows)], title=title))
    coef = tidy(result)
    if "effect" in coef.columns:
        fixed = coef[coef["effect"] == "fixed"]
        ran = coef[coef["effect"] == "ran_pars"]
    else:
        fixed, ran = coef, coef.iloc[:0]
    keep = [c for c in fixed.columns if c not in ("effect", "group", "component")]
    fixed = fixed[keep].dropna(axis=1, how="all")
    tables.append(
        Tabular(list(fixed.columns), [Section(_cells(fixed, "term", digits), "Fixed effects")])
    )
    if len(ran):
        ran = ran.assign(term=ran["group"].astype(str) + ": " + ran["term"].astype(str))
        ran = ran[["term", "estimate"]]
        tables.append(
            Tabular(["term", "estimate"], [Section(_cells(ran, "term", digits), "Random effects")])
        )
    return tables


class Summary(str):
    """A fit's printed summary (R's layout) that also renders for notebooks and papers.

    It *is* the text: ``print(s)``, ``s == golden``, ``s.splitlines()`` and
    ``open(...).write(s)`` work as on a :class:`str`.  In Jupyter it shows as
    preformatted HTML; :meth:`to_markdown` and :meth:`to_latex` render the fit's tidy
    tables (goodness of fit, fixed effects, variance parameters).

    Parameters
    ----------
    text
        The summary as R prints it.
    result
        The fitted result (for the tables of :meth:`to_markdown`/:meth:`to_latex`);
        ``None`` renders the text alone.
    """

    _result: Any

    def __new__(cls, text: str, result: Any = None) -> Summary:
        obj = super().__new__(cls, text)
        obj._result = result
        return obj

    def __init__(self, text: str, result: Any = None) -> None:
        # The text is set by __new__ (str is immutable); this only fixes the signature.
        super().__init__()

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Pickles as the plain text (the fit it came from is not part of the summary).
        return (str, (str(self),))

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        return f'<pre class="mixedmodels-summary" style="{_HTML_STYLE}">{html.escape(self)}</pre>'

    @property
    def heading(self) -> str:
        """The summary's first line (e.g. ``Linear mixed model fit by REML ...``)."""
        return self.split("\n", 1)[0].strip()

    def _render(self, fmt: str) -> str:
        if self._result is None:
            if fmt == "markdown":
                return f"```\n{self.rstrip()}\n```\n"
            return f"\\begin{{verbatim}}\n{self.rstrip()}\n\\end{{verbatim}}\n"
        tables = tidy_tabular(self._result, title=self.heading)
        return "\n".join(render(t, fmt) for t in tables)

    def to_markdown(self) -> str:
        """The fit's tables as GitHub-flavoured Markdown (fenced text without a fit)."""
        return self._render("markdown")

    def to_latex(self) -> str:
        """The fit's tables as LaTeX ``table`` environments (``verbatim`` without a fit)."""
        return self._render("latex")
