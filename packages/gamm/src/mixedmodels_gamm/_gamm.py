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
from ._smooth2random import MixedSmooth, blocks2random, smooth2random
from ._t2 import t2_basis
from ._terms import SmoothSpec, split_smooths
from ._tprs import tprs

__all__ = ["GammResult", "gamm4", "glance_gamm", "tidy_gamm"]

# W of the Woodbury identity with a dense Zo up to n x q entries (else sparse).
_DENSE_WOODBURY = 2_000_000


@dataclass
class _Smooth:
    spec: SmoothSpec
    label: str  # mgcv's label: "s(x)", "s(x):fa" for level a of by = f
    basis: Any  # TPRS or CRS: predict_matrix(x)
    X: FloatArray  # the smooth's (constrained) columns at the data, by-level rows only
    mixed: MixedSmooth
    fixed_cols: list[str]
    groups: list[tuple[str, list[str]]]  # random-effect groups and their columns

    @property
    def Xc(self) -> FloatArray:
        """The columns of the reported smooth: a ``t2`` is centred over the data (mgcv
        predicts it under a sum-to-zero constraint, its fit constrains only the
        unpenalised block)."""
        return self.X - self.X.mean(axis=0) if self.spec.bs == "t2" else self.X


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
        """Variance of each smooth's penalised coefficients (``sigma_b^2``); a ``t2``
        has one per penalty (``"t2(x,z)[1]"``, ...)."""
        covs = self._covariances()
        out = {}
        for s in self._smooths:
            for j, (group, _) in enumerate(s.groups):
                key = s.label if len(s.groups) == 1 else f"{s.label}[{j + 1}]"
                out[key] = float(covs[group][0, 0])
        return pd.Series(out, name="variance")

    def _coef(self, s: _Smooth) -> FloatArray:
        """The smooth's coefficients in its (constrained) basis."""
        a = self.mer.fixef[s.fixed_cols].to_numpy()
        ranef = self.mer.ranef()
        b = np.concatenate([ranef[g].loc[:, cols].to_numpy()[0] for g, cols in s.groups])
        return np.asarray(s.mixed.Uf @ a + s.mixed.Ur @ b, dtype=np.float64)

    def smooth_values(self, label: str | None = None) -> pd.Series:
        """The fitted smooth ``f(x)`` at the data (centred, as mgcv's)."""
        s = self._get(label)
        return pd.Series(s.Xc @ self._coef(s), index=self._frame.index, name=s.label)

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
            out = out + s.X @ self._coef(s)
        return pd.Series(out, index=self._frame.index, name="fitted")

    def _covariances(self) -> dict[str, FloatArray]:
        """Each random-effect term's covariance matrix by group (computed once)."""
        if not hasattr(self, "_covs"):
            self._covs = {k: v.to_numpy() for k, v in self.mer.covariance_matrices().items()}
        return self._covs

    def _penalised_system(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``C'WC``, the penalty diagonal ``D`` and ``C`` (fixed columns, then each
        smooth's random columns), with ``W`` the relative precision of the residual
        and the other random effects (Woodbury over their levels); computed once."""
        if not hasattr(self, "_system"):
            sigma2 = float(self.mer.sigma) ** 2
            X = np.asarray(self.mer.model.X)
            cols = [X]
            pen = [np.zeros(X.shape[1])]
            covs = self._covariances()
            for s in self._smooths:
                cols.append(s.mixed.Xr)
                for group, gcols in s.groups:
                    var = float(covs[group][0, 0])
                    # a zero variance: gamm4's smoothing parameter 1e10
                    pen.append(np.full(len(gcols), sigma2 / var if var > 0 else 1e10))
            C = np.column_stack(cols)
            self._system = (C.T @ self._apply_w(C), np.concatenate(pen), C)
        return self._system

    def _apply_w(self, M: FloatArray) -> FloatArray:
        """``W M`` with ``W = (I + Zo G Zo')^-1`` the relative precision of the
        residual and the random effects other than the smooths (Woodbury: ``I - Zo
        (G^-1 + Zo'Zo)^-1 Zo'``, over their levels; ``Zo`` dense when small, else
        sparse)."""
        if not hasattr(self, "_woodbury"):
            mer = self.mer
            model = mer.model
            sigma2 = float(mer.sigma) ** 2
            n = len(self._frame)
            smooth_groups = {g for s in self._smooths for g, _ in s.groups}
            covs = self._covariances()
            others = [
                (t, name)
                for t, name in zip(model.terms, model.group_names, strict=True)
                if t.group_name not in smooth_groups
            ]
            q = sum(t.n_levels * t.dim for t, _ in others)
            Zo: Any
            self._woodbury: tuple[Any, FloatArray] | None = None
            if others:
                G = np.zeros((q, q))
                dense = n * q <= _DENSE_WOODBURY
                parts = []
                off = 0
                for t, name in others:
                    d, nl = t.dim, t.n_levels
                    cols = (t.codes[:, None] * d + np.arange(d)[None, :]) + off
                    parts.append((cols.ravel(), t.Z.ravel()))
                    blk = covs[name] / sigma2
                    idx = off + np.arange(nl * d).reshape(nl, d)
                    G[idx[:, :, None], idx[:, None, :]] = blk
                    off += nl * d
                cols_all = np.concatenate([c for c, _ in parts])
                vals = np.concatenate([v for _, v in parts])
                rows_all = np.concatenate([np.repeat(np.arange(n), t.dim) for t, _ in others])
                if dense:
                    Zo = np.zeros((n, q))
                    np.add.at(Zo, (rows_all, cols_all), vals)
                    ZtZ = Zo.T @ Zo
                else:
                    Zo = sp.csr_matrix((vals, (rows_all, cols_all)), shape=(n, q))
                    ZtZ = (Zo.T @ Zo).toarray()
                inner = np.linalg.pinv(G) + ZtZ
                self._woodbury = (Zo, inner)
        if self._woodbury is None:
            return M
        Zo, inner = self._woodbury
        return np.asarray(M - Zo @ np.linalg.solve(inner, np.asarray(Zo.T @ M)), dtype=np.float64)

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
        X = s.Xc
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))
        return pd.Series(se, index=self._frame.index, name=s.label)

    def smooth_table(self) -> pd.DataFrame:
        """Approximate significance of the smooths, as mgcv's ``summary(G$gam)$s.table``:
        edf, Ref.df, F (``Chi.sq`` when the scale is known: non-Gaussian families) and
        p-value, by mgcv's ``testStat`` (Wood 2013) with gamm4's ``X = object$R`` (the
        smooth's columns weighted by the marginal precision of the residual and the
        other random effects) and the residual df ``n - sum(edf)``.

        The p-value does not depend on the basis coordinates.  The statistic does
        (through an eigenvector sign convention) and is mgcv's for ``bs = "cr"``,
        whose columns are mgcv's own; for thin-plate smooths it is one of the two
        statistics whose p-values mgcv averages.  mgcv evaluates the p-value by
        Davies' algorithm (absolute accuracy 2e-5), we by Imhof's formula (1e-12):
        they agree to that accuracy (observed: 4e-7).

        For ``t2()`` smooths this is computed consistently in the fitting
        parametrisation; gamm4's summary differs there (it takes the coefficients in
        mgcv's prediction parametrisation, sum-to-zero over all columns, with the
        weighted model matrix of the fitting one), so its t2 row is not reproduced.
        """
        from ._teststat import test_stat

        edf = self.edf()
        n = len(self._frame)
        gaussian = not hasattr(self.mer, "family")
        res_df = float(n - edf["total"]) if gaussian else -1.0
        scale = float(self.mer.sigma) ** 2 if gaussian else 1.0
        rows = []
        for s in self._smooths:
            lab = s.label
            gram = s.X.T @ self._apply_w(s.X) / scale
            R = np.asarray(np.linalg.cholesky((gram + gram.T) / 2.0).T, dtype=np.float64)
            rank = min(float(s.X.shape[1]), float(edf[lab]))
            t = test_stat(self._coef(s), R, self.smooth_vcov(lab), rank, res_df)
            stat = t.stat / t.rank if gaussian else t.stat
            rows.append((lab, float(edf[lab]), t.rank, stat, t.pval))
        cols = ["term", "edf", "Ref.df", "F" if gaussian else "Chi.sq", "p-value"]
        return pd.DataFrame(rows, columns=cols).set_index("term")

    def format_smooth_table(self) -> str:
        """The smooth-term block of mgcv's ``print(summary(G$gam))``."""
        from mixedmodels.extending import format_coefmat

        t = self.smooth_table()
        body = format_coefmat(list(t.index), list(t.columns), t.to_numpy(), digits=4)
        return "Approximate significance of smooth terms:\n" + body

    def plot_smooth(self, label: str | None = None, ax: Any = None, level: float = 0.95) -> Any:
        """Plot a smooth with pointwise confidence bands (mgcv's ``plot.gam``); needs
        matplotlib."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as err:  # optional dependency
            raise ImportError("plot_smooth needs matplotlib: pip install matplotlib") from err
        from scipy import stats

        s = self._get(label)
        if s.spec.bs == "t2":
            raise ValueError(f"{s.label}: plot_smooth draws one-covariate smooths only")
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
        of ``f``, each centred; put ``f`` itself in the formula, as mgcv requires),
        numeric-by smooths ``s(x, by = w)`` (the smooth multiplied by the numeric
        ``w``, without the centring constraint, as mgcv) and parametric terms.
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
        for lab, X, basis in _smooth_columns(spec, frame):
            i = len(smooths)
            if spec.bs == "t2":
                mixed = blocks2random(X, basis.blocks)
            elif numeric_by(spec, frame):
                # numeric by: the unconstrained basis times the variable (mgcv applies
                # no centring constraint); thin-plate null columns [1, x] at unit RMS
                tp = spec.bs != "cr"
                mixed = smooth2random(
                    X,
                    basis.S_full,
                    rms_of=basis.X_full if tp else None,
                    null=basis.null_columns if tp else None,
                )
            else:
                mixed = smooth2random(X, basis.S, rms_of=None if spec.bs == "cr" else basis.X)
            stem = f"sm{i}_{spec.var}"
            fcols = [f"{stem}_F{j + 1}" for j in range(mixed.Xf.shape[1])]
            rcols = [f"{stem}_Z{j + 1}" for j in range(mixed.Xr.shape[1])]
            new = {c: mixed.Xf[:, j] for j, c in enumerate(fcols)}
            new.update({c: mixed.Xr[:, j] for j, c in enumerate(rcols)})
            sizes = mixed.blocks or [len(rcols)]
            groups = []
            ends = np.cumsum(sizes)
            for b, (lo, hi) in enumerate(zip(ends - np.asarray(sizes), ends, strict=True)):
                group = f"Xr_{stem}" if len(sizes) == 1 else f"Xr_{stem}_{b + 1}"
                new[group] = np.full(len(frame), "1")
                gcols = rcols[lo:hi]
                randoms.append(f"homdiag(0 + {' + '.join(gcols)} | {group})")
                groups.append((group, gcols))
            frame = pd.concat([frame, pd.DataFrame(new, index=frame.index)], axis=1)
            parts.extend(fcols)
            smooths.append(_Smooth(spec, lab, basis, X, mixed, fcols, groups))
    if random:
        randoms.insert(0, random.strip().lstrip("~").strip())
    full = f"{response} ~ {' + '.join(parts + randoms)}"
    mer: Any
    if family == "gaussian":
        mer = mm.lmm(full, frame, reml=reml)
    else:
        mer = mm.glmm(full, frame, family=family)
    return GammResult(mer, smooths, frame, response)


def _covariate(spec: SmoothSpec, var: str, frame: pd.DataFrame) -> FloatArray:
    if var not in frame.columns:
        raise ValueError(f"{spec.label}: column {var!r} not found in data")
    x = pd.to_numeric(frame[var], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{spec.label}: column {var!r} must be numeric without missing values")
    return x


def numeric_by(spec: SmoothSpec, frame: pd.DataFrame) -> bool:
    """Whether the smooth has a numeric (not factor, not boolean) ``by`` variable."""
    if spec.by is None or spec.by not in frame.columns:
        return False
    dtype = frame[spec.by].dtype
    return bool(
        pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_bool_dtype(dtype)
        and not isinstance(dtype, pd.CategoricalDtype)
    )


def _smooth_columns(spec: SmoothSpec, frame: pd.DataFrame) -> list[tuple[str, Any, Any]]:
    """The smooth's basis at the data, one entry per by-factor level (mgcv's
    ``smoothCon``: one basis over all rows, centred over all rows, then multiplied by
    each level's indicator; an ordered factor's first level gets no smooth)."""
    x = _covariate(spec, spec.var, frame)
    if spec.bs == "t2":
        assert spec.var2 is not None
        t2 = t2_basis(x, _covariate(spec, spec.var2, frame), spec.k, spec.label)
        return [(spec.label, t2.X, t2)]
    basis = cr_basis(x, spec.k, spec.label) if spec.bs == "cr" else tprs(x, spec.k, spec.label)
    if spec.by is None:
        return [(spec.label, basis.X, basis)]
    if spec.by not in frame.columns:
        raise ValueError(f"{spec.label}: by = {spec.by!r} is not a column of the data")
    col = frame[spec.by]
    if numeric_by(spec, frame):
        w = _covariate(spec, spec.by, frame)
        if np.ptp(w) == 0:
            raise ValueError(
                f"{spec.label}: by = {spec.by!r} is constant; a constant numeric 'by' "
                "only rescales the smooth: drop it (or use s(x))"
            )
        assert basis.X_full is not None
        return [(f"{spec.label}:{spec.by}", w[:, None] * basis.X_full, basis)]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("category")
    levels = list(col.cat.categories)
    if col.cat.ordered and len(levels) > 1:
        levels = levels[1:]
    codes = col.to_numpy()
    out = []
    for lev in levels:
        ind = (codes == lev).astype(np.float64)
        if not ind.any():
            raise ValueError(f"{spec.label}: level {lev!r} of by = {spec.by!r} has no rows")
        out.append((f"{spec.label}:{spec.by}{lev}", ind[:, None] * basis.X, basis))
    return out


def tidy_gamm(fit: GammResult, **_: Any) -> pd.DataFrame:
    """broom's ``tidy(gam)`` for the smooths: term, edf, ref.df, statistic, p.value."""
    t = fit.smooth_table()
    return pd.DataFrame(
        {
            "term": list(t.index),
            "edf": t["edf"].to_numpy(),
            "ref.df": t["Ref.df"].to_numpy(),
            "statistic": t.iloc[:, 2].to_numpy(),
            "p.value": t["p-value"].to_numpy(),
        }
    )


def glance_gamm(fit: GammResult, **_: Any) -> pd.DataFrame:
    """df (total edf), logLik of the mixed model, nobs."""
    return pd.DataFrame(
        {"df": [float(fit.edf()["total"])], "logLik": [fit.loglik], "nobs": [len(fit._frame)]}
    )
