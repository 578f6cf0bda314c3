"""The hypotheses of type I, II and III tests.

The hypothesis matrices are lmerTest's (``get_contrasts_type1``,
``get_contrasts_type2_unfolded``, ``get_contrasts_type3``), so that F tests agree with
``anova(fit, type = ...)`` whatever the contrast coding:

* type I: rows of the unit upper-triangular factor of ``X'X`` (sequential sums of
  squares);
* type II: marginal tests for terms no other term contains, and otherwise the term
  tested after every term that does not contain it;
* type III: the SAS-style hypotheses, orthogonal to the contrasts of the terms that
  contain the term, computed in the treatment-coded parameterisation and mapped back
  to the model's coding.

Which variables a term has and whether they are factors comes from the formula's terms
(:func:`mixedmodels.design.terms.fixed_terms`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import numpy as np

from ..design.terms import FixedTerms, _ncols, fixed_terms
from ..interfaces import FloatArray
from ..numerics.rounding import zapsmall

__all__ = ["hypotheses"]


# --- linear algebra as R does it ---------------------------------------------------------
def _doolittle_upper(x: FloatArray, eps: float = 1e-6) -> FloatArray:
    """``t(doolittle(x)$L)`` of lmerTest: the unit upper factor of ``x = L U`` (no
    pivoting; entries below ``eps`` in absolute value set to zero)."""
    n = x.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = x[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            col = x[i + 1 :, i] - L[i + 1 :, :i] @ U[:i, i]
            L[i + 1 :, i] = 0.0 if abs(U[i, i]) < eps else col / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return np.asarray(L.T)


def _ginv(X: FloatArray) -> FloatArray:
    """MASS::ginv (singular values below ``sqrt(eps)`` times the largest dropped)."""
    return np.asarray(np.linalg.pinv(X, rcond=math.sqrt(np.finfo(float).eps)))


# --- hypotheses ---------------------------------------------------------------------------
def _type1(X: FloatArray, ft: FixedTerms) -> dict[str, FloatArray]:
    p = X.shape[1]
    U = np.eye(1) if p == 1 else _doolittle_upper(X.T @ X)
    out = {}
    for i, label in enumerate(ft.labels):
        out[label] = U[ft.assign == i]
    return out


def _marginal(p: int, ft: FixedTerms, which: list[str]) -> dict[str, FloatArray]:
    eye = np.eye(p)
    return {label: eye[ft.assign == ft.labels.index(label)] for label in which}


def _type2(X: FloatArray, ft: FixedTerms) -> dict[str, FloatArray]:
    p = X.shape[1]
    out: dict[str, FloatArray] = {}
    marginal = [t for t in ft.labels if not ft.contained_in[t]]
    out.update(_marginal(p, ft, marginal))
    for label in ft.labels:
        if label in out:
            continue
        idx = [ft.labels.index(t) for t in [label, *ft.contained_in[label]]]
        cols_term = np.flatnonzero(np.isin(ft.assign, idx))
        rest = np.setdiff1d(np.arange(p), cols_term)
        order = np.concatenate([rest, cols_term])
        Xnew = X[:, order]
        U = _doolittle_upper(Xnew.T @ Xnew)
        rows = U[ft.assign[order] == ft.labels.index(label)]
        L = np.empty_like(rows)
        L[:, order] = rows
        out[label] = L
    return {t: out[t] for t in ft.labels}


def _remake(ft: FixedTerms, model: Any, full: bool) -> tuple[FloatArray, list[str]]:
    """The fixed-effects matrix remade on the fitted rows: ``full=False`` with every
    contrast-coded factor coded by treatment contrasts (R's ``contr.treatment``),
    ``full=True`` with every factor coded by indicators (``~ 0 + term`` per term, the
    overparameterised design of lmerTest's ``get_rdX``) plus the intercept."""
    from ..design.contrasts import FULL, NUM

    part = copy.copy(ft.part)
    part.factors = {k: dataclasses.replace(f, ordered=False) for k, f in part.factors.items()}
    if full:
        part.plan = [
            (term, tuple(NUM if not part.factors[k].categorical else FULL for k in term))
            for term, _ in part.plan
        ]
    if not model.data.index.is_unique:
        raise ValueError(
            "type III tests remake the design on the fitted rows and need data with a "
            "unique index (reset_index() before fitting)"
        )
    frame = model.data.loc[model.design.row_index]
    return np.asarray(part.new_matrix(frame), dtype=np.float64), list(part._column_names())


def _full_rank(X: FloatArray, names: list[str], tol: float = 1e-7) -> tuple[FloatArray, list[str]]:
    """Drop the later of collinear columns (R's ``qr(X, LAPACK = FALSE)`` pivoting)."""
    keep: list[int] = []
    basis = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        col = X[:, j]
        norm = float(np.linalg.norm(col))
        if basis.shape[1]:
            col = col - basis @ (basis.T @ col)
        if norm > 0 and float(np.linalg.norm(col)) > tol * norm:
            keep.append(j)
            basis = np.column_stack([basis, col / np.linalg.norm(col)])
    return X[:, keep], [names[j] for j in keep]


def _type3(X: FloatArray, ft: FixedTerms, model: Any) -> dict[str, FloatArray]:
    p = X.shape[1]
    part = ft.part
    from ..design.contrasts import CONTR

    treatment_only = all(
        not (
            part.factors[k].categorical
            and c == CONTR
            and part.factors[k].contrast_name != "contr.treatment"
        )
        for term, coding in part.plan
        for k, c in zip(term, coding, strict=True)
    )
    if treatment_only:
        Xt, names_t = X, list(model.fixef_names)
    else:
        Xt, names_t = _remake(ft, model, full=False)
        Xt, names_t = _full_rank(Xt, names_t)
    rdX, rd_names = _remake(ft, model, full=True)
    L = zapsmall((_ginv(Xt) @ rdX).T)  # rows: overparameterised; columns: Xt's
    # Terms of Xt's columns (Xt has the model's columns, possibly recoded).
    assign_t = _assign_of(ft, names_t, recoded=not treatment_only)
    term_order = [len(ft.variables[t]) for t in ft.labels]
    orthog = sorted(range(len(ft.labels)), key=lambda i: -term_order[i])
    for i in orthog:
        label = ft.labels[i]
        contains = ft.contained_in[label]
        if not contains:
            continue
        cols = np.flatnonzero(assign_t == i)
        others = np.flatnonzero(np.isin(assign_t, [ft.labels.index(t) for t in contains]))
        A = L[:, others]
        B = L[:, cols]
        coef, *_ = np.linalg.lstsq(A, B, rcond=None)
        L[:, cols] = zapsmall(B - A @ coef)
    index = {name: i for i, name in enumerate(rd_names)}
    rows = [index[n] for n in names_t]
    L = L[rows]  # p_t x p_t
    mapping = None if treatment_only else zapsmall(_ginv(Xt) @ X)
    out = {}
    for i, label in enumerate(ft.labels):
        Li = L[:, assign_t == i].T
        Li = Li[np.abs(Li).sum(axis=1) > 1e-8]
        out[label] = Li if mapping is None else Li @ mapping
    assert all(v.shape[1] == p for v in out.values())
    return out


def _assign_of(ft: FixedTerms, names: list[str], recoded: bool) -> np.ndarray:
    """Term index of each named column of a (possibly recoded) design matrix."""
    if not recoded:
        return ft.assign
    part = copy.copy(ft.part)
    part.factors = {k: dataclasses.replace(f, ordered=False) for k, f in part.factors.items()}
    all_names = list(part._column_names())
    assign_full: list[int] = [-1] if part.mt.intercept else []
    for i, (term, coding) in enumerate(part.plan):
        assign_full.extend([i] * _ncols(part, term, coding))
    lookup = dict(zip(all_names, assign_full, strict=True))
    return np.array([lookup[n] for n in names], dtype=np.int64)


def hypotheses(model: Any, type: int | str = 3) -> dict[str, FloatArray]:
    """Hypothesis matrices ``L`` (rows x fixed effects), one per term, as lmerTest.

    Parameters
    ----------
    model
        The fitted model's :class:`~mixedmodels.Model`.
    type
        1, 2 or 3 (or ``"I"``, ``"II"``, ``"III"``).

    Returns
    -------
    dict
        Term label to its ``L``; terms without columns (all dropped) get ``0 x p``.
    """
    kind = _normalize_type(type)
    X = np.asarray(model.X, dtype=np.float64)
    ft = fixed_terms(model)
    p = X.shape[1]
    if p <= 1 or len(ft.labels) <= 1 or kind == 1:
        return _type1(X, ft)
    if kind == 2:
        return _type2(X, ft)
    return _type3(X, ft, model)


def _normalize_type(type: int | str) -> int:
    table = {"1": 1, "I": 1, "2": 2, "II": 2, "3": 3, "III": 3}
    key = str(type).strip().upper()
    if key not in table:
        raise ValueError(f"unknown ANOVA type {type!r}; use 1, 2 or 3 ('I', 'II', 'III')")
    return table[key]
