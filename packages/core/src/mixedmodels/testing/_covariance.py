"""Conformance checks of a :class:`~mixedmodels.interfaces.CovarianceStructure` class.

The checks of the residual use (a structure that overrides ``residual_correlation``)
are in :mod:`._residual_use`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..interfaces import CovarianceStructure, FloatArray
from . import _residual_use as residual
from ._core import (
    Check,
    Context,
    RngLike,
    as_array,
    bind,
    call,
    check_name,
    fmt,
    run_all,
    seed_of,
    stream,
)
from ._params import draw_params, on_bounds

_N_INTERIOR = 30
_N_BOUNDARY = 15


class Spec(NamedTuple):
    """An instance's parameter space, validated."""

    n: int
    lower: FloatArray
    upper: FloatArray
    start: FloatArray


class Evaluation(NamedTuple):
    """``factor`` and ``covariance`` at one parameter point."""

    params: FloatArray
    interior: bool
    lam: FloatArray
    cov: FloatArray
    where: str


def has_residual_use(cls: Any) -> bool:
    """Whether ``cls`` overrides ``residual_correlation`` (has a residual use)."""
    if not (isinstance(cls, type) and issubclass(cls, CovarianceStructure)):
        return False
    base = CovarianceStructure.residual_correlation.__func__  # type: ignore[attr-defined]
    return getattr(cls.residual_correlation, "__func__", None) is not base


class CovarianceContext(Context):
    """A structure class, the dimensions it is instantiated with and values per dimension."""

    function = "check_covariance_structure"

    def __init__(self, obj: Any, *, dims: Sequence[int] = (1, 2, 3), rng: RngLike = None) -> None:
        super().__init__(obj, dims=tuple(dims), rng=rng)
        self.dims = tuple(dims)
        self.seed = seed_of(rng)
        self.options["rng"] = self.seed
        self._cache: dict[tuple[str, int], Any] = {}

    def _cached(self, key: str, dim: int, build: Callable[[], Any]) -> Any:
        if (key, dim) not in self._cache:
            self._cache[key, dim] = build()
        return self._cache[key, dim]

    def instance(self, dim: int) -> CovarianceStructure:
        names = [f"c{i}" for i in range(dim)]
        return self._cached(
            "instance", dim, lambda: call(self.fail, f"instantiate dim={dim}", self.obj, dim, names)
        )

    def n_params(self, dim: int) -> int:
        def build() -> int:
            tag, inst = f"dim={dim}", self.instance(dim)
            n = call(self.fail, f"n_params ({tag})", lambda: inst.n_params)
            if not isinstance(n, (int, np.integer)) or n < 0:
                raise self.fail(f"n_params ({tag})", f"must be a non-negative int, got {n!r}")
            return int(n)

        return self._cached("n", dim, build)

    def bounds(self, dim: int) -> tuple[FloatArray, FloatArray]:
        def build() -> tuple[FloatArray, FloatArray]:
            tag, inst, n, fail = f"dim={dim}", self.instance(dim), self.n_params(dim), self.fail
            bounds = call(fail, f"bounds ({tag})", inst.bounds)
            if not (isinstance(bounds, tuple) and len(bounds) == 2):
                raise fail(f"bounds ({tag})", "must return a (lower, upper) tuple")
            lower = as_array(fail, f"bounds ({tag})", bounds[0], (n,))
            upper = as_array(fail, f"bounds ({tag})", bounds[1], (n,))
            if np.any(np.isnan(lower) | np.isnan(upper) | (lower > upper)):
                raise fail(
                    f"bounds ({tag})", f"lower {fmt(lower)} / upper {fmt(upper)} are not ordered"
                )
            return lower, upper

        return self._cached("bounds", dim, build)

    def spec(self, dim: int) -> Spec:
        def build() -> Spec:
            tag, inst, n = f"dim={dim}", self.instance(dim), self.n_params(dim)
            start = as_array(
                self.fail, f"start ({tag})", call(self.fail, "start", inst.start), (n,)
            )
            return Spec(n, *self.bounds(dim), start)

        return self._cached("spec", dim, build)

    def interior(self, dim: int) -> FloatArray:
        """Random parameters inside the bounds (the first draws of the dimension's stream)."""
        spec = self.spec(dim)
        return self._cached(
            "interior",
            dim,
            lambda: draw_params(spec.lower, spec.upper, stream(self.seed, dim, 0), _N_INTERIOR),
        )

    def evaluations(self, dim: int) -> list[Evaluation]:
        """factor and covariance at interior points, points on the bounds and a valid start."""

        def build() -> list[Evaluation]:
            spec, interior = self.spec(dim), self.interior(dim)
            boundary = on_bounds(
                interior[:_N_BOUNDARY], spec.lower, spec.upper, stream(self.seed, dim, 1)
            )
            points = [*((p, True) for p in interior), *((p, False) for p in boundary)]
            start = spec.start
            # A start outside the bounds is the 'start' check's failure, not every check's.
            if np.all(np.isfinite(start)) and not np.any(
                (start < spec.lower) | (start > spec.upper)
            ):
                points.append((start, False))
            return [self._evaluate(dim, p, inner) for p, inner in points]

        return self._cached("evaluations", dim, build)

    def _evaluate(self, dim: int, params: FloatArray, interior: bool) -> Evaluation:
        tag, inst, fail = f"dim={dim}", self.instance(dim), self.fail
        lam = as_array(
            fail,
            f"factor ({tag})",
            call(fail, f"factor ({tag})", inst.factor, params.copy()),
            (dim, dim),
        )
        cov = as_array(
            fail,
            f"covariance ({tag})",
            call(fail, "covariance", inst.covariance, params.copy()),
            (dim, dim),
        )
        return Evaluation(params, interior, lam, cov, f"at params {fmt(params)} ({tag})")


