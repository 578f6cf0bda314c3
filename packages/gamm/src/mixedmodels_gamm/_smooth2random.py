"""A penalised smooth as fixed and random effects (mgcv's ``smooth2random``, gamm4).

With ``S = U diag(d) U'`` (d > 0 on the penalised subspace), the random columns are
``X U_+ diag(d_+^-1/2)`` with iid N(0, sigma_b^2) coefficients, the fixed columns
``X U_0`` with ``U_0`` unit-length eigenvectors of the null space, as mgcv's
``smooth2random`` does.  Our thin-plate coordinates are not mgcv's, so there the fixed
columns are scaled to mgcv's norm instead (its centred thin-plate null-space column has
unit root mean square over the data); the REML log-likelihood depends on this scale.
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
    blocks: list[int] | None = None  # sizes of the random blocks, each its own variance


def blocks2random(X: FloatArray, blocks: list[int]) -> MixedSmooth:
    """A smooth whose penalties are identities on consecutive column blocks (mgcv's
    ``t2``): each block a random effect of its own, the rest fixed (``smooth2random``
    for ``t2.smooth``)."""
    nr = int(sum(blocks))
    eye = np.eye(X.shape[1])
    return MixedSmooth(X[:, nr:], X[:, :nr], eye[:, nr:], eye[:, :nr], list(blocks))


def smooth2random(
    X: FloatArray,
    S: FloatArray,
    tol: float = 1e-8,
    rms_of: FloatArray | None = None,
    null: FloatArray | None = None,
) -> MixedSmooth:
    """Fixed and random parts of a smooth with one penalty.

    ``rms_of``: scale each fixed column so that ``rms_of @ U_0`` (the smooth over all
    rows, for a by-level smooth) has unit root mean square; ``None`` keeps mgcv's unit
    eigenvectors (for bases in mgcv's own coordinates).  ``null``: the null-space basis
    ``U_0`` to use (orthonormal, spanning ``S``'s null space) where the eigenvectors of
    a degenerate zero eigenvalue would be an arbitrary rotation and the scaling then
    depends on it (an unconstrained thin-plate smooth: numeric ``by``)."""
    d, U = np.linalg.eigh(S)
    order = np.argsort(-d)
    d, U = d[order], U[:, order]
    rank = int(np.sum(d > tol * d[0]))
    Ur = U[:, :rank] / np.sqrt(d[:rank])[None, :]
    Uf = U[:, rank:] if null is None else null
    if Uf.shape[1] != U.shape[1] - rank:
        raise ValueError(
            f"null basis of {Uf.shape[1]} columns, penalty null space {U.shape[1] - rank}"
        )
    if rms_of is not None:
        rms = np.sqrt(np.mean((rms_of @ Uf) ** 2, axis=0))
        rms[rms == 0] = 1.0
        Uf = Uf / rms[None, :]
    return MixedSmooth(X @ Uf, X @ Ur, Uf, Ur)
