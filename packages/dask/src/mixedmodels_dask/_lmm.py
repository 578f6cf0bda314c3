"""Linear mixed models on a Dask frame: three passes over the rows, then the core's
fit of the summed cross-products.

1. the factor levels (and a check of every partition's dtypes): the prototype frame
   on which the core builds the model's design (:mod:`._design`);
2. column moments of the fixed-effect and random-effect matrices, from which the core
   derives the same internal standardisation as for an in-memory fit (decision 0014);
3. the cross-products of the standardised ``[Z X y]``, summed over partitions.

The criterion built from the sums is the one the in-memory fit builds from all rows
(only the order of the sums differs), and the core's fitter optimises it.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mixedmodels.errors import ModelSpecificationError
from mixedmodels.extending import (
    ColumnMoments,
    TermData,
    announce_fit,
    criterion_from_cross_products,
    fit_lmm_criterion,
    lmm_cross_products,
    standardize_from_moments,
    uses_dense,
)

from ._design import (
    DaskDesign,
    build_design,
    check_formula,
    factor_sets,
    partition_prototype,
    prototype_frame,
    used_columns,
)
from ._reduce import map_reduce, resolve_client
from ._result import DaskLMMResult

__all__ = ["lmm"]

_OPTIONS = ("optimizer", "start", "check")
_RANK_TOL = 1e-7


def _column_name(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ModelSpecificationError(
        f"{what} of a fit on a Dask frame must be a column name, got {type(value).__name__}"
    )


def _design_of(
    formula: str,
    ddf: Any,
    weights: str | None,
    offset: str | None,
    contrasts: dict[str, str] | None,
    client: Any,
    family: Any = "gaussian",
    link: Any = None,
) -> DaskDesign:
    check_formula(formula)
    meta = ddf._meta
    used = used_columns(formula, list(meta.columns))
    for extra in (weights, offset):
        if extra is not None:
            if extra not in meta.columns:
                raise ModelSpecificationError(f"column {extra!r} is not in the Dask frame")
            if extra not in used:
                used.append(extra)
    sets = factor_sets(formula, meta, used)
    prototype = map_reduce(
        ddf,
        lambda frame, i: partition_prototype(frame, meta, used, sets, i),
        lambda a, b: prototype_frame([a, b], sets),
        client,
    )
    if len(prototype) == 0:
        raise ModelSpecificationError("no complete rows in the Dask frame: nothing to fit")
    return build_design(formula, prototype, meta, used, weights, offset, contrasts, family, link)


def _moments(design: DaskDesign) -> Any:
    def per_partition(frame: Any, i: int) -> tuple[Any, ...]:
        r = design.rows(frame, i)
        if r.weights is not None and np.any(r.weights < 0):
            raise ModelSpecificationError(
                f"weights must be non-negative; partition {i} has negative ones"
            )
        return (
            ColumnMoments.of(r.X_full),
            [ColumnMoments.of(Z) for Z in r.Zs],
            float(np.max(np.abs(r.y), initial=0.0)),
        )

    return per_partition


def _add_moments(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
    return (a[0] + b[0], [x + y for x, y in zip(a[1], b[1], strict=True)], max(a[2], b[2]))


def _kept_columns(x_full: ColumnMoments, names: list[str]) -> list[int]:
    """R's ``qr()`` rank decision (as the core's model makes it on all rows): a column
    is dropped when its part orthogonal to the kept columns before it is negligible;
    here from the Gram matrix over all rows, scaled to unit column norms."""
    n = x_full.n
    G = x_full.M2 + n * np.outer(x_full.mean, x_full.mean)
    norms = np.sqrt(np.clip(np.diag(G), 0.0, None))
    keep: list[int] = []
    for j in range(G.shape[0]):
        if norms[j] == 0.0:
            continue
        if keep:
            K = np.asarray(keep)
            Gs = G[np.ix_(K, K)] / np.outer(norms[K], norms[K])
            g = G[K, j] / (norms[K] * norms[j])
            resid = 1.0 - float(g @ np.linalg.solve(Gs, g))
        else:
            resid = 1.0
        if np.sqrt(max(resid, 0.0)) > _RANK_TOL:
            keep.append(j)
    dropped = [names[i] for i in range(len(names)) if i not in keep]
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
            UserWarning,
            stacklevel=3,
        )
    return keep


def _subset(mom: ColumnMoments, keep: list[int]) -> ColumnMoments:
    K = np.asarray(keep, dtype=np.int64)
    return ColumnMoments(mom.n, mom.mean[K], mom.M2[np.ix_(K, K)], mom.all_one[K], mom.binary[K])


def _check_sizes(design: DaskDesign, n: int, reml: bool) -> None:
    """The core's checks on the real numbers of rows (the model saw the prototype)."""
    m = design.model
    p = len(m.fixef_names)
    if n <= p:
        raise ModelSpecificationError(
            f"{n} observations for {p} fixed-effect coefficients: "
            f"{'REML' if reml else 'ML'} needs more observations than coefficients"
        )
    for t, name in zip(m.terms, m.group_names, strict=True):
        if t.n_levels * t.dim >= n:
            raise ModelSpecificationError(
                f"term ({t.expr}): {t.n_levels} levels x {t.dim} coefficients >= {n} "
                f"observations; the random effects of {name!r} and the residual variance "
                "cannot both be identified"
            )


