"""Variance estimates of the GEE coefficients, batched over clusters.

With the working covariance whitened per cluster (``L_i L_i' = R_i``), write
``W_i = L_i^-1 V_i^-1/2-scaled D_i`` and ``e_i = L_i^-1`` times the scaled residuals, so
that ``D_i' V_i^-1 D_i = W_i' W_i`` and ``U_i = D_i' V_i^-1 (y_i - mu_i) = W_i' e_i``.
With ``Omega = sum W_i' W_i`` (the model-based precision):

* naive (model-based): ``Omega^-1``;
* robust (sandwich, Liang & Zeger 1986): ``Omega^-1 (sum U_i U_i') Omega^-1``;
* Mancl & DeRouen (2001): ``U_i = D_i' V_i^-1 (I - H_i)^-1 (y_i - mu_i)``,
  ``H_i = D_i Omega^-1 D_i' V_i^-1``; whitened, ``(I - H_i)^-1`` becomes
  ``(I - P_i)^-1`` with the symmetric ``P_i = W_i Omega^-1 W_i'``;
* Kauermann & Carroll (2001): the same with ``(I - H_i)^-1/2`` (the principal square
  root, through the eigendecomposition of the symmetric ``I - P_i``);
* Fay & Graubard (2001): ``U_i`` scaled by ``diag(1 - min(b, diag(Q_i)))^-1/2``,
  ``Q_i = W_i' W_i Omega^-1``, ``b = 0.75``;
* Morel, Bokossa & Neerchal (2003): ``c Omega^-1 M Omega^-1 + delta xi Omega^-1`` with
  ``c = (N - 1) / (N - p) * K / (K - 1)``, ``delta = min(p / (K - p), 1 / d)`` (that is
  ``p / (K - p)`` when ``K > (d + 1) p``), ``xi = max(r, tr(Omega^-1 M) / p)``, ``d = 2``,
  ``r = 1``, as geesmv's ``GEE.var.mbn``;
* approximate jackknife (geepack's ``"jack"``, Lipsitz et al. 1990):
  ``(K - p - q - 1) / K * sum b_i b_i'`` with ``b_i = (Omega - Omega_i)^-1 U_i``.

The scale cancels from every estimate except the naive one (and MBN's ``delta xi``
term, which is proportional to the naive variance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mixedmodels.interfaces import Family, FloatArray

from ._fit import GEEFit, whiten

__all__ = [
    "VCOV_TYPES",
    "ClusterScores",
    "NuisanceSums",
    "cluster_meat",
    "cluster_scores",
    "compute_vcov",
    "normalize_vcov_type",
    "nuisance_from_sums",
    "nuisance_sums",
    "nuisance_vcov",
    "vcov_from_meat",
]

IntArray = NDArray[np.int64]

#: Canonical variance types and their accepted aliases.
VCOV_TYPES: dict[str, str] = {
    "robust": "robust",
    "sandwich": "robust",
    "san.se": "robust",
    "naive": "naive",
    "model": "naive",
    "model-based": "naive",
    "jackknife": "jackknife",
    "jack": "jackknife",
    "md": "md",
    "mancl-derouen": "md",
    "mancl_derouen": "md",
    "kc": "kc",
    "kauermann-carroll": "kc",
    "kauermann_carroll": "kc",
    "fg": "fg",
    "fay-graubard": "fg",
    "fay_graubard": "fg",
    "mbn": "mbn",
    "morel-bokossa-neerchal": "mbn",
    "morel_bokossa_neerchal": "mbn",
}

#: Long names used in summaries.
VCOV_LABELS: dict[str, str] = {
    "robust": "robust sandwich",
    "naive": "model-based (naive)",
    "jackknife": "approximate jackknife",
    "md": "Mancl-DeRouen bias-corrected sandwich",
    "kc": "Kauermann-Carroll bias-corrected sandwich",
    "fg": "Fay-Graubard bias-corrected sandwich",
    "mbn": "Morel-Bokossa-Neerchal corrected sandwich",
}


def normalize_vcov_type(kind: str) -> str:
    """The canonical name of a variance type (see :data:`VCOV_TYPES`)."""
    key = VCOV_TYPES.get(str(kind).strip().lower())
    if key is None:
        names = sorted(set(VCOV_TYPES.values()))
        raise ValueError(f"unknown variance type {kind!r}; choose one of {names}")
    return key


@dataclass
class ClusterScores:
    """Whitened per-cluster quantities at the solution (clusters in block order).

    Attributes
    ----------
    W
        Per block, ``(m, K, p)`` whitened derivatives (scale included).
    e
        Per block, ``(m, K)`` whitened residuals (scale included).
    U
        ``(K, p)`` cluster scores ``W_k' e_k``.
    omega
        ``(p, p)`` model-based precision ``sum W_k' W_k``.
    bread
        ``(p, p)`` its inverse, the naive variance.
    """

    W: list[FloatArray]
    e: list[FloatArray]
    U: FloatArray
    omega: FloatArray
    bread: FloatArray
    n_obs: int

    @property
    def n_clusters(self) -> int:
        return int(self.U.shape[0])

    @property
    def p(self) -> int:
        return int(self.U.shape[1])

    def omega_i(self) -> FloatArray:
        """``(K, p, p)`` per-cluster ``W_k' W_k``."""
        return np.concatenate([np.einsum("ikp,ikq->kpq", W, W) for W in self.W])


