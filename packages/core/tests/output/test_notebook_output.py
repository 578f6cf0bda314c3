"""Issue 19 item 3: summaries are text that notebooks show as HTML, with Markdown and
LaTeX renderings; every result has ``_repr_html_``; progress through tqdm and logging."""

from __future__ import annotations

import io
import logging
import pickle
from html.parser import HTMLParser
from typing import Any

import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.extending import Section, Summary, Tabular, render_table


class _Collect(HTMLParser):
    """Well-formedness check: every opened tag closed in order, the text collected."""

    VOID = frozenset({"br"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> str:
    parser = _Collect()
    parser.feed(html)
    parser.close()
    assert parser.stack == []
    return "".join(parser.text)


@pytest.fixture(scope="module")
def lmm_fit(sleep: pd.DataFrame) -> Any:
    return mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)


@pytest.fixture(scope="module")
def glmm_fit(cbpp: pd.DataFrame) -> Any:
    return mm.glmm(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"
    )


def test_summary_is_a_str_with_notebook_and_paper_renderings(lmm_fit: Any) -> None:
    s = lmm_fit.summary()
    assert isinstance(s, Summary) and isinstance(s, str)
    assert s.startswith("Linear mixed model fit by REML")
    # The REPL shows the layout, not an escaped one-line string.
    assert repr(s) == str(s) and "\\n" not in repr(s)
    html = s._repr_html_()
    assert html.startswith("<pre") and _parse(html) == str(s)
    md = s.to_markdown()
    assert "| (Intercept) | 251.4 | 6.825 |" in md
    assert "| Subject: sd__Days | 5.922 |" in md
    assert "| AIC | 1755.63 |" in md
    tex = s.to_latex()
    assert "\\begin{tabular}" in tex and "sd\\_\\_(Intercept)" in tex
    # Pickles (and copies) as the plain text.
    assert pickle.loads(pickle.dumps(s)) == str(s)


def test_results_have_repr_html(lmm_fit: Any, glmm_fit: Any, sleep: pd.DataFrame) -> None:
    gls_fit = mm.gls("Reaction ~ Days", sleep, correlation="ar1(1 | Subject)")
    for fit, first in [
        (lmm_fit, "Linear mixed model fit by REML"),
        (glmm_fit, "Generalized linear mixed model fit by maximum likelihood"),
        (gls_fit, "Generalized least squares fit by REML"),
    ]:
        text = _parse(fit._repr_html_())
        assert text.startswith(first) and text == str(fit.summary())
        assert isinstance(fit.summary(), Summary)
    assert "| period2 | -0.9923 |" in glmm_fit.summary().to_markdown()


def test_summary_without_a_fit_renders_the_text() -> None:
    s = Summary("a  b\n1  2\n")
    assert s.to_markdown() == "```\na  b\n1  2\n```\n"
    assert s.to_latex().startswith("\\begin{verbatim}")


def test_tabular_escapes_each_format() -> None:
    tab = Tabular(["term", "a&b"], [Section([["x_1 <y>", "50%"]], "Fixed | effects")])
    assert "x\\_1 <y> & 50\\% \\\\" in render_table(tab, "latex")
    assert '<th style="text-align:left;font-weight:normal">x_1 &lt;y&gt;</th>' in render_table(
        tab, "html"
    )
    assert "| *Fixed \\| effects* |  |" in render_table(tab, "markdown")
    with pytest.raises(ValueError, match="unknown table format 'rtf'"):
        render_table(tab, "rtf")
    with pytest.raises(ValueError, match="has 1 cells; the table has 2 columns"):
        Tabular(["a", "b"], [Section([["only"]])])


def test_progress_uses_tqdm_and_logs_the_task(caplog: pytest.LogCaptureFixture) -> None:
    # Private: the bar is the numerics layer's; its drawing is what is tested.
    from mixedmodels.numerics.progress import Progress

    stream = io.StringIO()  # not a terminal, as a CI log or a notebook's stderr
    with (
        caplog.at_level(logging.INFO, logger="mixedmodels"),
        Progress(3, "bootstrap", True, stream=stream) as bar,
    ):
        bar.update(2)
        bar.update(5)  # clipped at the total
    assert "bootstrap" in stream.getvalue() and "3/3" in stream.getvalue()
    assert "it/s" in stream.getvalue()  # tqdm's rate, which the old bar did not draw
    assert any("bootstrap: 3/3 done" in r.getMessage() for r in caplog.records)


def test_progress_environment_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    from mixedmodels.numerics.progress import Progress

    monkeypatch.setenv("MIXEDMODELS_PROGRESS", "0")
    stream = io.StringIO()
    with Progress(3, "profile", True, stream=stream) as bar:
        bar.update(3)
    assert stream.getvalue() == ""
