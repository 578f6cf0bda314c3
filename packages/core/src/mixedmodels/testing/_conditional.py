"""Conformance checks of a :class:`~mixedmodels.interfaces.ConditionalFamily` (the
general Laplace engine's families: several parameters, a density and its derivatives)."""

from __future__ import annotations

import math
import warnings
from functools import cached_property
from typing import Any

import numpy as np
from scipy import integrate

from ..interfaces import ConditionalFamily, FloatArray
from ._core import CheckTable, Context, as_array, call, check_name, fmt, stream

__all__ = ["conditional_family_table"]

# Means tried in order of preference; those valid_mu rejects are dropped (at most 2).
_MU = (0.7, 4.0, 0.3, 0.5, 1.5)
_PHI = (0.7, 3.0)  # dispersions (natural scale)
_N_SIM = 20_000
_N_SE = 5.0


class ConditionalContext(Context):
    """The family, the parameter settings it is checked at, and draws there."""

    function = "check_family"

    @cached_property
    def settings(self) -> list[tuple[float, float, FloatArray]]:
        """``(mu, phi, shape)`` combinations: two means, two dispersions (one without a
        dispersion), the family's start shape and one moved by 0.5."""
        fam: ConditionalFamily = self.obj
        cand = np.array(_MU)
        valid = np.asarray(call(self.fail, "valid_mu", fam.valid_mu, cand), dtype=bool)
        mus = cand[valid][:2]
        if mus.size == 0:
            raise self.fail("valid_mu", f"accepts none of the means {fmt(cand)}")
        phis = _PHI if fam.has_dispersion_predictor else (1.0,)
        s0 = np.asarray(fam.shape_start(), dtype=np.float64)
        shapes = [s0] if s0.size == 0 else [s0, s0 + 0.5]
        return [(float(m), float(p), s) for m in mus for p in phis for s in shapes]

    @cached_property
    def draws(self) -> list[FloatArray]:
        out = []
        for k, (mu, phi, shape) in enumerate(self.settings):
            rng = stream(self.options.get("rng") or 0, 7, k)
            y = call(
                self.fail,
                "simulate",
                self.obj.sample,
                np.full(_N_SIM, mu),
                np.full(_N_SIM, phi),
                shape,
                rng,
            )
            y = as_array(self.fail, "simulate", y, (_N_SIM,))
            if not np.all(np.isfinite(y)):
                raise self.fail("simulate", f"non-finite draws at mu = {mu}, phi = {phi}")
            out.append(y)
        return out


def _interface(ctx: ConditionalContext) -> None:
    if not isinstance(ctx.obj, ConditionalFamily):
        raise ctx.fail("interface", f"{type(ctx.obj).__name__} is not a ConditionalFamily")
    support = ctx.obj.support
    allowed = (
        "count",
        "positive_count",
        "unit",
        "unit_closed",
        "proportion",
        "positive",
        "nonnegative",
        "real",
    )
    if support not in allowed:
        raise ctx.fail("interface", f"support {support!r} is not one of {allowed}")


def _links(ctx: ConditionalContext) -> None:
    links = getattr(ctx.obj, "links", None)
    if not isinstance(links, tuple) or ctx.obj.default_link not in links:
        raise ctx.fail("links", f"default_link {ctx.obj.default_link!r} not in links {links!r}")


def _moments(ctx: ConditionalContext) -> None:
    for (mu, phi, shape), y in zip(ctx.settings, ctx.draws, strict=True):
        m = float(ctx.obj.response_mean(np.array([mu]), np.array([phi]), shape)[0])
        v = float(ctx.obj.response_variance(np.array([mu]), np.array([phi]), shape)[0])
        if not (math.isfinite(v) and v > 0):
            raise ctx.fail("simulate moments", f"response_variance = {v} at mu = {mu}")
        se_m = math.sqrt(v / y.size)
        if abs(y.mean() - m) > _N_SE * se_m:
            raise ctx.fail(
                "simulate moments",
                f"at mu = {mu}, phi = {phi}, shape = {fmt(shape)}: sample mean "
                f"{y.mean():.6g}, response_mean {m:.6g} (SE {se_m:.3g})",
            )
        c4 = float(np.mean((y - y.mean()) ** 4))
        se_v = math.sqrt(max(c4 - v * v, 0.0) / y.size)
        if abs(y.var() - v) > _N_SE * se_v + 0.02 * v:
            raise ctx.fail(
                "simulate moments",
                f"at mu = {mu}, phi = {phi}, shape = {fmt(shape)}: sample variance "
                f"{y.var():.6g}, response_variance {v:.6g} (SE {se_v:.3g})",
            )