def _inv_sym(A: FloatArray) -> FloatArray:
    try:
        L = np.linalg.cholesky(A)
        Li = np.linalg.inv(L)
        return np.asarray(Li.T @ Li, dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(A, hermitian=True), dtype=np.float64)


def cluster_scores(fit: GEEFit) -> ClusterScores:
    """Whitened derivatives, residuals and cluster scores at the solution."""
    ws = fit.ws
    s = np.sqrt(ws.w / (fit.scale * fit.var))
    D = ws.X * (s * fit.mu_eta)[:, None]
    r = s * (ws.y - fit.mu)
    p = ws.X.shape[1]
    Ws: list[FloatArray] = []
    es: list[FloatArray] = []
    Us: list[FloatArray] = []
    omega = np.zeros((p, p))
    for b, Linv in zip(ws.blocks, fit.factors, strict=True):
        Wb = np.ascontiguousarray(whiten(b, Linv, b.view(D)))
        eb = np.ascontiguousarray(whiten(b, Linv, b.view(r)))
        Ws.append(Wb)
        es.append(eb)
        Us.append(np.einsum("ikp,ik->kp", Wb, eb))
        flat = Wb.reshape(-1, p)
        omega += flat.T @ flat
    omega = 0.5 * (omega + omega.T)
    return ClusterScores(
        W=Ws,
        e=es,
        U=np.concatenate(Us) if Us else np.zeros((0, p)),
        omega=omega,
        bread=_inv_sym(omega),
        n_obs=int(ws.X.shape[0]),
    )


def _leverage_scores(cs: ClusterScores, power: float) -> FloatArray:
    """Cluster scores ``W_k' (I - P_k)^power e_k`` (``power`` -1 or -1/2)."""
    out = []
    for W, e in zip(cs.W, cs.e, strict=True):
        m = W.shape[0]
        P = np.einsum("ikp,pq,jkq->kij", W, cs.bread, W)
        IminusP = np.eye(m) - P
        ek = e.T  # (K, m)
        if power == -1.0:
            x = np.linalg.solve(IminusP, ek[:, :, None])[:, :, 0]
        else:
            lam, Q = np.linalg.eigh(IminusP)
            if np.any(lam <= 1e-12):
                raise ValueError(
                    "a cluster has leverage 1 (I - H_i is singular); the Kauermann-Carroll "
                    "correction is undefined"
                )
            x = np.einsum("kij,kj->ki", Q, np.einsum("kji,kj->ki", Q, ek) * lam**power)
        out.append(np.einsum("ikp,ki->kp", W, x))
    return np.concatenate(out)


