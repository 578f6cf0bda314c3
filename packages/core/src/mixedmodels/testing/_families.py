"""Conformance checks of a :class:`~mixedmodels.interfaces.Family`."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

import numpy as np
from scipy import integrate

from ..families.links import BUILTIN_LINKS
from ..interfaces import ConditionalFamily, Family, FloatArray, Link
from ._conditional import conditional_family_table
from ._core import (
    Check,
    CheckTable,
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
from ._family_responses import (
    accepts_simulated,
    link_with_family,
    rejects_nan,
    rejects_negative,
    starting_mu,
)

# Candidate means for families; those the family's ``valid_mu`` rejects are dropped.
_FAMILY_MU_GRID = (-3.0, -0.5, 0.02, 0.2, 0.5, 0.8, 0.98, 1.5, 4.0, 15.0)
# Means at which simulate is compared with the moments and the likelihood (in order of
# preference; at most three valid ones are used).
_MOMENT_MU = (0.2, 4.0, -0.5, 0.8, 0.5, 1.5)
_N_SIM = 20_000
# Dispersion used for families that have one: not 1, so that a family that ignores or
# inverts its dispersion shows up.
_TEST_DISPERSION = 0.7
# Number of standard errors allowed for Monte Carlo comparisons.
_N_SE = 5.0
# Simulated responses per mean used for the deviance checks.
_N_DEVIANCE = 400


def _resolve_link(link: Link | str) -> Link:
    if isinstance(link, Link):
        return link
    for cls in BUILTIN_LINKS:
        if cls.name == link:
            return cls()
    raise ValueError(
        f"check_family: {link!r} is not a built-in link name; pass the Link instance instead"
    )


class FamilyContext(Context):
    """A family, the means it is checked at, and responses simulated there."""

    function = "check_family"

    def __init__(
        self,
        obj: Any,
        *,
        link: Link | str | None = None,
        rng: RngLike = None,
        mu: Sequence[float] | FloatArray | None = None,
    ) -> None:
        family = obj() if isinstance(obj, type) else obj
        super().__init__(family, link=link, rng=rng, mu=mu)
        self.given = obj
        self.link = None if link is None else _resolve_link(link)
        # Reduce a generator to a seed now, so that a context built again from the same
        # options (a check called with new options) does not draw from it twice.
        self.seed = seed_of(rng)
        self.options["rng"] = self.seed

    @property
    def has_dispersion(self) -> bool:
        return bool(getattr(self.obj, "has_dispersion", False))

    @cached_property
    def grid(self) -> FloatArray:
        """The candidate means ``valid_mu`` accepts (at least one)."""
        mu = self.option("mu")
        cand = np.asarray(_FAMILY_MU_GRID if mu is None else mu, dtype=np.float64).ravel()
        valid = np.asarray(call(self.fail, "valid_mu", self.obj.valid_mu, cand))
        if valid.shape != cand.shape or valid.dtype != np.bool_:
            raise self.fail("valid_mu", f"must return a boolean array of shape {cand.shape}")
        grid = cand[valid]
        if grid.size == 0:
            raise self.fail("valid_mu", f"accepts none of the means {fmt(cand)}")
        return grid

    @cached_property
    def phi(self) -> float:
        return _TEST_DISPERSION if self.has_dispersion else 1.0

    @cached_property
    def mus(self) -> FloatArray:
        """Up to three means at which simulate and loglik are compared."""
        grid = self.grid
        pref = [m for m in _MOMENT_MU if m in set(grid.tolist())]
        if self.option("mu") is not None:
            pref = []
        return np.array((pref or grid.tolist())[:3])

    @cached_property
    def ys(self) -> FloatArray:
        """``(len(mus), _N_SIM)`` simulated responses, finite."""
        mus = self.mus
        mu_rep = np.repeat(mus, _N_SIM)
        y = as_array(
            self.fail,
            "simulate",
            call(
                self.fail,
                "simulate",
                self.obj.simulate,
                mu_rep,
                stream(self.seed, 0),
                None,
                self.phi,
            ),
            mu_rep.shape,
        )
        if not np.all(np.isfinite(y)):
            raise self.fail(
                "simulate",
                f"returned non-finite values at mu = {fmt(np.unique(mu_rep[~np.isfinite(y)]))}",
            )
        return y.reshape(mus.size, _N_SIM)

    @cached_property
    def ll(self) -> FloatArray:
        """loglik of every simulated response (no weights), finite."""
        y, mu_rep = self.ys.ravel(), np.repeat(self.mus, _N_SIM)
        ll = as_array(
            self.fail,
            "loglik",
            call(self.fail, "loglik", self.obj.loglik, y, mu_rep, None, self.phi),
            y.shape,
        )
        if not np.all(np.isfinite(ll)):
            j = int(np.argmax(~np.isfinite(ll)))
            raise self.fail(
                "loglik", f"loglik(y={y[j]:.6g}, mu={mu_rep[j]:g}) = {ll[j]} at a simulated y"
            )
        return ll

    @cached_property
    def nonneg_support(self) -> bool:
        return bool(np.all(self.ys >= 0))

    @cached_property
    def deviance(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(y, mu, unit_deviance(y, mu))`` on the first simulated responses per mean."""
        ysub = self.ys[:, :_N_DEVIANCE].ravel()
        musub = np.repeat(self.mus, _N_DEVIANCE)
        d = as_array(
            self.fail,
            "unit_deviance",
            call(self.fail, "unit_deviance", self.obj.unit_deviance, ysub, musub),
            ysub.shape,
        )
        return ysub, musub, d

    @cached_property
    def sample(self) -> FloatArray:
        """150 simulated responses (50 per mean) for validate_response and starting_mu."""
        return self.ys[:, :50].ravel().copy()


