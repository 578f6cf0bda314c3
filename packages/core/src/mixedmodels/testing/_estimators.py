"""Conformance checks of an :class:`~mixedmodels.interfaces.Estimator`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..interfaces import Estimator, FloatArray
from ._core import Check, CheckTable, Context, bind, call, check_name, run_all

_DF_ATTRIBUTES = ("df", "n_params", "npar")
_JUNK = (None, object(), "not a model", 42)
# The three fits: the model, a fresh copy of it, and the model of row-permuted data.
_FITS = ("first", "second", "permuted")

ModelFactory = Callable[[int | None], Any]


def value(result: Any, name: str) -> Any:
    """Attribute ``name`` of ``result``, called if it is a method (``aic`` or ``aic()``)."""
    out = getattr(result, name)
    return out() if callable(out) and not isinstance(out, (pd.Series, pd.DataFrame)) else out


class EstimatorContext(Context):
    """An estimator, the model factory and the (cached) fits."""

    function = "check_estimator"

    def __init__(
        self, obj: Any, *, model_factory: ModelFactory | None = None, has_likelihood: bool = True
    ) -> None:
        super().__init__(obj, model_factory=model_factory, has_likelihood=has_likelihood)
        self.has_likelihood = has_likelihood
        self._fits: dict[str, Any] = {}

    @cached_property
    def model(self) -> Any:
        """The factory's model, which the estimator must support."""
        model = self.option("model_factory")(None)
        reason = call(self.fail, "supports(model)", self.obj.supports, model)
        if reason is not None:
            raise self.fail("supports(model)", f"the factory's model is not supported: {reason}")
        return model

    def fit(self, which: str) -> Any:
        """The fit ``which`` (one of ``_FITS``), fitted once."""
        if which not in self._fits:
            model, factory = self.model, self.option("model_factory")
            if which == "first":
                out = call(self.fail, "fit", self.obj.fit, model)
            elif which == "second":
                out = call(self.fail, "fit", self.obj.fit, factory(None))
            else:
                out = call(self.fail, "fit (permuted rows)", self.obj.fit, factory(1))
            self._fits[which] = out
        return self._fits[which]

    # Validated parts of a result; each raises the failure of the check it belongs to.

    def has(self, result: Any, attr: str, check: str) -> None:
        if not hasattr(result, attr):
            raise self.fail(check, f"the result ({type(result).__name__}) has no {attr!r}")

    def fixef(self, result: Any) -> pd.Series:
        self.has(result, "fixef", "result.fixef")
        fixef = value(result, "fixef")
        if not isinstance(fixef, pd.Series):
            raise self.fail("result.fixef", f"must be a pandas Series, got {type(fixef).__name__}")
        if not np.all(np.isfinite(np.asarray(fixef, dtype=np.float64))):
            raise self.fail("result.fixef", f"has non-finite values: {fixef.to_dict()}")
        if not fixef.index.is_unique:
            raise self.fail("result.fixef", f"index has duplicate names: {list(fixef.index)}")
        return fixef

    def vcov(self, result: Any) -> FloatArray:
        self.has(result, "vcov", "result.vcov")
        fixef, vcov = self.fixef(result), value(result, "vcov")
        if not isinstance(vcov, pd.DataFrame):
            raise self.fail("result.vcov", f"must be a pandas DataFrame, got {type(vcov).__name__}")
        if list(vcov.index) != list(fixef.index) or list(vcov.columns) != list(fixef.index):
            raise self.fail(
                "result.vcov",
                f"index {list(vcov.index)} / columns {list(vcov.columns)} do not match the "
                f"fixef index {list(fixef.index)}",
            )
        v = np.asarray(vcov, dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise self.fail("result.vcov", "has non-finite values")
        return v

    def loglik_aic(self, result: Any) -> tuple[float, float]:
        for attr in ("loglik", "aic"):
            self.has(result, attr, f"result.{attr}")
        try:
            loglik = float(value(result, "loglik"))
            aic = float(value(result, "aic"))
        except (TypeError, ValueError) as exc:
            raise self.fail("result.loglik", f"loglik/aic are not numbers: {exc}") from exc
        if not (math.isfinite(loglik) and math.isfinite(aic)):
            raise self.fail("result.loglik", f"loglik = {loglik}, aic = {aic}: not finite")
        return loglik, aic

    def df(self, result: Any) -> int:
        """The number of parameters: declared and agreeing with the AIC, or implied by it."""
        loglik, aic = self.loglik_aic(result)
        n_fixef = len(self.fixef(result))
        implied = (aic + 2.0 * loglik) / 2.0
        declared = None
        for attr in _DF_ATTRIBUTES:
            if hasattr(result, attr):
                declared = value(result, attr)
                break
        if declared is not None:
            expect = -2.0 * loglik + 2.0 * float(declared)
            if abs(aic - expect) > 1e-8 * max(1.0, abs(aic)):
                raise self.fail(
                    "result.aic",
                    f"aic = {aic:.10g} but -2 * loglik + 2 * df = {expect:.10g} (loglik "
                    f"{loglik:.10g}, df {declared})",
                )
            df = float(declared)
        else:
            df = implied
        if abs(df - round(df)) > 1e-6 * max(1.0, abs(aic)) or round(df) < n_fixef:
            raise self.fail(
                "result.aic",
                f"aic = {aic:.10g} and loglik = {loglik:.10g} imply df = {implied:.8g}, not a "
                f"whole number of parameters >= the {n_fixef} fixed effects",
            )
        return round(df)


def _each_fit(
    check: Callable[[EstimatorContext, Any], None],
) -> Callable[[EstimatorContext], None]:
    """A check of ``check(ctx, result)`` on each of the three fits."""

    def run(ctx: EstimatorContext) -> None:
        for which in _FITS:
            check(ctx, ctx.fit(which))

    return run


def _interface(ctx: EstimatorContext) -> None:
    if not isinstance(ctx.obj, Estimator):
        raise ctx.fail("interface", f"{type(ctx.obj).__name__} is not a mixedmodels Estimator")


def _supports(ctx: EstimatorContext) -> None:
    for junk in _JUNK:
        try:
            reason = ctx.obj.supports(junk)
        except Exception as exc:
            raise ctx.fail(
                "supports",
                f"supports({junk!r}) raised {type(exc).__name__}: {exc}; it must return a "
                "message instead",
            ) from exc
        if reason is not None and not isinstance(reason, str):
            raise ctx.fail("supports", f"supports({junk!r}) returned {reason!r}, not None or a str")


def _supports_model(ctx: EstimatorContext) -> None:
    _ = ctx.model


def _fit(ctx: EstimatorContext) -> None:
    for which in _FITS:
        ctx.fit(which)


@_each_fit
def _fixef(ctx: EstimatorContext, result: Any) -> None:
    ctx.fixef(result)


@_each_fit
def _vcov(ctx: EstimatorContext, result: Any) -> None:
    ctx.vcov(result)


def _vscale(v: FloatArray) -> float:
    return max(float(np.max(np.abs(v))) if v.size else 0.0, 1e-300)


@_each_fit
def _vcov_symmetric(ctx: EstimatorContext, result: Any) -> None:
    v = ctx.vcov(result)
    asym = float(np.max(np.abs(v - v.T))) if v.size else 0.0
    if asym > 1e-8 * _vscale(v):
        raise ctx.fail(
            "result.vcov symmetric", f"vcov is not symmetric (max |V - V.T| = {asym:.3g})"
        )


@_each_fit
def _vcov_psd(ctx: EstimatorContext, result: Any) -> None:
    v = ctx.vcov(result)
    if v.size:
        eig = np.linalg.eigvalsh(0.5 * (v + v.T))
        if eig[0] < -1e-8 * _vscale(v):
            raise ctx.fail(
                "result.vcov positive semi-definite", f"smallest eigenvalue {eig[0]:.6g}"
            )


@_each_fit
def _converged(ctx: EstimatorContext, result: Any) -> None:
    ctx.has(result, "converged", "result.converged")
    converged = value(result, "converged")
    if not isinstance(converged, (bool, np.bool_)):
        raise ctx.fail("result.converged", f"must be a bool, got {type(converged).__name__}")


@_each_fit
def _loglik(ctx: EstimatorContext, result: Any) -> None:
    ctx.loglik_aic(result)


@_each_fit
def _aic(ctx: EstimatorContext, result: Any) -> None:
    ctx.df(result)


@_each_fit
def _bic(ctx: EstimatorContext, result: Any) -> None:
    if not (hasattr(result, "bic") and hasattr(result, "nobs")):
        return  # optional attributes
    loglik, _ = ctx.loglik_aic(result)
    df = ctx.df(result)
    bic = float(value(result, "bic"))
    nobs = float(value(result, "nobs"))
    expect = -2.0 * loglik + math.log(nobs) * df
    if abs(bic - expect) > 1e-8 * max(1.0, abs(bic)):
        raise ctx.fail(
            "result.bic", f"bic = {bic:.10g} but -2 * loglik + log(nobs) * df = {expect:.10g}"
        )


def _deterministic(ctx: EstimatorContext) -> None:
    first, second = ctx.fit("first"), ctx.fit("second")
    f1, f2 = ctx.fixef(first), ctx.fixef(second)
    b1, b2 = np.asarray(f1, float), np.asarray(f2, float)
    if list(f1.index) != list(f2.index) or not np.allclose(b1, b2, rtol=1e-10, atol=1e-12):
        raise ctx.fail(
            "deterministic",
            f"two fits of the same model give fixef {f1.to_dict()} and {f2.to_dict()}",
        )
    if not np.allclose(ctx.vcov(first), ctx.vcov(second), rtol=1e-10, atol=1e-14):
        raise ctx.fail("deterministic", "two fits of the same model give different vcov")
    if ctx.has_likelihood:
        l1, l2 = ctx.loglik_aic(first)[0], ctx.loglik_aic(second)[0]
        if abs(l1 - l2) > 1e-12 * max(1.0, abs(l1)):
            raise ctx.fail(
                "deterministic", f"two fits of the same model give loglik {l1!r} and {l2!r}"
            )


def _row_order(ctx: EstimatorContext) -> None:
    first, permuted = ctx.fit("first"), ctx.fit("permuted")
    if ctx.has_likelihood:
        l0, l1 = ctx.loglik_aic(first)[0], ctx.loglik_aic(permuted)[0]
        if abs(l0 - l1) > 1e-8 * max(1.0, abs(l0)):
            raise ctx.fail(
                "row order",
                f"loglik is {l0:.12g} for the data in order but {l1:.12g} with the rows "
                f"permuted (relative difference {abs(l0 - l1) / max(1.0, abs(l0)):.3g})",
            )
    else:
        f0, fp = ctx.fixef(first), ctx.fixef(permuted)
        bp = fp.reindex(f0.index).to_numpy(dtype=float)
        if not np.allclose(bp, np.asarray(f0, float), rtol=1e-6, atol=1e-10):
            raise ctx.fail(
                "row order",
                f"fixef {f0.to_dict()} in order but {fp.to_dict()} with the rows permuted",
            )


def estimator_checks(
    estimator: Estimator,
    model_factory: ModelFactory | None = None,
    *,
    has_likelihood: bool = True,
) -> Iterator[tuple[str, Check]]:
    """Yield ``(name, check)`` for each check of :func:`check_estimator`, in its order.

    Without ``model_factory`` only ``name``, ``interface`` and ``supports`` are listed;
    the ``result.loglik``/``result.aic``/``result.bic`` checks only with
    ``has_likelihood``.  The checks of one call share the three fits.

    Parameters
    ----------
    estimator, model_factory, has_likelihood
        As for :func:`check_estimator`.

    Yields
    ------
    tuple of (str, Check)
        The check's name and the check; ``check(estimator)`` runs it.
    """
    ctx = EstimatorContext(estimator, model_factory=model_factory, has_likelihood=has_likelihood)
    fits = model_factory is not None
    lik = fits and has_likelihood
    table: CheckTable = [
        ("name", check_name, True),
        ("interface", _interface, True),
        ("supports", _supports, True),
        ("supports(model)", _supports_model, fits),
        ("fit", _fit, fits),
        ("result.fixef", _fixef, fits),
        ("result.vcov", _vcov, fits),
        ("result.vcov symmetric", _vcov_symmetric, fits),
        ("result.vcov positive semi-definite", _vcov_psd, fits),
        ("result.converged", _converged, fits),
        ("result.loglik", _loglik, lik),
        ("result.aic", _aic, lik),
        ("result.bic", _bic, lik),
        ("deterministic", _deterministic, fits),
        ("row order", _row_order, fits),
    ]
    yield from bind("estimator", ctx, table)


def check_estimator(
    estimator: Estimator,
    model_factory: ModelFactory | None = None,
    *,
    has_likelihood: bool = True,
) -> None:
    """Check an :class:`~mixedmodels.interfaces.Estimator` against its contract.

    Runs every check of :func:`estimator_checks`.  Without a model: ``name`` is a
    non-empty string and ``supports`` returns ``None`` or a message, without raising,
    for objects that are not models.

    With ``model_factory``: the estimator supports the model, and its fit has ``fixef``
    (a :class:`pandas.Series` of finite values), ``vcov`` (a symmetric positive
    semi-definite :class:`pandas.DataFrame` indexed like ``fixef``), a boolean
    ``converged``, a finite ``loglik`` and ``aic == -2 * loglik + 2 * df`` (``df`` from
    a ``df``/``n_params``/``npar`` attribute if there is one, else it must come out a
    whole number at least the number of fixed effects; ``bic`` is checked too when the
    result has ``bic`` and ``nobs``).  Attributes may be methods (``aic()``).  Fitting
    twice gives the same estimates (determinism: ``fixef`` and ``vcov`` to 1e-10, loglik
    to 1e-12 relative), and fitting the model built from row-permuted data gives the
    same ``loglik`` (1e-8 relative).

    Parameters
    ----------
    estimator
        The estimator instance.
    model_factory
        ``model_factory(data_permutation_seed)`` returns a fresh model the estimator
        supports; with ``None`` the data rows in their original order, with an int the
        same data with its rows permuted by ``numpy.random.default_rng(seed)``.
    has_likelihood
        Set to ``False`` for estimators whose results have no likelihood (GEE, ...):
        ``loglik``/``aic`` are then not required, and the permutation check compares
        ``fixef`` (1e-6 relative) instead.

    Raises
    ------
    AssertionError
        Naming the estimator, each failed check and the numbers.
    """
    run_all(
        estimator, list(estimator_checks(estimator, model_factory, has_likelihood=has_likelihood))
    )
