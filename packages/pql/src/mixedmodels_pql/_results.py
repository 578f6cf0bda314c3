"""The glmmPQL fit: the last weighted LMM, read as nlme reports a glmmPQL object."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedmodels import Model

from ._fit import PQLIterations
from ._glm import GLMStart

__all__ = ["PQLResult"]


def _between_columns(X: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Columns constant within every level of ``codes`` (nlme's outer covariates)."""
    n_lev = int(codes.max()) + 1
    out = np.zeros(X.shape[1], dtype=bool)
    for j in range(X.shape[1]):
        x = X[:, j]
        lo = np.full(n_lev, np.inf)
        hi = np.full(n_lev, -np.inf)
        np.minimum.at(lo, codes, x)
        np.maximum.at(hi, codes, x)
        out[j] = bool(np.all(hi - lo <= 1e-12 * (1 + np.abs(hi))))
    return out


class PQLResult:
    """A GLMM fitted by penalized quasi-likelihood (MASS's ``glmmPQL``).

    It is a quasi-likelihood fit: :attr:`loglik`, :attr:`aic` and :attr:`bic` are NaN,
    as R's ``logLik`` of a glmmPQL object is ``NA``.

    Attributes
    ----------
    fixef : pandas.Series
    vcov : pandas.DataFrame
        ``varFix`` of the last weighted LMM (nlme's ``vcov``).
    sigma : float
        Residual scale of the working LMM (the square root of the dispersion).
    iterations : int
    converged : bool
    lmm : mixedmodels.LMMResult
        The last working LMM fit (its likelihood is that of the working model, not of
        the data).
    """

    loglik = float("nan")
    aic = float("nan")
    bic = float("nan")

    def __init__(self, model: Model, it: PQLIterations, start: GLMStart, data_name: str = "data"):
        self.model = model
        self.family = model.family
        self.link = model.link
        self.lmm = it.lmm
        self._it = it
        self._start = start
        self.data_name = data_name
        self.iterations = it.iterations
        self.converged = it.converged
        self.nobs = len(model.design.row_index)

    # built on first use: on a small data set they cost as much as a working fit
    @functools.cached_property
    def fixef(self) -> pd.Series:
        """Fixed effects of the last working fit."""
        return self.lmm.fixef.rename("estimate")

    @functools.cached_property
    def vcov(self) -> pd.DataFrame:
        """Their covariance (the working LMM's)."""
        return self.lmm.vcov

    @functools.cached_property
    def sigma(self) -> float:
        """Residual standard deviation of the working LMM."""
        return float(self.lmm.sigma)

    # ---------------------------------------------------------------------------
    def fixef_df(self) -> pd.Series:
        """nlme's denominator df (one grouping level): columns that vary within groups
        (and the intercept) get ``N - groups - p_within``; columns constant within
        groups get ``groups - 1 - p_between``."""
        X = np.asarray(self.lmm.model.X)
        names = list(self.fixef.index)
        terms = self.lmm.model.terms
        if len(terms) != 1:
            # nlme's multilevel rule is not reproduced: use the innermost level
            inner = np.zeros(X.shape[1], dtype=bool)
        else:
            inner = ~_between_columns(X, terms[0].codes)
        is_int = np.array([n == "(Intercept)" for n in names])
        between = ~inner & ~is_int
        n_groups = terms[0].n_levels if len(terms) == 1 else max(t.n_levels for t in terms)
        within_df = self.nobs - n_groups - int(np.sum(~between & ~is_int))
        between_df = n_groups - 1 - int(np.sum(between))
        df = np.where(between, between_df, within_df)
        return pd.Series(df.astype(np.int64), index=names, name="DF")

    def coef_table(self) -> pd.DataFrame:
        """nlme's ``summary(fit)$tTable``: Value, Std.Error (ML SEs scaled by
        ``sqrt(N / (N - p))``, nlme's ``adjustSigma``), DF, t-value, p-value."""
        p = len(self.fixef)
        se = np.sqrt(np.diag(self.vcov.to_numpy())) * np.sqrt(self.nobs / (self.nobs - p))
        df = self.fixef_df()
        t = self.fixef.to_numpy() / se
        pv = 2 * stats.t.sf(np.abs(t), df.to_numpy())
        return pd.DataFrame(
            {
                "Value": self.fixef.to_numpy(),
                "Std.Error": se,
                "DF": df.to_numpy(),
                "t-value": t,
                "p-value": pv,
            },
            index=self.fixef.index,
        )

    def varcorr(self) -> pd.DataFrame:
        """Variance components (grp, var1, var2, vcov, sdcor)."""
        return self.lmm.varcorr()

    def ranef(self, **kwargs: Any) -> Any:
        """Conditional modes of the random effects of the working LMM."""
        return self.lmm.ranef(**kwargs)

    def structure_parameters(self) -> pd.DataFrame:
        """Residual-correlation (and random-effect) parameters with Wald intervals."""
        return self.lmm.structure_parameters()

    def fitted(self, type: str = "link", level: int = 1) -> pd.Series:
        """Fitted values on the link scale (R's ``fitted(fit)``) or the response scale;
        ``level=0`` leaves the random effects out."""
        if level == 1:
            eta = np.asarray(self._it.eta)
        else:
            eta = np.asarray(self.lmm.model.X) @ self.fixef.to_numpy()
            if self.model.offset is not None:
                eta = eta + self.model.offset
        out = eta if type == "link" else self.link.inverse(eta)
        return pd.Series(out, index=self.model.design.row_index, name="fitted")

    def predict(self, newdata: Any = None, type: str = "link", re_form: str | None = None) -> Any:
        """Predictions on the link or response scale (``re_form="~0"``: population)."""
        if newdata is None:
            return self.fitted(type=type, level=0 if re_form is not None else 1)
        eta = np.asarray(self.lmm.predict(newdata, re_form=re_form), dtype=np.float64)
        return eta if type == "link" else self.link.inverse(eta)

    def summary(self) -> str:
        """nlme's summary of a glmmPQL fit, saying it is a quasi-likelihood fit."""
        from ._summary import format_summary

        return format_summary(self)

    def __repr__(self) -> str:
        return (
            f"<PQLResult {self.model.formula!r} family={self.family.name} "
            f"iterations={self.iterations}>"
        )
