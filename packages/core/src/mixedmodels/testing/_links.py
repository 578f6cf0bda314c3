"""Conformance checks of a :class:`~mixedmodels.interfaces.Link`."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from ..interfaces import FloatArray, Link
from ._core import Check, CheckTable, Context, as_array, bind, call, check_name, fmt, run_all

# Means at which links are checked by default: the open unit interval, where every link
# in common use (identity, log, logit, probit, cloglog, cauchit, inverse, sqrt, 1/mu^2)
# is defined, then larger values kept only where the link is defined.
_LINK_MU_UNIT = (1e-3, 0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.99, 0.999)
_LINK_MU_ABOVE = (1.5, 3.0, 10.0, 50.0, 200.0)


class LinkContext(Context):
    """A link, the grid of means it is checked on, and its values there."""

    function = "check_link"

    def __init__(self, obj: Any, *, mu: Sequence[float] | FloatArray | None = None) -> None:
        super().__init__(obj, mu=mu)
        if mu is not None and mu is not Ellipsis and np.asarray(mu).size < 2:
            raise ValueError("check_link: give at least two means in `mu`")

    @cached_property
    def grid(self) -> FloatArray:
        mu = self.option("mu")
        if mu is not None:
            return np.sort(np.asarray(mu, dtype=np.float64).ravel())
        unit = np.array(_LINK_MU_UNIT)
        above = np.array(_LINK_MU_ABOVE)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                eta_above = np.asarray(self.obj.link(above), dtype=np.float64)
                ok = np.isfinite(eta_above) & np.asarray(self.obj.valid_eta(eta_above), dtype=bool)
            except Exception:  # a link undefined above 1 may raise
                ok = np.zeros(above.shape, dtype=bool)
        return np.concatenate([unit, above[ok]])

    @cached_property
    def eta(self) -> FloatArray:
        """``link(grid)``: finite, of the grid's shape."""
        grid = self.grid
        eta = as_array(self.fail, "link", call(self.fail, "link", self.obj.link, grid), grid.shape)
        bad = ~np.isfinite(eta)
        if np.any(bad):
            raise self.fail(
                "link",
                f"link(mu) is not finite at mu={fmt(grid[bad])} (pass `mu=` to check on the "
                "link's own domain)",
            )
        return eta

    def inverse(self, eta: FloatArray) -> FloatArray:
        """``inverse(eta)`` of ``eta``'s shape."""
        return as_array(
            self.fail, "inverse", call(self.fail, "inverse", self.obj.inverse, eta), eta.shape
        )

    @cached_property
    def increasing(self) -> bool:
        """Whether the inverse increases; a failure of 'monotone' if it is not monotone."""
        eta_s = np.sort(self.eta)
        mids = 0.5 * (eta_s[1:] + eta_s[:-1])
        eta_dense = np.sort(np.concatenate([eta_s, mids]))
        mu_dense = self.inverse(eta_dense)
        steps = np.diff(mu_dense)
        increasing = bool(np.all(steps > 0))
        if not (increasing or np.all(steps < 0)):
            i = int(np.argmax((steps <= 0) if steps[0] > 0 else (steps >= 0)))
            raise self.fail(
                "monotone",
                f"inverse is not strictly monotone: inverse({eta_dense[i]:.6g}) = "
                f"{mu_dense[i]:.10g}, inverse({eta_dense[i + 1]:.6g}) = {mu_dense[i + 1]:.10g}",
            )
        return increasing

    @cached_property
    def mu_eta(self) -> FloatArray:
        eta = self.eta
        return as_array(
            self.fail, "mu_eta", call(self.fail, "mu_eta", self.obj.mu_eta, eta), eta.shape
        )


def _interface(ctx: LinkContext) -> None:
    if not isinstance(ctx.obj, Link):
        raise ctx.fail("interface", f"{type(ctx.obj).__name__} is not a mixedmodels Link subclass")


def _link(ctx: LinkContext) -> None:
    _ = ctx.eta


def _valid_eta(ctx: LinkContext) -> None:
    eta, grid = ctx.eta, ctx.grid
    valid = np.asarray(call(ctx.fail, "valid_eta", ctx.obj.valid_eta, eta))
    if valid.shape != eta.shape or valid.dtype != np.bool_:
        raise ctx.fail("valid_eta", f"must return a boolean array of shape {eta.shape}")
    if not np.all(valid):
        raise ctx.fail(
            "valid_eta", f"rejects eta={fmt(eta[~valid])} = link(mu={fmt(grid[~valid])})"
        )


def _round_trip(ctx: LinkContext) -> None:
    grid = ctx.grid
    back = ctx.inverse(ctx.eta)
    err = np.abs(back - grid)
    tol = 1e-8 * np.abs(grid) + 1e-12
    if np.any(~(err <= tol)):
        i = int(np.argmax(np.where(np.isfinite(err), err / tol, np.inf)))
        raise ctx.fail(
            "round trip",
            f"inverse(link(mu)) = {back[i]:.12g} at mu = {grid[i]:.12g} "
            f"(error {err[i]:.3g}, tolerance {tol[i]:.3g})",
        )