# --------------------------------------------------------------------------------------
# attributes


def _interface(ctx: FamilyContext) -> None:
    if not isinstance(ctx.obj, Family):
        raise ctx.fail(
            "interface", f"{type(ctx.obj).__name__} is not a mixedmodels Family subclass"
        )


def _links(ctx: FamilyContext) -> None:
    links = getattr(ctx.obj, "links", None)
    if (
        not isinstance(links, tuple)
        or not links
        or not all(isinstance(x, str) and x for x in links)
    ):
        raise ctx.fail("links", f"`links` must be a non-empty tuple of names, got {links!r}")
    if ctx.link is not None and ctx.link.name not in links:
        raise ctx.fail("links", f"link {ctx.link.name!r} is not one of the family's links {links}")


def _default_link(ctx: FamilyContext) -> None:
    links = getattr(ctx.obj, "links", ())
    default = getattr(ctx.obj, "default_link", None)
    if default not in links:
        raise ctx.fail("default_link", f"default_link {default!r} not in links {links}")


def _valid_mu(ctx: FamilyContext) -> None:
    _ = ctx.grid


def _variance(ctx: FamilyContext) -> None:
    grid = ctx.grid
    var = as_array(
        ctx.fail, "variance", call(ctx.fail, "variance", ctx.obj.variance, grid), grid.shape
    )
    bad = ~(np.isfinite(var) & (var > 0))
    if np.any(bad):
        raise ctx.fail(
            "variance",
            f"variance(mu) = {fmt(var[bad])} is not positive at mu = {fmt(grid[bad])} (if "
            "these means are outside the family's parameter space, valid_mu must say so)",
        )


def _variance_derivative(ctx: FamilyContext) -> None:
    grid = ctx.grid
    got = as_array(
        ctx.fail,
        "variance_derivative",
        call(ctx.fail, "variance_derivative", ctx.obj.variance_derivative, grid),
        grid.shape,
    )
    # Richardson-extrapolated central differences of the variance function.
    h = 1e-4 * np.maximum(np.abs(grid), 1e-2)
    inside = np.all(ctx.obj.valid_mu(grid - h)) and np.all(ctx.obj.valid_mu(grid + h))
    if not inside:
        return
    V = ctx.obj.variance

    def central(t: FloatArray) -> FloatArray:
        return np.asarray((V(grid + t) - V(grid - t)) / (2.0 * t), dtype=np.float64)

    want = (4.0 * central(h / 2) - central(h)) / 3.0
    bad = ~(np.abs(got - want) <= 1e-6 * (np.abs(want) + np.abs(V(grid)) / np.abs(grid) + 1e-8))
    if np.any(bad):
        raise ctx.fail(
            "variance_derivative",
            f"variance_derivative(mu) = {fmt(got[bad])} is not the derivative of variance "
            f"(differences give {fmt(want[bad])}) at mu = {fmt(grid[bad])}",
        )


