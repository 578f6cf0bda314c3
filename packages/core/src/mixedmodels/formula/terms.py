"""R's terms of a formula right-hand side (``terms()``): intercept, the ordered terms and
their factors, parsed with formulaic.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .deparse import deparse, r_name, to_python
from .tokens import FormulaError, match_parens, source_span, tokenize

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")

__all__ = ["ModelTerms", "factor_label", "model_terms"]


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
    return r_name(key) if lookup else deparse(key)


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
    for tok in tokenize(text):
        if tok.kind == "bq" and _NUMBER.fullmatch(tok.text[1:-1].strip()):
            # formulaic reads `1` as the constant 1, not the column named "1".
            raise FormulaError(
                f"column {tok.text} in {rhs!r}: a column named by a number cannot be used as "
                f"a predictor; rename it, e.g. data.rename(columns={{{tok.text[1:-1]}: "
                f"'x{tok.text[1:-1]}'}})"
            )
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
    pairs = match_parens(tokens, text)
    atoms: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.kind in ("name", "bq") and nxt is not None and nxt.text == "(":
            atoms.append(source_span(tokens[i : pairs[i + 1] + 1], text))
            i = pairs[i + 1] + 1
            continue
        if tok.kind in ("name", "bq", "str"):
            atoms.append(tok.text)
        i += 1
    return atoms
