"""The result of a fit on a Dask frame: an :class:`mixedmodels.LMMResult` whose
row-wise outputs are lazy Dask series."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mixedmodels import GLMMResult, LMMResult
from mixedmodels.errors import ModelSpecificationError

from ._design import DaskDesign

__all__ = ["DaskGLMMResult", "DaskLMMResult", "is_dask_frame"]


def is_dask_frame(data: Any) -> bool:
    """Whether ``data`` is a ``dask.dataframe.DataFrame`` (without importing dask
    for other data)."""
    module = type(data).__module__
    return module.startswith("dask.") or module.startswith("dask_expr")


def _random_part(
    Zs: list[np.ndarray], codes: list[np.ndarray], bs: list[np.ndarray], use: list[bool]
) -> np.ndarray:
    n = Zs[0].shape[0] if Zs else 0
    total = np.zeros(n)
    for Z, c, b, on in zip(Zs, codes, bs, use, strict=True):
        if not on:
            continue
        known = c >= 0
        total[known] += np.einsum("ij,ij->i", Z[known], b[c[known]])
    return total


def _fitted_part(
    frame: pd.DataFrame,
    design: DaskDesign,
    beta: np.ndarray,
    bs: list[np.ndarray],
    what: str,
    sigma: float,
) -> pd.Series:
    r = design.rows(frame, -1)
    mu = r.X @ beta + _random_part(r.Zs, r.codes, bs, [True] * len(bs))
    index = frame.index[r.rows]
    if what == "fitted":
        values = mu if r.offset is None else mu + r.offset
        return pd.Series(values, index=index, name="fitted")
    res = r.y - mu  # (y - offset) - (X beta + Z b)
    if what in ("pearson", "normalized") and r.weights is not None:
        res = res * np.sqrt(r.weights)
    if sigma > 0:
        res = res / sigma
    return pd.Series(res, index=index, name="residuals")


def _predict_part(
    frame: pd.DataFrame,
    design: DaskDesign,
    beta: np.ndarray,
    bs: list[np.ndarray],
    use: list[bool],
    allow_new_levels: bool,
) -> pd.Series:
    m = design.model
    X = m.design.fixed_matrix(frame)[:, design.keep]
    eta = X @ beta
    offset = m.design.offset_for(frame)
    if offset is not None:
        eta = eta + offset
    if design.offset is not None and design.offset in frame.columns:
        eta = eta + frame[design.offset].to_numpy(dtype=np.float64, na_value=np.nan)
    pairs = m.design.random_matrices(frame)
    ordered = [pairs[m.design.terms.index(t)] for t in m.terms]
    for (_, c), t, on in zip(ordered, m.terms, use, strict=True):
        if on and not allow_new_levels and np.any(c < 0):
            raise ModelSpecificationError(
                f"newdata has {int(np.sum(c < 0))} rows with levels of {t.group_name!r} "
                "not seen in fitting; pass allow_new_levels=True to predict them at the "
                "population level"
            )
    eta = eta + _random_part([z for z, _ in ordered], [c for _, c in ordered], bs, use)
    return pd.Series(eta, index=frame.index, name="prediction")


class DaskLMMResult(LMMResult):
    """An :class:`mixedmodels.LMMResult` fitted on a Dask frame.

    Everything but the row-wise outputs is the in-memory result's: ``fixef``, ``vcov``,
    ``varcorr``, ``ranef``, ``summary()``, ``tidy``, ``anova``, ``confint`` (Wald).
    :meth:`fitted`, :meth:`residuals` and :meth:`predict` (on a Dask ``newdata``) are
    lazy Dask series, one partition per partition of the data.  ``summary()``
    computes the scaled residuals once for their quantiles (exact quantiles need every
    residual: 8 bytes per row in memory).
    """

    _ddf: Any
    _design: DaskDesign
    _client: Any
    #: The summed cross-products, layout, number of fixed effects, standardisation.
    _products: tuple[Any, ...]

    def _attach(self, ddf: Any, design: DaskDesign, client: Any) -> DaskLMMResult:
        self._ddf = ddf
        self._design = design
        self._client = client
        return self

    def fitted(self) -> Any:  # type: ignore[override]
        """Fitted values conditional on the random effects: a lazy Dask series."""
        return self._ddf.map_partitions(
            _fitted_part,
            self._design,
            self._beta,
            self._b(),
            "fitted",
            0.0,
            meta=pd.Series(dtype=np.float64, name="fitted"),
        )

    def residuals(self, type: str = "response", scaled: bool = False) -> Any:  # type: ignore[override]
        """Residuals (``"response"`` or ``"pearson"``), divided by sigma if ``scaled``:
        a lazy Dask series."""
        if type not in ("response", "pearson", "normalized"):
            raise ModelSpecificationError(
                f"unknown residual type {type!r}; use 'response', 'pearson' or 'normalized'"
            )
        return self._ddf.map_partitions(
            _fitted_part,
            self._design,
            self._beta,
            self._b(),
            type,
            self.sigma if scaled else 0.0,
            meta=pd.Series(dtype=np.float64, name="residuals"),
        )

    def predict(  # type: ignore[override]
        self,
        newdata: Any = None,
        re_form: str | None = None,
        allow_new_levels: bool = False,
        se_fit: bool = False,
        interval: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Predictions: lazy for a Dask ``newdata`` (default: the fitted data), the
        in-memory result's for a pandas one.  Standard errors and intervals need an
        in-memory ``newdata``."""
        if newdata is not None and not is_dask_frame(newdata):
            return super().predict(newdata, re_form, allow_new_levels, se_fit, interval, **kwargs)
        if se_fit or interval not in (None, "none"):
            raise ModelSpecificationError(
                "standard errors and intervals of predictions need an in-memory newdata; "
                "pass newdata.compute() (or a sample of it)"
            )
        if newdata is None:
            return self.fitted() if re_form is None else self.predict(self._ddf, re_form)
        use = self._terms_in(re_form)
        return newdata.map_partitions(
            _predict_part,
            self._design,
            self._beta,
            self._b(),
            use,
            allow_new_levels,
            meta=pd.Series(dtype=np.float64, name="prediction"),
        )

    def refit_ml(self) -> LMMResult:
        """The maximum-likelihood fit of the same model, from the same summed
        cross-products (no pass over the rows): what profile intervals start from."""
        if not self.reml:
            return self
        from mixedmodels.extending import criterion_from_cross_products, fit_lmm_criterion

        total, layout, p, std = self._products
        criterion = criterion_from_cross_products(total, layout, p, std)
        out = DaskLMMResult.from_fit(fit_lmm_criterion(self.model, criterion, reml=False))
        assert isinstance(out, DaskLMMResult)
        out._attach(self._ddf, self._design, self._client)
        out._products = self._products
        return out

    def refit(self, newresp: Any, check: bool = False) -> LMMResult:
        raise ModelSpecificationError(
            "refit() of a fit on a Dask frame: fit again with the new response column"
        )

    def simulate(self, nsim: int = 1, seed: Any = None, re_form: str | None = "NA") -> Any:
        raise ModelSpecificationError(
            "simulate() of a fit on a Dask frame is not available (it returns every row)"
        )


