"""Terms of the fixed-effects design: which formula term each column of ``X`` belongs to.

R's ``terms``/``assign`` for the fixed part of a design built by
:func:`mixedmodels.design.matrices.build_design`, read by the F tests by term
(:mod:`mixedmodels.inference.hypotheses`) and by messages that name terms (separation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelSpecificationError
from .contrasts import FULL, NUM

__all__ = ["FixedTerms", "fixed_terms"]


@dataclass
class FixedTerms:
    """The fixed-effect terms of a fitted model, as R's ``terms``/``assign``.

    Attributes
    ----------
    labels
        Term labels in R's order (``"recipe"``, ``"temperature"``,
        ``"recipe:temperature"``).
    assign
        For each column of the model's (full-rank) ``X``: index into ``labels``, or
        -1 for the intercept.
    contained_in
        For each label, the labels of the terms that contain it (lmerTest's
        ``containment``: all its variables and the same numeric ones, plus more).
    variables
        For each label, its variables (factor keys) and whether each is a factor.
    intercept
        Whether the model has an intercept.
    """

    labels: list[str]
    assign: np.ndarray
    contained_in: dict[str, list[str]]
    variables: dict[str, dict[str, bool]]
    intercept: bool
    part: Any = None  # the design's fixed part (private): for remade design matrices
    kept: np.ndarray | None = None  # columns of the design's X kept in the model's X


def _fixed_part(model: Any) -> Any:
    spec = getattr(getattr(model, "design", None), "spec", None)
    part = getattr(spec, "fixed", None)
    if part is None or not hasattr(part, "plan"):
        raise ModelSpecificationError(
            "F tests by term need the model's formula terms; this model was not built "
            "from a formula by mixedmodels"
        )
    return part


def _ncols(part: Any, term: tuple[str, ...], coding: tuple[int, ...]) -> int:
    k = 1
    for key, c in zip(term, coding, strict=True):
        f = part.factors[key]
        if c == NUM:
            k *= int(f.ncol)
        elif c == FULL:
            k *= len(f.levels)
        else:
            k *= len(f.levels) - 1
    return k


def fixed_terms(model: Any) -> FixedTerms:
    """The terms of the model's fixed effects (see :class:`FixedTerms`)."""
    part = _fixed_part(model)
    labels = [part.mt.label(term) for term, _ in part.plan]
    design_names = list(model.design.fixef_names)
    assign_full: list[int] = [-1] if part.mt.intercept else []
    for i, (term, coding) in enumerate(part.plan):
        assign_full.extend([i] * _ncols(part, term, coding))
    if len(assign_full) != len(design_names):
        raise ModelSpecificationError(
            "could not map the fixed-effect columns to the formula's terms"
        )
    kept = np.array([design_names.index(c) for c in model.fixef_names], dtype=np.int64)
    assign = np.asarray(assign_full, dtype=np.int64)[kept]
    variables = {
        part.mt.label(term): {key: bool(part.factors[key].categorical) for key in term}
        for term, _ in part.plan
    }
    contained: dict[str, list[str]] = {}
    for a in labels:
        va = variables[a]
        num_a = {k for k, cat in va.items() if not cat}
        out = []
        for b in labels:
            vb = variables[b]
            num_b = {k for k, cat in vb.items() if not cat}
            if set(va) <= set(vb) and set(vb) - set(va) and num_a == num_b:
                out.append(b)
        contained[a] = out
    return FixedTerms(labels, assign, contained, variables, bool(part.mt.intercept), part, kept)
