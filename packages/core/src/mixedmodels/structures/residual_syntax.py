"""The small formula-like language of residual structures: ``name(time | group,
option = value)`` for ``correlation=`` and ``term * term`` for ``variance=``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import ModelSpecificationError

__all__ = [
    "ResidualSpecError",
    "call_parts",
    "coord_columns",
    "group_columns",
    "parse_args",
    "split_top",
]


class ResidualSpecError(ModelSpecificationError):
    """A correlation or variance specification that cannot be used with the data."""


_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"


def split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses and backticks."""
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "`":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if not quote and depth == 0 and text.startswith(sep, i):
            out.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def call_parts(text: str, what: str) -> tuple[str, str]:
    """``"name(args)"`` (or ``"name"``) -> ``(name, args)``."""
    text = text.strip()
    m = re.fullmatch(rf"({_NAME})\s*(?:\((.*)\))?", text, flags=re.S)
    if m is None:
        raise ResidualSpecError(
            f"{what} {text!r}: expected name(arguments), e.g. 'ar1(visit | id)'"
        )
    return m.group(1), (m.group(2) or "").strip()


def _parse_value(text: str) -> Any:
    text = text.strip()
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if text in ("TRUE", "True", "true"):
        return True
    if text in ("FALSE", "False", "false"):
        return False
    return text.strip("'\"")


def parse_args(args: str, what: str) -> tuple[str | None, str | None, dict[str, Any]]:
    """``"time | group, p = 1"`` -> ``(time, group, {"p": 1})``."""
    pieces = [a.strip() for a in split_top(args, ",")] if args else []
    formula: str | None = None
    options: dict[str, Any] = {}
    for piece in pieces:
        if not piece:
            continue
        m = re.fullmatch(rf"({_NAME})\s*=(?!=)\s*(.+)", piece, flags=re.S)
        if m is not None and "|" not in piece:
            options[m.group(1)] = _parse_value(m.group(2))
        elif formula is None:
            formula = piece
        else:
            raise ResidualSpecError(f"{what}: unexpected argument {piece!r}")
    if formula is None:
        return None, None, options
    formula = formula.lstrip("~").strip()
    bars = split_top(formula, "|")
    if len(bars) > 2:
        raise ResidualSpecError(f"{what}: more than one '|' in {formula!r}")
    lhs = bars[0].strip() or None
    group = bars[1].strip() if len(bars) == 2 else None
    if group == "":
        raise ResidualSpecError(f"{what}: empty grouping factor after '|'")
    if lhs in ("1", None):
        lhs = None
    return lhs, group, options


def group_columns(expr: str | Sequence[str] | None) -> list[str]:
    """``"a/b"``, ``"a:b"``, ``"a*b"``, ``["a", "b"]`` -> ``["a", "b"]``."""
    if expr is None:
        return []
    if not isinstance(expr, str):
        return [str(e) for e in expr]
    parts = re.split(r"[/:*]", expr)
    return [p.strip().strip("`") for p in parts if p.strip()]


def coord_columns(expr: str | Sequence[str] | None) -> list[str]:
    """``"x + y"`` or ``["x", "y"]`` -> ``["x", "y"]``; ``None`` -> ``[]``."""
    if expr is None:
        return []
    if not isinstance(expr, str):
        return [str(e) for e in expr]
    return [p.strip().strip("`") for p in split_top(expr, "+") if p.strip()]


# ======================================================================================