# --------------------------------------------------------------------------------------
# simulate


def _simulate(ctx: FamilyContext) -> None:
    _ = ctx.ys


def _target_var(ctx: FamilyContext) -> FloatArray:
    mus = ctx.mus
    return ctx.phi * as_array(ctx.fail, "variance", ctx.obj.variance(mus), mus.shape)


def _simulate_mean(ctx: FamilyContext) -> None:
    mus, ys, phi, target_var = ctx.mus, ctx.ys, ctx.phi, _target_var(ctx)
    means = ys.mean(axis=1)
    for i in range(mus.size):
        se = math.sqrt(target_var[i] / _N_SIM)
        if abs(means[i] - mus[i]) > _N_SE * se + 1e-12 * max(1.0, abs(mus[i])):
            raise ctx.fail(
                "simulate mean",
                f"at mu = {mus[i]:g} (dispersion {phi:g}) the mean of {_N_SIM} draws is "
                f"{means[i]:.6g}, {abs(means[i] - mus[i]) / se:.1f} standard errors from mu",
            )


def _simulate_variance(ctx: FamilyContext) -> None:
    mus, ys, target_var = ctx.mus, ctx.ys, _target_var(ctx)
    means = ys.mean(axis=1)
    for i in range(mus.size):
        dev = ys[i] - means[i]
        s2 = float(np.mean(dev**2)) * _N_SIM / (_N_SIM - 1)
        m4 = float(np.mean(dev**4))
        se_var = math.sqrt(max(m4 - s2 * s2, 0.0) / _N_SIM)
        tol = _N_SE * se_var + 0.02 * target_var[i]
        if abs(s2 - target_var[i]) > tol:
            raise ctx.fail(
                "simulate variance",
                f"at mu = {mus[i]:g} the variance of {_N_SIM} draws is {s2:.6g}, but "
                f"dispersion * variance(mu) / weight = {target_var[i]:.6g} "
                f"(tolerance {tol:.3g})",
            )


# --------------------------------------------------------------------------------------
# loglik


def _loglik(ctx: FamilyContext) -> None:
    _ = ctx.ll


def _loglik_weights(ctx: FamilyContext) -> None:
    y, mu_rep = ctx.ys.ravel(), np.repeat(ctx.mus, _N_SIM)
    ll1 = as_array(ctx.fail, "loglik", ctx.obj.loglik(y, mu_rep, np.ones_like(y), ctx.phi), y.shape)
    if not np.allclose(ll1, ctx.ll, rtol=1e-12, atol=1e-12):
        raise ctx.fail("loglik weights", "loglik with weights of one differs from loglik with None")


def _loglik_dispersion(ctx: FamilyContext) -> None:
    y, mu_rep = ctx.ys.ravel(), np.repeat(ctx.mus, _N_SIM)
    ll2 = as_array(ctx.fail, "loglik", ctx.obj.loglik(y, mu_rep, None, 2.5), y.shape)
    if not np.allclose(ll2, ctx.ll, rtol=1e-12, atol=1e-12):
        raise ctx.fail("loglik dispersion", "has_dispersion is False but loglik depends on it")


def _zero_mean(ctx: FamilyContext, check: str, values: FloatArray, where: str) -> None:
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ctx.fail(check, f"{where}: the derivative of loglik is not finite at simulated y")
    m = float(values.mean())
    se = float(values.std(ddof=1)) / math.sqrt(values.size)
    if abs(m) > _N_SE * se + 1e-9:
        raise ctx.fail(
            check,
            f"{where}: the mean score over {values.size} simulated responses is {m:.6g}, "
            f"{abs(m) / max(se, 1e-300):.1f} standard errors from 0: loglik and simulate "
            "describe different distributions",
        )


