"""R's coding of factors in a model matrix: which factors of a term are coded by
contrasts or by indicators (``TermCode`` in R's model.c), and R's contrast matrices
(``contr.treatment``, ``contr.sum``, ``contr.helmert``, ``contr.poly``, ``contr.SAS``)
with the column suffixes R's ``model.matrix`` gives them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from ..formula.terms import ModelTerms

__all__ = [
    "CONTR",
    "CONTRASTS",
    "FULL",
    "NUM",
    "contr_poly",
    "contrast_matrix",
    "contrast_suffixes",
    "normalize_contrast",
    "poly_suffixes",
    "r_coding",
]

#: R's contrast functions that model matrices can use.
CONTRASTS = ("contr.treatment", "contr.sum", "contr.helmert", "contr.poly", "contr.SAS")

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


def normalize_contrast(name: object, what: str = "contrasts") -> str:
    """R's name of a contrast (``"contr.sum"``; ``"sum"`` is accepted too)."""
    text = str(name).strip().strip("'\"")
    key = text if text.startswith("contr.") else f"contr.{text}"
    if key not in CONTRASTS:
        raise ValueError(f"{what}: unknown contrast {name!r}; use one of {list(CONTRASTS)}")
    return key


def contrast_matrix(name: str, k: int) -> NDArray[np.float64]:
    """R's contrast matrix ``contr.<name>(k)``, ``(k, k - 1)``.

    Parameters
    ----------
    name
        One of :data:`CONTRASTS`.
    k
        Number of levels.

    Returns
    -------
    ndarray
    """
    if name == "contr.treatment":
        return np.eye(k)[:, 1:]
    if name == "contr.SAS":  # treatment contrasts against the last level
        return np.eye(k)[:, :-1]
    if name == "contr.sum":
        return np.vstack([np.eye(k - 1), -np.ones((1, k - 1))]) if k > 1 else np.zeros((k, 0))
    if name == "contr.helmert":
        out = np.zeros((k, k - 1))
        for j in range(1, k):
            out[:j, j - 1] = -1.0
            out[j, j - 1] = float(j)
        return out
    if name == "contr.poly":
        return contr_poly(k)
    raise ValueError(f"unknown contrast {name!r}; use one of {list(CONTRASTS)}")


def contrast_suffixes(name: str, levels: list[str]) -> list[str]:
    """The suffixes R's ``model.matrix`` appends to the factor's name: the levels but
    the first (treatment) or the last (SAS), ``1 .. k - 1`` for the unnamed columns of
    ``contr.sum`` and ``contr.helmert``, ``.L .Q .C ^4 ...`` for ``contr.poly``."""
    k = len(levels)
    if name == "contr.treatment":
        return list(levels[1:])
    if name == "contr.SAS":
        return list(levels[:-1])
    if name == "contr.poly":
        return poly_suffixes(k)
    return [str(j) for j in range(1, k)]


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