def _each_evaluation(
    check: Callable[[CovarianceContext, CovarianceStructure, Evaluation], None],
) -> Callable[[CovarianceContext], None]:
    """A check of ``check(ctx, instance, evaluation)`` at every point of every dimension."""

    def run(ctx: CovarianceContext) -> None:
        for dim in ctx.dims:
            for ev in ctx.evaluations(dim):
                check(ctx, ctx.instance(dim), ev)

    return run


# --------------------------------------------------------------------------------------
# the parameter space


def _interface(ctx: CovarianceContext) -> None:
    if not (isinstance(ctx.obj, type) and issubclass(ctx.obj, CovarianceStructure)):
        raise ctx.fail("interface", f"{ctx.obj!r} is not a CovarianceStructure subclass")


def _instantiate(ctx: CovarianceContext) -> None:
    for dim in ctx.dims:
        ctx.instance(dim)


def _n_params(ctx: CovarianceContext) -> None:
    for dim in ctx.dims:
        ctx.n_params(dim)


def _param_names(ctx: CovarianceContext) -> None:
    for dim in ctx.dims:
        tag, n = f"dim={dim}", ctx.n_params(dim)
        pnames = call(ctx.fail, f"param_names ({tag})", ctx.instance(dim).param_names)
        if len(pnames) != n or not all(isinstance(s, str) for s in pnames):
            raise ctx.fail(f"param_names ({tag})", f"{pnames!r} is not {n} names (n_params = {n})")
        if len(set(pnames)) != n:
            raise ctx.fail(f"param_names ({tag})", f"{pnames!r} has duplicates")


def _bounds(ctx: CovarianceContext) -> None:
    for dim in ctx.dims:
        ctx.bounds(dim)


def _start(ctx: CovarianceContext) -> None:
    for dim in ctx.dims:
        spec = ctx.spec(dim)
        start, lower, upper = spec.start, spec.lower, spec.upper
        if not np.all(np.isfinite(start)) or np.any((start < lower) | (start > upper)):
            raise ctx.fail(
                f"start (dim={dim})",
                f"start {fmt(start)} is not finite or not within [{fmt(lower)}, {fmt(upper)}]",
            )


# --------------------------------------------------------------------------------------
# factor and covariance at points of the parameter space


@_each_evaluation
def _factor_finite(ctx: CovarianceContext, inst: CovarianceStructure, ev: Evaluation) -> None:
    if not np.all(np.isfinite(ev.lam)):
        raise ctx.fail("factor finite", f"factor is not finite {ev.where}: {fmt(ev.lam)}")


@_each_evaluation
def _lower_triangular(ctx: CovarianceContext, inst: CovarianceStructure, ev: Evaluation) -> None:
    scale = max(1.0, float(np.max(np.abs(ev.lam))))
    if np.any(np.abs(np.triu(ev.lam, 1)) > 1e-12 * scale):
        raise ctx.fail(
            "factor lower triangular",
            f"factor has non-zero entries above the diagonal {ev.where}: {fmt(ev.lam)}",
        )


