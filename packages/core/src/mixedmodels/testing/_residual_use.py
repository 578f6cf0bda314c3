"""Conformance checks of a covariance structure's residual use (``residual_correlation``).

The structure is asked for a :class:`~mixedmodels.interfaces.ResidualCorrelation` on
random groups of 1 to 6 observations at distinct integer times with gaps (one
coordinate; two if it refuses one); its names, start and bounds must agree with
``n_params`` and its ``correlations`` be finite, symmetric, unit-diagonal, positive
definite and continuous in the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..interfaces import FloatArray, ResidualCorrelation
from ._core import as_array, call, fmt, stream
from ._params import draw_params

if TYPE_CHECKING:
    from ._covariance import CovarianceContext

# Group sizes of the random grouping; the fitter batches groups of equal size.
_SIZES = (1, 2, 3, 3, 4, 5, 6, 6)
# Stream tag of the residual draws (dimension streams use the dimension itself).
_TAG = 10_000
_WHOLE = -1  # cache key: not per dimension


class Grouping(NamedTuple):
    """The residual correlation object and the grouped coordinates it was built on."""

    obj: ResidualCorrelation
    coords: FloatArray
    groups: NDArray[np.int64]


class Space(NamedTuple):
    n: int
    start: FloatArray
    lower: FloatArray
    upper: FloatArray


def _cached(ctx: CovarianceContext, key: str, build: Callable[[], Any]) -> Any:
    return ctx._cached(f"residual {key}", _WHOLE, build)


def grouping(ctx: CovarianceContext) -> Grouping:
    """``cls.residual_correlation`` on the random grouping; a failure if it refuses."""

    def build() -> Grouping:
        cls, fail, rng = ctx.obj, ctx.fail, stream(ctx.seed, _TAG)
        sizes = list(_SIZES)
        groups = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
        times = np.concatenate(
            [np.sort(rng.choice(np.arange(1, 10), size=k, replace=False)) for k in sizes]
        ).astype(np.float64)
        obj: Any = None
        coords = times[:, None]
        for d in (1, 2):
            coords = times[:, None] if d == 1 else np.column_stack([times, rng.permutation(times)])
            try:
                obj = cls.residual_correlation(coords, groups, [f"t{i}" for i in range(d)])
                break
            except ValueError as err:
                if d == 2:
                    raise fail(
                        "residual_correlation", f"refused one and two coordinates: {err}"
                    ) from err
            except Exception as err:
                raise fail("residual_correlation", f"raised {type(err).__name__}: {err}") from err
        if not isinstance(obj, ResidualCorrelation):
            raise fail("residual_correlation", f"returned {obj!r}, not a ResidualCorrelation")
        return Grouping(obj, coords, groups)

    return _cached(ctx, "grouping", build)


def _n_params(ctx: CovarianceContext) -> int:
    obj = grouping(ctx).obj
    n = call(ctx.fail, "residual n_params", lambda: obj.n_params)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ctx.fail("residual n_params", f"must be a non-negative int, got {n!r}")
    return int(n)


def space(ctx: CovarianceContext) -> Space:
    """The residual parameters' count, start and bounds (shapes validated)."""

    def build() -> Space:
        obj, n, fail = grouping(ctx).obj, _n_params(ctx), ctx.fail
        start = as_array(fail, "residual start", call(fail, "start", obj.start), (n,))
        bounds = call(fail, "residual bounds", obj.bounds)
        lower = as_array(fail, "residual bounds", bounds[0], (n,))
        upper = as_array(fail, "residual bounds", bounds[1], (n,))
        return Space(n, start, lower, upper)

    return _cached(ctx, "space", build)


class Block(NamedTuple):
    params: FloatArray
    coords: FloatArray
    C: FloatArray
    where: str


