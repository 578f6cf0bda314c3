"""Generalized linear mixed models on a Dask frame (decision 0029).

The factor levels and the column moments come from the same two passes as for an LMM
(:mod:`._lmm`): the design, the rank decision and the standardisation are those of the
in-memory fit of all rows.  Then each partition's rows become the core's
``GLMMProblem`` of those rows (standardised matrices, the global levels), held on the
workers; the core's :class:`~mixedmodels.extending.ChunkedGLMMProblem` runs PIRLS, the
Laplace (or quadrature) criterion and its gradient with each sum over rows a tree
reduction over them, and the core's GLMM fitter optimises it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from mixedmodels.errors import ModelSpecificationError
from mixedmodels.extending import (
    ChunkedGLMMProblem,
    GLMMProblem,
    StandardizedGLMMProblem,
    TermData,
    announce_fit,
    combine_chunks,
    fit_glmm,
    fit_glmm_dispersion,
    fit_glmm_nb,
    standardize_from_moments,
)

from ._design import DaskDesign
from ._lmm import _add_moments, _column_name, _design_of, _kept_columns, _moments, _subset
from ._reduce import map_reduce, persist_partitions, resolve_client, tree_reduce
from ._result import DaskGLMMResult

__all__ = ["glmm"]

_OPTIONS = ("check", "start", "estimate_size")


def _response_and_weights(
    design: DaskDesign, y: np.ndarray, w: np.ndarray | None, index: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """As the core's model: ``cbind(successes, failures)`` is the proportion of successes
    with the trials (times any weights) as prior weights."""
    if y.ndim == 1:
        return y, w
    successes, failures = y[:, 0], y[:, 1]
    if np.any(successes < 0) or np.any(failures < 0):
        raise ModelSpecificationError(
            f"response {design.response!r}: successes and failures must be non-negative "
            f"(successes exceed trials in some rows of partition {index})"
        )
    trials = successes + failures
    return successes / trials, trials if w is None else trials * w


def _local_problem(
    frame: Any, index: int, design: DaskDesign, std: Any, layout: list[TermData]
) -> GLMMProblem | None:
    """The core's GLMM problem of one partition's rows (standardised, global levels)."""
    m = design.model
    r = design.rows(frame, index)
    if r.rows.size == 0:
        return None
    y, pw = _response_and_weights(design, r.y_raw, r.weights, index)
    try:
        m.family.validate_response(y, pw)
    except ValueError as err:
        raise ModelSpecificationError(
            f"response {design.response!r} (partition {index}): {err}"
        ) from err
    identity = std is None
    X = r.X if identity or np.array_equal(std.T, np.eye(std.T.shape[0])) else r.X @ std.T
    terms = [
        TermData(c, t.n_levels, Z if identity or mp is None else Z @ mp.A, t.structure)
        for Z, c, t, mp in zip(
            r.Zs, r.codes, layout, [None] * len(layout) if identity else std.maps, strict=True
        )
    ]
    return GLMMProblem(X, y, terms, pw, r.offset, m.family, m.link)


def glmm(
    formula: str,
    data: Any,
    family: Any = "binomial",
    link: Any = None,
    nagq: int = 1,
    weights: str | None = None,
    offset: str | None = None,
    contrasts: dict[str, str] | None = None,
    client: Any = None,
    ziformula: str | None = None,
    dispformula: str | None = None,
    **options: Any,
) -> DaskGLMMResult:
    """Fit a generalized linear mixed model to a ``dask.dataframe.DataFrame``: the same
    fit as :func:`mixedmodels.glmm` of all its rows in memory (lme4's ``glmer``).

    Parameters
    ----------
    formula
        lme4-syntax formula; the response is a column, ``cbind(successes, failures)``
        of columns, or a two-level factor column.
    data
        The Dask frame.
    family, link
        A family of the core's GLMM fitter (``"binomial"``, ``"poisson"``, ...); the
        negative binomial's size (glmer.nb) and a family's dispersion (``"Gamma"``,
        ``"inverse_gaussian"``, gaussian with a link) are estimated as in memory.
    nagq
        1 (Laplace) or, for one scalar random-effect term, the number of adaptive
        Gauss-Hermite nodes.
    weights, offset
        Column names.
    contrasts
        As :func:`mixedmodels.glmm`.
    client
        A ``distributed.Client``; default as in :func:`mixedmodels_dask.lmm`.
    ziformula, dispformula
        Not available on Dask frames.
    **options
        ``check``, ``start``, ``estimate_size``, as :func:`mixedmodels.glmm`.

    Returns
    -------
    DaskGLMMResult
        A :class:`mixedmodels.GLMMResult` whose ``fitted()``, ``residuals()`` and
        ``predict()`` are lazy Dask series.
    """
    if ziformula is not None or dispformula is not None:
        raise ModelSpecificationError(
            "ziformula= and dispformula= (glmmTMB's models) are not available on Dask frames"
        )
    if not isinstance(nagq, int | np.integer) or nagq < 1:
        raise ModelSpecificationError(
            f"nagq must be a positive integer on a Dask frame (1: Laplace; > 1: adaptive "
            f"quadrature), got {nagq!r}; the fast mode (nagq=0) needs the rows in memory"
        )
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ModelSpecificationError(
            f"unexpected options {unknown} for a GLMM on a Dask frame; accepted: {list(_OPTIONS)}"
        )
    client = resolve_client(client)
    weights = _column_name(weights, "weights")
    offset = _column_name(offset, "offset")
    design = _design_of(formula, data, weights, offset, contrasts, client, family, link)
    model = design.model
    fam = model.family
    if fam.has_dispersion and model.is_linear:
        raise ModelSpecificationError(
            "a gaussian model with the identity link is a linear mixed model: use lmm"
        )
    if fam.has_dispersion and nagq != 1:
        raise ModelSpecificationError(
            f"family {fam.name!r} has a dispersion parameter: fitted by the Laplace "
            f"approximation (nagq=1), got nagq={nagq}"
        )
    if not model.terms:
        raise ModelSpecificationError(
            "the formula has no random-effect term; the Dask path fits mixed models"
        )
    x_full, z_moms, _ = map_reduce(data, _moments(design), _add_moments, client)
    keep = _kept_columns(x_full, list(model.design.fixef_names))
    design.set_kept_columns(keep)
    n = int(x_full.n)
    if n == 0:
        raise ModelSpecificationError("no complete rows in the Dask frame: nothing to fit")
    layout = [
        TermData(np.zeros(0, dtype=np.int64), t.n_levels, np.zeros((0, t.dim)), s)
        for t, s in zip(model.terms, model.structures, strict=True)
    ]
    p = len(model.fixef_names)
    std = standardize_from_moments(_subset(x_full, keep), z_moms, layout)
    standardized = not std.is_identity
    held = persist_partitions(
        data,
        partial(_local_problem, design=design, std=std if standardized else None, layout=layout),
        client,
    )

    def reduce(task: Any) -> Any:
        return tree_reduce(held, task, combine_chunks, client)

    inner_terms = std.terms if standardized else layout
    inner = ChunkedGLMMProblem(reduce, list(inner_terms), p, n, model.family, model.link)
    user = StandardizedGLMMProblem(inner, std, np.zeros((0, p)), layout) if standardized else None
    # As the core's estimator: glmer.nb's size, or a dispersion, estimated jointly.
    if fam.name == "negative_binomial" and options.pop("estimate_size", True):
        check = options.get("check", True)
        if "start" in options:
            raise ModelSpecificationError("start= is not available with an estimated size")
        fit = fit_glmm_nb(model, nagq=nagq, check=check, problem=inner, user=user)
    elif fam.has_dispersion:
        if "start" in options:
            raise ModelSpecificationError("start= is not available with an estimated dispersion")
        fit = fit_glmm_dispersion(model, check=options.get("check", True), problem=inner, user=user)
    else:
        options.pop("estimate_size", None)
        fit = fit_glmm(model, nagq=nagq, problem=inner, user=user, **options)
    result = DaskGLMMResult.from_fit(fit)
    assert isinstance(result, DaskGLMMResult)
    result._attach(data, design, client)
    return announce_fit(result)
