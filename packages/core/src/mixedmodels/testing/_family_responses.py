"""Family checks of ``validate_response``, ``starting_mu`` and the family with a link."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..interfaces import FloatArray
from ._core import as_array, call, fmt

if TYPE_CHECKING:
    from ._families import FamilyContext


def accepts_simulated(ctx: FamilyContext) -> None:
    check = "validate_response accepts simulated y"
    call(ctx.fail, check, ctx.obj.validate_response, ctx.sample)


def _expect_value_error(ctx: FamilyContext, check: str, y: FloatArray, what: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ctx.obj.validate_response(y)
    except ValueError as exc:
        if not str(exc).strip():
            raise ctx.fail(check, f"the ValueError for {what} has no message") from exc
        return
    except Exception as exc:
        raise ctx.fail(
            check,
            f"raised {type(exc).__name__} instead of ValueError for a response containing {what}",
        ) from exc
    raise ctx.fail(check, f"accepted a response containing {what}")


def rejects_nan(ctx: FamilyContext) -> None:
    with_nan = ctx.sample.copy()
    with_nan[len(with_nan) // 2] = np.nan
    _expect_value_error(ctx, "validate_response rejects NaN", with_nan, "NaN")


def rejects_negative(ctx: FamilyContext) -> None:
    # Only meaningful where the simulated support is non-negative.
    if not ctx.nonneg_support:
        return
    with_neg = ctx.sample.copy()
    with_neg[len(with_neg) // 2] = -1.0
    what = "-1.0 (no simulated value is negative)"
    _expect_value_error(ctx, "validate_response rejects negative y", with_neg, what)


def starting_mu(ctx: FamilyContext) -> None:
    sample = ctx.sample
    start = as_array(
        ctx.fail,
        "starting_mu",
        call(ctx.fail, "starting_mu", ctx.obj.starting_mu, sample),
        sample.shape,
    )
    bad = ~np.asarray(ctx.obj.valid_mu(start), dtype=bool)
    if np.any(bad):
        j = int(np.argmax(bad))
        raise ctx.fail(
            "starting_mu",
            f"starting_mu gives {start[j]:.6g} for y = {sample[j]:.6g}, not a valid mean",
        )


def link_with_family(ctx: FamilyContext) -> None:
    link, grid = ctx.link, ctx.grid
    assert link is not None  # listed only with a link
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        eta = np.asarray(link.link(grid), dtype=np.float64)
        usable = np.isfinite(eta) & np.asarray(link.valid_eta(eta), dtype=bool)
    if not np.any(usable):
        raise ctx.fail("link", f"link {link.name!r} is defined at none of the means {fmt(grid)}")
    back = np.asarray(link.inverse(eta[usable]), dtype=np.float64)
    okm = np.asarray(ctx.obj.valid_mu(back), dtype=bool) & np.isclose(
        back, grid[usable], rtol=1e-8, atol=1e-12
    )
    if not np.all(okm):
        j = int(np.argmax(~okm))
        raise ctx.fail(
            "link",
            f"{link.name!r} maps mu = {grid[usable][j]:g} to eta = {eta[usable][j]:.6g} "
            f"and back to {back[j]:.10g}, not a valid mean equal to mu",
        )
