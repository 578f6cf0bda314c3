"""The ``gee`` estimator and the :func:`gee` entry point."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mixedmodels import ModelSpecificationError
from mixedmodels.extending import data_source_for
from mixedmodels.interfaces import Estimator, Family, Link
from mixedmodels.model import Model

from ._clusters import build_layout
from ._correlation import resolve_corstr
from ._fit import build_workspace, fit_gee
from ._results import FitData, GEEResult
from ._threads import single_blas_thread
from ._variance import normalize_vcov_type

__all__ = ["GEEEstimator", "fit_model", "gee"]

#: Options the estimator understands, from ``Model(..., **extras)`` or ``fit(**options)``.
OPTIONS = (
    "groups",
    "time",
    "corstr",
    "mdep",
    "matrix",
    "scale_fix",
    "std_err",
    "algorithm",
    "moments",
    "tol",
    "maxiter",
    "start",
    "fg_b",
    "mbn_d",
    "mbn_r",
)


def _scale_fix(value: Any) -> float | None:
    if value is None or value is False:
        return None
    if value is True:
        return 1.0
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"scale_fix must be None, True or a positive number, got {value!r}"
        ) from exc
    if not np.isfinite(out) or out <= 0:
        raise ValueError(f"scale_fix must be positive, got {value!r}")
    return out


def _label(spec: Any) -> str | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        return spec
    if isinstance(spec, (list, tuple)) and all(isinstance(s, str) for s in spec):
        return "interaction(" + ", ".join(spec) + ")"
    return "<array>"


def fit_model(model: Any, **options: Any) -> GEEResult:
    """Fit a :class:`mixedmodels.Model` by GEE (the estimator's ``fit``).

    Parameters
    ----------
    model
        A model without random-effect terms.
    **options
        See :func:`gee`; ``groups`` is required (here or in the model's extras).
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"gee: unknown option(s) {unknown}; known: {list(OPTIONS)}")
    family: Family = model.family
    link: Link = model.link
    design = model.design
    layout, keep = build_layout(
        options.get("groups"), options.get("time"), model.data, design.row_index
    )
    X = np.asarray(model.X, dtype=np.float64)[keep]
    y = np.asarray(design.y, dtype=np.float64)[keep]
    n = X.shape[0]
    w = np.ones(n) if model.weights is None else np.asarray(model.weights, float)[keep]
    offset = np.zeros(n) if model.offset is None else np.asarray(model.offset, float)[keep]
    if y.ndim == 2:
        # cbind(successes, failures): a proportion with the trials as weights, as glm.
        if family.name != "binomial" or y.shape[1] != 2:
            raise ValueError(
                f"a two-column response (cbind) needs the binomial family, not {family.name!r}"
            )
        trials = y[:, 0] + y[:, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(trials > 0, y[:, 0] / trials, 0.0)
        w = w * trials
    family.validate_response(y, w)
    corr = resolve_corstr(
        options.get("corstr", "independence"),
        mdep=options.get("mdep"),
        matrix=options.get("matrix"),
    )
    std_err = normalize_vcov_type(options.get("std_err", "robust"))
    start = options.get("start")
    if start is not None:
        start = np.asarray(start, dtype=np.float64).ravel()
        if start.shape[0] != X.shape[1]:
            raise ValueError(
                f"start must have one value per coefficient ({X.shape[1]}: "
                f"{', '.join(model.fixef_names)})"
            )
    scale_fix = _scale_fix(options.get("scale_fix"))
    ws = build_workspace(X, y, w, offset, layout, corr)
    fit = fit_gee(
        ws,
        family,
        link,
        scale_fix=scale_fix,
        start=start,
        tol=options.get("tol"),
        maxiter=options.get("maxiter"),
        algorithm=options.get("algorithm", "converge"),
        moments=options.get("moments", "geepack"),
    )
    data = FitData(
        X=X,
        y=y,
        w=w,
        offset=offset,
        row_index=design.row_index[keep],
        layout=layout,
        options={
            "scale_fix": scale_fix,
            "tol": options.get("tol"),
            "maxiter": options.get("maxiter"),
            "algorithm": options.get("algorithm", "converge"),
            "moments": options.get("moments", "geepack"),
            "fg_b": options.get("fg_b", 0.75),
            "mbn_d": options.get("mbn_d", 2.0),
            "mbn_r": options.get("mbn_r", 1.0),
            "groups_label": _label(options.get("groups")),
            "time_label": _label(options.get("time")),
        },
    )
    return GEEResult(model, fit, data, family, link, std_err=std_err)


class GEEEstimator(Estimator):
    """Generalized estimating equations, selected as ``Model.fit(method="gee")``.

    The model gives the mean (formula, family, link, weights, offset); the clusters and
    the working correlation come from the model's extras or the fit options:
    ``groups`` (required), ``time``, ``corstr``, ``scale_fix``, ``std_err``, ...  (see
    :func:`mixedmodels_gee.gee`).
    """

    name: ClassVar[str] = "gee"
    description: ClassVar[str] = (
        "generalized estimating equations (geepack-compatible; robust, jackknife and "
        "small-sample variances, QIC)"
    )

    def supports(self, model: Any) -> str | None:
        try:
            for attr in ("design", "family", "link", "X", "fixef_names"):
                if not hasattr(model, attr):
                    return "not a mixedmodels Model (needs a formula, data and family)"
            if getattr(model, "terms", []):
                return (
                    "GEE models the marginal mean: remove the random-effect terms "
                    "((...|...)) from the formula and give the clusters as groups="
                )
            extras = getattr(model, "extras", {}) or {}
            unknown = sorted(set(extras) - set(OPTIONS))
            if unknown:
                return f"unknown option(s) {unknown} for GEE; known: {list(OPTIONS)}"
            if len(model.fixef_names) == 0:
                return "the model has no fixed-effect coefficients"
        except Exception as exc:  # supports() must never raise
            return f"cannot inspect the model: {exc}"
        return None

    def fit(self, model: Any, **options: Any) -> GEEResult:
        reason = self.supports(model)
        if reason is not None:
            raise ValueError(f"estimator 'gee' cannot fit this model: {reason}")
        merged = {**(getattr(model, "extras", {}) or {}), **options}
        with single_blas_thread():
            return fit_model(model, **merged)


def gee(
    formula: str,
    data: Any,
    groups: Any,
    time: Any = None,
    family: str | Family = "gaussian",
    link: str | Link | None = None,
    corstr: Any = "independence",
    weights: Any = None,
    offset: Any = None,
    scale_fix: Any = None,
    std_err: str = "robust",
    contrasts: dict[str, str] | None = None,
    **options: Any,
) -> GEEResult:
    """Fit a generalized estimating equations model (R's ``geepack::geeglm``).

    Parameters
    ----------
    formula
        Model formula for the mean, e.g. ``"resp ~ age + smoke"``; ``cbind(s, f)``
        responses and ``offset()`` terms work as in R.  No random-effect terms.
    data
        A pandas DataFrame (polars / pyarrow accepted), or a ``dask.dataframe.DataFrame``
        with the ``mixedmodels-dask`` plugin (each cluster whole in one partition).
    groups
        The clusters: a column name, a list of column names (their interaction, as
        R's ``interaction(center, id)``), or an array with one value per row.  Rows do
        not need to be sorted by cluster.
    time
        Within-cluster time (column name or array).  Orders the rows of each cluster,
        gives AR(1) its lags (so gaps count) and indexes the unstructured and fixed
        structures.  Default: the row order within each cluster, as geepack's waves.
        Two rows of one cluster at the same time are an error.
    family
        Any family registered with mixedmodels (``"binomial"``, ``"poisson"``,
        ``"gaussian"``, ``"Gamma"``, ...), or a family instance such as
        ``mixedmodels.families.NegativeBinomial(theta=2.0)`` (fixed size).
    link
        Link name or instance (default: the family's).
    corstr
        Working correlation: ``"independence"``, ``"exchangeable"``, ``"ar1"``,
        ``"unstructured"``, ``"m-dependent"`` (with ``mdep=m``), ``"fixed"`` (with
        ``matrix=``), a correlation matrix, or a :class:`WorkingCorrelation`.
    weights
        Prior weights (column name or array).
    offset
        Offset (column name or array), added to ``offset()`` terms.
    scale_fix
        ``None`` estimates the scale (geepack's default, also for the binomial and
        Poisson); ``True`` fixes it at 1; a number fixes it at that value.
    std_err
        Default variance: ``"robust"`` (sandwich), ``"naive"``, ``"jackknife"``,
        ``"md"`` (Mancl-DeRouen), ``"kc"`` (Kauermann-Carroll), ``"fg"``
        (Fay-Graubard), ``"mbn"`` (Morel-Bokossa-Neerchal).  All are available from
        the result whatever the default.
    contrasts
        Contrast coding of factor columns, R's ``contrasts=`` (e.g. ``{"smoke":
        "contr.sum"}``), as :func:`mixedmodels.lmm`.
    **options
        ``mdep``, ``matrix``; ``algorithm`` (``"converge"``, the default, iterates to
        the solution; ``"geepack"`` takes geepack's exact steps and stopping rule);
        ``moments`` (``"geepack"``, the default: geepack's moment estimators of the
        scale and the working correlation, ``sum w r^2 / sum w`` and the pair means;
        ``"gee"``: R's ``gee::gee``'s, with ``N - p`` in the scale and the ``- p``
        correction of the exchangeable correlation, as statsmodels' GEE; for the
        independence, exchangeable, ar1, m-dependent and unstructured structures,
        without prior weights);
        ``tol``, ``maxiter``, ``start`` (coefficients); ``fg_b`` (Fay-Graubard bound,
        0.75), ``mbn_d`` and ``mbn_r`` (Morel-Bokossa-Neerchal, 2 and 1).

    Returns
    -------
    GEEResult

    Examples
    --------
    >>> import mixedmodels as mm
    >>> from mixedmodels_gee import gee
    >>> ohio = mm.datasets.load("ohio")
    >>> fit = gee("resp ~ age + smoke", ohio, groups="id", family="binomial",
    ...           corstr="exchangeable")
    >>> round(float(fit.corr_params["alpha"]), 4)
    0.3543
    """
    source = data_source_for(data)
    if source is not None:  # e.g. a Dask frame, with the mixedmodels-dask plugin
        if not hasattr(source, "gee"):
            raise ModelSpecificationError(
                f"the data source {source.name!r} does not fit GEE models"
            )
        return source.gee(  # type: ignore[no-any-return]
            formula,
            data,
            groups=groups,
            time=time,
            family=family,
            link=link,
            corstr=corstr,
            weights=weights,
            offset=offset,
            scale_fix=scale_fix,
            std_err=std_err,
            contrasts=contrasts,
            **options,
        )
    model = Model(
        formula, data, family=family, link=link, weights=weights, offset=offset, contrasts=contrasts
    )
    result = GEEEstimator().fit(
        model,
        groups=groups,
        time=time,
        corstr=corstr,
        scale_fix=scale_fix,
        std_err=std_err,
        **options,
    )
    if isinstance(offset, str):
        # predict(newdata) then finds the offset column in the new data.
        result._data.options["offset_arg"] = offset
    return result
