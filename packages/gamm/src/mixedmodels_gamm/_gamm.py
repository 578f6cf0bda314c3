"""``gamm4()``: additive mixed models with smooths written as random effects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

import mixedmodels as mm
from mixedmodels.interfaces import FloatArray

from ._cr import cr_basis
from ._smooth2random import MixedSmooth, smooth2random
from ._terms import SmoothSpec, split_smooths
from ._tprs import tprs

__all__ = ["GammResult", "gamm4", "glance_gamm", "tidy_gamm"]


@dataclass
class _Smooth:
    spec: SmoothSpec
    label: str  # mgcv's label: "s(x)", "s(x):fa" for level a of by = f
    basis: Any  # TPRS or CRS: predict_matrix(x)
    X: FloatArray  # the smooth's (constrained) columns at the data, by-level rows only
    mixed: MixedSmooth
    fixed_cols: list[str]
    random_cols: list[str]
    group: str


class GammResult:
    """An additive mixed model fitted as gamm4 does (lme4 part in :attr:`mer`).

    Attributes
    ----------
    mer : mixedmodels.LMMResult or GLMMResult
        The mixed model that was fitted (gamm4's ``$mer``): its ``loglik`` is gamm4's
        ``logLik(G$mer)`` (REML for Gaussian fits).
    loglik : float
    """

    def __init__(self, mer: Any, smooths: list[_Smooth], frame: pd.DataFrame, response: str):
        self.mer = mer
        self._smooths = smooths
        self._frame = frame
        self.response = response
        self.loglik = float(mer.loglik)

    def smooth_variances(self) -> pd.Series:
        """Variance of each smooth's penalised coefficients (``sigma_b^2``)."""
        vc = self.mer.varcorr()
        out = {}
        for s in self._smooths:
            row = vc[(vc["grp"] == s.group) & vc["var2"].isna()]
            out[s.label] = float(row["vcov"].iloc[0])
        return pd.Series(out, name="variance")

    def _coef(self, s: _Smooth) -> FloatArray:
        """The smooth's coefficients in its (constrained) basis."""
        a = self.mer.fixef[s.fixed_cols].to_numpy()
        re = self.mer.ranef()[s.group]
        b = re.loc[:, s.random_cols].to_numpy()[0]
        return np.asarray(s.mixed.Uf @ a + s.mixed.Ur @ b, dtype=np.float64)

    def smooth_values(self, label: str | None = None) -> pd.Series:
        """The fitted smooth ``f(x)`` at the data (centred, as mgcv's)."""
        s = self._get(label)
        return pd.Series(s.X @ self._coef(s), index=self._frame.index, name=s.label)

    @property
    def smooth_labels(self) -> list[str]:
        """mgcv's labels of the smooths, ``"s(x)"``, ``"s(x):fa"`` (by-factor levels)."""
        return [s.label for s in self._smooths]

    def _get(self, label: str | None) -> _Smooth:
        if label is None:
            return self._smooths[0]
        for s in self._smooths:
            if s.label == label:
                return s
        raise KeyError(f"no smooth {label!r}; smooths: {self.smooth_labels}")

    def fitted(self) -> pd.Series:
        """gamm4's ``fitted(G$gam)``: fixed effects and smooths, without the other
        random effects (link scale)."""
        fe = self.mer.fixef
        X = np.asarray(self.mer.model.X)
        names = list(self.mer.model.fixef_names)
        smooth_cols = {c for s in self._smooths for c in s.fixed_cols}
        keep = [i for i, n in enumerate(names) if n not in smooth_cols]
        out = X[:, keep] @ fe.iloc[keep].to_numpy()
        for s in self._smooths:
            out = out + self.smooth_values(s.label).to_numpy()
        return pd.Series(out, index=self._frame.index, name="fitted")

    def _penalised_system(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``C'WC``, the penalty diagonal ``D`` and ``C`` (fixed columns, then each
        smooth's random columns), with ``W`` the relative precision of the residual
        and the other random effects (Woodbury over their levels)."""
        mer = self.mer
        model = mer.model
        sigma2 = float(mer.sigma) ** 2
        X = np.asarray(model.X)
        n = X.shape[0]
        cols = [X]
        pen = [np.zeros(X.shape[1])]
        var = self.smooth_variances()
        smooth_groups = {s.group for s in self._smooths}
        for s in self._smooths:
            cols.append(s.mixed.Xr)
            pen.append(np.full(s.mixed.Xr.shape[1], sigma2 / var[s.label]))
        C = np.column_stack(cols)
        covs = mer.covariance_matrices()
        WC = C
        zs, gs = [], []
        for t, name in zip(model.terms, model.group_names, strict=True):
            if t.group_name in smooth_groups:
                continue
            d = t.dim
            rows = np.repeat(np.arange(n), d)
            cols = (t.codes[:, None] * d + np.arange(d)[None, :]).ravel()
            zs.append(sp.csr_matrix((t.Z.ravel(), (rows, cols)), shape=(n, t.n_levels * d)))
            gs.append(np.kron(np.eye(t.n_levels), covs[name].to_numpy() / sigma2))
        if zs:
            Zo = sp.hstack(zs).tocsr()
            G = np.zeros((Zo.shape[1], Zo.shape[1]))
            o = 0
            for g in gs:
                G[o : o + g.shape[0], o : o + g.shape[0]] = g
                o += g.shape[0]
            # (I + Zo G Zo')^-1 = I - Zo (G^-1 + Zo'Zo)^-1 Zo'
            inner = np.linalg.pinv(G) + (Zo.T @ Zo).toarray()
            WC = C - Zo @ np.linalg.solve(inner, np.asarray(Zo.T @ C))
        return C.T @ WC, np.concatenate(pen), C

    def _smooth_index(self) -> list[tuple[_Smooth, list[int], list[int]]]:
        names = list(self.mer.model.fixef_names)
        start = len(names)
        out = []
        for s in self._smooths:
            k = s.mixed.Xr.shape[1]
            out.append((s, [names.index(c) for c in s.fixed_cols], list(range(start, start + k))))
            start += k
        return out

    def edf(self) -> pd.Series:
        """Effective degrees of freedom of each smooth (mgcv's ``edf``): the smooth's
        share of ``trace((C'WC + D)^-1 C'WC)``, ``D`` the smooths' penalties
        ``sigma^2 / sigma_b^2``; ``"total"`` adds the parametric terms."""
        CWC, pen, _ = self._penalised_system()
        diag = np.diag(np.linalg.solve(CWC + np.diag(pen), CWC))
        out = {
            s.label: float(diag[fi].sum() + diag[ri].sum()) for s, fi, ri in self._smooth_index()
        }
        out["total"] = float(diag.sum())
        return pd.Series(out, name="edf")

    def smooth_vcov(self, label: str | None = None) -> FloatArray:
        """Bayesian covariance of a smooth's basis coefficients (mgcv's ``Vp`` block):
        ``sigma^2 (C'WC + D)^-1`` mapped from the mixed-model coordinates."""
        CWC, pen, _ = self._penalised_system()
        V = float(self.mer.sigma) ** 2 * np.linalg.inv(CWC + np.diag(pen))
        for s, fi, ri in self._smooth_index():
            if label is None or s.label == label:
                idx = fi + ri
                M = np.column_stack([s.mixed.Uf, s.mixed.Ur])
                return np.asarray(M @ V[np.ix_(idx, idx)] @ M.T, dtype=np.float64)
        raise KeyError(f"no smooth {label!r}")

    def smooth_se(self, label: str | None = None) -> pd.Series:
        """Standard errors of the fitted smooth at the data (for confidence bands)."""
        s = self._get(label)
        V = self.smooth_vcov(s.label)
        X = s.X
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
        return pd.Series(se, index=self._frame.index, name=s.label)

    def smooth_table(self) -> pd.DataFrame:
        """Approximate significance of the smooths (mgcv's ``summary(gam)$s.table``):
        edf, Ref.df, F and p-value.  F is mgcv's Wald statistic with the rank-edf
        pseudo-inverse of ``Vp`` (Wood 2013, ``testStat`` type 0) divided by the
        reference df; the p-value refers F to an F distribution with Ref.df and the
        residual df (mgcv uses a mixture of chi-squares for fractional ranks).  With a
        fractional edf the statistic depends, through an eigenvector sign convention,
        on the basis coordinates, which are mgcv's only up to rotation: F agrees with
        mgcv's to ~1e-3 (mgcv fixes eigenvector signs in its own coordinates)."""
        from scipy import stats

        edf = self.edf()
        n = len(self._frame)
        rows = []
        for s in self._smooths:
            lab = s.label
            rank = float(edf[lab])
            stat = _test_stat(self._coef(s), s.X, self.smooth_vcov(lab), rank)
            F = stat / rank
            p = float(stats.f.sf(F, rank, n - edf["total"]))
            rows.append((lab, rank, rank, F, p))
        return pd.DataFrame(rows, columns=["term", "edf", "Ref.df", "F", "p-value"]).set_index(
            "term"
        )

    def plot_smooth(self, label: str | None = None, ax: Any = None, level: float = 0.95) -> Any:
        """Plot a smooth with pointwise confidence bands (mgcv's ``plot.gam``); needs
        matplotlib."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as err:  # optional dependency
            raise ImportError("plot_smooth needs matplotlib: pip install matplotlib") from err
        from scipy import stats

        s = self._get(label)
        x = self._frame[s.spec.var].to_numpy(dtype=float)
        order = np.argsort(x)
        f = self.smooth_values(s.label).to_numpy()[order]
        se = self.smooth_se(s.label).to_numpy()[order]
        z = stats.norm.ppf(0.5 + level / 2)
        if ax is None:
            _, ax = plt.subplots()
        ax.plot(x[order], f, color="k")
        ax.fill_between(x[order], f - z * se, f + z * se, color="0.8")
        ax.set_xlabel(s.spec.var)
        ax.set_ylabel(f"{s.label}  (edf {self.edf()[s.label]:.2f})")
        return ax

    def __repr__(self) -> str:
        return f"<GammResult smooths={[s.label for s in self._smooths]} logLik={self.loglik:.4f}>"


def gamm4(
    formula: str,
    data: Any,
    random: str | None = None,
    family: str = "gaussian",
    reml: bool = True,
) -> GammResult:
    """Fit an additive mixed model as R's ``gamm4::gamm4``.

    Parameters
    ----------
    formula
        ``"y ~ s(x) + z"``: thin-plate regression spline smooths ``s(x)`` (mgcv's
        default ``k = 10``; ``s(x, k = 5)``), cubic regression splines
        ``s(x, bs = "cr")``, factor-by smooths ``s(x, by = f)`` (one smooth per level
        of ``f``, each centred; put ``f`` itself in the formula, as mgcv requires) and
        parametric terms.
    data
        DataFrame.
    random
        lme4 random-effect terms, ``"(1 | g)"`` or ``"~ (1 | g)"`` (gamm4's
        ``random = ~ (1 | g)``).
    family
        ``"gaussian"`` (an LMM, REML by default) or another family (a GLMM fitted by
        the Laplace approximation, as gamm4 does through glmer).
    reml
        REML (gamm4's default for Gaussian models) or ML.

    Returns
    -------
    GammResult
    """
    frame = data.to_pandas() if hasattr(data, "to_pandas") else pd.DataFrame(data).copy()
    response, others, specs = split_smooths(formula)
    if not specs:
        raise ValueError("gamm4 needs at least one smooth term such as s(x)")
    smooths: list[_Smooth] = []
    parts = list(others) if others else ["1"]
    randoms: list[str] = []
    for spec in specs:
        for j, lab, X, basis in _smooth_columns(spec, frame):
            i = len(smooths)
            mixed = smooth2random(X, basis.S, rms_of=None if spec.bs == "cr" else basis.X)
            stem = f"sm{i}_{spec.var}"
            fcols = [f"{stem}_F{j + 1}" for j in range(mixed.Xf.shape[1])]
            rcols = [f"{stem}_Z{j + 1}" for j in range(mixed.Xr.shape[1])]
            new = {c: mixed.Xf[:, j] for j, c in enumerate(fcols)}
            new.update({c: mixed.Xr[:, j] for j, c in enumerate(rcols)})
            group = f"Xr_{stem}"
            new[group] = np.full(len(frame), "1")
            frame = pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)
            parts.extend(fcols)
            randoms.append(f"homdiag(0 + {' + '.join(rcols)} | {group})")
            smooths.append(_Smooth(spec, lab, basis, X, mixed, fcols, rcols, group))
    if random:
        randoms.insert(0, random.strip().lstrip("~").strip())
    full = f"{response} ~ {' + '.join(parts + randoms)}"
    mer: Any
    if family == "gaussian":
        mer = mm.lmm(full, frame, reml=reml)
    else:
        mer = mm.glmm(full, frame, family=family)
    return GammResult(mer, smooths, frame, response)


def _smooth_columns(spec: SmoothSpec, frame: pd.DataFrame) -> list[tuple[int, str, Any, Any]]:
    """The smooth's basis at the data, one entry per by-factor level (mgcv's
    ``smoothCon``: one basis over all rows, centred over all rows, then multiplied by
    each level's indicator; an ordered factor's first level gets no smooth)."""
    if spec.var not in frame.columns:
        raise ValueError(f"{spec.label}: column {spec.var!r} not found in data")
    x = pd.to_numeric(frame[spec.var], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError(
            f"{spec.label}: column {spec.var!r} must be numeric without missing values"
        )
    basis = cr_basis(x, spec.k, spec.label) if spec.bs == "cr" else tprs(x, spec.k, spec.label)
    if spec.by is None:
        return [(0, spec.label, basis.X, basis)]
    if spec.by not in frame.columns:
        raise ValueError(f"{spec.label}: by = {spec.by!r} is not a column of the data")
    col = frame[spec.by]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        if pd.api.types.is_numeric_dtype(col):
            raise ValueError(
                f"{spec.label}: by = {spec.by!r} is numeric; only factor 'by' variables are "
                "supported (make it a pandas Categorical or strings)"
            )
        col = col.astype("category")
    levels = list(col.cat.categories)
    if col.cat.ordered and len(levels) > 1:
        levels = levels[1:]
    codes = col.to_numpy()
    out = []
    for j, lev in enumerate(levels):
        ind = (codes == lev).astype(np.float64)
        if not ind.any():
            raise ValueError(f"{spec.label}: level {lev!r} of by = {spec.by!r} has no rows")
        out.append((j, f"{spec.label}:{spec.by}{lev}", ind[:, None] * basis.X, basis))
    return out


def _test_stat(p: FloatArray, X: FloatArray, V: FloatArray, rank: float) -> float:
    """mgcv's ``testStat`` statistic (type 0): ``|B' R p|^2`` with ``B`` the rank-``rank``
    (fractional) pseudo-inverse square root of ``R V R'``, ``R`` from the QR of X."""
    R = np.asarray(np.linalg.qr(X, mode="r"), dtype=np.float64)
    Vr = R @ V @ R.T
    Vr = (Vr + Vr.T) / 2
    vals, vecs = np.linalg.eigh(Vr)
    order = np.argsort(-vals)
    vals, vecs = vals[order], vecs[:, order]
    k = max(0, int(np.floor(rank)))
    nu = abs(rank - k)
    k1 = k + 1 if nu > 0 else k
    r_est = int(np.sum(vals > vals[0] * np.finfo(float).eps ** 0.9))
    if r_est < k1:
        k1 = k = r_est
        nu = 0.0
    vec = vecs[:, :k1].copy()
    if nu > 0 and k > 0:
        if k > 1:
            vec[:, : k - 1] = vec[:, : k - 1] / np.sqrt(vals[: k - 1])
        b12 = np.sqrt(max(0.5 * nu * (1 - nu), 0.0))
        B = np.array([[1.0, b12], [b12, nu]])
        ev = np.diag(vals[k - 1 : k1] ** -0.5)
        B = ev @ B @ ev
        eb_val, eb_vec = np.linalg.eigh(B)
        rB = eb_vec @ np.diag(np.sqrt(eb_val)) @ eb_vec.T
        vec[:, k - 1 : k1] = (rB @ vec[:, k - 1 : k1].T).T
    else:
        vec = vec / np.sqrt(vals[: vec.shape[1]]) if k > 0 else vec / np.sqrt(vals[0])
    d = vec.T @ (R @ p)
    return float(np.sum(d**2))


def tidy_gamm(fit: GammResult, **_: Any) -> pd.DataFrame:
    """broom's ``tidy(gam)`` for the smooths: term, edf, ref.df, statistic, p.value."""
    t = fit.smooth_table()
    return pd.DataFrame(
        {
            "term": list(t.index),
            "edf": t["edf"].to_numpy(),
            "ref.df": t["Ref.df"].to_numpy(),
            "statistic": t["F"].to_numpy(),
            "p.value": t["p-value"].to_numpy(),
        }
    )


def glance_gamm(fit: GammResult, **_: Any) -> pd.DataFrame:
    """df (total edf), logLik of the mixed model, nobs."""
    return pd.DataFrame(
        {"df": [float(fit.edf()["total"])], "logLik": [fit.loglik], "nobs": [len(fit._frame)]}
    )
