"""A penalised smooth as fixed and random effects (mgcv's ``smooth2random``, gamm4).

With ``S = U diag(d) U'`` (d > 0 on the penalised subspace), the random columns are
``X U_+ diag(d_+^-1/2)`` with iid N(0, sigma_b^2) coefficients, the fixed columns
``X U_0``, scaled to unit (population) standard deviation as gamm4 does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedmodels.interfaces import FloatArray

__all__ = ["MixedSmooth", "smooth2random"]


@dataclass
class MixedSmooth:
    Xf: FloatArray  # unpenalised columns (n x null rank), unit SD
    Xr: FloatArray  # penalised columns (n x rank), iid coefficients
    Uf: FloatArray  # coefficient-space maps: beta = Uf a + Ur b
    Ur: FloatArray


def smooth2random(X: FloatArray, S: FloatArray, tol: float = 1e-8) -> MixedSmooth:
    """Fixed and random parts of a smooth with one penalty."""
    d, U = np.linalg.eigh(S)
    order = np.argsort(-d)
    d, U = d[order], U[:, order]
    rank = int(np.sum(d > tol * d[0]))
    Ur = U[:, :rank] / np.sqrt(d[:rank])[None, :]
    Uf = U[:, rank:]
    Xf = X @ Uf
    sd = Xf.std(axis=0)
    sd[sd == 0] = 1.0
    Uf = Uf / sd[None, :]
    return MixedSmooth(X @ Uf, X @ Ur, Uf, Ur)