@_each_evaluation
def _deterministic(ctx: CovarianceContext, inst: CovarianceStructure, ev: Evaluation) -> None:
    again = np.asarray(inst.factor(ev.params.copy()), dtype=np.float64)
    if not np.array_equal(again, ev.lam):
        raise ctx.fail("factor deterministic", f"two calls of factor differ {ev.where}")


@_each_evaluation
def _cov_finite(ctx: CovarianceContext, inst: CovarianceStructure, ev: Evaluation) -> None:
    if not np.all(np.isfinite(ev.cov)):
        raise ctx.fail("covariance finite", f"covariance is not finite {ev.where}")


def _cscale(cov: FloatArray) -> float:
    return max(1.0, float(np.max(np.abs(cov))))


@_each_evaluation
def _symmetric(ctx: CovarianceContext, inst: CovarianceStructure, ev: Evaluation) -> None:
    asym = float(np.max(np.abs(ev.cov - ev.cov.T)))
    if asym > 1e-10 * _cscale(ev.cov):
        raise ctx.fail(
            "covariance symmetric", f"covariance is not symmetric {ev.where} (by {asym:.3g})"
        )


def _eigenvalues(cov: FloatArray) -> FloatArray:
    return np.asarray(np.linalg.eigvalsh(0.5 * (cov + cov.T)), dtype=np.float64)


@_each_evaluation
def _psd(ctx: CovarianceContext, inst: CovarianceStructure, ev: Evaluation) -> None:
    eig = _eigenvalues(ev.cov)
    if eig[0] < -1e-10 * _cscale(ev.cov):
        raise ctx.fail(
            "covariance positive semi-definite",
            f"smallest eigenvalue {eig[0]:.6g} {ev.where}: {fmt(ev.cov)}",
        )


@_each_evaluation
def _pd_inside(ctx: CovarianceContext, inst: CovarianceStructure, ev: Evaluation) -> None:
    if not ev.interior:
        return
    eig = _eigenvalues(ev.cov)
    if not eig[0] > 1e-12 * max(1.0, float(eig[-1])):
        raise ctx.fail(
            "covariance positive definite at interior points",
            f"smallest eigenvalue {eig[0]:.6g} {ev.where}",
        )


@_each_evaluation
def _factor_product(ctx: CovarianceContext, inst: CovarianceStructure, ev: Evaluation) -> None:
    diff = float(np.max(np.abs(ev.cov - ev.lam @ ev.lam.T)))
    if diff > 1e-10 * _cscale(ev.cov):
        raise ctx.fail(
            "covariance = factor @ factor.T",
            f"covariance differs from factor @ factor.T by {diff:.3g} {ev.where}",
        )


def _continuity(ctx: CovarianceContext) -> None:
    # A tiny parameter change gives a tiny covariance change.
    for dim in ctx.dims:
        inst, spec, rng = ctx.instance(dim), ctx.spec(dim), stream(ctx.seed, dim, 2)
        for params in ctx.interior(dim)[:10]:
            c0 = np.asarray(inst.covariance(params), dtype=np.float64)
            step = 1e-8 * np.maximum(np.abs(params), 1.0) * rng.choice([-1.0, 1.0], size=spec.n)
            moved = np.clip(params + step, spec.lower, spec.upper)
            c1 = np.asarray(inst.covariance(moved), dtype=np.float64)
            change = float(np.linalg.norm(c1 - c0))
            allowed = 1e-4 * (1.0 + float(np.linalg.norm(c0)))
            if not change <= allowed:
                raise ctx.fail(
                    f"continuity (dim={dim})",
                    f"moving params {fmt(params)} by {fmt(moved - params)} changes the "
                    f"covariance by {change:.3g} (Frobenius), more than {allowed:.3g}",
                )


