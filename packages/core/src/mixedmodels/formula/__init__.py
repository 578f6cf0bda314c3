"""lme4 formula syntax: tokenising (:mod:`.tokens`), deparsing (:mod:`.deparse`), R's
terms of a right-hand side (:mod:`.terms`), parsing the random-effect bars (:mod:`.parse`).
"""

from __future__ import annotations

from .deparse import deparse, expr_variables, to_python
from .parse import BarTerm, ParsedFormula, RandomSpec, parse_formula
from .terms import ModelTerms, model_terms
from .tokens import FormulaError

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
