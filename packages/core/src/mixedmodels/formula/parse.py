"""lme4 formula syntax: random-effect bar terms on top of formulaic.

:func:`parse_formula` splits ``lhs ~ rhs`` into the response, the fixed-effects part,
``offset()`` terms and the random-effect terms ``(expr | group)``, ``(expr || group)``
and ``name(expr | group)`` (a covariance-structure wrapper), expanding ``||`` and
nested grouping ``a/b`` exactly as lme4's ``findbars`` does.

:func:`model_terms` turns a formula right-hand side (R syntax) into R's ordered list of
terms, using formulaic's parser.  The helpers :func:`to_python` and :func:`deparse`
translate expressions between R syntax (``I(x^2)``) and the Python syntax formulaic
evaluates (``I(x ** 2)``), and format expressions as R's ``deparse`` does (the source of
R's column names).
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "BarTerm",
    "FormulaError",
    "ModelTerms",
    "ParsedFormula",
    "RandomSpec",
    "deparse",
    "expr_variables",
    "model_terms",
    "parse_formula",
    "to_python",
]


class FormulaError(ValueError):
    """A formula that cannot be parsed or does not fit the data."""


# ---------------------------------------------------------------------------------
# Tokenizer (R expression syntax, plus Python's ``**``).


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

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}


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


def _match_parens(tokens: list[Token], text: str) -> dict[int, int]:
    """Map each opening bracket's index to its closing bracket's index (and back)."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for i, tok in enumerate(tokens):
        if tok.kind != "op":
            continue
        if tok.text in _OPEN:
            stack.append(i)
        elif tok.text in _CLOSE:
            if not stack or tokens[stack[-1]].text != _CLOSE[tok.text]:
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


def _span(tokens: list[Token], text: str) -> str:
    """The original text covered by ``tokens``."""
    if not tokens:
        return ""
    return text[tokens[0].start : tokens[-1].end]


# ---------------------------------------------------------------------------------
# Deparsing (R's formatting of expressions, the source of R's column names).

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
_CONSTANTS = {"TRUE", "FALSE", "True", "False", "None", "NULL", "NA", "Inf", "NaN", "pi"}
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


def _r_name(name: str) -> str:
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
            out.append(_r_name(t[1:-1]))
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
    pairs = _match_parens(tokens, expr)
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
        if tok.kind == "name" and name in _CONSTANTS:
            continue
        if name not in names:
            names.append(name)
    return names


# ---------------------------------------------------------------------------------
# R's terms of a formula right-hand side.


@dataclass(frozen=True)
class ModelTerms:
    """R's view of a formula right-hand side (``terms()``).

    Attributes
    ----------
    intercept
        Whether the model has an intercept.
    terms
        Non-intercept terms in R's order (by degree, then order of appearance); each is
        a tuple of factor keys (formulaic expressions) in R's variable order.
    lookups
        Factor keys that are plain column names (the rest are Python expressions
        evaluated by formulaic).
    """

    intercept: bool
    terms: tuple[tuple[str, ...], ...]
    lookups: frozenset[str] = frozenset()

    def label(self, term: tuple[str, ...]) -> str:
        """R's label of a term (``"recipe:temperature"``)."""
        return ":".join(factor_label(f, f in self.lookups) for f in term)

    @property
    def factors(self) -> list[str]:
        """All distinct factor keys in R's variable order."""
        seen: dict[str, None] = {}
        for term in self.terms:
            for f in term:
                seen.setdefault(f, None)
        return list(seen)


def factor_label(key: str, lookup: bool) -> str:
    """R's name of a factor: the column name, or the deparsed expression."""
    return _r_name(key) if lookup else deparse(key)