def _inverse_map(ctx: CovarianceContext) -> None:
    for dim in ctx.dims:
        tag, inst, n = f"dim={dim}", ctx.instance(dim), ctx.n_params(dim)
        inverse_map = getattr(inst, "params_from_covariance", None)
        if not callable(inverse_map):
            continue  # optional: nothing to check
        for params in ctx.interior(dim)[:10]:
            cov = np.asarray(inst.covariance(params), dtype=np.float64)
            with np.errstate(all="ignore"):  # a wrong result is reported below
                recovered = call(ctx.fail, "params_from_covariance", inverse_map, cov)
            back = as_array(
                ctx.fail,
                f"params_from_covariance ({tag})",
                recovered,
                (n,),
            )
            cov2 = np.asarray(inst.covariance(back), dtype=np.float64)
            err = float(np.max(np.abs(cov2 - cov)))
            if not err <= 1e-8 * (1.0 + float(np.max(np.abs(cov)))):
                raise ctx.fail(
                    f"params_from_covariance round trip ({tag})",
                    f"covariance(params_from_covariance(C)) differs from C by {err:.3g} at "
                    f"params {fmt(params)} (recovered {fmt(back)})",
                )


def covariance_structure_checks(
    cls: type[CovarianceStructure],
    dims: Sequence[int] = (1, 2, 3),
    rng: RngLike = None,
) -> Iterator[tuple[str, Check]]:
    """Yield ``(name, check)`` for each check of :func:`check_covariance_structure`.

    The ``residual ...`` checks are listed only for classes with a residual use (that
    override ``residual_correlation``); ``params_from_covariance round trip`` holds
    trivially for classes without that method.

    Parameters
    ----------
    cls, dims, rng
        As for :func:`check_covariance_structure`.

    Yields
    ------
    tuple of (str, Check)
        The check's name and the check; ``check(cls)`` runs it.
    """
    ctx = CovarianceContext(cls, dims=dims, rng=rng)
    table: list[tuple[str, Callable[[Any], None], bool]] = [
        ("interface", _interface, True),
        ("name", check_name, True),
        ("instantiate", _instantiate, True),
        ("n_params", _n_params, True),
        ("param_names", _param_names, True),
        ("bounds", _bounds, True),
        ("start", _start, True),
        ("factor finite", _factor_finite, True),
        ("factor lower triangular", _lower_triangular, True),
        ("factor deterministic", _deterministic, True),
        ("covariance finite", _cov_finite, True),
        ("covariance symmetric", _symmetric, True),
        ("covariance positive semi-definite", _psd, True),
        ("covariance positive definite at interior points", _pd_inside, True),
        ("covariance = factor @ factor.T", _factor_product, True),
        ("continuity", _continuity, True),
        ("params_from_covariance round trip", _inverse_map, True),
    ]
    uses = has_residual_use(cls)
    table += [(name, func, uses) for name, func in residual.CHECKS]
    yield from bind("covariance_structure", ctx, table)


def check_covariance_structure(
    cls: type[CovarianceStructure],
    dims: Sequence[int] = (1, 2, 3),
    rng: RngLike = None,
) -> None:
    """Check a :class:`~mixedmodels.interfaces.CovarianceStructure` class.

    Runs every check of :func:`covariance_structure_checks`.  For each dimension in
    ``dims`` the class is instantiated as ``cls(dim, names)`` and checked:
    ``n_params`` equals the lengths of ``param_names()`` (unique strings), ``start()``
    and both bounds; ``start()`` is finite and within the bounds; at random parameters
    inside the bounds and on them, ``factor`` is a finite ``dim x dim`` lower-triangular
    matrix and deterministic, and ``covariance`` is finite, symmetric, positive
    semi-definite and equal to ``factor @ factor.T``; at interior points the covariance
    is positive definite; a change of ``1e-8`` (relative) in the parameters changes the
    covariance by at most ``1e-4`` (relative); and where the class has
    ``params_from_covariance(cov)``, ``covariance(params_from_covariance(C)) == C``.

    Where the class has a residual use (it overrides
    :meth:`~mixedmodels.interfaces.CovarianceStructure.residual_correlation`), that is
    checked too, on random groups of 1 to 6 observations at distinct integer times with
    gaps (one coordinate; two if the structure refuses one): it returns a
    :class:`~mixedmodels.interfaces.ResidualCorrelation` whose names, start and bounds
    agree with ``n_params``, and whose ``correlations`` at random parameters are finite,
    symmetric, unit-diagonal, positive definite and continuous in the parameters.

    Parameters
    ----------
    cls
        The structure class (as registered through ``mixedmodels_covariance_structures``).
    dims
        Dimensions to instantiate it with.
    rng
        Generator or seed for the parameter draws; :data:`DEFAULT_SEED` by default.

    Raises
    ------
    AssertionError
        Naming the structure, the dimension, each failed check and the parameters.
    """
    run_all(cls, list(covariance_structure_checks(cls, dims, rng)))