def blocks(ctx: CovarianceContext) -> list[Block]:
    """Correlations of each batch of equal-sized groups at the start and random points."""

    def build() -> list[Block]:
        g, sp = grouping(ctx), space(ctx)
        batches = []
        for k in sorted(set(_SIZES)):
            rows = [np.flatnonzero(g.groups == i) for i in range(len(_SIZES)) if _SIZES[i] == k]
            batches.append(g.coords[np.array(rows)])
        out = []
        draws = draw_params(sp.lower, sp.upper, stream(ctx.seed, _TAG, 1), 10)
        for params in [sp.start, *draws]:
            for block in batches:
                where = f"at params {fmt(params)}, groups of {block.shape[1]}"
                C = np.asarray(
                    call(
                        ctx.fail, "residual correlations", g.obj.correlations, params.copy(), block
                    ),
                    dtype=np.float64,
                )
                k = block.shape[1]
                if C.shape != (block.shape[0], k, k):
                    raise ctx.fail("residual correlations", f"shape {C.shape} {where}")
                out.append(Block(params, block, C, where))
        return out

    return _cached(ctx, "blocks", build)


def _n_params_check(ctx: CovarianceContext) -> None:
    _n_params(ctx)


def _returns_object(ctx: CovarianceContext) -> None:
    grouping(ctx)


def _param_names(ctx: CovarianceContext) -> None:
    n = _n_params(ctx)
    pnames = call(ctx.fail, "residual param_names", grouping(ctx).obj.param_names)
    if len(pnames) != n or len(set(pnames)) != n:
        raise ctx.fail("residual param_names", f"{pnames!r} are not {n} distinct names")


def _start(ctx: CovarianceContext) -> None:
    sp = space(ctx)
    if not np.all(np.isfinite(sp.start)) or np.any((sp.start < sp.lower) | (sp.start > sp.upper)):
        raise ctx.fail("residual start", f"start {fmt(sp.start)} not within the bounds")


def _shapes(ctx: CovarianceContext) -> None:
    blocks(ctx)


def _finite(ctx: CovarianceContext) -> None:
    for b in blocks(ctx):
        if not np.all(np.isfinite(b.C)):
            raise ctx.fail("residual correlations finite", f"not finite {b.where}")


def _symmetric(ctx: CovarianceContext) -> None:
    for b in blocks(ctx):
        if np.max(np.abs(b.C - b.C.transpose(0, 2, 1))) > 1e-10:
            raise ctx.fail("residual correlations symmetric", f"not symmetric {b.where}")


def _unit_diagonal(ctx: CovarianceContext) -> None:
    for b in blocks(ctx):
        if np.max(np.abs(np.diagonal(b.C, axis1=1, axis2=2) - 1.0)) > 1e-10:
            raise ctx.fail("residual correlations unit diagonal", f"diagonal not 1 {b.where}")


def _positive_definite(ctx: CovarianceContext) -> None:
    for b in blocks(ctx):
        if np.linalg.eigvalsh(b.C).min() <= 1e-12:
            raise ctx.fail("residual correlations positive definite", f"not PD {b.where}")


def _continuity(ctx: CovarianceContext) -> None:
    obj, sp = grouping(ctx).obj, space(ctx)
    for b in blocks(ctx):
        step = 1e-8 * np.maximum(np.abs(b.params), 1.0)
        C1 = np.asarray(obj.correlations(np.clip(b.params + step, sp.lower, sp.upper), b.coords))
        if np.max(np.abs(C1 - b.C)) > 1e-4:
            raise ctx.fail(
                "residual continuity", f"a 1e-8 step moves C by more than 1e-4 {b.where}"
            )


def _natural_parameters(ctx: CovarianceContext) -> None:
    obj, sp = grouping(ctx).obj, space(ctx)
    natural = call(ctx.fail, "residual natural_parameters", obj.natural_parameters, sp.start.copy())
    if not isinstance(natural, list):
        raise ctx.fail("residual natural_parameters", "must return a list of (name, value)")


#: ``(name, check)`` of the residual use, in order.
CHECKS: list[tuple[str, Callable[[Any], None]]] = [
    ("residual_correlation", _returns_object),
    ("residual n_params", _n_params_check),
    ("residual param_names", _param_names),
    ("residual start", _start),
    ("residual correlations", _shapes),
    ("residual correlations finite", _finite),
    ("residual correlations symmetric", _symmetric),
    ("residual correlations unit diagonal", _unit_diagonal),
    ("residual correlations positive definite", _positive_definite),
    ("residual continuity", _continuity),
    ("residual natural_parameters", _natural_parameters),
]
