"""Tokens of R expression syntax (plus Python's ``**``), bracket matching, and the
error every formula problem raises.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import ModelSpecificationError

__all__ = ["CLOSE", "OPEN", "FormulaError", "Token", "match_parens", "source_span", "tokenize"]


class FormulaError(ModelSpecificationError):
    """A formula that cannot be parsed or does not fit the data."""


class Token(NamedTuple):
    kind: str  # "num", "name", "bq" (backtick name), "str", "op"
    text: str
    start: int
    end: int


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<name>[A-Za-z_.][A-Za-z0-9._]*)
  | (?P<bq>`[^`]*`)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>%[^%\s]*%|\*\*|\|\||&&|==|!=|<=|>=|<-|::|[-+*/^:~|&!<>=$@,()\[\]{}])
    """,
    re.VERBOSE,
)

OPEN = {"(": ")", "[": "]", "{": "}"}
CLOSE = {v: k for k, v in OPEN.items()}


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, raising :class:`FormulaError` on a stray character."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise FormulaError(
                f"cannot parse formula {text!r}: unexpected {text[pos : pos + 10]!r}"
            )
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    return tokens


def match_parens(tokens: list[Token], text: str) -> dict[int, int]:
    """Map each opening bracket's index to its closing bracket's index (and back)."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for i, tok in enumerate(tokens):
        if tok.kind != "op":
            continue
        if tok.text in OPEN:
            stack.append(i)
        elif tok.text in CLOSE:
            if not stack or tokens[stack[-1]].text != CLOSE[tok.text]:
                raise FormulaError(
                    f"unbalanced parentheses in {text!r}: unexpected {tok.text!r} "
                    f"in {_context(text, tok.start)!r}"
                )
            j = stack.pop()
            pairs[j] = i
            pairs[i] = j
    if stack:
        tok = tokens[stack[-1]]
        raise FormulaError(
            f"unbalanced parentheses in {text!r}: {tok.text!r} in "
            f"{_context(text, tok.start)!r} is never closed"
        )
    return pairs


def _context(text: str, pos: int) -> str:
    """The piece of ``text`` around ``pos`` (for error messages)."""
    return text[max(0, pos - 15) : pos + 15].strip()


def source_span(tokens: list[Token], text: str) -> str:
    """The original text covered by ``tokens``."""
    if not tokens:
        return ""
    return text[tokens[0].start : tokens[-1].end]
