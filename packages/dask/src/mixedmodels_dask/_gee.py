"""Generalized estimating equations on a Dask frame (decision 0029).

Clusters must sit whole in one partition: then each partition builds the gee plugin's
own per-cluster workspace of its clusters (held on the workers) and every quantity of
the fit is a sum over partitions: the Fisher-scoring system ``sum D'V^-1 D``,
``sum D'V^-1 r``, the scale's ``sum w r^2``, the correlation's pair sums per class
(merged by class key: partitions see different time pairs), R's ``gee`` moment sums,
and, at the solution, the model-based precision ``sum W'W``, the meat ``sum u_k u_k'``
of every variance type (robust, jackknife, Mancl-DeRouen, Kauermann-Carroll,
Fay-Graubard, Morel-Bokossa-Neerchal: the leverages and the jackknife's one-step
changes need the global ``Omega``, sent to the tasks) and the sums behind the
standard errors of the scale and the correlation parameters.  The driver runs the
same iteration as :func:`mixedmodels_gee._fit.fit_gee` (both algorithms, both
moment estimators) on those sums.

Structures bound to the time points of all the data (unstructured, fixed; m-dependent
checks them) learn them in one pass over the held partitions before the workspaces are
built.

The result is a :class:`mixedmodels_gee.GEEResult` (summary, tidy, glance, QIC,
anova, confint, Wald tests are the in-memory code's); its row-wise outputs are lazy
Dask series, and what needs a refit (sequential ``anova``, QIC's independence fit)
refits on the held partitions.

The gee plugin is an optional dependency (the ``gee`` extra): it is imported here only.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Any

import dask
import numpy as np

from mixedmodels.errors import ModelSpecificationError

from ._gee_engine import (
    _any,
    _combine,
    _Engine,
    _Facts,
    _facts_of,
    _gee_modules,
    _has_pairs,
    _local_rows,
    _workspace,
    check_whole_clusters,
)
from ._lmm import _add_moments, _column_name, _design_of, _kept_columns, _moments
from ._reduce import map_reduce, persist_partitions, resolve_client, tree_reduce

__all__ = ["gee"]

#: Structures whose fit depends on the order of rows within a cluster unless a time
#: column gives it (a Dask frame does not keep that order through a shuffle).
_ORDERED = ("ar1", "unstructured", "m-dependent", "fixed")

_OPTIONS = (
    *("mdep", "matrix", "algorithm", "moments", "tol", "maxiter", "start"),
    *("fg_b", "mbn_d", "mbn_r"),
)


# --------------------------------------------------------------------- the driver


def _layout_stand_in(facts: _Facts, time: str | None) -> Any:
    """A layout without rows that carries all the data's time points (what the
    structures' ``bind`` reads)."""
    clusters, _, _, _, _ = _gee_modules()
    empty = np.zeros(0, dtype=np.int64)
    return clusters.ClusterLayout(
        order=empty,
        labels=[],
        sizes=empty,
        groups=[],
        time_values=facts.times,
        has_time=time is not None,
        time_name=time,
    )


