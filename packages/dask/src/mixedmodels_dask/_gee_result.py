"""The result of a GEE fit on a Dask frame: the gee plugin's :class:`GEEResult`, whose
variances, QIC and refits are passes over the held partitions and whose row-wise
outputs are lazy Dask series (decision 0029).

Imported only when the gee plugin is installed (the ``gee`` extra).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mixedmodels_gee import GEEResult
from mixedmodels_gee._fit import GEEFit
from mixedmodels_gee._results import FitData
from mixedmodels_gee._threads import single_blas_thread
from mixedmodels_gee._variance import (
    _inv_sym,
    normalize_vcov_type,
    nuisance_from_sums,
    vcov_from_meat,
)

from mixedmodels.errors import ModelSpecificationError

from ._gee_engine import _Engine, _State
from ._result import is_dask_frame

__all__ = ["DaskGEEResult"]

_ROW_OUTPUTS = ("eta", "mu", "response", "pearson", "working", "deviance")


def _gee_rows(
    frame: pd.DataFrame,
    design: Any,
    groups: str,
    time: str | None,
    beta: np.ndarray,
    what: str,
    family: Any,
    link: Any,
) -> pd.Series:
    """A GEE's row-wise output on one partition of the fitted frame: the rows the fit
    used (complete, with a cluster and a time), indexed by the frame's own index."""
    from ._gee_engine import _used_rows

    index = frame.index
    if groups not in frame.columns:
        frame = frame.reset_index()
    r, ok, _ = _used_rows(frame, -1, design, groups, time)
    rows = r.rows[ok]
    eta = np.asarray(r.X, dtype=np.float64)[ok] @ beta
    if r.offset is not None:
        eta = eta + np.asarray(r.offset, dtype=np.float64)[ok]
    name = {"eta": "eta", "mu": "fitted"}.get(what, what)
    out_index = index[rows]
    if what == "eta":
        return pd.Series(eta, index=out_index, name=name)
    mu = link.inverse(eta)
    if what == "mu":
        return pd.Series(mu, index=out_index, name=name)
    y = np.asarray(r.y_raw, dtype=np.float64)[ok]
    w = np.ones(rows.shape[0]) if r.weights is None else np.asarray(r.weights, float)[ok]
    if y.ndim == 2:
        trials = y[:, 0] + y[:, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(trials > 0, y[:, 0] / trials, 0.0)
        w = w * trials
    res = y - mu
    if what == "pearson":
        res = res * np.sqrt(w / family.variance(mu))
    elif what == "working":
        res = res / link.mu_eta(eta)
    elif what == "deviance":
        res = family.deviance_residuals(y, mu, w)
    return pd.Series(np.asarray(res, dtype=np.float64), index=out_index, name=name)


def _predict_rows(
    frame: pd.DataFrame, design: Any, beta: np.ndarray, offset: str | None
) -> pd.Series:
    """The linear predictor of every row of a new partition."""
    m = design.model
    X = m.design.fixed_matrix(frame)[:, design.keep]
    eta = X @ beta
    off = m.design.offset_for(frame)
    if off is not None:
        eta = eta + off
    if offset is not None and offset in frame.columns:
        eta = eta + frame[offset].to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.Series(eta, index=frame.index, name="fit")


class DaskGEEResult(GEEResult):
    """A :class:`mixedmodels_gee.GEEResult` fitted on a Dask frame.

    Coefficients, every variance type (robust, naive, jackknife, small-sample
    corrections), the scale and correlation parameters with their standard errors,
    ``summary()``, ``coef_table``, ``confint``, ``wald_test``, ``anova`` (sequential
    terms refit on the held partitions), ``qic`` and the tidiers are the in-memory
    result's, computed from sums over partitions.  :meth:`fitted`,
    :meth:`linear_predictor`, :meth:`residuals` and :meth:`predict` (default: the
    fitted rows; or a Dask ``newdata``) are lazy Dask series; a pandas ``newdata``
    gets the in-memory result's predictions (with standard errors).
    """

    rows_in_memory = False

    _engine: _Engine
    _state: _State
    _ddf: Any
    _design: Any
    _groups: str
    _time: str | None
    _has_pairs: bool

    @classmethod
    def build(
        cls,
        model: Any,
        corr: Any,
        state: _State,
        engine: _Engine,
        layout: Any,
        options: dict[str, Any],
        std_err: str,
        has_pairs: bool,
        ddf: Any,
        design: Any,
        groups: str,
        time: str | None,
    ) -> DaskGEEResult:
        """The result of a fit on the engine's partitions (no pass over the rows)."""
        self = cls.__new__(cls)
        self.model = model
        self.family = model.family
        self.link = model.link
        self.corstr = corr
        empty = np.zeros(0)
        self._fit = GEEFit(
            beta=state.beta,
            alpha=state.alpha,
            scale=state.scale,
            scale_fixed=state.scale_fixed,
            converged=state.converged,
            n_iter=state.n_iter,
            ws=None,  # type: ignore[arg-type]  # the rows stay in the partitions
            eta=empty,
            mu=empty,
            mu_eta=empty,
            var=empty,
            factors=[],
        )
        p = len(model.fixef_names)
        self._data = FitData(
            X=np.zeros((0, p)),
            y=empty,
            w=empty,
            offset=empty,
            row_index=pd.RangeIndex(0),
            layout=layout,
            options=options,
        )
        self._std_err = normalize_vcov_type(std_err)
        self._cache = {}
        self.converged = bool(state.converged)
        self.n_iter = int(state.n_iter)
        self.fixef_names = list(model.fixef_names)
        self._inverse = np.zeros(0, dtype=np.int64)
        self._engine = engine
        self._state = state
        self._ddf = ddf
        self._design = design
        self._groups = groups
        self._time = time
        self._has_pairs = has_pairs
        return self

    # ------------------------------------------------------------------ counts
    @property
    def nobs(self) -> int:
        return int(self._engine.facts.n_obs)

    @property
    def n_clusters(self) -> int:
        return int(self._engine.facts.n_clusters)

    @property
    def max_cluster_size(self) -> int:
        return int(self._engine.facts.max_size)

    @property
    def cluster_sizes(self) -> pd.Series:
        """Rows per cluster, indexed by the cluster labels (one pass)."""
        if "sizes" not in self._cache:
            sizes = self._engine.at_solution(self._state, ("sizes",))["sizes"]
            self._cache["sizes"] = sizes.sort_index().rename("size")
        out: pd.Series = self._cache["sizes"].copy()
        return out

    # ------------------------------------------------------------------ variances
    def _precision(self, state: _State) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``Omega`` (symmetrised), its inverse and the robust meat at ``state`` (one
        pass)."""
        got = self._engine.at_solution(state, ("omega", "meat:robust"))
        omega = got["omega"]
        omega = 0.5 * (omega + omega.T)
        return omega, _inv_sym(omega), got["meat:robust"]

    def _vcov_at(
        self,
        state: _State,
        kind: str,
        omega: np.ndarray,
        bread: np.ndarray,
        robust_meat: np.ndarray,
        fg_b: float = 0.75,
        mbn_d: float = 2.0,
        mbn_r: float = 1.0,
    ) -> np.ndarray:
        if kind in ("robust", "mbn", "naive"):
            meat = robust_meat
        else:
            key = f"meat:{kind}"
            meat = self._engine.at_solution(state, (key,), omega, bread, fg_b)[key]
        facts = self._engine.facts
        with single_blas_thread():
            out: np.ndarray = vcov_from_meat(
                bread,
                meat,
                kind,
                facts.n_clusters,
                facts.n_obs,
                self.corstr.n_params,
                mbn_d,
                mbn_r,
            )
        return out

    def _solution_sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if "precision" not in self._cache:
            self._cache["precision"] = self._precision(self._state)
        out: tuple[np.ndarray, np.ndarray, np.ndarray] = self._cache["precision"]
        return out

    def get_vcov(self, kind: str | None = None) -> pd.DataFrame:
        key = self._std_err if kind is None else normalize_vcov_type(kind)
        cache_key = f"vcov:{key}"
        if cache_key not in self._cache:
            opts = self._data.options
            omega, bread, meat = self._solution_sums()
            self._cache[cache_key] = self._vcov_at(
                self._state,
                key,
                omega,
                bread,
                meat,
                fg_b=float(opts.get("fg_b", 0.75)),
                mbn_d=float(opts.get("mbn_d", 2.0)),
                mbn_r=float(opts.get("mbn_r", 1.0)),
            )
        v = self._cache[cache_key]
        return pd.DataFrame(v.copy(), index=self.fixef_names, columns=self.fixef_names)

    def _nuisance(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        if "nuisance" not in self._cache:
            _, bread, _ = self._solution_sums()
            sums = self._engine.at_solution(self._state, ("nuisance",))["nuisance"]
            with single_blas_thread():
                self._cache["nuisance"] = nuisance_from_sums(sums, bread, self.scale_fixed)
        out: tuple[np.ndarray | None, np.ndarray | None] = self._cache["nuisance"]
        return out

    def _scores(self) -> Any:
        raise ModelSpecificationError(
            "the per-cluster scores of a fit on a Dask frame stay in its partitions"
        )

    # ------------------------------------------------------------------ refits
    def _refit_state(self, cols: list[int] | None, corr: Any) -> _State:
        opts = self._data.options
        return self._engine.fit(
            corr,
            cols=cols,
            scale_fix=opts.get("scale_fix"),
            tol=opts.get("tol"),
            maxiter=opts.get("maxiter"),
            algorithm=opts.get("algorithm", "converge"),
            moments=opts.get("moments", "geepack"),
            has_pairs=self._has_pairs,
        )

    def _subset_fit(self, cols: list[int], kind: str) -> tuple[np.ndarray, np.ndarray]:
        state = self._refit_state(list(cols), self.corstr)
        omega, bread, meat = self._precision(state)
        kind = normalize_vcov_type(kind)
        return state.beta, self._vcov_at(state, kind, omega, bread, meat)

    def _independence_precision(self) -> np.ndarray:
        if self.corstr.is_independence:
            return self._solution_sums()[0]
        key = "qic:independence"
        if key not in self._cache:
            from mixedmodels_gee import Independence

            state = self._refit_state(None, Independence())
            self._cache[key] = self._precision(state)[0]
        omega: np.ndarray = self._cache[key]
        return omega

    def _quasi_likelihood(self) -> float:
        if "quasi" not in self._cache:
            self._cache["quasi"] = float(self._engine.at_solution(self._state, ("quasi",))["quasi"])
        return float(self._cache["quasi"])

    # ------------------------------------------------------------------ row-wise outputs
    def _rowwise(self, what: str) -> Any:
        name = {"eta": "eta", "mu": "fitted"}.get(what, what)
        return self._ddf.map_partitions(
            _gee_rows,
            self._design,
            self._groups,
            self._time,
            self._fit.beta,
            what,
            self.family,
            self.link,
            meta=pd.Series(dtype=np.float64, name=name),
        )

    def linear_predictor(self) -> Any:  # type: ignore[override]
        """The linear predictor (offset included) of each row used: a lazy Dask series."""
        return self._rowwise("eta")

    def fitted(self) -> Any:  # type: ignore[override]
        """Fitted means of the rows used: a lazy Dask series."""
        return self._rowwise("mu")

    def residuals(self, type: str = "response") -> Any:  # type: ignore[override]
        """Residuals (``"response"``, ``"pearson"``, ``"working"``, ``"deviance"``) of the
        rows used: a lazy Dask series."""
        if type not in ("response", "pearson", "working", "deviance"):
            raise ValueError(
                f"unknown residual type {type!r}; use 'response', 'pearson', 'working' or "
                "'deviance'"
            )
        return self._rowwise(type)

    def predict(  # type: ignore[override]
        self,
        newdata: Any = None,
        type: str = "link",
        offset: Any = None,
        se_fit: bool = False,
    ) -> Any:
        """Predictions: lazy for the fitted rows (``newdata=None``) or a Dask
        ``newdata``; the in-memory result's (with ``se_fit``) for a pandas one."""
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', got {type!r}")
        if newdata is not None and not is_dask_frame(newdata):
            return super().predict(newdata, type=type, offset=offset, se_fit=se_fit)
        if se_fit:
            raise ModelSpecificationError(
                "standard errors of predictions need an in-memory newdata; pass "
                "newdata.compute() (or a sample of it)"
            )
        if newdata is None:
            if offset is not None:
                raise ModelSpecificationError(
                    "offset= is for new data; the fitted rows have their own offsets"
                )
            eta = self._rowwise("eta").rename("fit")
        else:
            if offset is not None and not isinstance(offset, str):
                raise ModelSpecificationError("offset of a Dask newdata must be a column name")
            column = offset if offset is not None else self._data.options.get("offset_arg")
            eta = newdata.map_partitions(
                _predict_rows,
                self._design,
                self._fit.beta,
                column,
                meta=pd.Series(dtype=np.float64, name="fit"),
            )
        if type == "link":
            return eta
        link = self.link
        return eta.map_partitions(
            lambda s: pd.Series(link.inverse(s.to_numpy()), index=s.index, name="fit"),
            meta=pd.Series(dtype=np.float64, name="fit"),
        )

    def __repr__(self) -> str:
        return super().__repr__().replace("<GEEResult", "<DaskGEEResult", 1)
