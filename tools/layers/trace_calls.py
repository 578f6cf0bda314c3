"""Which layers of the core call which, at run time, during one ``mm.lmm`` fit and its
summary (decision 0013): every call from a function of one layer into another, counted,
with ``UP`` where the callee's layer is above the caller's.

usage: python tools/layers/trace_calls.py
"""

from __future__ import annotations

import collections
import configparser
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import mixedmodels as mm

CONFIG = Path(__file__).resolve().parents[2] / ".importlinter"


def layer_order() -> dict[str, int]:
    """Top-level names of the core's contract, ranked from the top (0) down."""
    config = configparser.ConfigParser()
    config.read(CONFIG)
    rank: dict[str, int] = {}
    for i, line in enumerate(config["importlinter:contract:core-layers"]["layers"].split("\n")):
        for name in line.replace("|", " ").split():
            rank.setdefault(name.split(".")[0], i)
    return rank


def layer(frame: FrameType | None) -> str | None:
    parts = (frame.f_globals.get("__name__", "") if frame else "").split(".")
    return parts[1] if parts[0] == "mixedmodels" and len(parts) > 1 else None


def main() -> None:
    rank = layer_order()
    data = mm.datasets.load("sleepstudy")
    mm.lmm("Reaction ~ Days + (Days | Subject)", data).summary()  # imports, discovery
    calls: collections.Counter[tuple[str, str]] = collections.Counter()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            callee, caller = layer(frame), layer(frame.f_back)
            if callee and caller and callee != caller:
                calls[caller, callee] += 1

    sys.setprofile(profile)
    mm.lmm("Reaction ~ Days + (Days | Subject)", data).summary()
    sys.setprofile(None)
    for (caller, callee), n in sorted(calls.items()):
        up = "UP" if rank[callee] < rank[caller] else ""
        print(f"{caller:>15} -> {callee:<15} {n:5d} {up}")


if __name__ == "__main__":
    main()