def _vectorised(ctx: LinkContext) -> None:
    # A 2-D input keeps its shape.
    eta = ctx.eta
    two_d = call(ctx.fail, "vectorised", ctx.obj.inverse, eta.reshape(-1, 1))
    if np.shape(two_d) != (eta.size, 1):
        raise ctx.fail(
            "vectorised", f"inverse of a {(eta.size, 1)} array has shape {np.shape(two_d)}"
        )


def _monotone(ctx: LinkContext) -> None:
    _ = ctx.increasing


def _mu_eta_sign(ctx: LinkContext) -> None:
    eta, deriv, increasing = ctx.eta, ctx.mu_eta, ctx.increasing
    wrong_sign = (deriv <= 0) if increasing else (deriv >= 0)
    if np.any(wrong_sign | ~np.isfinite(deriv)):
        i = int(np.argmax(wrong_sign | ~np.isfinite(deriv)))
        raise ctx.fail(
            "mu_eta sign",
            f"mu_eta({eta[i]:.6g}) = {deriv[i]:.6g}, but inverse is "
            f"{'increasing' if increasing else 'decreasing'}",
        )


def _mu_eta_finite_difference(ctx: LinkContext) -> None:
    # Central difference with a step relative to |eta|; the rounding error of the
    # difference (about eps * |mu| / h) is added to the tolerance.
    eta, deriv, grid = ctx.eta, ctx.mu_eta, ctx.grid
    h = 1e-5 * np.maximum(np.abs(eta), 1e-3)
    fd = (ctx.inverse(eta + h) - ctx.inverse(eta - h)) / (2.0 * h)
    err = np.abs(fd - deriv)
    tol = (
        1e-5 * np.maximum(np.abs(deriv), np.abs(fd))
        + 8 * np.finfo(float).eps * np.maximum(np.abs(grid), 1.0) / h
    )
    if np.any(~(err <= tol)):
        i = int(np.argmax(np.where(np.isfinite(err), err / tol, np.inf)))
        raise ctx.fail(
            "mu_eta",
            f"mu_eta(eta={eta[i]:.6g}) = {deriv[i]:.10g} but the finite difference of "
            f"inverse is {fd[i]:.10g} (relative error {err[i] / max(abs(fd[i]), 1e-300):.3g}, "
            "tolerance 1e-5)",
        )


def link_checks(
    link: Link, mu: Sequence[float] | FloatArray | None = None
) -> Iterator[tuple[str, Check]]:
    """Yield ``(name, check)`` for each check of :func:`check_link`, in its order.

    Parameters
    ----------
    link
        The link instance.
    mu
        As for :func:`check_link`.

    Yields
    ------
    tuple of (str, Check)
        The check's name and the check; ``check(link)`` runs it.
    """
    ctx = LinkContext(link, mu=mu)
    table: CheckTable = [
        ("name", check_name, True),
        ("interface", _interface, True),
        ("link", _link, True),
        ("valid_eta", _valid_eta, True),
        ("round trip", _round_trip, True),
        ("vectorised", _vectorised, True),
        ("monotone", _monotone, True),
        ("mu_eta sign", _mu_eta_sign, True),
        ("mu_eta", _mu_eta_finite_difference, True),
    ]
    yield from bind("link", ctx, table)


def check_link(link: Link, mu: Sequence[float] | FloatArray | None = None) -> None:
    """Check a :class:`~mixedmodels.interfaces.Link` against its contract.

    Runs every check of :func:`link_checks`: ``name`` is a non-empty string (``name``);
    it is a :class:`~mixedmodels.interfaces.Link` (``interface``); ``link`` is finite on
    a grid of means (``link``); ``valid_eta`` accepts their linear predictors
    (``valid_eta``); ``inverse(link(mu)) == mu`` to a relative 1e-8 (``round trip``);
    ``inverse`` keeps the shape of a 2-D input (``vectorised``); ``inverse`` is strictly
    monotone (``monotone``) and ``mu_eta`` agrees in sign (``mu_eta sign``); ``mu_eta``
    matches a central finite difference of ``inverse`` to a relative 1e-5 (``mu_eta``).

    Parameters
    ----------
    link
        The link instance to check.
    mu
        Means at which to check.  By default, points in ``(0, 1)`` (where every common
        link is defined) and, where the link is finite there, in ``(1, 200]``.  The grid
        must lie in one interval on which the link is defined and monotone.

    Raises
    ------
    AssertionError
        Naming the link, each failed check and the offending values.
    ValueError
        If ``mu`` has fewer than two means.
    """
    run_all(link, list(link_checks(link, mu)))