@functools.lru_cache(maxsize=512)
def model_terms(rhs: str) -> ModelTerms:
    """Parse a formula right-hand side in R syntax into R's ordered terms.

    Cached: the result is immutable and depends on the text only (refitting one
    formula to many data sets parses it once).

    Parameters
    ----------
    rhs
        E.g. ``"recipe * temperature"``, ``"0 + Days"``, ``"(a + b)^2 - 1"``.

    Returns
    -------
    ModelTerms

    Raises
    ------
    FormulaError
        If formulaic cannot parse it.
    """
    from formulaic import Formula
    from formulaic.parser.types import Factor

    text = rhs.strip() or "1"
    try:
        parsed = Formula(to_python(text), _ordering="none")
    except FormulaError:
        raise
    except Exception as exc:  # formulaic's own parse errors
        raise FormulaError(f"cannot parse {rhs!r}: {exc}") from exc
    intercept = False
    written: list[tuple[str, ...]] = []
    lookups: set[str] = set()
    for term in parsed:
        factors = list(term.factors)
        if len(factors) == 1 and factors[0].eval_method == Factor.EvalMethod.LITERAL:
            if str(factors[0].expr) in ("1", "1.0"):
                intercept = True
                continue
            raise FormulaError(f"cannot use the constant {factors[0].expr!r} as a term in {rhs!r}")
        keys: list[str] = []
        for f in factors:
            key = str(f.expr)
            if f.eval_method == Factor.EvalMethod.LOOKUP:
                lookups.add(key)
            if key not in keys:
                keys.append(key)
        written.append(tuple(keys))
    # R orders variables by first appearance in the formula (removed terms included)
    # and terms by degree (stable).
    order: dict[str, int] = {}
    atoms = _formula_atoms(text)
    if atoms:
        try:
            for term in Formula(" + ".join(to_python(a) for a in atoms), _ordering="none"):
                for f in term.factors:
                    order.setdefault(str(f.expr), len(order))
        except Exception:  # fall back to the order of the terms
            pass
    for keys_ in written:
        for k in keys_:
            order.setdefault(k, len(order))
    seen: set[frozenset[str]] = set()
    terms: list[tuple[str, ...]] = []
    for keys_ in written:
        fs = frozenset(keys_)
        if fs in seen:
            continue
        seen.add(fs)
        terms.append(tuple(sorted(keys_, key=order.__getitem__)))
    terms.sort(key=len)
    return ModelTerms(intercept, tuple(terms), frozenset(lookups))


def _formula_atoms(text: str) -> list[str]:
    """The variables of a formula part in textual order: names and calls at formula level.

    ``"a*z - a"`` -> ``["a", "z", "a"]``; ``"(b + c):a + log(x)"`` ->
    ``["b", "c", "a", "log(x)"]``.
    """
    tokens = tokenize(text)
    pairs = _match_parens(tokens, text)
    atoms: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.kind in ("name", "bq") and nxt is not None and nxt.text == "(":
            atoms.append(_span(tokens[i : pairs[i + 1] + 1], text))
            i = pairs[i + 1] + 1
            continue
        if tok.kind in ("name", "bq", "str"):
            atoms.append(tok.text)
        i += 1
    return atoms


# ---------------------------------------------------------------------------------
# lme4 formulas.


@dataclass(frozen=True)
class RandomSpec:
    """A random-effect term as written, before expansion.

    Attributes
    ----------
    lhs
        Left-hand side, deparsed as R does (``"0 + Days"``).
    group
        Grouping expression without spaces (``"Subject"``, ``"batch/cask"``, ``"a:b"``).
    double
        ``True`` for ``||`` (uncorrelated terms).
    structure
        Covariance-structure wrapper name, ``"us"`` for a plain parenthesised term.
    """

    lhs: str
    group: str
    double: bool = False
    structure: str = "us"

    @property
    def text(self) -> str:
        """The term in canonical form, e.g. ``"(0 + Days | Subject)"``."""
        bar = "||" if self.double else "|"
        inner = f"{self.lhs} {bar} {self.group}"
        return f"({inner})" if self.structure == "us" else f"{self.structure}({inner})"


@dataclass(frozen=True)
class BarTerm:
    """One random-effect term after expanding ``||`` and ``/`` (lme4's ``findbars``).

    Attributes
    ----------
    lhs
        Left-hand side as R deparses it: ``"1"``, ``"0 + Days"``, ``"Days"``.
    group
        lme4's name of the grouping factor: ``"Subject"``, ``"cask:batch"`` (inner term
        of ``batch/cask``), ``"c:(b:a)"`` (innermost term of ``a/b/c``).
    factors
        The columns whose interaction forms the grouping factor, in the order of the
        group's name (the first varies slowest in the level order).
    structure
        Covariance-structure name (``"us"`` unless wrapped).
    """

    lhs: str
    group: str
    factors: tuple[str, ...]
    structure: str = "us"

    @property
    def expr(self) -> str:
        """``"0 + Days | Subject"``."""
        return f"{self.lhs} | {self.group}"


