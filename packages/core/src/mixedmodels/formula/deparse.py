"""Expressions between R and Python syntax: R's ``deparse`` formatting (the source of
R's column names), translation to the syntax formulaic evaluates, and the variables an
expression uses.
"""

from __future__ import annotations

import re

from .tokens import Token, match_parens, tokenize

__all__ = ["R_CONSTANTS", "deparse", "expr_variables", "r_name", "to_python"]

_SPACED = {
    "+",
    "-",
    "*",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "&",
    "&&",
    "|",
    "||",
    "~",
    "=",
    "<-",
}
R_CONSTANTS = {"TRUE", "FALSE", "True", "False", "None", "NULL", "NA", "Inf", "NaN", "pi"}
_R_SYNTACTIC = re.compile(r"^(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*$|^\.$")


def _is_unary(prev: Token | None) -> bool:
    """Whether a ``+``/``-`` after ``prev`` is a sign rather than a binary operator."""
    if prev is None:
        return True
    if prev.kind == "op":
        return prev.text not in (")", "]", "}")
    return False


def _r_number(text: str) -> str:
    """A numeric literal as R deparses it (``1.0`` -> ``1``, ``1e5`` -> ``1e+05``)."""
    if text.endswith("L"):
        return text
    from ..design.data import r_format_number

    return r_format_number(float(text))


def r_name(name: str) -> str:
    """A variable name as R prints it (backticks only when not syntactic)."""
    return name if _R_SYNTACTIC.match(name) else f"`{name}`"


def deparse(expr: str) -> str:
    """Format an expression (R or Python syntax) as R's ``deparse`` does.

    Parameters
    ----------
    expr
        Expression text, e.g. ``"log(Days+1)"`` or formulaic's ``"I(Days ** 2)"``.

    Returns
    -------
    str
        ``"log(Days + 1)"``, ``"I(Days^2)"``.
    """
    tokens = tokenize(expr)
    out: list[str] = []
    prev: Token | None = None
    for tok in tokens:
        t = tok.text
        if tok.kind == "num":
            out.append(_r_number(t))
        elif tok.kind == "name":
            out.append({"True": "TRUE", "False": "FALSE", "None": "NULL"}.get(t, t))
        elif tok.kind == "bq":
            out.append(r_name(t[1:-1]))
        elif tok.kind == "str":
            body = t[1:-1]
            out.append('"' + body.replace('"', '\\"') + '"' if t[0] == "'" else t)
        elif t in ("+", "-") and _is_unary(prev):
            out.append(t)
        elif t == "**" or t == "^":
            out.append("^")
        elif t == ",":
            out.append(", ")
        elif t in _SPACED or (t.startswith("%") and t not in ("%%", "%/%")):
            out.append(f" {t} ")
        else:
            out.append(t)
        prev = tok
    return "".join(out)


def to_python(expr: str) -> str:
    """Translate an R expression or formula part into the syntax formulaic parses.

    ``^`` inside a function call becomes ``**`` (``I(x^2)`` is a power, as in R; at the
    formula level ``(a + b)^2`` stays an interaction power), ``TRUE``/``FALSE`` become
    Python booleans, ``%in%`` becomes ``:`` and names with dots (``Days.x``) are
    quoted with backticks so that formulaic looks them up as columns.

    Parameters
    ----------
    expr
        R syntax.

    Returns
    -------
    str
    """
    tokens = tokenize(expr)
    pairs = match_parens(tokens, expr)
    call_ends: list[int] = []
    out: list[Token] = []
    for i, tok in enumerate(tokens):
        t = tok.text
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.kind == "op" and t == "(":
            prev = tokens[i - 1] if i > 0 else None
            if prev is not None and prev.kind in ("name", "bq"):
                call_ends.append(pairs[i])
        if tok.kind == "op" and call_ends and i == call_ends[-1]:
            call_ends.pop()
        if tok.kind == "name":
            is_call = nxt is not None and nxt.text == "("
            if t in ("TRUE", "FALSE"):
                tok = tok._replace(text=t.title())
            elif "." in t and not is_call and t.split(".")[0] not in ("np", "contr"):
                tok = tok._replace(kind="bq", text=f"`{t}`")
        elif tok.kind == "op" and t == "^" and call_ends:
            tok = tok._replace(text="**")
        elif tok.kind == "op" and t == "%in%" and not call_ends:
            tok = tok._replace(text=":")
        elif tok.kind == "num" and t.endswith("L"):
            tok = tok._replace(text=t[:-1])
        out.append(tok)
    return _render(out)


def _render(tokens: list[Token]) -> str:
    """Join tokens with conventional spacing (Python-compatible)."""
    parts: list[str] = []
    prev: Token | None = None
    for tok in tokens:
        t = tok.text
        if tok.kind == "op" and t in ("+", "-") and _is_unary(prev):
            parts.append(t)
        elif tok.kind == "op" and t == ",":
            parts.append(", ")
        elif tok.kind == "op" and t not in ("(", ")", "[", "]", "{", "}", "$", "@", "::"):
            parts.append(f" {t} ")
        else:
            parts.append(t)
        prev = tok
    return "".join(parts).strip()


def expr_variables(expr: str) -> list[str]:
    """Names in an expression that may refer to data columns, in order of appearance.

    Function names, keyword-argument names, attribute names (after ``$``/``@``/``.``)
    and R constants are skipped; backtick-quoted names are unquoted.

    Parameters
    ----------
    expr
        R (or Python) expression or formula part.

    Returns
    -------
    list of str
    """
    tokens = tokenize(expr)
    names: list[str] = []
    for i, tok in enumerate(tokens):
        if tok.kind not in ("name", "bq"):
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        prev = tokens[i - 1] if i > 0 else None
        if nxt is not None and nxt.text in ("(", "="):
            continue  # function call or keyword argument
        if prev is not None and prev.text in ("$", "@", "::"):
            continue
        name = tok.text[1:-1] if tok.kind == "bq" else tok.text
        if tok.kind == "name" and name in R_CONSTANTS:
            continue
        if name not in names:
            names.append(name)
    return names