def cluster_meat(cs: ClusterScores, kind: str, fg_b: float = 0.75) -> FloatArray:
    """``sum_k u_k u_k'`` over the clusters of ``cs`` of the (corrected) scores that
    variance type ``kind`` uses (zeros for ``"naive"``).

    ``cs.omega`` and ``cs.bread`` must be those of *all* clusters (the leverages and the
    jackknife need them); the clusters themselves may be any subset, so that the meat of
    data held in chunks is the sum of the chunks' meats.
    """
    kind = normalize_vcov_type(kind)
    B = cs.bread
    U: FloatArray
    if kind == "naive":
        return np.zeros((cs.p, cs.p))
    if kind in ("robust", "mbn"):
        U = cs.U
    elif kind == "md":
        U = _leverage_scores(cs, -1.0)
    elif kind == "kc":
        U = _leverage_scores(cs, -0.5)
    elif kind == "fg":
        om = cs.omega_i()
        lev = np.einsum("kpq,qp->kp", om, B)  # diag(Omega_i Omega^-1)
        U = np.asarray(cs.U * (1.0 - np.minimum(fg_b, lev)) ** -0.5, dtype=np.float64)
    else:
        # Approximate jackknife: one-step leave-one-cluster-out changes, as geepack's "jack".
        om = cs.omega_i()
        U = np.asarray(
            np.linalg.solve(cs.omega[None, :, :] - om, cs.U[:, :, None])[:, :, 0], dtype=np.float64
        )
    return np.asarray(U.T @ U, dtype=np.float64)


def vcov_from_meat(
    bread: FloatArray,
    meat: FloatArray,
    kind: str,
    n_clusters: int,
    n_obs: int,
    n_corr_params: int = 0,
    mbn_d: float = 2.0,
    mbn_r: float = 1.0,
) -> FloatArray:
    """The variance of type ``kind`` from the bread ``Omega^-1`` and the summed meat
    (:func:`cluster_meat`) of all ``n_clusters`` clusters."""
    kind = normalize_vcov_type(kind)
    K, p = n_clusters, bread.shape[0]
    B = bread
    if kind == "naive":
        return B.copy()
    if kind == "jackknife":
        out = (K - p - n_corr_params - 1.0) / K * meat
    elif kind == "mbn":
        if K <= 1 or n_obs <= p:
            raise ValueError("the Morel-Bokossa-Neerchal correction needs K > 1 and N > p")
        c = (n_obs - 1.0) / (n_obs - p) * K / (K - 1.0)
        delta = p / (K - p) if (mbn_d + 1.0) * p < K else 1.0 / mbn_d
        xi = max(mbn_r, float(np.trace(B @ meat)) / p)
        out = c * (B @ meat @ B) + delta * xi * B
    else:
        out = B @ meat @ B
    return np.asarray(0.5 * (out + out.T), dtype=np.float64)


def compute_vcov(
    cs: ClusterScores,
    kind: str,
    n_corr_params: int = 0,
    fg_b: float = 0.75,
    mbn_d: float = 2.0,
    mbn_r: float = 1.0,
) -> FloatArray:
    """The variance of the coefficients of type ``kind`` (see the module docstring).

    Parameters
    ----------
    cs
        Cluster scores from :func:`cluster_scores`.
    kind
        A name or alias in :data:`VCOV_TYPES`.
    n_corr_params
        Number of correlation parameters (``q`` in the jackknife's factor).
    fg_b
        Fay-Graubard's bound on the leverages.
    mbn_d, mbn_r
        Morel-Bokossa-Neerchal's ``d`` and ``r``.
    """
    return vcov_from_meat(
        cs.bread,
        cluster_meat(cs, kind, fg_b),
        kind,
        cs.n_clusters,
        cs.n_obs,
        n_corr_params,
        mbn_d,
        mbn_r,
    )


# ------------------------------------------------------------- nuisance parameters


def _variance_derivative(family: Family, mu: FloatArray) -> FloatArray:
    """``dV/dmu`` by central differences (variance functions are smooth polynomials here)."""
    h = 1e-5 * np.maximum(np.abs(mu), 1e-3)
    with np.errstate(all="ignore"):
        return np.asarray(
            (family.variance(mu + h) - family.variance(mu - h)) / (2.0 * h), dtype=np.float64
        )


