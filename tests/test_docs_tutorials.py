"""The documentation's executed code blocks run in CI (issue 19 item 7).

``nox -s docs`` builds the site with markdown-exec, which runs every
```` ```python exec="on" ```` block of ``docs/site``; that session is not part of
``nox -s tests``.  This test runs the same blocks, page by page, one namespace per
``session=`` as markdown-exec does, so a tutorial that stops working fails CI.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[1] / "docs" / "site"
PAGES = sorted(SITE.rglob("*.md"))
BLOCK = re.compile(r"^```python exec=\"on\"([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[tuple[str | None, str]]:
    out = []
    for match in BLOCK.finditer(page.read_text()):
        session = re.search(r'session="([^"]+)"', match.group(1))
        out.append((session.group(1) if session else None, match.group(2)))
    return out


def test_the_site_has_executed_tutorials() -> None:
    tutorials = [p for p in PAGES if p.parent.name == "tutorials"]
    assert len(tutorials) >= 8
    assert all(blocks(p) for p in tutorials), "every tutorial runs code"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(SITE)) for p in PAGES])
def test_page_code_runs(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mixedmodels_gee")
    pytest.importorskip("mixedmodels_diagnostics")
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MIXEDMODELS_PROGRESS", "0")
    namespaces: dict[str | None, dict[str, object]] = {}
    for session, code in blocks(page):
        ns = namespaces.setdefault(session, {"__name__": "__main__"}) if session else {}
        ns.setdefault("__name__", "__main__")
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, str(page), "exec"), ns)
        assert out.getvalue().strip(), f"a block of {page.name} printed nothing"
