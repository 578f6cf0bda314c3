"""A minimal text progress bar on stderr (no dependency), for bootstrap and profiling.

``progress=True`` shows it when stderr is a terminal, ``"always"`` shows it anyway
(e.g. in a log file), ``False`` never; the environment variable
``MIXEDMODELS_PROGRESS=0`` switches every bar off.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    """``with Progress(total, "bootstrap", enabled) as bar: bar.update(k)``.

    Redraws at most ten times a second; the last draw shows the total time.
    """

    def __init__(
        self, total: int, label: str = "", enabled: Any = True, stream: TextIO | None = None
    ) -> None:
        self.total = max(int(total), 0)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        env = os.environ.get("MIXEDMODELS_PROGRESS", "").strip().lower()
        if env in ("0", "false", "no", "off"):
            enabled = False
        if enabled == "always":
            self.enabled = True
        else:
            isatty = getattr(self.stream, "isatty", None)
            self.enabled = bool(enabled) and bool(isatty and isatty())
        self.done = 0
        self._start = time.perf_counter()
        self._last = 0.0

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._draw(force=True, final=True)

    def update(self, k: int = 1) -> None:
        self.done = min(self.total, self.done + int(k))
        self._draw()

    def _draw(self, force: bool = False, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        width = 30
        frac = self.done / self.total if self.total else 1.0
        filled = round(width * frac)
        elapsed = now - self._start
        if final:
            tail = f"{elapsed:.1f}s"
        elif 0 < self.done < self.total:
            tail = f"eta {elapsed / self.done * (self.total - self.done):.1f}s"
        else:
            tail = ""
        bar = "#" * filled + "-" * (width - filled)
        text = f"\r{self.label} [{bar}] {self.done}/{self.total} {tail}"
        self.stream.write(text)
        if final:
            self.stream.write("\n")
        self.stream.flush()