@dataclass
class NuisanceSums:
    """Sums over clusters behind the sandwich variances of the scale and the correlation
    parameters (:func:`nuisance_sums`); those of chunks of clusters add up.

    ``ZZ`` is ``sum_k z_k z_k'`` with ``z_k = (U1_k, U2_k, U3_k)`` the cluster's scores
    of ``beta`` (``p``), the scale (1) and ``alpha`` (``q``); ``C``, ``B``, ``F``, ``E``,
    ``D`` the derivative blocks of geepack's ``gee_var``.
    """

    ZZ: FloatArray
    C: float
    B: FloatArray
    F: FloatArray
    E: FloatArray
    D: FloatArray
    has_pairs: bool

    def __add__(self, other: NuisanceSums) -> NuisanceSums:
        return NuisanceSums(
            self.ZZ + other.ZZ,
            self.C + other.C,
            self.B + other.B,
            self.F + other.F,
            self.E + other.E,
            self.D + other.D,
            self.has_pairs or other.has_pairs,
        )


def nuisance_sums(fit: GEEFit, U1: FloatArray, family: Family) -> NuisanceSums:
    """The sums of :class:`NuisanceSums` over the clusters of ``fit`` (its workspace),
    with ``U1`` the clusters' scores (:attr:`ClusterScores.U`).

    The derivative terms follow geepack's code (``getS_Beta``, ``getZ_Beta``), so that
    the standard errors agree with geepack's summary.
    """
    ws = fit.ws
    phi = fit.scale
    n = ws.X.shape[0]
    K = U1.shape[0]
    q = ws.corr.n_params
    # Cluster (in block order) of every row; blocks are position-major.
    cl_offsets = np.cumsum([0] + [b.n_clusters for b in ws.blocks])[:-1]
    row_cluster = np.concatenate(
        [
            c0 + np.tile(np.arange(b.n_clusters), b.size)
            for b, c0 in zip(ws.blocks, cl_offsets, strict=True)
        ]
        or [np.zeros(0, dtype=np.int64)]
    )
    w = ws.w
    V = fit.var
    sqV = np.sqrt(V)
    PR = (ws.y - fit.mu) / sqV
    Dr = ws.X * (fit.mu_eta / sqV)[:, None]  # unweighted d mu / d beta over sqrt(V)
    Vmu = _variance_derivative(family, fit.mu)
    wv = w / (2.0 * phi)
    U2 = np.bincount(row_cluster, weights=wv * (PR * PR - phi), minlength=K)[:, None]
    f = -2.0 * PR / sqV - PR * PR / V * Vmu
    B = (-(wv * f)) @ Dr
    F = np.zeros(q)
    U3 = np.zeros((K, q))
    row_coef = np.zeros((n, q))
    E = np.zeros(q)
    has_pairs = q > 0 and ws.class_keys.size > 0
    if has_pairs:
        keys = ws.class_keys
        rho_c = ws.corr.rho(fit.alpha, keys)
        e_c = ws.corr.drho(fit.alpha, keys)
        par_c = ws.class_param
        for b, c0 in zip(ws.blocks, cl_offsets, strict=True):
            if b.identity:
                continue
            Kb = b.n_clusters
            cls = b.classes().T  # (n_pairs, K)
            ok = cls >= 0
            c = np.where(ok, par_c[np.maximum(cls, 0)], -1)
            ok &= c >= 0
            Wb = b.view(w)
            Pb = b.view(PR)
            W3 = Wb[b.j] * Wb[b.k]
            prj, prk = Pb[b.j], Pb[b.k]
            z = prj * prk / phi
            rho = rho_c[np.maximum(cls, 0)]
            ev = e_c[np.maximum(cls, 0)]
            cc = np.maximum(c, 0)
            F += np.bincount(cc[ok], weights=(W3 * ev * ev)[ok], minlength=q)
            kidx = (c0 + np.arange(Kb))[None, :] * q + cc
            U3 += np.bincount(kidx[ok], weights=(W3 * ev * (z - rho))[ok], minlength=K * q).reshape(
                K, q
            )
            E += np.bincount(cc[ok], weights=(W3 * ev * z / phi)[ok], minlength=q)
            # geepack's getZ_Beta: -PR_j D_j - PR_k D_k - PR_j PR_k (a_j D_j + a_k D_k) / 2,
            # with a = V'(mu) / sqrt(V); D (q x p) = -sum W3 e onehot(c) Z_Beta / phi.
            a = b.view(Vmu / sqV)
            coef_j = W3 * ev * (prj + 0.5 * prj * prk * a[b.j]) / phi
            coef_k = W3 * ev * (prk + 0.5 * prj * prk * a[b.k]) / phi
            kk = np.arange(Kb)[None, :]
            rj = (b.start + b.j[:, None] * Kb + kk)[ok] * q + cc[ok]
            rk = (b.start + b.k[:, None] * Kb + kk)[ok] * q + cc[ok]
            row_coef += np.bincount(rj, weights=coef_j[ok], minlength=n * q).reshape(n, q)
            row_coef += np.bincount(rk, weights=coef_k[ok], minlength=n * q).reshape(n, q)
    Z = np.hstack([U1, U2, U3])
    return NuisanceSums(
        ZZ=Z.T @ Z,
        C=float(np.sum(wv)),
        B=np.asarray(B, dtype=np.float64),
        F=F,
        E=E,
        D=row_coef.T @ Dr,  # (q, p)
        has_pairs=has_pairs,
    )


