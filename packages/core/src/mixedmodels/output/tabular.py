"""One small table model rendered as plain text, Markdown, HTML or LaTeX.

Summaries (``Summary.to_markdown()``), the side-by-side regression tables
(:func:`mixedmodels.table`) and a plugin's own format all draw the same
:class:`Tabular`: a header row, sections of rows whose first cell labels the row, and
notes under the table.  The renderers escape what each format needs escaping and
nothing else, so the text they produce is stable enough for golden-file tests.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TABULAR_FORMATS", "Section", "Tabular", "format_number", "render"]


@dataclass
class Section:
    """A block of rows (``rows[i][0]`` labels the row), with an optional heading."""

    rows: list[list[str]]
    heading: str | None = None


@dataclass
class Tabular:
    """A table to render: ``columns`` (the first heads the row labels), ``sections``,
    an optional ``title`` and ``notes`` (one line each, under the table)."""

    columns: list[str]
    sections: list[Section]
    title: str | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        width = len(self.columns)
        for section in self.sections:
            for row in section.rows:
                if len(row) != width:
                    raise ValueError(
                        f"row {row[:1]} has {len(row)} cells; the table has {width} columns"
                    )


def format_number(value: Any, digits: int = 3, significant: bool = False) -> str:
    """``digits`` decimals (or significant digits); empty for missing values."""
    if value is None:
        return ""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if significant:
        return f"{x:.{digits}g}"
    text = f"{x:.{digits}f}"
    # "-0.000" reads as a sign that is not there.
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _text(tab: Tabular) -> str:
    rows = [tab.columns] + [r for s in tab.sections for r in s.rows]
    headings = [s.heading for s in tab.sections if s.heading]
    widths = [max(len(r[j]) for r in rows) for j in range(len(tab.columns))]
    if headings:
        widths[0] = max(widths[0], *(len(h) for h in headings))
    total = sum(widths) + 2 * (len(widths) - 1)

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [tab.title] if tab.title else []
    out += ["=" * total, line(tab.columns), "-" * total]
    for k, section in enumerate(tab.sections):
        if k:
            out.append("-" * total)
        if section.heading:
            out.append(section.heading)
        out += [line(r) for r in section.rows]
    out.append("=" * total)
    out += tab.notes
    return "\n".join(out) + "\n"


def _md_cell(cell: str) -> str:
    return cell.replace("|", "\\|")


def _markdown(tab: Tabular) -> str:
    out = [f"**{_md_cell(tab.title)}**", ""] if tab.title else []
    out.append("| " + " | ".join(_md_cell(c) for c in tab.columns) + " |")
    out.append("|:--" + "|--:" * (len(tab.columns) - 1) + "|")
    blank = [""] * (len(tab.columns) - 1)
    for section in tab.sections:
        if section.heading:
            out.append("| " + " | ".join([f"*{_md_cell(section.heading)}*", *blank]) + " |")
        for row in section.rows:
            out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    if tab.notes:
        out += [""] + [n + "  " for n in tab.notes[:-1]] + tab.notes[-1:]
    return "\n".join(out) + "\n"


def _html(tab: Tabular) -> str:
    esc = html.escape
    ncol = len(tab.columns)
    out = ['<table class="mixedmodels-table" style="border-collapse:collapse">']
    if tab.title:
        out.append(f"<caption>{esc(tab.title)}</caption>")
    head = "".join(
        f'<th style="text-align:{"left" if j == 0 else "right"};padding:0.1em 0.6em">{esc(c)}</th>'
        for j, c in enumerate(tab.columns)
    )
    out.append(f"<thead><tr>{head}</tr></thead>")
    for k, section in enumerate(tab.sections):
        rule = ' style="border-top:1px solid currentColor"' if k else ""
        out.append(f"<tbody{rule}>")
        if section.heading:
            out.append(
                f'<tr><th colspan="{ncol}" style="text-align:left">{esc(section.heading)}</th></tr>'
            )
        for row in section.rows:
            cells = f'<th style="text-align:left;font-weight:normal">{esc(row[0])}</th>' + "".join(
                f'<td style="text-align:right;padding:0.1em 0.6em">{esc(c)}</td>' for c in row[1:]
            )
            out.append(f"<tr>{cells}</tr>")
        out.append("</tbody>")
    if tab.notes:
        notes = "<br>".join(esc(n) for n in tab.notes)
        out.append(
            f'<tfoot><tr><td colspan="{ncol}" style="text-align:left">{notes}</td></tr></tfoot>'
        )
    out.append("</table>")
    return "\n".join(out) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex(cell: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in cell)


def _latex(tab: Tabular) -> str:
    ncol = len(tab.columns)
    out = ["\\begin{table}[htbp]", "\\centering"]
    if tab.title:
        out.append(f"\\caption{{{_tex(tab.title)}}}")
    out += [f"\\begin{{tabular}}{{l{'r' * (ncol - 1)}}}", "\\hline"]
    out.append(" & ".join(_tex(c) for c in tab.columns) + " \\\\")
    out.append("\\hline")
    for k, section in enumerate(tab.sections):
        if k:
            out.append("\\hline")
        if section.heading:
            out.append(f"\\multicolumn{{{ncol}}}{{l}}{{\\textit{{{_tex(section.heading)}}}}} \\\\")
        out += [" & ".join(_tex(c) for c in row) + " \\\\" for row in section.rows]
    out.append("\\hline")
    out.append("\\end{tabular}")
    for note in tab.notes:
        out.append(f"\\par\\smallskip{{\\footnotesize {_tex(note)}}}")
    out.append("\\end{table}")
    return "\n".join(out) + "\n"


#: The built-in renderers, ``{format: render(Tabular) -> str}``.
TABULAR_FORMATS = {"text": _text, "markdown": _markdown, "html": _html, "latex": _latex}


def render(tab: Tabular, fmt: str) -> str:
    """Render ``tab`` as ``"text"``, ``"markdown"``, ``"html"`` or ``"latex"``."""
    try:
        renderer = TABULAR_FORMATS[fmt]
    except KeyError:
        known = sorted(TABULAR_FORMATS)
        raise ValueError(f"unknown table format {fmt!r}; one of {known}") from None
    return renderer(tab)
