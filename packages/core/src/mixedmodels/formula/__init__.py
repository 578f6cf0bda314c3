"""lme4 formula syntax: tokenising, parsing the random-effect bars, deparsing."""

from __future__ import annotations

from .parse import (
    BarTerm,
    FormulaError,
    ModelTerms,
    ParsedFormula,
    RandomSpec,
    deparse,
    expr_variables,
    model_terms,
    parse_formula,
    to_python,
)

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