def _score_mu(ctx: FamilyContext) -> None:
    family, mus, ys, phi = ctx.obj, ctx.mus, ctx.ys, ctx.phi
    h = 1e-6 * np.maximum(np.abs(mus), 1e-2)
    for i in range(mus.size):
        lo_mu, hi_mu = np.array([mus[i] - h[i]]), np.array([mus[i] + h[i]])
        if not (family.valid_mu(lo_mu)[0] and family.valid_mu(hi_mu)[0]):
            continue
        score = (
            family.loglik(ys[i], hi_mu, None, phi) - family.loglik(ys[i], lo_mu, None, phi)
        ) / (2 * h[i])
        _zero_mean(ctx, "loglik score (mu)", score, f"at mu = {mus[i]:g}")


def _score_dispersion(ctx: FamilyContext) -> None:
    family, mus, ys, phi = ctx.obj, ctx.mus, ctx.ys, ctx.phi
    hp = 1e-6 * phi
    for i in range(mus.size):
        score_phi = (
            family.loglik(ys[i], mus[i], None, phi + hp)
            - family.loglik(ys[i], mus[i], None, phi - hp)
        ) / (2 * hp)
        where = f"at mu = {mus[i]:g}, dispersion {phi}"
        _zero_mean(ctx, "loglik score (dispersion)", score_phi, where)


def _normalised(ctx: FamilyContext) -> None:
    for i in range(ctx.mus.size):
        _normalised_at(ctx, float(ctx.mus[i]), ctx.ys[i])


def _normalised_at(ctx: FamilyContext, mu: float, draws: FloatArray) -> None:
    family, phi, nonneg = ctx.obj, ctx.phi, ctx.nonneg_support
    mu_arr = np.array([mu])
    with np.errstate(all="ignore"):  # a negative variance is the 'variance' failure
        sd = float(np.sqrt(phi * family.variance(mu_arr)[0]))
    discrete = bool(np.all(draws == np.round(draws)))
    if discrete:
        lo = 0.0 if nonneg else math.floor(min(draws.min(), mu - 20 * sd))
        hi = math.ceil(max(draws.max(), mu + 20 * sd)) + 20
        support = np.arange(lo, hi + 1, dtype=np.float64)
        with np.errstate(all="ignore"):
            ll = np.asarray(family.loglik(support, np.full(support.shape, mu), None, phi))
        total = float(np.sum(np.exp(np.nan_to_num(ll, nan=-np.inf))))
        what = f"sum of exp(loglik) over y = {lo:g}..{hi:g}"
    else:

        def density(t: float) -> float:
            with np.errstate(all="ignore"):
                v = float(family.loglik(np.array([t]), mu_arr, None, phi)[0])
            return math.exp(v) if np.isfinite(v) else 0.0

        # Integrate piecewise between sample quantiles so that quad sees the mass.
        qs = np.quantile(draws, [0.001, 0.25, 0.5, 0.75, 0.999]).tolist()
        knots = [0.0 if nonneg else -np.inf, *qs, np.inf]
        total = 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            for a, b in itertools.pairwise(knots):
                if b > a:
                    total += integrate.quad(density, a, b, limit=200, epsabs=1e-10)[0]
        what = "integral of exp(loglik) over the support"
    if abs(total - 1.0) > 1e-5:
        raise ctx.fail(
            "loglik normalised",
            f"at mu = {mu:g}, dispersion {phi:g}, the {what} is {total:.8g}, not 1",
        )


# --------------------------------------------------------------------------------------
# deviance


