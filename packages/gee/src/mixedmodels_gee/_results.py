"""The fitted GEE model: coefficients, variances, correlation, predictions, tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.extending import Summary
from mixedmodels.interfaces import Family, FloatArray, Link

from ._clusters import ClusterLayout, format_time
from ._correlation import Unstructured, WorkingCorrelation
from ._fit import GEEFit
from ._inference import anova_terms, coef_table, qic_of, wald_test
from ._summary import format_summary
from ._threads import single_blas_thread
from ._variance import (
    VCOV_LABELS,
    ClusterScores,
    cluster_scores,
    compute_vcov,
    normalize_vcov_type,
    nuisance_vcov,
)

__all__ = ["GEEResult"]


@dataclass
class FitData:
    """The data of a fit, in the order of the rows used (before sorting by cluster).

    ``X`` has the model's (full-rank) columns; ``y`` is the response on the scale of the
    family (a proportion for the binomial, with the trials in ``w``).
    """

    X: FloatArray
    y: FloatArray
    w: FloatArray
    offset: FloatArray
    row_index: pd.Index
    layout: ClusterLayout
    options: dict[str, Any] = field(default_factory=dict)


class GEEResult:
    """A fitted generalized estimating equations model.

    Create it with :func:`mixedmodels_gee.gee` or ``Model(...).fit(method="gee")``.
    The variance used by :attr:`vcov`, :attr:`fixef_se`, :meth:`summary`, the tests and
    the tidiers is :attr:`std_err` (``"robust"`` by default); :meth:`get_vcov` gives any
    other, and :meth:`with_std_err` a copy of the result that uses another by default.

    Attributes
    ----------
    model
        The :class:`mixedmodels.Model` that was fitted.
    family, link
        The mean and variance model.
    corstr
        The working correlation structure (a :class:`WorkingCorrelation`).
    converged
        Whether the iterations converged.
    n_iter
        Number of iterations.
    """

    def __init__(
        self,
        model: Any,
        fit: GEEFit,
        data: FitData,
        family: Family,
        link: Link,
        std_err: str = "robust",
    ) -> None:
        self.model = model
        self.family = family
        self.link = link
        self.corstr: WorkingCorrelation = fit.ws.corr
        self._fit = fit
        self._data = data
        self._std_err = normalize_vcov_type(std_err)
        self._cache: dict[str, Any] = {}
        self.converged = bool(fit.converged)
        self.n_iter = int(fit.n_iter)
        self.fixef_names: list[str] = list(model.fixef_names)
        # Position among the rows used -> workspace row.
        order = fit.ws.order
        self._inverse = np.empty_like(order)
        self._inverse[order] = np.arange(order.shape[0])

    # ------------------------------------------------------------------ basic facts
    @property
    def std_err(self) -> str:
        """The default variance type (see :data:`mixedmodels_gee.VCOV_TYPES`)."""
        return self._std_err

    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return int(self._data.X.shape[0])

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return self._data.layout.n_clusters

    @property
    def max_cluster_size(self) -> int:
        """Rows in the largest cluster."""
        return self._data.layout.max_size

    @property
    def cluster_sizes(self) -> pd.Series:
        """Rows per cluster, indexed by the cluster labels."""
        lay = self._data.layout
        return pd.Series(lay.sizes, index=pd.Index(lay.labels, name="cluster"), name="size")

    @property
    def df_residual(self) -> int:
        """Observations minus coefficients."""
        return self.nobs - len(self.fixef_names)

    # ------------------------------------------------------------------ coefficients
    @property
    def fixef(self) -> pd.Series:
        """Estimated coefficients, named as R names them."""
        return pd.Series(self._fit.beta, index=self.fixef_names, name="estimate")

    @property
    def coef(self) -> pd.Series:
        """Alias of :attr:`fixef` (geepack's ``coef``)."""
        return self.fixef

    #: Whether the rows of the fit are held in this result (a fit on data held in
    #: chunks, e.g. a Dask frame, computes row-wise quantities by passes instead).
    rows_in_memory: bool = True

    def _subset_fit(self, cols: list[int], kind: str) -> tuple[FloatArray, FloatArray]:
        """The coefficients and their variance of type ``kind`` of the same model
        refitted on the columns ``cols`` only (sequential ``anova``)."""
        from ._inference import _refit

        beta, fit = _refit(self, cols)
        with single_blas_thread():
            V = compute_vcov(cluster_scores(fit), kind, n_corr_params=self.corstr.n_params)
        return beta, V

    def _independence_precision(self) -> FloatArray:
        """The model-based precision of the independence fit of the same model (QIC)."""
        if self.corstr.is_independence:
            return self._scores().omega
        key = "qic:independence"
        if key not in self._cache:
            from ._correlation import Independence
            from ._inference import _refit

            _, fit = _refit(self, range(self._data.X.shape[1]), corr=Independence())
            self._cache[key] = cluster_scores(fit).omega
        omega: FloatArray = self._cache[key]
        return omega

    def _quasi_likelihood(self) -> float:
        """geepack's quasi-likelihood at the fitted means (QIC)."""
        from ._inference import quasi_likelihood

        d = self._data
        return quasi_likelihood(self.family, d.y, self.fitted().to_numpy(), d.w)

    def _scores(self) -> ClusterScores:
        if "scores" not in self._cache:
            with single_blas_thread():
                self._cache["scores"] = cluster_scores(self._fit)
        scores: ClusterScores = self._cache["scores"]
        return scores

    def get_vcov(self, kind: str | None = None) -> pd.DataFrame:
        """Variance of the coefficients of a given type.

        Parameters
        ----------
        kind
            ``"robust"`` (sandwich; aliases ``"sandwich"``, ``"san.se"``), ``"naive"``
            (model-based), ``"jackknife"`` (geepack's approximate jackknife, ``"jack"``),
            ``"md"`` (Mancl-DeRouen), ``"kc"`` (Kauermann-Carroll), ``"fg"``
            (Fay-Graubard), ``"mbn"`` (Morel-Bokossa-Neerchal).  Default:
            :attr:`std_err`.

        Returns
        -------
        pandas.DataFrame
            Indexed by the coefficient names on both axes.
        """
        key = self._std_err if kind is None else normalize_vcov_type(kind)
        cache_key = f"vcov:{key}"
        if cache_key not in self._cache:
            opts = self._data.options
            with single_blas_thread():
                self._cache[cache_key] = compute_vcov(
                    self._scores(),
                    key,
                    n_corr_params=self.corstr.n_params,
                    fg_b=float(opts.get("fg_b", 0.75)),
                    mbn_d=float(opts.get("mbn_d", 2.0)),
                    mbn_r=float(opts.get("mbn_r", 1.0)),
                )
        v = self._cache[cache_key]
        return pd.DataFrame(v.copy(), index=self.fixef_names, columns=self.fixef_names)

    @property
    def vcov(self) -> pd.DataFrame:
        """Variance of the coefficients of the default type :attr:`std_err`."""
        return self.get_vcov()

    @property
    def fixef_se(self) -> pd.Series:
        """Standard errors of the coefficients (default variance type)."""
        v = self.get_vcov().to_numpy()
        return pd.Series(np.sqrt(np.maximum(np.diag(v), 0.0)), index=self.fixef_names)

    def std_errors(self, kind: str | None = None) -> pd.Series:
        """Standard errors of the coefficients under variance type ``kind``."""
        v = self.get_vcov(kind).to_numpy()
        return pd.Series(np.sqrt(np.maximum(np.diag(v), 0.0)), index=self.fixef_names)

    def with_std_err(self, kind: str) -> GEEResult:
        """A copy of this result whose default variance is ``kind`` (no refit)."""
        out = copy.copy(self)
        out._std_err = normalize_vcov_type(kind)
        return out

    # ------------------------------------------------------------------ nuisance
    @property
    def scale(self) -> float:
        """The scale (dispersion) ``phi``, estimated or fixed."""
        return float(self._fit.scale)

    @property
    def scale_fixed(self) -> bool:
        """Whether the scale was fixed rather than estimated."""
        return bool(self._fit.scale_fixed)

    @property
    def corr_params(self) -> pd.Series:
        """Working correlation parameters (empty for independence and fixed)."""
        return pd.Series(self._fit.alpha, index=list(self.corstr.param_names), name="estimate")

    def _nuisance(self) -> tuple[FloatArray | None, FloatArray | None]:
        if "nuisance" not in self._cache:
            scores = self._scores()
            with single_blas_thread():
                self._cache["nuisance"] = nuisance_vcov(self._fit, scores, self.family)
        out: tuple[FloatArray | None, FloatArray | None] = self._cache["nuisance"]
        return out

    @property
    def scale_se(self) -> float:
        """Sandwich standard error of the scale, as geepack's (NaN when fixed)."""
        vg, _ = self._nuisance()
        return float(np.sqrt(vg[0, 0])) if vg is not None else float("nan")

    @property
    def corr_params_se(self) -> pd.Series:
        """Sandwich standard errors of the correlation parameters, as geepack's."""
        _, va = self._nuisance()
        se = np.sqrt(np.diag(va)) if va is not None else np.full(self.corstr.n_params, np.nan)
        return pd.Series(se, index=list(self.corstr.param_names), name="std.error")

    def working_correlation(self) -> pd.DataFrame:
        """The working correlation over the distinct time points.

        Rows and columns are the distinct times (positions ``1..max size`` without a
        time variable); an unstructured pair never observed together is ``NaN``.
        """
        lay = self._data.layout
        t = lay.time_values
        T = t.shape[0]
        labels = format_time(t.tolist())
        if isinstance(self.corstr, Unstructured):
            R = self.corstr.matrix(self._fit.alpha)
        else:
            j, k = np.triu_indices(T, 1)
            keys = self.corstr.pair_keys(t[j], t[k], j.astype(np.int64), k.astype(np.int64))
            rho = np.where(
                np.isfinite(keys), self.corstr.rho(self._fit.alpha, np.nan_to_num(keys)), 0.0
            )
            R = np.eye(T)
            R[j, k] = rho
            R[k, j] = rho
        return pd.DataFrame(R, index=labels, columns=labels)

    # ------------------------------------------------------------------ fitted values
    def _unsort(self, values: FloatArray) -> FloatArray:
        return np.asarray(values[self._inverse], dtype=np.float64)

    def linear_predictor(self) -> pd.Series:
        """The linear predictor (offset included) of each row used."""
        return pd.Series(self._unsort(self._fit.eta), index=self._data.row_index, name="eta")

    def fitted(self) -> pd.Series:
        """Fitted means of the rows used (indexed by their labels in the data)."""
        return pd.Series(self._unsort(self._fit.mu), index=self._data.row_index, name="fitted")

    def residuals(self, type: str = "response") -> pd.Series:
        """Residuals of the rows used.

        Parameters
        ----------
        type
            ``"response"`` (``y - mu``), ``"pearson"`` (``(y - mu) sqrt(w / V(mu))``,
            without the scale, as R's glm), ``"working"`` (``(y - mu) / (dmu/deta)``) or
            ``"deviance"``.
        """
        d = self._data
        mu = self._unsort(self._fit.mu)
        r = d.y - mu
        if type == "response":
            out = r
        elif type == "pearson":
            out = r * np.sqrt(d.w / self.family.variance(mu))
        elif type == "working":
            out = r / self._unsort(self._fit.mu_eta)
        elif type == "deviance":
            out = self.family.deviance_residuals(d.y, mu, d.w)
        else:
            raise ValueError(
                f"unknown residual type {type!r}; use 'response', 'pearson', 'working' or "
                "'deviance'"
            )
        return pd.Series(np.asarray(out, dtype=np.float64), index=d.row_index, name=type)

    def predict(
        self,
        newdata: Any = None,
        type: str = "link",
        offset: Any = None,
        se_fit: bool = False,
    ) -> pd.Series | pd.DataFrame:
        """Predictions for the fitted rows or for new data.

        Parameters
        ----------
        newdata
            A data frame with the formula's columns; ``None``: the rows used in fitting.
        type
            ``"link"`` (linear predictor, as R's default) or ``"response"`` (mean).
        offset
            For new data: an offset column name or array, added to any ``offset()`` in
            the formula.  A column name given as ``offset=`` when fitting is looked up
            in ``newdata`` automatically.
        se_fit
            Also return standard errors (delta method, default variance type).

        Returns
        -------
        pandas.Series or pandas.DataFrame
            The predictions, or columns ``fit`` and ``se.fit`` when ``se_fit``.
        """
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', got {type!r}")
        if newdata is None:
            X = self._data.X
            eta = self._unsort(self._fit.eta)
            index = self._data.row_index
        else:
            design = self.model.design
            full = design.fixed_matrix(newdata)
            cols = [list(design.fixef_names).index(n) for n in self.fixef_names]
            X = full[:, cols]
            eta = X @ self._fit.beta
            off = design.offset_for(newdata)
            if off is not None:
                eta = eta + off
            extra = offset
            given = self._data.options.get("offset_arg")
            if extra is None and isinstance(given, str):
                extra = given
            if extra is not None:
                if isinstance(extra, str):
                    extra = pd.DataFrame(newdata)[extra].to_numpy(dtype=np.float64)
                eta = eta + np.asarray(extra, dtype=np.float64)
            index = pd.DataFrame(newdata).index
        if type == "link":
            fit = np.asarray(eta, dtype=np.float64)
        else:
            fit = np.asarray(self.link.inverse(eta), dtype=np.float64)
        if not se_fit:
            return pd.Series(fit, index=index, name="fit")
        V = self.get_vcov().to_numpy()
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, V, X), 0.0))
        if type == "response":
            se = se * np.abs(self.link.mu_eta(eta))
        return pd.DataFrame({"fit": fit, "se.fit": se}, index=index)

    # ------------------------------------------------------------------ tests & criteria
    def coef_table(self, std_err: str | None = None) -> pd.DataFrame:
        """geepack's coefficient table: Estimate, Std.err, Wald, Pr(>|W|)."""
        return coef_table(self, std_err)

    def confint(
        self, parm: Any = None, level: float = 0.95, std_err: str | None = None
    ) -> pd.DataFrame:
        """Wald confidence intervals of the coefficients, ``estimate -+ z SE``, with the
        robust (sandwich) standard errors by default: R's ``confint.default(<geeglm>)``,
        as geepack users compute them (geepack has no ``confint`` method).

        Parameters
        ----------
        parm
            Coefficient name(s) (default: all).
        level
            Coverage, strictly between 0 and 1.
        std_err
            Variance type (default :attr:`std_err`, ``"robust"`` unless changed):
            ``"naive"``, ``"jackknife"``, ``"md"``, ``"kc"``, ``"fg"``, ``"mbn"``.

        Returns
        -------
        pandas.DataFrame
            One row per coefficient, columns named as R's (``"2.5 %"``, ``"97.5 %"``).
        """
        from scipy import stats

        if not 0.0 < float(level) < 1.0:
            raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
        est = self.fixef
        se = self.std_errors(std_err)
        if parm is not None:
            names = [parm] if isinstance(parm, str) else list(parm)
            unknown = [n for n in names if n not in est.index]
            if unknown:
                raise KeyError(f"parm {unknown} are not coefficients ({list(est.index)})")
            est, se = est[names], se[names]
        a = (1.0 - float(level)) / 2.0
        z = float(stats.norm.ppf(1.0 - a))
        labels = [f"{100 * p:.3g} %" for p in (a, 1.0 - a)]
        return pd.DataFrame({labels[0]: est - z * se, labels[1]: est + z * se}, index=est.index)

    def wald_test(
        self,
        L: Any = None,
        rhs: Any = None,
        terms: Any = None,
        std_err: str | None = None,
    ) -> pd.Series:
        """Joint Wald test of ``L @ beta == rhs`` (or of all coefficients of ``terms``).

        Parameters
        ----------
        L
            Contrast matrix ``(k, p)`` (or one row); columns in :attr:`fixef` order.
        rhs
            Right-hand side (default zeros).
        terms
            Instead of ``L``: a term label or list of labels (e.g. ``"Cu"``), or
            coefficient names, whose coefficients are tested jointly against zero.
        std_err
            Variance type (default :attr:`std_err`).

        Returns
        -------
        pandas.Series
            ``statistic`` (chi-square), ``df`` and ``p.value``.
        """
        return wald_test(self, L=L, rhs=rhs, terms=terms, std_err=std_err)

    def anova(self, type: str = "sequential", std_err: str | None = None) -> pd.DataFrame:
        """Wald tests of the model's terms (geepack's ``anova``).

        Parameters
        ----------
        type
            ``"sequential"`` (geepack: terms added first to last, each tested in the
            model fitted up to it) or ``"marginal"`` (each term tested jointly in the
            full model).
        std_err
            Variance type (default :attr:`std_err`).

        Returns
        -------
        pandas.DataFrame
            Columns ``Df``, ``X2``, ``P(>|Chi|)``, one row per term.
        """
        return anova_terms(self, type=type, std_err=std_err)

    def qic(self, scaled: bool = False) -> pd.Series:
        """QIC, QICu, quasi-likelihood, CIC, number of coefficients and QICC.

        As geepack's ``QIC``: the quasi-likelihood is evaluated at this fit's means
        (unscaled unless ``scaled``), ``CIC = trace(Omega_I V_R)`` with ``Omega_I`` the
        model-based precision of the independence fit and ``V_R`` this fit's robust
        variance, ``QIC = -2 Q + 2 CIC``, ``QICu = -2 Q + 2 p`` and
        ``QICC = QIC + 2 k (k + 1) / (K - k - 1)`` with ``k`` coefficients plus
        correlation parameters and ``K`` clusters (geepack 1.3.9).

        Parameters
        ----------
        scaled
            Divide the quasi-likelihood by the estimated scale (Pan 2001 with a free
            dispersion); geepack does not.

        Returns
        -------
        pandas.Series
        """
        return qic_of(self, scaled=scaled)

    # ------------------------------------------------------------------ output
    def summary(self, std_err: str | None = None) -> Summary:
        """geepack-style summary text (coefficients with Wald tests, scale, correlation).

        A :class:`str` that notebooks show as HTML, with ``to_markdown()`` and
        ``to_latex()`` (:class:`mixedmodels.extending.Summary`).
        """
        res = self if std_err is None else self.with_std_err(std_err)
        return Summary(format_summary(res), res)

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    @property
    def std_err_label(self) -> str:
        """Long name of the default variance type."""
        return VCOV_LABELS[self._std_err]

    def __repr__(self) -> str:
        return (
            f"<GEEResult {self.model.formula!r} family={self.family.name} "
            f"link={self.link.name} corstr={self.corstr.describe()} nobs={self.nobs} "
            f"clusters={self.n_clusters}>"
        )

    def __str__(self) -> str:
        return self.summary()
