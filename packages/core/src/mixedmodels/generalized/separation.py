"""Detection of (quasi-)complete separation in the fixed effects of a GLMM.

With separation some fixed effect runs off to infinity: glmer then reports huge
estimates and standard errors (at best a "fitted probabilities numerically 0 or 1"
warning).  As R's ``detectseparation`` / ``safeBinaryRegression`` (Konis 2007) we solve a
linear programme: is there a direction ``d != 0`` in the coefficients along which the
log-likelihood never decreases?  For a binomial response that means ``x_i' d >= 0`` where
``y_i = 1``, ``<= 0`` where ``y_i = 0`` and ``= 0`` where ``0 < y_i < 1``; for counts
``x_i' d <= 0`` where ``y_i = 0`` and ``= 0`` elsewhere.  The columns with ``d_j != 0``
are those whose estimates diverge.  The programme runs on the distinct rows of
``(X, response class)`` only, and only when the fit shows the symptom (a linear
predictor beyond the range where the mean is distinguishable from its bound).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from ..errors import MixedModelsWarning
from ..interfaces import FloatArray

__all__ = ["SeparationWarning", "separated_columns", "separation_message", "shows_divergence"]

# |eta| beyond which a logit mean is within 1e-13 of 0 or 1 (a log mean of exp(-30)).
_ETA_LIMIT = 30.0


class SeparationWarning(MixedModelsWarning):
    """Some fixed effects are not estimable: the data separate the response."""


def shows_divergence(eta_fixed: FloatArray) -> bool:
    """Whether the fixed part of the linear predictor reaches where separation drives it."""
    return bool(np.max(np.abs(eta_fixed), initial=0.0) > _ETA_LIMIT)


def separated_columns(X: FloatArray, y: FloatArray, kind: str) -> list[int]:
    """Indices of the columns of ``X`` along which the likelihood is unbounded.

    Parameters
    ----------
    X
        ``(n, p)`` fixed-effects matrix.
    y
        Response: proportions for ``kind="binomial"``, counts for ``kind="count"``.
    kind
        ``"binomial"`` or ``"count"``.

    Returns
    -------
    list of int
        Empty when the data do not separate.
    """
    if kind == "binomial":
        sign = np.where(y >= 1.0, 1, np.where(y <= 0.0, -1, 0))
    elif kind == "count":
        sign = np.where(y <= 0.0, -1, 0)
    else:
        raise ValueError(f"unknown response kind {kind!r}")
    # Distinct (row, class) pairs: the constraints of duplicated rows coincide.
    rows = np.unique(np.column_stack([X, sign]), axis=0)
    Xu, su = rows[:, :-1], rows[:, -1]
    free = su == 0
    bound = ~free
    p = X.shape[1]
    # maximise sum_i s_i x_i' d  s.t.  -s_i x_i' d <= 0 (bounded rows), x_i' d = 0 (others)
    c = -(su[bound, None] * Xu[bound]).sum(axis=0)
    A_ub = -(su[bound, None] * Xu[bound])
    res = linprog(
        c,
        A_ub=A_ub if A_ub.size else None,
        b_ub=np.zeros(A_ub.shape[0]) if A_ub.size else None,
        A_eq=Xu[free] if np.any(free) else None,
        b_eq=np.zeros(int(free.sum())) if np.any(free) else None,
        bounds=[(-1.0, 1.0)] * p,
        method="highs",
    )
    if res.status != 0 or res.fun is None:
        return []
    if -float(res.fun) <= 1e-7 * (1.0 + float(np.abs(Xu).max(initial=0.0))):
        return []
    d = np.asarray(res.x)
    return [int(j) for j in np.flatnonzero(np.abs(d) > 1e-7)]


def separation_message(model: object, columns: list[int]) -> str:
    """A message naming the separated columns and the formula terms they belong to."""
    names = [str(model.fixef_names[j]) for j in columns]  # type: ignore[attr-defined]
    terms: list[str] = []
    try:
        from ..design.terms import fixed_terms

        ft = fixed_terms(model)
        terms = list(
            dict.fromkeys(
                "(Intercept)" if ft.assign[j] < 0 else ft.labels[ft.assign[j]] for j in columns
            )
        )
    except (ValueError, AttributeError, IndexError):  # a design the mapping cannot read
        terms = []
    where = f" (term{'s' if len(terms) > 1 else ''} {', '.join(terms)})" if terms else ""
    return (
        f"complete or quasi-complete separation: the response is perfectly predicted along "
        f"{', '.join(names)}{where}; these estimates and their standard errors are "
        "not finite (they only stop where the optimiser did). Consider removing or merging "
        "the levels involved, or a penalised (Bayesian) fit."
    )