def _unit_deviance(ctx: FamilyContext) -> None:
    ysub, musub, d = ctx.deviance
    bad = ~np.isfinite(d) | (d < -1e-10 * (1.0 + np.abs(d)))
    if np.any(bad):
        j = int(np.argmax(bad))
        raise ctx.fail(
            "unit_deviance", f"unit_deviance(y={ysub[j]:.6g}, mu={musub[j]:g}) = {d[j]:.6g} < 0"
        )
    grid = ctx.grid
    d0 = as_array(ctx.fail, "unit_deviance", ctx.obj.unit_deviance(grid, grid), grid.shape)
    off = ~(np.abs(d0) <= 1e-10 * (1.0 + np.abs(grid)))
    if np.any(off):
        j = int(np.argmax(off))
        raise ctx.fail("unit_deviance", f"unit_deviance(y=mu={grid[j]:g}) = {d0[j]:.6g}, not 0")


def _deviance_loglik_ratio(ctx: FamilyContext) -> None:
    ysub, musub, d = ctx.deviance
    phi = ctx.phi
    for w in (1.0, 3.0):
        wv = np.full(ysub.shape, w)
        with np.errstate(all="ignore"):
            sat = np.asarray(ctx.obj.loglik(ysub, ysub, wv, phi), dtype=np.float64)
            fit = np.asarray(ctx.obj.loglik(ysub, musub, wv, phi), dtype=np.float64)
        rhs = 2.0 * (sat - fit) / w * phi
        ok = np.isfinite(rhs)
        if ok.mean() < 0.1:
            raise ctx.fail(
                "deviance = loglik ratio",
                "loglik(y, mu=y) is not finite at most simulated y; set "
                "deviance_is_loglik_ratio = False if the identity does not apply",
            )
        err = np.where(ok, np.abs(d - rhs), 0.0)
        tol = 1e-7 * (1.0 + np.abs(d))
        if np.any(err > tol):
            j = int(np.argmax(err / tol))
            raise ctx.fail(
                "deviance = loglik ratio",
                f"at y = {ysub[j]:.6g}, mu = {musub[j]:g}, weight {w:g}, dispersion "
                f"{phi:g}: unit_deviance = {d[j]:.10g} but 2 * dispersion * "
                f"(loglik(y, y) - loglik(y, mu)) / weight = {rhs[j]:.10g} (set "
                "deviance_is_loglik_ratio = False if the family is not of exponential-"
                "dispersion form)",
            )


def family_checks(
    family: Family | type[Family],
    link: Link | str | None = None,
    rng: RngLike = None,
    *,
    mu: Sequence[float] | FloatArray | None = None,
) -> Iterator[tuple[str, Check]]:
    """Yield ``(name, check)`` for each check of :func:`check_family`, in its order.

    The checks of one call share the simulated responses.  ``loglik dispersion`` is
    listed for families without a dispersion, ``loglik score (dispersion)`` for those
    with one, ``deviance = loglik ratio`` where ``deviance_is_loglik_ratio`` holds and
    ``link`` only when a link is given.  A
    :class:`~mixedmodels.interfaces.ConditionalFamily` gets its own checks instead:
    ``simulate moments`` (draws against ``response_mean`` / ``response_variance``),
    ``derivatives`` (``logpdf_derivatives`` against finite differences of ``logpdf``
    in ``mu``; the score has mean zero under the draws), ``logpdf normalised`` (sums
    over the support or integrates to 1 within 1e-5, a point mass at zero included),
    ``validate_response`` and ``sigma``, at two means, two dispersions and two values of
    the extra parameters.

    Parameters
    ----------
    family, link, rng, mu
        As for :func:`check_family`.

    Yields
    ------
    tuple of (str, Check)
        The check's name and the check; ``check(family)`` runs it.

    Raises
    ------
    ValueError
        If ``link`` is a name that is not a built-in link.
    """
    obj = family() if isinstance(family, type) else family
    if isinstance(obj, ConditionalFamily):
        # several parameters, a density and its derivatives: the conditional checks
        cctx, ctable = conditional_family_table(family, seed_of(rng))
        yield from bind("family", cctx, ctable)
        return
    ctx = FamilyContext(family, link=link, rng=rng, mu=mu)
    disp = ctx.has_dispersion
    ratio = bool(getattr(ctx.obj, "deviance_is_loglik_ratio", True))
    table: CheckTable = [
        ("name", check_name, True),
        ("interface", _interface, True),
        ("links", _links, True),
        ("default_link", _default_link, True),
        ("valid_mu", _valid_mu, True),
        ("variance", _variance, True),
        ("variance_derivative", _variance_derivative, True),
        ("simulate", _simulate, True),
        ("simulate mean", _simulate_mean, True),
        ("simulate variance", _simulate_variance, True),
        ("loglik", _loglik, True),
        ("loglik weights", _loglik_weights, True),
        ("loglik dispersion", _loglik_dispersion, not disp),
        ("loglik score (mu)", _score_mu, True),
        ("loglik score (dispersion)", _score_dispersion, disp),
        ("loglik normalised", _normalised, True),
        ("unit_deviance", _unit_deviance, True),
        ("deviance = loglik ratio", _deviance_loglik_ratio, ratio),
        ("validate_response accepts simulated y", accepts_simulated, True),
        ("validate_response rejects NaN", rejects_nan, True),
        ("validate_response rejects negative y", rejects_negative, True),
        ("starting_mu", starting_mu, True),
        ("link", link_with_family, ctx.link is not None),
    ]
    yield from bind("family", ctx, table)