def _derivatives(ctx: ConditionalContext) -> None:
    fam = ctx.obj
    for (mu, phi, shape), y in zip(ctx.settings, ctx.draws, strict=True):
        ys = np.unique(y)[:50]
        n = ys.size
        m, p = np.full(n, mu), np.full(n, phi)
        ll, d1, d2 = (
            np.asarray(a, dtype=np.float64) for a in fam.logpdf_derivatives(ys, m, p, shape)
        )
        direct = np.asarray(fam.logpdf(ys, m, p, shape), dtype=np.float64)
        if not np.allclose(ll, direct, rtol=1e-10, atol=1e-10):
            raise ctx.fail("derivatives", "logpdf_derivatives' value differs from logpdf")
        h = 1e-5 * mu
        up = fam.logpdf(ys, m + h, p, shape)
        down = fam.logpdf(ys, m - h, p, shape)
        fd1 = (up - down) / (2 * h)
        fd2 = (up - 2 * direct + down) / (h * h)
        ok1 = np.allclose(d1, fd1, rtol=1e-5, atol=1e-6 * (1 + np.abs(d1).max()))
        ok2 = np.allclose(d2, fd2, rtol=1e-3, atol=1e-3 * (1 + np.abs(d2).max()))
        if not (ok1 and ok2):
            raise ctx.fail(
                "derivatives",
                f"at mu = {mu}, phi = {phi}: first {fmt(d1[:4])} vs finite differences "
                f"{fmt(fd1[:4])}; second {fmt(d2[:4])} vs {fmt(fd2[:4])}",
            )
        # the score has mean zero under the family's own draws
        s = np.asarray(
            fam.logpdf_derivatives(y, np.full(y.size, mu), np.full(y.size, phi), shape)[1]
        )
        if abs(s.mean()) > _N_SE * s.std() / math.sqrt(s.size) + 1e-12:
            raise ctx.fail("derivatives", f"score mean {s.mean():.4g} is not zero at mu = {mu}")


def _normalised(ctx: ConditionalContext) -> None:
    fam = ctx.obj
    for (mu, phi, shape), y in zip(ctx.settings, ctx.draws, strict=True):
        support = fam.support

        def dens(t: float, mu: float = mu, phi: float = phi, shape: FloatArray = shape) -> float:
            one = np.array([t])
            return float(np.exp(fam.logpdf(one, np.array([mu]), np.array([phi]), shape)[0]))

        if support in ("count", "positive_count", "proportion"):
            top = int(max(np.max(y) * 3, 50))
            grid = np.arange(0 if support == "count" else 1, top + 1, dtype=np.float64)
            if support == "proportion":  # successes out of the family's trials
                trials = int(np.max(getattr(fam, "trials", None) or 1))
                grid = np.arange(trials + 1, dtype=np.float64) / trials
            total = float(
                np.sum(
                    np.exp(fam.logpdf(grid, np.full(grid.size, mu), np.full(grid.size, phi), shape))
                )
            )
        else:
            lo = {"unit": 0.0, "unit_closed": 0.0, "positive": 0.0, "nonnegative": 0.0}.get(
                support, -np.inf
            )
            hi = 1.0 if support in ("unit", "unit_closed") else np.inf
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                total = integrate.quad(dens, lo, hi, limit=400)[0]
                if support == "nonnegative":
                    total += dens(0.0)  # a point mass at zero (Tweedie)
                if support == "unit_closed":
                    total += dens(0.0) + dens(1.0)  # point masses at 0 and 1 (ordbeta)
        if abs(total - 1.0) > 1e-5:
            raise ctx.fail(
                "logpdf normalised",
                f"the density sums / integrates to {total:.8g} at mu = {mu}, phi = {phi}, "
                f"shape = {fmt(shape)}",
            )


def _validate(ctx: ConditionalContext) -> None:
    y = ctx.draws[0]
    call(ctx.fail, "validate_response", ctx.obj.validate_response, y)
    bad = y.copy()
    bad[0] = np.nan
    try:
        ctx.obj.validate_response(bad)
    except ValueError:
        return
    raise ctx.fail("validate_response", "accepted a response containing NaN")


def _sigma(ctx: ConditionalContext) -> None:
    s = np.asarray(ctx.obj.sigma(np.array([0.7, 3.0])), dtype=np.float64)
    if s.shape != (2,) or not np.all(np.isfinite(s) & (s > 0)):
        raise ctx.fail("sigma", f"sigma(phi) must be finite and positive, got {fmt(s)}")


def conditional_family_table(obj: Any, rng: Any) -> tuple[ConditionalContext, CheckTable]:
    """The context and the checks of a conditional family (for ``family_checks``)."""
    ctx = ConditionalContext(obj, rng=rng)
    table: CheckTable = [
        ("name", check_name, True),
        ("interface", _interface, True),
        ("links", _links, True),
        ("simulate moments", _moments, True),
        ("derivatives", _derivatives, True),
        ("logpdf normalised", _normalised, True),
        ("validate_response", _validate, True),
        ("sigma", _sigma, True),
    ]
    return ctx, table