def nuisance_from_sums(
    s: NuisanceSums, Ainv: FloatArray, scale_fixed: bool
) -> tuple[FloatArray | None, FloatArray | None]:
    """The variances of the scale and the correlation parameters from the sums of all
    clusters and the naive variance ``Ainv`` of the coefficients (see
    :func:`nuisance_vcov`)."""
    p = Ainv.shape[0]
    q = s.F.shape[0]
    L = s.ZZ
    L11 = L[:p, :p]
    L12 = L[:p, p : p + 1]
    L13 = L[:p, p + 1 :]
    L22 = L[p : p + 1, p : p + 1]
    L23 = L[p : p + 1, p + 1 :]
    L33 = L[p + 1 :, p + 1 :]
    level_scale = not scale_fixed
    vgamma: FloatArray | None = None
    valpha: FloatArray | None = None
    Binv: FloatArray = np.zeros((1, p))
    Cinv: FloatArray = np.zeros((1, 1))
    if level_scale:
        C = np.array([[s.C]])
        Cinv = np.asarray(np.linalg.inv(C), dtype=np.float64)
        Binv = -Cinv @ s.B[None, :] @ Ainv
        vgamma = (Binv @ L11 + Cinv @ L12.T) @ Binv.T + (Binv @ L12 + Cinv @ L22) @ Cinv.T
    if q > 0 and s.has_pairs:
        Fd = np.where(s.F > 0, s.F, np.nan)
        Finv = np.diag(1.0 / Fd)
        Emat = s.E[:, None]
        if level_scale:
            Einv = -Finv @ Emat @ Cinv
            Dinv = -Finv @ (s.D @ Ainv + Emat @ Binv)
        else:
            Einv = np.zeros((q, 1))
            Dinv = -Finv @ s.D @ Ainv
        valpha = (
            (Dinv @ L11 + Einv @ L12.T + Finv @ L13.T) @ Dinv.T
            + (Dinv @ L12 + Einv @ L22 + Finv @ L23.T) @ Einv.T
            + (Dinv @ L13 + Einv @ L23 + Finv @ L33) @ Finv.T
        )
    return vgamma, valpha


def nuisance_vcov(
    fit: GEEFit, cs: ClusterScores, family: Family
) -> tuple[FloatArray | None, FloatArray | None]:
    """Sandwich variances of the scale and the correlation parameters, as geepack's.

    geepack (``gee_var``) stacks the estimating equations of ``beta``, the scale and
    ``alpha`` and reports the corresponding blocks of the joint sandwich.

    Returns
    -------
    vgamma, valpha
        ``(1, 1)`` variance of the scale (``None`` when fixed) and ``(q, q)`` variance
        of the correlation parameters (``None`` without any).
    """
    sums = nuisance_sums(fit, cs.U, family)
    return nuisance_from_sums(sums, cs.bread, fit.scale_fixed)