def check_family(
    family: Family | type[Family],
    link: Link | str | None = None,
    rng: RngLike = None,
    *,
    mu: Sequence[float] | FloatArray | None = None,
) -> None:
    """Check a :class:`~mixedmodels.interfaces.Family` against its contract.

    Runs every check of :func:`family_checks` (names in parentheses):

    * ``name`` is a non-empty string (``name``), ``links`` a tuple of names containing
      ``default_link`` (``links``, ``default_link``) and ``link``, when given;
    * ``variance`` is finite and positive on a grid of valid means (``valid_mu``,
      ``variance``), and ``variance_derivative`` is its derivative there (against
      Richardson-extrapolated central differences, 1e-6 relative:
      ``variance_derivative``);
    * ``simulate`` agrees with the moments: at up to three means the sample mean is
      within 5 standard errors of ``mu`` and the sample variance within 5 standard
      errors (plus 2 %) of ``dispersion * variance(mu)`` (weights 1; ``dispersion=0.7``
      for families with one) (``simulate``, ``simulate mean``, ``simulate variance``);
    * ``loglik`` agrees with ``simulate``: it is finite at the draws (``loglik``),
      weights of one change nothing (``loglik weights``), the score (derivative of
      ``loglik`` in ``mu``, and in the dispersion where there is one) has mean zero over
      simulated responses within 5 standard errors (``loglik score (mu)``, ``loglik
      score (dispersion)``); ``exp(loglik)`` sums to 1 over the support (discrete
      families, recognised by integer draws) or integrates to 1 (continuous,
      :func:`scipy.integrate.quad`) within 1e-5 (``loglik normalised``); ``loglik``
      ignores ``dispersion`` if the family has none (``loglik dispersion``);
    * ``unit_deviance`` is finite and non-negative, zero at ``y == mu``
      (``unit_deviance``), and, where ``deviance_is_loglik_ratio`` holds, equals
      ``2 * dispersion * (loglik(y, y, w) - loglik(y, mu, w)) / w`` for ``w`` 1 and 3
      (``deviance = loglik ratio``);
    * ``validate_response`` accepts simulated responses and raises :class:`ValueError`
      for NaN, and for a negative value when no simulated response is negative;
    * ``starting_mu`` returns valid means for simulated responses (``starting_mu``);
    * with ``link``: the link's inverse maps the linear predictors of valid means back
      to valid means (``link``).

    Parameters
    ----------
    family
        The family instance (or a class constructible with no arguments).
    link
        A :class:`~mixedmodels.interfaces.Link` or the name of a built-in link, to check
        in combination with the family.
    rng
        Generator or seed for the simulations; :data:`DEFAULT_SEED` by default.
    mu
        Candidate means to use instead of the built-in grid (filtered by ``valid_mu``).

    Raises
    ------
    AssertionError
        Naming the family, each failed check and the offending values.
    ValueError
        If ``link`` is a name that is not a built-in link.
    """
    run_all(family, list(family_checks(family, link, rng, mu=mu)))
