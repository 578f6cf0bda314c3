"""Issue 19 item 8: side-by-side regression tables (modelsummary) and coefficient plots
(dotwhisker, lme4's caterpillar), through the tidier and table-format hooks.

The golden files under ``golden/`` were written by this module with
``MIXEDMODELS_UPDATE_GOLDEN=1`` and read by eye against ``modelsummary(list(m1, m2,
g1), stars = TRUE)``'s layout; their numbers are the fits' (which the reference tests
pin against lme4), rounded to three decimals.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.extending import Tabular, render_table
from mixedmodels.hookspec import hookimpl
from mixedmodels.interfaces import Tidier
from mixedmodels.plugin_manager.manager import register_plugin, unregister_plugin

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MIXEDMODELS_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def models(sleep: pd.DataFrame, cbpp: pd.DataFrame) -> dict[str, Any]:
    return {
        "Random intercept": mm.lmm("Reaction ~ Days + (1 | Subject)", sleep),
        "Random slope": mm.lmm("Reaction ~ Days + (Days | Subject)", sleep),
        "cbpp GLMM": mm.glmm(
            "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"
        ),
    }


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden file"


@pytest.mark.parametrize(
    ("fmt", "suffix"), [("text", "txt"), ("markdown", "md"), ("latex", "tex"), ("html", "html")]
)
def test_table_matches_the_golden_file(models: dict[str, Any], fmt: str, suffix: str) -> None:
    out = mm.table(models, fmt, stars=True)
    assert isinstance(out, str)
    _golden(f"table_stars.{suffix}", str(out))


def test_table_with_intervals_golden(models: dict[str, Any]) -> None:
    out = mm.table(list(models.values())[:2], statistic="conf.int", conf_level=0.9)
    _golden("table_ci.txt", str(out))


def test_table_rows_are_the_tidiers_numbers(models: dict[str, Any]) -> None:
    out = mm.table(models, "markdown", statistic="conf.int", gof=("nobs", "AIC"))
    lines = out.splitlines()
    slope = mm.tidy(models["Random slope"], conf_int=True)
    lo, hi = slope.loc[slope["term"] == "Days", ["conf.low", "conf.high"]].iloc[0]
    days = lines.index("| Days | 10.467 | 10.467 |  |")
    assert f"[{lo:.3f}, {hi:.3f}]" in lines[days + 1]
    assert "| SD (Days Subject) |  | 5.922 |  |" in lines
    assert "| Cor (Intercept~Days Subject) |  | 0.066 |  |" in lines
    assert lines[-4:-2] == ["| Num.Obs. | 180 | 180 | 56 |", "| AIC | 1794.5 | 1755.6 | 194.1 |"]
    assert "BIC" not in out
    # A table is a str that notebooks show as HTML.
    assert (
        mm.table(models, "html")
        ._repr_html_()
        .startswith('<table class="mixedmodels-table" style="border-collapse:collapse">')
    )


def test_table_options_and_errors(models: dict[str, Any]) -> None:
    m = models["Random slope"]
    plain = mm.table([m], varcomp=False, intercept=False, statistic="none", gof=())
    assert plain.splitlines()[3].split() == ["Days", "10.467"]
    assert "SD (" not in plain and "(Intercept)" not in plain and "Num.Obs." not in plain
    custom = mm.table([m], stars={"!": 0.001})
    assert "10.467!" in custom and "! p < 0.001" in custom
    with pytest.raises(ValueError, match="statistic must be"):
        mm.table([m], statistic="t")
    with pytest.raises(ValueError, match="no models given"):
        mm.table([])
    with pytest.raises(Exception, match="rtf"):
        mm.table([m], "rtf")


class _Toy:
    """A result type the core knows nothing about."""


def _toy_tidy(result: _Toy, **_: Any) -> pd.DataFrame:
    return pd.DataFrame({"term": ["(Intercept)", "x"], "estimate": [1.0, -2.5], "std.error": 0.5})


def _toy_glance(result: _Toy, **_: Any) -> pd.DataFrame:
    return pd.DataFrame({"nobs": [42]})


@pytest.fixture
def toy_plugin() -> Iterator[list[Tabular]]:
    seen: list[Tabular] = []

    def grid(tab: Tabular) -> dict[str, Any]:  # a format returning an object, not text
        seen.append(tab)
        return {"columns": tab.columns, "html": render_table(tab, "html")}

    plugin = types.SimpleNamespace(
        mixedmodels_tidiers=hookimpl(lambda: [Tidier(_Toy, tidy=_toy_tidy, glance=_toy_glance)]),
        mixedmodels_table_formats=hookimpl(lambda: {"toygrid": grid}),
    )
    register_plugin(plugin, "toy_tables")
    try:
        yield seen
    finally:
        unregister_plugin("toy_tables")


def test_a_plugin_adds_a_result_type_and_a_format(
    models: dict[str, Any], toy_plugin: list[Tabular]
) -> None:
    text = mm.table({"toy": _Toy(), "lmm": models["Random slope"]})
    rows = [line.split() for line in text.splitlines()]
    assert ["x", "-2.500"] in rows and ["(0.500)"] in rows  # no stars, no p-values
    assert ["Num.Obs.", "42", "180"] in rows
    out = mm.table([_Toy()], "toygrid")
    assert out["columns"] == ["", "(1)"] and len(toy_plugin) == 1
    assert '<td style="text-align:right;padding:0.1em 0.6em">-2.500</td>' in out["html"]


def test_coefficient_and_caterpillar_plots(models: dict[str, Any]) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lmms = {k: models[k] for k in ("Random intercept", "Random slope")}
    _, ax = plt.subplots()
    assert mm.plot_coefficients(lmms, ax=ax, intercept=True) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Days", "(Intercept)"]
    # One error bar per model; the dots are the estimates.
    slope_dots = ax.containers[1].lines[0].get_xdata()
    np.testing.assert_allclose(sorted(slope_dots), sorted(models["Random slope"].fixef))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(lmms)
    _, ax2 = plt.subplots()
    mm.plot_caterpillar(lmms, term="Days", ax=ax2)
    labels = [t.get_text() for t in ax2.get_yticklabels()]
    re = models["Random intercept"].ranef(condvar=True)
    assert set(labels) == set(re["grp"].astype(str))
    days = mm.tidy(models["Random slope"], effects=["ran_vals"])
    days = days[days["term"] == "Days"].sort_values("estimate")
    assert ax2.get_ylabel() == "Subject" and labels == list(days["level"].astype(str))
    # GLMMs (ranef with condvar) and a new figure without ax=.
    ax3 = mm.plot_caterpillar([models["cbpp GLMM"]])
    assert len(ax3.get_yticklabels()) == 15
    with pytest.raises(ValueError, match="no random effect 'Days' for group 'herd'"):
        mm.plot_caterpillar([models["cbpp GLMM"]], term="Days")
    with pytest.raises(ValueError, match=r"no model has the term\(s\) \['age'\]"):
        mm.plot_coefficients(lmms, terms=["age"])
    plt.close("all")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

_PROBE = """<!doctype html><html><head><meta charset="utf-8"></head><body>
{table}
<script>
const t = document.querySelector("table");
const rows = [...t.querySelectorAll("tbody tr")].filter(r => r.cells.length > 1);
const right = c => Math.round(c.getBoundingClientRect().right);
const edges = rows.map(r => right(r.cells[r.cells.length - 1]));
document.body.setAttribute("data-probe", JSON.stringify({{
  width: Math.round(t.getBoundingClientRect().width),
  height: Math.round(t.getBoundingClientRect().height),
  cells: rows.map(r => r.cells.length), edges: edges,
  caption: t.caption ? t.caption.textContent : null}}));
</script></body></html>"""


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_html_table_renders_in_headless_chromium(models: dict[str, Any]) -> None:
    """The HTML table is laid out by a browser: every row has a cell per model, the
    last column's cells share their right edge (numbers right-aligned in one column)."""
    import html
    import json
    import re

    out = mm.table(models, "html", stars=True, title="sleepstudy and cbpp")
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "table.html"
        page.write_text(_PROBE.format(table=out))
        dom = subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={tmp}/profile",
                "--dump-dom",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    probe = json.loads(html.unescape(re.search(r'data-probe="([^"]*)"', dom).group(1)))
    assert probe["caption"] == "sleepstudy and cbpp"
    assert probe["width"] > 300 and probe["height"] > 200
    assert set(probe["cells"]) == {4} and len(probe["cells"]) > 15
    assert len(set(probe["edges"])) == 1