@dataclass(frozen=True)
class ParsedFormula:
    """An lme4 formula split into its parts.

    Attributes
    ----------
    formula
        The formula as given.
    response
        Left-hand side as written (stripped), or ``None`` for a one-sided formula.
    response_parts
        The expressions of the response: one, or two for ``cbind(a, b)``.
    fixed
        Fixed-effects right-hand side in R syntax (``"1"`` when only random terms were
        written; ``"-1"`` or ``"0"`` for none).
    offsets
        Expressions inside ``offset()`` terms.
    written
        Random-effect terms as written, in formula order.
    random_terms
        Random-effect terms after expansion, in lme4's order (``(1 | a/b)`` gives
        ``1 | b:a`` then ``1 | a``; ``(x || g)`` gives ``1 | g`` then ``0 + x | g``).
    """

    formula: str
    response: str | None
    response_parts: tuple[str, ...]
    fixed: str
    offsets: tuple[str, ...] = ()
    written: tuple[RandomSpec, ...] = ()
    random_terms: tuple[BarTerm, ...] = field(default=())


_NOT_WRAPPERS = {"I", "offset", "C", "factor"}


def _top_level_ops(tokens: list[Token], pairs: dict[int, int], ops: set[str]) -> list[int]:
    """Indices of tokens in ``ops`` that are not inside any brackets."""
    found: list[int] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "op" and tok.text in _OPEN:
            i = pairs[i] + 1
            continue
        if tok.kind == "op" and tok.text in ops:
            found.append(i)
        i += 1
    return found


def _bar_shape(chunk: list[Token], pairs: dict[int, int], offset: int) -> str | None:
    """The wrapper name if ``chunk`` is ``(... | ...)`` or ``name(... | ...)``, else None.

    ``"("`` is returned for a plain parenthesised bar term.
    """
    if len(chunk) >= 2 and chunk[0].text == "(" and pairs.get(offset) == offset + len(chunk) - 1:
        inner = chunk[1:-1]
        if _has_top_bar(inner, pairs, offset + 1):
            return "("
        return None
    if (
        len(chunk) >= 3
        and chunk[0].kind == "name"
        and chunk[1].text == "("
        and pairs.get(offset + 1) == offset + len(chunk) - 1
        and chunk[0].text not in _NOT_WRAPPERS
        and _has_top_bar(chunk[2:-1], pairs, offset + 2)
    ):
        return chunk[0].text
    return None


def _has_top_bar(tokens: list[Token], pairs: dict[int, int], offset: int) -> bool:
    local = _local_pairs(pairs, offset, len(tokens))
    return bool(_top_level_ops(tokens, local, {"|", "||"}))


def _local_pairs(pairs: dict[int, int], offset: int, n: int) -> dict[int, int]:
    """Restrict global bracket pairs to a sub-list starting at ``offset``."""
    return {i - offset: j - offset for i, j in pairs.items() if offset <= i < offset + n}


def _check_no_bars(chunk: list[Token], text: str) -> None:
    """A fixed-effects term must not hide a bar (except inside ``I(...)``-like calls)."""
    depth_calls: list[str] = []
    for i, tok in enumerate(chunk):
        if tok.kind != "op":
            continue
        if tok.text in _OPEN:
            prev = chunk[i - 1] if i > 0 else None
            name = prev.text if prev is not None and prev.kind in ("name", "bq") else ""
            depth_calls.append(name)
        elif tok.text in _CLOSE:
            depth_calls.pop()
        elif tok.text in ("|", "||"):
            if not depth_calls:
                raise FormulaError(
                    f"random-effect term {_span(chunk, text)!r} must be in parentheses, "
                    "e.g. (1 | g)"
                )
            if depth_calls[-1] in _R_LOGICAL:
                continue  # R's logical or, e.g. I(a | b)
            raise FormulaError(
                f"random-effect term inside {_span(chunk, text)!r}: a term (expr | g) "
                "must be added on its own with '+'"
            )


# Calls in which '|' is R's logical or, not a random-effect bar.
_R_LOGICAL = {"I", "ifelse", "np.where", "np.logical_or"}


