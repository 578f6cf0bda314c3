"""R's coding of factors in a model matrix: which factors of a term are coded by
contrasts or by indicators (``TermCode`` in R's model.c), and R's polynomial contrasts
for ordered factors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from ..formula.terms import ModelTerms

__all__ = ["CONTR", "FULL", "NUM", "contr_poly", "poly_suffixes", "r_coding"]

#: Coding of a factor in a term: numeric columns, contrasts, or one indicator per level.
NUM, CONTR, FULL = 0, 1, 2


def contr_poly(k: int) -> NDArray[np.float64]:
    """R's ``contr.poly(k)``: orthonormal polynomial contrasts, ``(k, k - 1)``.

    Parameters
    ----------
    k
        Number of levels.

    Returns
    -------
    ndarray
    """
    x = np.arange(1, k + 1, dtype=np.float64)
    x -= x.mean()
    q, r = np.linalg.qr(x[:, None] ** np.arange(k))
    # Q diag(R) does not depend on the sign convention of the QR factorisation.
    z = q * np.diag(r)
    z /= np.sqrt(np.sum(z**2, axis=0))
    return np.asarray(z[:, 1:], dtype=np.float64)


def poly_suffixes(k: int) -> list[str]:
    """R's column names of ``contr.poly(k)``: ``.L``, ``.Q``, ``.C``, ``^4``, ..."""
    return [{1: ".L", 2: ".Q", 3: ".C"}.get(d, f"^{d}") for d in range(1, k)]


def r_coding(
    mt: ModelTerms, categorical: dict[str, bool]
) -> list[tuple[tuple[str, ...], tuple[int, ...]]]:
    """R's coding of each factor of each term (``TermCode`` in R's model.c).

    A factor is coded by contrasts when the term without it is empty or contained in
    an earlier term, and by indicators otherwise; without an intercept the first
    factor of the model is coded by indicators.
    """
    plan: list[list[int]] = []
    for i, term in enumerate(mt.terms):
        coding: list[int] = []
        for key in term:
            if not categorical[key]:
                coding.append(NUM)
                continue
            rest = set(term) - {key}
            if not rest or any(rest <= set(prev) for prev in mt.terms[:i]):
                coding.append(CONTR)
            else:
                coding.append(FULL)
        plan.append(coding)
    if not mt.intercept:
        done = False
        for i, term in enumerate(mt.terms):
            for j, key in enumerate(term):
                if categorical[key]:
                    plan[i][j] = FULL
                    done = True
                    break
            if done:
                break
    return [(term, tuple(c)) for term, c in zip(mt.terms, plan, strict=True)]