def _glmm_part(
    frame: pd.DataFrame,
    design: DaskDesign,
    beta: np.ndarray,
    bs: list[np.ndarray],
    what: str,
    family: Any,
    link: Any,
) -> pd.Series:
    """A GLMM's row-wise output on one partition: ``"eta"``, ``"mu"``, a residual type,
    or ``"deviance2"`` (squared deviance residuals)."""
    r = design.rows(frame, -1)
    eta = r.X @ beta + _random_part(r.Zs, r.codes, bs, [True] * len(bs))
    if r.offset is not None:
        eta = eta + r.offset
    index = frame.index[r.rows]
    if what == "eta":
        return pd.Series(eta, index=index, name="eta")
    mu = link.inverse(eta)
    if what == "mu":
        return pd.Series(mu, index=index, name="fitted")
    y = r.y_raw
    pw = r.weights
    if y.ndim == 2:
        trials = y[:, 0] + y[:, 1]
        y = y[:, 0] / trials
        pw = trials if pw is None else trials * pw
    w = np.ones(len(y)) if pw is None else pw
    if what == "response":
        res = y - mu
    elif what == "pearson":
        res = (y - mu) * np.sqrt(w / family.variance(mu))
    elif what in ("deviance", "deviance2"):
        res = family.deviance_residuals(y, mu, w)
        if what == "deviance2":
            res = res**2
    else:  # working
        res = (y - mu) / link.mu_eta(eta)
    return pd.Series(res, index=index, name="residuals")


