"""lme4 formula syntax: random-effect bar terms on top of formulaic.

:func:`parse_formula` splits ``lhs ~ rhs`` into the response, the fixed-effects part,
``offset()`` terms and the random-effect terms ``(expr | group)``, ``(expr || group)``
and ``name(expr | group)`` (a covariance-structure wrapper), expanding ``||`` and
nested grouping ``a/b`` exactly as lme4's ``findbars`` does.

The tokenizer is in :mod:`.tokens`, R's formatting of expressions in :mod:`.deparse` and
R's terms of a right-hand side in :mod:`.terms`.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

from .deparse import R_CONSTANTS, deparse, r_name
from .terms import model_terms
from .tokens import CLOSE, OPEN, FormulaError, Token, match_parens, source_span, tokenize

__all__ = ["BarTerm", "ParsedFormula", "RandomSpec", "parse_formula"]


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
        if tok.kind == "op" and tok.text in OPEN:
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
        if tok.text in OPEN:
            prev = chunk[i - 1] if i > 0 else None
            name = prev.text if prev is not None and prev.kind in ("name", "bq") else ""
            depth_calls.append(name)
        elif tok.text in CLOSE:
            depth_calls.pop()
        elif tok.text in ("|", "||"):
            if not depth_calls:
                raise FormulaError(
                    f"random-effect term {source_span(chunk, text)!r} must be in parentheses, "
                    "e.g. (1 | g)"
                )
            if depth_calls[-1] in _R_LOGICAL:
                continue  # R's logical or, e.g. I(a | b)
            raise FormulaError(
                f"random-effect term inside {source_span(chunk, text)!r}: a term (expr | g) "
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
            if tok.kind == "name" and tok.text not in R_CONSTANTS:
                current.append(tok.text)
            elif tok.kind == "bq":
                current.append(tok.text[1:-1])
            else:
                raise FormulaError(
                    f"random-effect term {term_text!r}: the grouping factor "
                    f"{source_span(tokens, text)!r} must be a column name or column names joined "
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
                    f"{source_span(tokens, text)!r} must be a column name or column names joined "
                    "by ':' or '/'"
                )
            expect_name = True
    if expect_name:
        raise FormulaError(
            f"random-effect term {term_text!r}: incomplete grouping factor "
            f"{source_span(tokens, text)!r}"
        )
    units.append(tuple(current))
    return units


def _expand_slash(units: list[tuple[str, ...]]) -> list[tuple[str, tuple[str, ...]]]:
    """lme4's ``expandSlash``: ``a/b/c`` -> ``c:(b:a)``, ``b:a``, ``a`` (names, factors)."""
    chain: list[tuple[str, tuple[str, ...]]] = []
    name = ":".join(r_name(u) for u in units[0])
    factors = units[0]
    chain.append((name, factors))
    for unit in units[1:]:
        right = f"({name})" if ":" in name else name
        name = ":".join(r_name(u) for u in unit) + ":" + right
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


def quoted_names_to_backticks(text: str) -> str:
    """``Q("my days")`` (patsy's and formulaic's quoting of a column name) as R's
    backticks, `` `my days` ``, which the rest of the parser understands."""
    tokens = tokenize(text)
    out, last = [], 0
    for i in range(len(tokens) - 3):
        q, lp, s, rp = tokens[i : i + 4]
        if (
            q.kind == "name"
            and q.text == "Q"
            and lp.text == "("
            and s.kind == "str"
            and rp.text == ")"
            and "`" not in s.text
            and (i == 0 or tokens[i - 1].text not in ("$", "@", "::"))
        ):
            out += [text[last : q.start], f"`{s.text[1:-1]}`"]
            last = rp.end
    return "".join(out) + text[last:] if out else text


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
    return _parse(formula)


@functools.lru_cache(maxsize=256)
def _parse(formula: str) -> ParsedFormula:
    """:func:`parse_formula`, cached: the result is immutable and the same formula is
    parsed again for every fit (refits, bootstraps, profiles)."""
    text = quoted_names_to_backticks(formula)
    tokens = tokenize(text)
    pairs = match_parens(tokens, text)
    tildes = _top_level_ops(tokens, pairs, {"~"})
    if not tildes:
        raise FormulaError(f"formula {text!r} has no '~'")
    if len(tildes) > 1:
        raise FormulaError(f"formula {text!r} has more than one '~'")
    t = tildes[0]
    lhs_tokens, rhs_tokens = tokens[:t], tokens[t + 1 :]
    response = source_span(lhs_tokens, text).strip() or None
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
        if tok.kind == "op" and tok.text in OPEN:
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
        chunk_text = source_span(chunk, text)
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
            inner = source_span(chunk[2:-1], text).strip()
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
    whole = source_span(tokens, text).strip()
    if (
        len(tokens) >= 3
        and tokens[0].text == "cbind"
        and tokens[1].text == "("
        and pairs.get(1) == len(tokens) - 1
    ):
        inner = tokens[2:-1]
        commas = _top_level_ops(inner, _local_pairs(pairs, 2, len(inner)), {","})
        bounds = [-1, *commas, len(inner)]
        parts = tuple(
            source_span(inner[a + 1 : b], text).strip() for a, b in itertools.pairwise(bounds)
        )
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
    lhs = deparse(source_span(lhs_tokens, text))
    units = _split_group(group_tokens, text, term_text)
    group_text = "/".join(":".join(r_name(v) for v in u) for u in units)
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