def gee(
    formula: str,
    data: Any,
    groups: Any,
    time: Any = None,
    family: Any = "gaussian",
    link: Any = None,
    corstr: Any = "independence",
    weights: Any = None,
    offset: Any = None,
    scale_fix: Any = None,
    std_err: str = "robust",
    contrasts: dict[str, str] | None = None,
    client: Any = None,
    **options: Any,
) -> Any:
    """Fit a GEE to a ``dask.dataframe.DataFrame``: the fit of
    :func:`mixedmodels_gee.gee` on all its rows in memory.

    Parameters
    ----------
    formula, family, link, corstr, scale_fix, std_err, contrasts
        As :func:`mixedmodels_gee.gee`.
    data
        The Dask frame.  Each cluster must sit whole in one partition: make the
        cluster column the index (``ddf.set_index(groups)``, known divisions), or keep
        each cluster's rows in one partition (checked in one pass; an error otherwise).
    groups
        The cluster column's name (make one column of an interaction).
    time
        Within-cluster time column.  Required for ``"ar1"``, ``"unstructured"``,
        ``"m-dependent"`` and ``"fixed"``: a Dask frame does not keep the order of rows
        within a cluster (in memory the default is that order).
    weights, offset
        Column names.
    client
        A ``distributed.Client``; default as in :func:`mixedmodels_dask.lmm`.
    **options
        As :func:`mixedmodels_gee.gee`: ``mdep``, ``matrix``, ``algorithm``,
        ``moments``, ``tol``, ``maxiter``, ``start``, ``fg_b``, ``mbn_d``, ``mbn_r``.

    Returns
    -------
    mixedmodels_gee.GEEResult
        A :class:`DaskGEEResult`: the in-memory result class, whose ``fitted()``,
        ``residuals()``, ``linear_predictor()`` and ``predict()`` are lazy Dask series.
    """
    _, correlation, _, variance, _ = _gee_modules()
    from mixedmodels_gee._estimator import _label, _scale_fix

    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ModelSpecificationError(
            f"options {unknown} are not available for GEE on a Dask frame "
            f"(accepted: {', '.join(_OPTIONS)})"
        )
    if not isinstance(groups, str):
        raise ModelSpecificationError(
            "groups must be a column name on a Dask frame (for an interaction of columns, "
            "make one column first, e.g. ddf = ddf.assign(cid=ddf.a.astype(str) + ':' + "
            "ddf.b.astype(str)))"
        )
    if time is not None and not isinstance(time, str):
        raise ModelSpecificationError("time must be a column name on a Dask frame")
    corr = correlation.resolve_corstr(
        corstr, mdep=options.get("mdep"), matrix=options.get("matrix")
    )
    if corr.name in _ORDERED and time is None:
        # In memory these pair rows by their order within a cluster; a Dask frame's row
        # order within a cluster is not kept by set_index or a shuffle, so the fit would
        # silently depend on how the frame was partitioned.
        raise ModelSpecificationError(
            f"corstr {corr.name!r} on a Dask frame needs time=: the order of rows within a "
            f"cluster ({groups!r}) is not kept by set_index or a shuffle; give the column "
            "that orders observations within a cluster"
        )
    std_err = variance.normalize_vcov_type(std_err)
    scale_fixed = _scale_fix(scale_fix)
    client = resolve_client(client)
    weights = _column_name(weights, "weights")
    offset = _column_name(offset, "offset")
    original = data
    data = check_whole_clusters(data, groups, client)
    design = _design_of(formula, data, weights, offset, contrasts, client, family, link)
    model = design.model
    if model.terms:
        raise ModelSpecificationError(
            "GEE models the marginal mean: remove the random-effect terms ((...|...)) "
            "from the formula and give the clusters as groups="
        )
    if time is not None and time not in data.columns:
        raise ModelSpecificationError(f"time: column {time!r} not found in the Dask frame")
    x_full, _, _ = map_reduce(data, _moments(design), _add_moments, client)
    keep = _kept_columns(x_full, list(model.design.fixef_names))
    design.set_kept_columns(keep)
    p = len(model.fixef_names)
    start = options.get("start")
    if start is not None:
        start = np.asarray(start, dtype=np.float64).ravel()
        if start.shape[0] != p:
            raise ValueError(
                f"start must have one value per coefficient ({p}: {', '.join(model.fixef_names)})"
            )
    local = persist_partitions(
        data, partial(_local_rows, design=design, groups=groups, time=time), client
    )
    needs_pairs = isinstance(corr, correlation.Unstructured)
    facts = tree_reduce(local, partial(_facts_of, pairs=needs_pairs), _combine, client)
    if facts is None or facts.n_obs == 0:
        raise ModelSpecificationError("no complete rows in the Dask frame: nothing to fit")
    if facts.n_missing:
        warnings.warn(
            f"{facts.n_missing} rows with a missing cluster ({groups})"
            + (f" or time ({time})" if time else "")
            + f" were dropped ({facts.n_obs} used)",
            UserWarning,
            stacklevel=3,
        )
    if facts.n_clusters < 2:
        raise ModelSpecificationError(
            f"groups ({groups}): all {facts.n_obs} rows are in one cluster; GEE needs at "
            "least two clusters, as its robust (sandwich) variance is estimated from the "
            "spread between clusters"
        )
    # The structure learns all the data's time points (unstructured: the pairs seen).
    stand_in = _layout_stand_in(facts, time)
    if needs_pairs:
        assert facts.pairs is not None
        corr.bind_pairs(facts.times, facts.pairs)
    else:
        corr.bind(stand_in)
    layer = [dask.delayed(_workspace)(item, corr, facts.times) for item in local]
    held = list(client.persist(layer)) if client is not None else list(dask.persist(*layer))
    del local, layer
    engine = _Engine(held, client, model.family, model.link, facts, p)
    has_pairs = not corr.is_independence and bool(tree_reduce(held, _has_pairs, _any, client))
    fit_options = dict(
        scale_fix=scale_fixed,
        tol=options.get("tol"),
        maxiter=options.get("maxiter"),
        algorithm=options.get("algorithm", "converge"),
        moments=options.get("moments", "geepack"),
    )
    state = engine.fit(corr, start=start, has_pairs=has_pairs, **fit_options)
    opts = {
        **fit_options,
        "fg_b": options.get("fg_b", 0.75),
        "mbn_d": options.get("mbn_d", 2.0),
        "mbn_r": options.get("mbn_r", 1.0),
        "groups_label": _label(groups),
        "time_label": _label(time),
    }
    if offset is not None:
        opts["offset_arg"] = offset
    from ._gee_result import DaskGEEResult  # the gee plugin: an optional dependency

    return DaskGEEResult.build(
        model=model,
        corr=corr,
        state=state,
        engine=engine,
        layout=stand_in,
        options=opts,
        std_err=std_err,
        has_pairs=has_pairs,
        ddf=original,
        design=design,
        groups=groups,
        time=time,
    )