class DaskGLMMResult(GLMMResult):
    """A :class:`mixedmodels.GLMMResult` fitted on a Dask frame.

    ``fixef``, ``vcov``, ``varcorr``, ``ranef``, ``loglik``, ``summary()``, ``tidy``,
    Wald ``confint`` are the in-memory result's; :meth:`fitted`,
    :meth:`linear_predictor`, :meth:`residuals` and :meth:`predict` (on a Dask
    ``newdata``) are lazy Dask series; :attr:`deviance` is one pass over the rows.
    """

    _ddf: Any
    _design: DaskDesign
    _client: Any

    def _attach(self, ddf: Any, design: DaskDesign, client: Any) -> DaskGLMMResult:
        self._ddf = ddf
        self._design = design
        self._client = client
        return self

    def _rowwise(self, what: str, name: str) -> Any:
        return self._ddf.map_partitions(
            _glmm_part,
            self._design,
            self._beta,
            self._b(),
            what,
            self.family,
            self.link,
            meta=pd.Series(dtype=np.float64, name=name),
        )

    def fitted(self) -> Any:  # type: ignore[override]
        """Fitted means conditional on the random effects: a lazy Dask series."""
        return self._rowwise("mu", "fitted")

    def linear_predictor(self) -> Any:  # type: ignore[override]
        """The linear predictor conditional on the random effects: a lazy Dask series."""
        return self._rowwise("eta", "eta")

    def residuals(self, type: str = "deviance") -> Any:  # type: ignore[override]
        """Residuals (``"deviance"``, ``"pearson"``, ``"response"``, ``"working"``): a lazy
        Dask series."""
        if type not in ("deviance", "pearson", "response", "working"):
            raise ModelSpecificationError(
                f"unknown residual type {type!r}; use 'deviance', 'pearson', 'response' "
                "or 'working'"
            )
        return self._rowwise(type, "residuals")

    @property
    def deviance(self) -> float:
        """lme4's ``deviance()`` of a GLMM: the sum of squared deviance residuals (one
        pass over the rows)."""
        total = self._rowwise("deviance2", "residuals").sum()
        if self._client is not None:
            return float(self._client.compute(total).result())
        return float(total.compute())

    def predict(  # type: ignore[override]
        self,
        newdata: Any = None,
        re_form: str | None = None,
        allow_new_levels: bool = False,
        type: str = "link",
        se_fit: bool = False,
        interval: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Predictions on the ``"link"`` or ``"response"`` scale: lazy for a Dask
        ``newdata`` (default: the fitted data), the in-memory result's for a pandas one."""
        if newdata is not None and not is_dask_frame(newdata):
            return super().predict(
                newdata, re_form, allow_new_levels, type, se_fit, interval, **kwargs
            )
        if type not in ("link", "response"):
            raise ModelSpecificationError(
                f"unknown prediction type {type!r}; use 'link' or 'response'"
            )
        if se_fit or interval not in (None, "none"):
            raise ModelSpecificationError(
                "standard errors and intervals of predictions need an in-memory newdata; "
                "pass newdata.compute() (or a sample of it)"
            )
        frame = self._ddf if newdata is None else newdata
        eta = frame.map_partitions(
            _predict_part,
            self._design,
            self._beta,
            self._b(),
            self._terms_in(re_form),
            allow_new_levels,
            meta=pd.Series(dtype=np.float64, name="prediction"),
        )
        if type == "link":
            return eta
        link = self.link
        return eta.map_partitions(
            lambda s: pd.Series(link.inverse(s.to_numpy()), index=s.index, name="prediction"),
            meta=pd.Series(dtype=np.float64, name="prediction"),
        )

    def refit(self, newresp: Any, check: bool = False) -> GLMMResult:
        raise ModelSpecificationError(
            "refit() of a fit on a Dask frame: fit again with the new response column"
        )

    def simulate(self, nsim: int = 1, seed: Any = None, re_form: str | None = "NA") -> Any:
        raise ModelSpecificationError(
            "simulate() of a fit on a Dask frame is not available (it returns every row)"
        )