def lmm(
    formula: str,
    data: Any,
    reml: bool = True,
    weights: str | None = None,
    offset: str | None = None,
    contrasts: dict[str, str] | None = None,
    client: Any = None,
    correlation: Any = None,
    variance: Any = None,
    **options: Any,
) -> DaskLMMResult:
    """Fit a linear mixed model to a ``dask.dataframe.DataFrame``: the same fit as
    :func:`mixedmodels.lmm` of all its rows in memory.

    Parameters
    ----------
    formula
        lme4-syntax formula; the response must be a column, and transforms whose state
        depends on every row (``scale()``, ``poly()``, ...) are refused.
    data
        The Dask frame (from Parquet, CSV, ``dask.dataframe.from_pandas``, ...).
    reml
        Restricted maximum likelihood (default) or, if false, maximum likelihood.
    weights, offset
        Column names.
    contrasts
        As :func:`mixedmodels.lmm`.
    client
        A ``distributed.Client`` to compute on.  Default: the scheduler configured in
        dask, if one is (an active default client, or e.g.
        ``dask.config.set(scheduler="threads")``); else a shared local client that runs
        in this process (:func:`mixedmodels_dask.local_client`).
    correlation, variance
        Residual structures are not available on Dask frames (they couple rows).
    **options
        ``optimizer``, ``start``, ``check``, as :func:`mixedmodels.lmm`.

    Returns
    -------
    DaskLMMResult
        An :class:`mixedmodels.LMMResult` whose ``fitted()``, ``residuals()`` and
        ``predict()`` are lazy Dask series.
    """
    if not isinstance(reml, bool | np.bool_):
        raise ModelSpecificationError(f"reml must be True or False, got {reml!r}")
    if correlation is not None or variance is not None:
        raise ModelSpecificationError(
            "correlation= and variance= (residual structures) are not available on Dask "
            "frames; fit without them, or on the data in memory"
        )
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ModelSpecificationError(
            f"unexpected options {unknown} for a linear mixed model; accepted: {list(_OPTIONS)}"
        )
    client = resolve_client(client)
    weights = _column_name(weights, "weights")
    offset = _column_name(offset, "offset")
    design = _design_of(formula, data, weights, offset, contrasts, client)
    model = design.model
    if not model.terms:
        raise ModelSpecificationError(
            "the formula has no random-effect term; the Dask path fits linear mixed models"
        )
    x_full, z_moms, y_max = map_reduce(data, _moments(design), _add_moments, client)
    keep = _kept_columns(x_full, list(model.design.fixef_names))
    design.set_kept_columns(keep)
    x_mom = _subset(x_full, keep)
    if y_max > 1e150:
        raise ModelSpecificationError(
            f"response {design.response!r} has values as large as {y_max:.3g}: their "
            "squares overflow double precision; rescale the response"
        )
    _check_sizes(design, x_full.n, reml)
    layout = [
        TermData(np.zeros(0, dtype=np.int64), t.n_levels, np.zeros((0, t.dim)), s)
        for t, s in zip(model.terms, model.structures, strict=True)
    ]
    p = len(model.fixef_names)
    std = standardize_from_moments(x_mom, z_moms, layout)
    dense = uses_dense(layout, p)
    identity_T = bool(np.array_equal(std.T, np.eye(p)))
    maps = std.maps

    def products(frame: Any, i: int) -> Any:
        r = design.rows(frame, i)
        X = r.X if identity_T else r.X @ std.T
        terms = [
            TermData(c, t.n_levels, Z if mp is None else Z @ mp.A, t.structure)
            for Z, c, t, mp in zip(r.Zs, r.codes, layout, maps, strict=True)
        ]
        return lmm_cross_products(X, r.y, terms, r.weights, dense=dense)

    total = map_reduce(data, products, lambda a, b: a + b, client)
    criterion = criterion_from_cross_products(total, layout, p, std)
    fit = fit_lmm_criterion(model, criterion, reml=reml, **options)
    result = DaskLMMResult.from_fit(fit)
    assert isinstance(result, DaskLMMResult)
    result._attach(data, design, client)
    result._products = (total, layout, p, std)
    return announce_fit(result)