def _split_group(tokens: list[Token], text: str, term_text: str) -> list[tuple[str, ...]]:
    """Parse a grouping expression ``a``, ``a:b``, ``a/b``, ``a/b:c`` into units."""
    if not tokens:
        raise FormulaError(f"random-effect term {term_text!r} has no grouping factor")
    units: list[tuple[str, ...]] = []
    current: list[str] = []
    expect_name = True
    for tok in tokens:
        if expect_name:
            if tok.kind == "name" and tok.text not in _CONSTANTS:
                current.append(tok.text)
            elif tok.kind == "bq":
                current.append(tok.text[1:-1])
            else:
                raise FormulaError(
                    f"random-effect term {term_text!r}: the grouping factor "
                    f"{_span(tokens, text)!r} must be a column name or column names joined "
                    "by ':' or '/'"
                )
            expect_name = False
        else:
            if tok.text == ":":
                pass
            elif tok.text == "/":
                units.append(tuple(current))
                current = []
            else:
                raise FormulaError(
                    f"random-effect term {term_text!r}: the grouping factor "
                    f"{_span(tokens, text)!r} must be a column name or column names joined "
                    "by ':' or '/'"
                )
            expect_name = True
    if expect_name:
        raise FormulaError(
            f"random-effect term {term_text!r}: incomplete grouping factor {_span(tokens, text)!r}"
        )
    units.append(tuple(current))
    return units


def _expand_slash(units: list[tuple[str, ...]]) -> list[tuple[str, tuple[str, ...]]]:
    """lme4's ``expandSlash``: ``a/b/c`` -> ``c:(b:a)``, ``b:a``, ``a`` (names, factors)."""
    chain: list[tuple[str, tuple[str, ...]]] = []
    name = ":".join(_r_name(u) for u in units[0])
    factors = units[0]
    chain.append((name, factors))
    for unit in units[1:]:
        right = f"({name})" if ":" in name else name
        name = ":".join(_r_name(u) for u in unit) + ":" + right
        factors = tuple(unit) + factors
        chain.append((name, factors))
    return chain[::-1]


