"""Progress bars for bootstrap and profiling, drawn by tqdm (``tqdm.auto``).

``tqdm.auto`` draws a widget in Jupyter and a text bar elsewhere (a terminal, a CI log,
a file), so a long bootstrap is visible wherever it runs.  ``progress=True`` (or
``"always"``, the earlier spelling) shows the bar, ``False`` never; the environment
variable ``MIXEDMODELS_PROGRESS=0`` switches every bar off.  Whether or not a bar is
drawn, the finished task is logged (logger ``mixedmodels``, level INFO: steps and
seconds), so that a script that configures :mod:`logging` keeps a record of it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, TextIO

__all__ = ["Progress"]

_log = logging.getLogger("mixedmodels")


def _switched_off() -> bool:
    env = os.environ.get("MIXEDMODELS_PROGRESS", "").strip().lower()
    return env in ("0", "false", "no", "off")


def _make_bar(total: int, label: str, stream: TextIO | None) -> Any:
    common = {"total": total, "desc": label or None, "leave": True, "mininterval": 0.1}
    if stream is None:
        from tqdm.auto import tqdm as auto_tqdm

        try:
            return auto_tqdm(**common)
        except ImportError:  # Jupyter without ipywidgets: the text bar
            pass
    from tqdm import tqdm as text_tqdm

    return text_tqdm(file=stream if stream is not None else sys.stderr, **common)


class Progress:
    """``with Progress(total, "bootstrap", enabled) as bar: bar.update(k)``.

    Parameters
    ----------
    total
        Number of steps.
    label
        Shown before the bar.
    enabled
        ``True`` / ``"always"`` to draw the bar, ``False`` for none.
    stream
        Where a text bar goes (default: ``tqdm.auto``'s choice, stderr or a notebook
        widget).
    """

    def __init__(
        self, total: int, label: str = "", enabled: Any = True, stream: TextIO | None = None
    ) -> None:
        self.total = max(int(total), 0)
        self.label = label
        self.stream = stream
        self.enabled = bool(enabled) and not _switched_off()
        self.done = 0
        self._bar: Any = None
        self._start = time.perf_counter()

    def __enter__(self) -> Progress:
        self._start = time.perf_counter()
        if self.enabled:
            self._bar = _make_bar(self.total, self.label, self.stream)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elapsed = time.perf_counter() - self._start
        _log.info("%s: %d/%d done in %.1f s", self.label or "task", self.done, self.total, elapsed)

    def update(self, k: int = 1) -> None:
        step = min(self.total - self.done, int(k))
        self.done += step
        if self._bar is not None and step > 0:
            self._bar.update(step)
