"""The fitted cumulative link mixed model (ordinal's ``clmm`` object)."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mixedmodels.interfaces import FloatArray

from ._criterion import ClmmProblem, Mode, term_factor
from ._fit import FitOutcome

__all__ = ["ClmmResult"]

#: log standard deviations below this are at the boundary (variance zero).
_BOUNDARY_LOGSD = -7.0


@dataclass
class ClmmSpec:
    """What the fit was asked for, kept for printing and prediction."""

    formula: str
    data_name: str
    response: str
    levels: list[str]
    link: str
    threshold: str
    nagq: int
    alpha_names: list[str]
    beta_names: list[str]
    row_index: pd.Index
    model: Any
    nominal_model: Any = None  # the Model whose fixed matrix is the nominal design


class ClmmResult:
    """A cumulative link mixed model fitted by Laplace or adaptive quadrature.

    Attributes
    ----------
    alpha : pandas.Series
        Threshold parameters (``"1|2"``, ... for flexible thresholds; ``threshold.1``,
        ``spacing`` for equidistant; ``central``, ``spacing.k`` for symmetric).
    thresholds : pandas.Series
        The thresholds ``theta = tJac @ alpha``, one per adjacent pair of levels.
    beta : pandas.Series
        Location coefficients (``P(Y <= j) = F(theta_j - x'beta - z'b)``).
    loglik, aic, bic : float
    nobs : int
    fixef : pandas.Series
        Threshold parameters then location coefficients (ordinal's ``coef``).
    vcov : pandas.DataFrame
        Their covariance (the rows and columns of :attr:`vcov_full` for ``fixef``).
    vcov_full : pandas.DataFrame
        Inverse of the finite-difference Hessian of ``-log L`` in (alpha, beta, ST),
        ST being the log standard deviation (and, for vector terms, T's entries) of each
        random-effect term, as ordinal's ``vcov``; parameters on the boundary
        (variance zero) are left out, as ordinal does.
    converged : bool
    """

    def __init__(self, problem: ClmmProblem, outcome: FitOutcome, mode: Mode, spec: ClmmSpec):
        self._problem = problem
        self._outcome = outcome
        self._mode = mode
        self.spec = spec
        pb = problem
        par = outcome.par
        alpha, beta, sts = pb.split(par)
        self._alpha_values, self._beta_values = alpha, beta
        self._sts = sts
        self.loglik = -float(outcome.nll)
        self.df = int(pb.n_par)
        self.nobs = int(pb.n)
        self.aic = -2 * self.loglik + 2 * self.df
        self.bic = -2 * self.loglik + np.log(self.nobs) * self.df
        self.converged = outcome.converged
        self.n_eval = outcome.n_eval
        self.max_grad = float(np.max(np.abs(outcome.gradient)))
        self.singular = bool(self._boundary().any())

    # the pandas views are built when first asked for (a fit on a small data set
    # takes about as long as building them all)
    @functools.cached_property
    def alpha(self) -> pd.Series:
        return pd.Series(self._alpha_values, index=self.spec.alpha_names, name="alpha")

    @functools.cached_property
    def thresholds(self) -> pd.Series:
        pb, levels = self._problem, self.spec.levels
        pairs = [f"{a}|{b}" for a, b in itertools.pairwise(levels)]
        # with nominal effects: the thresholds at the nominal terms' baseline
        theta = pb.tjac @ self._alpha_values[: pb.tjac.shape[1]]
        return pd.Series(theta, index=pairs, name="threshold")

    @functools.cached_property
    def beta(self) -> pd.Series:
        return pd.Series(self._beta_values, index=self.spec.beta_names, name="beta")

    @functools.cached_property
    def _kept_hessian(self) -> tuple[FloatArray, list[str]]:
        spec = self.spec
        names = list(spec.alpha_names) + list(spec.beta_names) + self._st_names()
        keep = ~self._boundary()
        kept = [n for n, k in zip(names, keep, strict=True) if k]
        return self._outcome.hessian[np.ix_(keep, keep)], kept

    @functools.cached_property
    def vcov_full(self) -> pd.DataFrame:
        H, kept = self._kept_hessian
        try:
            V = np.linalg.inv(H)
        except np.linalg.LinAlgError:
            V = np.full_like(H, np.nan)
        return pd.DataFrame(V, index=kept, columns=kept)

    @functools.cached_property
    def cond_hessian(self) -> float:
        """Condition number of the Hessian (ordinal's ``cond.H``)."""
        ev = np.linalg.eigvalsh(self._kept_hessian[0])
        return float(ev.max() / ev.min()) if ev.min() > 0 else np.inf

    # ---------------------------------------------------------------------------
    def _st_names(self) -> list[str]:
        out, k = [], 1
        for t in self._problem.terms:
            for _ in range(t.n_st):
                out.append(f"ST{k}")
                k += 1
        return out

    def _boundary(self) -> np.ndarray:
        pb = self._problem
        flags = np.zeros(pb.n_par, dtype=bool)
        k = pb.n_alpha + pb.n_beta
        for t, st in zip(pb.terms, self._sts, strict=True):
            flags[k : k + t.dim] = st[: t.dim] < _BOUNDARY_LOGSD
            k += t.n_st
        return flags

    @property
    def fixef(self) -> pd.Series:
        """Threshold parameters then location coefficients (as :attr:`coefficients`)."""
        return self.coefficients.rename("estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of :attr:`fixef` (from :attr:`vcov_full`)."""
        names = list(self.coefficients.index)
        return self.vcov_full.loc[names, names]

    @property
    def coefficients(self) -> pd.Series:
        """Thresholds parameters then location coefficients (ordinal's ``coef``)."""
        return pd.concat([self.alpha, self.beta]).rename("coefficients")

    @property
    def std_errors(self) -> pd.Series:
        names = list(self.coefficients.index)
        v = np.sqrt(np.diag(self.vcov_full.loc[names, names].to_numpy()))
        return pd.Series(v, index=names, name="std.error")

    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, z value and Pr(>|z|) (``summary(fit)$coefficients``)."""
        est = self.coefficients
        se = self.std_errors
        z = est / se
        p = 2 * stats.norm.sf(np.abs(z))
        return pd.DataFrame(
            {"Estimate": est, "Std. Error": se, "z value": z, "Pr(>|z|)": p}, index=est.index
        )

    def covariances(self) -> list[FloatArray]:
        """Per random-effect term, its covariance matrix ``Lambda Lambda'``."""
        out = []
        for t, st in zip(self._problem.terms, self._sts, strict=True):
            L = term_factor(st, t.dim)
            if t.dim == 1 and st[0] < _BOUNDARY_LOGSD:
                L = np.zeros((1, 1))
            out.append(L @ L.T)
        return out

    def varcorr(self) -> pd.DataFrame:
        """Variance components in lme4's ``as.data.frame(VarCorr(fit))`` layout
        (grp, var1, var2, vcov, sdcor)."""
        rows: list[tuple[str, str, str | None, float, float]] = []
        for t, S in zip(self._problem.terms, self.covariances(), strict=True):
            sd = np.sqrt(np.diag(S))
            for i, name in enumerate(t.column_names):
                rows.append((t.group, name, None, S[i, i], sd[i]))
            for j in range(t.dim):
                for i in range(j + 1, t.dim):
                    den = sd[i] * sd[j]
                    r = S[i, j] / den if den > 0 else np.nan
                    rows.append((t.group, t.column_names[j], t.column_names[i], S[i, j], r))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects per grouping factor, with their
        conditional SDs (``ranef(fit)`` and ``sqrt(condVar(fit))``), in level order."""
        pb = self._problem
        blocks = pb.inverse_diag_blocks(self._mode)
        out: dict[str, pd.DataFrame] = {}
        for k, (t, st) in enumerate(zip(pb.terms, self._sts, strict=True)):
            L = term_factor(st, t.dim)
            u = self._mode.u[pb._col_offsets[k] : pb._col_offsets[k + 1]].reshape(t.n_levels, t.dim)
            b = u @ L.T
            cv = L[None] @ blocks[k] @ L.T[None]
            sd = np.sqrt(np.diagonal(cv, axis1=1, axis2=2))
            frame = pd.DataFrame(b, index=pd.Index(t.levels, name=t.group), columns=t.column_names)
            for i, name in enumerate(t.column_names):
                frame[f"condsd[{name}]"] = sd[:, i]
            out[t.group] = frame
        return out

    def fitted(self) -> pd.Series:
        """Fitted probability of the observed category, at the conditional modes."""
        return pd.Series(self._mode.fitted, index=self.spec.row_index, name="fitted")

    def _linear_predictor(self, newdata: Any, re_form: str | None) -> tuple[FloatArray, pd.Index]:
        """``x'beta + z'b`` for the rows of ``newdata`` (or the fitted data)."""
        pb = self._problem
        if newdata is None:
            loc = pb.X @ self.beta.to_numpy() + pb.offset
            if re_form is None:
                zl = pb._zl(self._sts)
                loc = loc + pb._b_expanded(zl, self._mode.u)
            return loc, self.spec.row_index
        design = self.spec.model.design
        frame = pd.DataFrame(newdata)
        Xn = design.fixed_matrix(frame)
        cols = [design.fixef_names.index(c) for c in self.spec.beta_names]
        loc = Xn[:, cols] @ self.beta.to_numpy()
        off = design.offset_for(frame)
        if off is not None:
            loc = loc + off
        if re_form is None:
            ran = self.ranef()
            for t, (Z, codes) in zip(design.terms, design.random_matrices(frame), strict=True):
                coef = ran[t.group_name][t.column_names].to_numpy()
                seen = codes >= 0  # new levels get the population value (zero)
                add = (Z * coef[np.where(seen, codes, 0)]).sum(axis=1)
                loc = loc + np.where(seen, add, 0.0)
        elif re_form.replace(" ", "") not in ("~0", "NA"):
            raise ValueError(f"re_form must be None or '~0', got {re_form!r}")
        return loc, frame.index

    def _row_thresholds(self, newdata: Any) -> FloatArray:
        """Thresholds per row (n x K-1): the same for all rows without nominal effects."""
        pb = self._problem
        theta = np.asarray(self.thresholds.to_numpy(), dtype=np.float64)[None, :]
        if pb.nominal is None:
            return theta
        if newdata is None:
            W = pb.nominal
        else:
            W = self.spec.nominal_model.design.fixed_matrix(pd.DataFrame(newdata))
        A = self.alpha.to_numpy().reshape(W.shape[1], -1) @ pb.tjac.T
        return np.asarray(W @ A, dtype=np.float64)

    def predict(
        self, newdata: Any = None, type: str = "prob", re_form: str | None = None
    ) -> pd.DataFrame | pd.Series:
        """Category probabilities (``type="prob"``: one column per level), the most
        probable category (``"class"``) or the cumulative probabilities
        (``"cum.prob"``: ``P(Y <= j)``).

        Parameters
        ----------
        newdata
            Rows to predict for (the fitted data if ``None``); the response column is
            not needed.
        re_form
            ``None`` (default) conditions on the random effects' conditional modes
            (levels not seen in the fit get zero); ``"~0"`` sets them to zero.
        """
        loc, index = self._linear_predictor(newdata, re_form)
        theta = self._row_thresholds(newdata)
        F = self._problem.link.cdf(theta - loc[:, None])
        cum = np.column_stack([F, np.ones(len(loc))])
        probs = np.diff(np.column_stack([np.zeros(len(loc)), cum]), axis=1)
        levels = self.spec.levels
        if type == "prob":
            return pd.DataFrame(probs, index=index, columns=levels)
        if type == "cum.prob":
            return pd.DataFrame(cum, index=index, columns=levels)
        if type == "class":
            cat = pd.Categorical.from_codes(
                np.argmax(probs, axis=1), categories=pd.Index(levels), ordered=True
            )
            return pd.Series(cat, index=index, name="class")
        raise ValueError(f"type must be 'prob', 'cum.prob' or 'class', got {type!r}")

    # ---------------------------------------------------------------------------
    def summary(self) -> str:
        """ordinal's ``summary(clmm)`` printout."""
        from ._summary import format_summary

        return format_summary(self)

    def __repr__(self) -> str:
        return (
            f"<ClmmResult {self.spec.formula!r} link={self.spec.link} "
            f"threshold={self.spec.threshold} logLik={self.loglik:.4f}>"
        )