def _double_vert_lhs(lhs: str, term_text: str) -> list[str]:
    """lme4's ``expandDoubleVerts``: ``x + z`` -> ``1``, ``0 + x``, ``0 + z``."""
    mt = model_terms(lhs)
    pieces = ["1"] if mt.intercept else []
    pieces += [f"0 + {mt.label(t)}" for t in mt.terms]
    if not pieces:
        raise FormulaError(f"random-effect term {term_text!r} has no columns")
    return pieces


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula into response, fixed part, offsets and random terms.

    Parameters
    ----------
    formula
        E.g. ``"Reaction ~ Days + (Days | Subject)"``,
        ``"strength ~ 1 + (1 | batch/cask)"``, ``"y ~ x + diag(x | g) + offset(log(n))"``.

    Returns
    -------
    ParsedFormula

    Raises
    ------
    FormulaError
        For malformed formulas and bar terms; the message names the offending text.
    """
    if not isinstance(formula, str):
        raise FormulaError(f"formula must be a string, got {type(formula).__name__}")
    text = formula
    tokens = tokenize(text)
    pairs = _match_parens(tokens, text)
    tildes = _top_level_ops(tokens, pairs, {"~"})
    if not tildes:
        raise FormulaError(f"formula {text!r} has no '~'")
    if len(tildes) > 1:
        raise FormulaError(f"formula {text!r} has more than one '~'")
    t = tildes[0]
    lhs_tokens, rhs_tokens = tokens[:t], tokens[t + 1 :]
    response = _span(lhs_tokens, text).strip() or None
    response_parts: tuple[str, ...] = ()
    if response is not None:
        response_parts = _response_parts(lhs_tokens, pairs, text)
    if not rhs_tokens:
        raise FormulaError(f"formula {text!r} has no right-hand side")

    # Split the right-hand side at top-level '+' and '-'.
    chunks: list[tuple[str, list[Token], int]] = []
    sign = "+"
    current: list[Token] = []
    start = t + 1
    i = 0
    while i < len(rhs_tokens):
        tok = rhs_tokens[i]
        gi = t + 1 + i
        if tok.kind == "op" and tok.text in _OPEN:
            current.extend(rhs_tokens[i : pairs[gi] - t])
            i = pairs[gi] - t
            continue
        if tok.kind == "op" and tok.text in ("+", "-"):
            if current:
                chunks.append((sign, current, start))
                sign = tok.text
            else:
                sign = "-" if (sign == "-") != (tok.text == "-") else "+"
            current = []
            start = gi + 1
        else:
            current.append(tok)
        i += 1
    if not current:
        raise FormulaError(f"formula {text!r} ends with an operator")
    chunks.append((sign, current, start))

    fixed_parts: list[str] = []
    offsets: list[str] = []
    random: list[RandomSpec] = []
    bars: list[BarTerm] = []
    for sign, chunk, offset in chunks:
        chunk_text = _span(chunk, text)
        shape = _bar_shape(chunk, pairs, offset)
        if shape is not None:
            if sign == "-":
                raise FormulaError(f"cannot remove the random-effect term {chunk_text!r}")
            inner_start = 1 if shape == "(" else 2
            spec, expanded = _parse_bar(
                chunk[inner_start:-1],
                pairs,
                offset + inner_start,
                text,
                chunk_text,
                "us" if shape == "(" else shape,
            )
            random.append(spec)
            bars.extend(expanded)
            continue
        if (
            len(chunk) >= 3
            and chunk[0].text == "offset"
            and chunk[1].text == "("
            and pairs.get(offset + 1) == offset + len(chunk) - 1
        ):
            if sign == "-":
                raise FormulaError(f"cannot remove the offset term {chunk_text!r}")
            inner = _span(chunk[2:-1], text).strip()
            if not inner:
                raise FormulaError(f"empty offset term {chunk_text!r}")
            offsets.append(inner)
            continue
        _check_no_bars(chunk, text)
        piece = deparse(chunk_text)
        if not fixed_parts:
            fixed_parts.append(piece if sign == "+" else f"-{piece}")
        else:
            fixed_parts.append(f"{sign} {piece}")
    fixed = " ".join(fixed_parts) if fixed_parts else "1"
    return ParsedFormula(
        formula=text,
        response=response,
        response_parts=response_parts,
        fixed=fixed,
        offsets=tuple(offsets),
        written=tuple(random),
        random_terms=tuple(bars),
    )


def _response_parts(tokens: list[Token], pairs: dict[int, int], text: str) -> tuple[str, ...]:
    """``cbind(s, f)`` -> ``("s", "f")``; anything else -> the expression itself."""
    whole = _span(tokens, text).strip()
    if (
        len(tokens) >= 3
        and tokens[0].text == "cbind"
        and tokens[1].text == "("
        and pairs.get(1) == len(tokens) - 1
    ):
        inner = tokens[2:-1]
        commas = _top_level_ops(inner, _local_pairs(pairs, 2, len(inner)), {","})
        bounds = [-1, *commas, len(inner)]
        parts = tuple(_span(inner[a + 1 : b], text).strip() for a, b in itertools.pairwise(bounds))
        if len(parts) != 2 or not all(parts):
            raise FormulaError(
                f"response {whole!r}: cbind() needs exactly two columns (successes, failures)"
            )
        return parts
    _check_no_bars(tokens, text)
    return (whole,)


def _parse_bar(
    inner: list[Token],
    pairs: dict[int, int],
    offset: int,
    text: str,
    term_text: str,
    structure: str,
) -> tuple[RandomSpec, list[BarTerm]]:
    """Parse the inside of ``( lhs | group )`` and expand it as lme4 does."""
    local = _local_pairs(pairs, offset, len(inner))
    bar_pos = _top_level_ops(inner, local, {"|", "||"})
    if len(bar_pos) != 1:
        raise FormulaError(f"random-effect term {term_text!r} must contain exactly one '|'")
    b = bar_pos[0]
    double = inner[b].text == "||"
    lhs_tokens, group_tokens = inner[:b], inner[b + 1 :]
    if not lhs_tokens:
        raise FormulaError(
            f"random-effect term {term_text!r} has no left-hand side (use 1 for an intercept)"
        )
    if not group_tokens:
        raise FormulaError(f"random-effect term {term_text!r} has no grouping factor")
    _check_no_bars(lhs_tokens, text)
    lhs = deparse(_span(lhs_tokens, text))
    units = _split_group(group_tokens, text, term_text)
    group_text = "/".join(":".join(_r_name(v) for v in u) for u in units)
    spec = RandomSpec(lhs=lhs, group=group_text, double=double, structure=structure)
    try:
        lhs_pieces = _double_vert_lhs(lhs, term_text) if double else [lhs]
    except FormulaError as exc:
        raise FormulaError(f"random-effect term {term_text!r}: {exc}") from exc
    expanded = [
        BarTerm(lhs=piece, group=name, factors=factors, structure=structure)
        for piece in lhs_pieces
        for name, factors in _expand_slash(units)
    ]
    return spec, expanded
