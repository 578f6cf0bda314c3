"""The plugin author's conformance kit, in the spirit of scikit-learn's ``check_estimator``.

Each ``check_*`` function exercises one implementation of an interface from
:mod:`mixedmodels.interfaces` against the contract written in its docstrings and raises
:class:`AssertionError` naming the object, the check and the numbers at the first
violation; it returns ``None`` when everything holds.  Use them in a plugin's tests::

    from mixedmodels.testing import check_family

    def test_tweedie_conforms():
        check_family(TweedieFamily(power=1.5))

The checks are randomised (simulation, random parameter draws) but deterministic: they
use :data:`DEFAULT_SEED` unless given a generator or seed.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate

from .interfaces import (
    CovarianceStructure,
    Diagnostic,
    Estimator,
    Family,
    FloatArray,
    Link,
    ResidualCorrelation,
)

__all__ = [
    "DEFAULT_SEED",
    "check_covariance_structure",
    "check_diagnostic",
    "check_estimator",
    "check_family",
    "check_link",
]

#: Seed used by every check when no generator is given, so that tests are reproducible.
DEFAULT_SEED: int = 20240611

RngLike = np.random.Generator | int | None

# Means at which links are checked by default: the open unit interval, where every link
# in common use (identity, log, logit, probit, cloglog, cauchit, inverse, sqrt, 1/mu^2)
# is defined, then larger values kept only where the link is defined.
_LINK_MU_UNIT = (1e-3, 0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.99, 0.999)
_LINK_MU_ABOVE = (1.5, 3.0, 10.0, 50.0, 200.0)

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


# --------------------------------------------------------------------------------------
# helpers


def _make_rng(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(DEFAULT_SEED if rng is None else rng)


def _label(obj: Any) -> str:
    name = getattr(obj, "name", None)
    kind = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    return f"{kind}(name={name!r})"


class _Fail:
    """Builds the AssertionError messages of one check function for one object."""

    def __init__(self, func: str, obj: Any) -> None:
        self.prefix = f"{func}({_label(obj)})"

    def __call__(self, check: str, message: str) -> AssertionError:
        return AssertionError(f"{self.prefix} failed check {check!r}: {message}")


def _fmt(x: Any) -> str:
    arr = np.asarray(x)
    if arr.ndim == 0:
        return f"{float(arr):.10g}" if np.issubdtype(arr.dtype, np.number) else repr(x)
    return np.array2string(arr, precision=6, threshold=12)


def _call(fail: _Fail, check: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` and turn an unexpected exception into a failure of ``check``."""
    try:
        return func(*args, **kwargs)
    except AssertionError:
        raise
    except Exception as exc:  # any exception is a contract violation here
        raise fail(check, f"raised {type(exc).__name__}: {exc}") from exc


def _as_array(fail: _Fail, check: str, value: Any, shape: tuple[int, ...]) -> FloatArray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise fail(check, f"returned {type(value).__name__}, not a float array") from exc
    if arr.shape != shape:
        raise fail(check, f"returned shape {arr.shape}, expected {shape}")
    return arr


def _check_name(fail: _Fail, obj: Any) -> None:
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise fail("name", f"`name` must be a non-empty str, got {name!r}")


# --------------------------------------------------------------------------------------
# links


def check_link(link: Link, mu: Sequence[float] | FloatArray | None = None) -> None:
    """Check a :class:`~mixedmodels.interfaces.Link` against its contract.

    Checks that ``name`` is a non-empty string; that ``link`` and ``inverse`` are
    vectorised, finite and inverse to each other (``inverse(link(mu)) == mu``, relative
    tolerance 1e-8) on a grid of means; that ``valid_eta`` accepts the linear predictors
    of those means; that ``inverse`` is strictly monotone and ``mu_eta`` agrees in sign;
    and that ``mu_eta`` matches a central finite difference of ``inverse`` (relative
    tolerance 1e-5).

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
        Naming the link, the failed check and the offending values.
    """
    fail = _Fail("check_link", link)
    _check_name(fail, link)
    if not isinstance(link, Link):
        raise fail("interface", f"{type(link).__name__} is not a mixedmodels Link subclass")

    if mu is None:
        unit = np.array(_LINK_MU_UNIT)
        above = np.array(_LINK_MU_ABOVE)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                eta_above = np.asarray(link.link(above), dtype=np.float64)
                ok = np.isfinite(eta_above) & np.asarray(link.valid_eta(eta_above), dtype=bool)
            except Exception:  # a link undefined above 1 may raise
                ok = np.zeros(above.shape, dtype=bool)
        grid = np.concatenate([unit, above[ok]])
    else:
        grid = np.sort(np.asarray(mu, dtype=np.float64).ravel())
        if grid.size < 2:
            raise ValueError("check_link: give at least two means in `mu`")
    shape = grid.shape

    eta = _as_array(fail, "link", _call(fail, "link", link.link, grid), shape)
    bad = ~np.isfinite(eta)
    if np.any(bad):
        raise fail(
            "link",
            f"link(mu) is not finite at mu={_fmt(grid[bad])} (pass `mu=` to check on the "
            "link's own domain)",
        )
    valid = np.asarray(_call(fail, "valid_eta", link.valid_eta, eta))
    if valid.shape != shape or valid.dtype != np.bool_:
        raise fail("valid_eta", f"must return a boolean array of shape {shape}")
    if not np.all(valid):
        raise fail("valid_eta", f"rejects eta={_fmt(eta[~valid])} = link(mu={_fmt(grid[~valid])})")

    back = _as_array(fail, "inverse", _call(fail, "inverse", link.inverse, eta), shape)
    err = np.abs(back - grid)
    tol = 1e-8 * np.abs(grid) + 1e-12
    if np.any(~(err <= tol)):
        i = int(np.argmax(np.where(np.isfinite(err), err / tol, np.inf)))
        raise fail(
            "round trip",
            f"inverse(link(mu)) = {back[i]:.12g} at mu = {grid[i]:.12g} "
            f"(error {err[i]:.3g}, tolerance {tol[i]:.3g})",
        )

    # Vectorisation: a 2-D input keeps its shape.
    two_d = _call(fail, "vectorised", link.inverse, eta.reshape(-1, 1))
    if np.shape(two_d) != (eta.size, 1):
        raise fail("vectorised", f"inverse of a {(eta.size, 1)} array has shape {np.shape(two_d)}")

    # Monotone: the inverse must be strictly monotone along the sorted linear predictors.
    order = np.argsort(eta)
    eta_s = eta[order]
    mids = 0.5 * (eta_s[1:] + eta_s[:-1])
    eta_dense = np.sort(np.concatenate([eta_s, mids]))
    mu_dense = _as_array(
        fail, "inverse", _call(fail, "inverse", link.inverse, eta_dense), eta_dense.shape
    )
    steps = np.diff(mu_dense)
    increasing = bool(np.all(steps > 0))
    if not (increasing or np.all(steps < 0)):
        i = int(np.argmax((steps <= 0) if steps[0] > 0 else (steps >= 0)))
        raise fail(
            "monotone",
            f"inverse is not strictly monotone: inverse({eta_dense[i]:.6g}) = "
            f"{mu_dense[i]:.10g}, inverse({eta_dense[i + 1]:.6g}) = {mu_dense[i + 1]:.10g}",
        )

    deriv = _as_array(fail, "mu_eta", _call(fail, "mu_eta", link.mu_eta, eta), shape)
    wrong_sign = (deriv <= 0) if increasing else (deriv >= 0)
    if np.any(wrong_sign | ~np.isfinite(deriv)):
        i = int(np.argmax(wrong_sign | ~np.isfinite(deriv)))
        raise fail(
            "mu_eta sign",
            f"mu_eta({eta[i]:.6g}) = {deriv[i]:.6g}, but inverse is "
            f"{'increasing' if increasing else 'decreasing'}",
        )

    # Central difference with a step relative to |eta|; the rounding error of the
    # difference (about eps * |mu| / h) is added to the tolerance.
    h = 1e-5 * np.maximum(np.abs(eta), 1e-3)
    up = _as_array(fail, "inverse", link.inverse(eta + h), shape)
    down = _as_array(fail, "inverse", link.inverse(eta - h), shape)
    fd = (up - down) / (2.0 * h)
    err = np.abs(fd - deriv)
    tol = (
        1e-5 * np.maximum(np.abs(deriv), np.abs(fd))
        + 8 * np.finfo(float).eps * np.maximum(np.abs(grid), 1.0) / h
    )
    if np.any(~(err <= tol)):
        i = int(np.argmax(np.where(np.isfinite(err), err / tol, np.inf)))
        raise fail(
            "mu_eta",
            f"mu_eta(eta={eta[i]:.6g}) = {deriv[i]:.10g} but the finite difference of "
            f"inverse is {fd[i]:.10g} (relative error {err[i] / max(abs(fd[i]), 1e-300):.3g}, "
            "tolerance 1e-5)",
        )


# --------------------------------------------------------------------------------------
# families


def _resolve_link(link: Link | str) -> Link:
    if isinstance(link, Link):
        return link
    from .families.links import BUILTIN_LINKS

    for cls in BUILTIN_LINKS:
        if cls.name == link:
            return cls()
    raise ValueError(
        f"check_family: {link!r} is not a built-in link name; pass the Link instance instead"
    )


def check_family(
    family: Family | type[Family],
    link: Link | str | None = None,
    rng: RngLike = None,
    *,
    mu: Sequence[float] | FloatArray | None = None,
) -> None:
    """Check a :class:`~mixedmodels.interfaces.Family` against its contract.

    The checks, in order:

    * ``name`` is a non-empty string, ``links`` a tuple of names containing
      ``default_link`` (and ``link``, when given);
    * ``variance`` is finite and positive on a grid of valid means (``valid_mu``);
    * ``simulate`` agrees with the moments: at up to three means the sample mean is
      within 5 standard errors of ``mu`` and the sample variance within 5 standard
      errors (plus 2 %) of ``dispersion * variance(mu)`` (weights 1; ``dispersion=0.7``
      for families with one);
    * ``loglik`` agrees with ``simulate``: the score (derivative of ``loglik`` in
      ``mu``, and in the dispersion where there is one) has mean zero over simulated
      responses within 5 standard errors; ``exp(loglik)`` sums to 1 over the support
      (discrete families, recognised by integer draws) or integrates to 1
      (continuous, :func:`scipy.integrate.quad`) within 1e-5; ``loglik`` ignores
      ``dispersion`` if the family has none;
    * ``unit_deviance`` is finite and non-negative, zero at ``y == mu``, and, where
      ``deviance_is_loglik_ratio`` holds, equals
      ``2 * dispersion * (loglik(y, y, w) - loglik(y, mu, w)) / w`` for ``w`` 1 and 3;
    * ``validate_response`` accepts simulated responses and raises :class:`ValueError`
      for NaN, and for a negative value when no simulated response is negative;
    * ``starting_mu`` returns valid means for simulated responses;
    * with ``link``: the link's inverse maps the linear predictors of valid means back
      to valid means.

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
        Naming the family, the failed check and the offending values.
    """
    if isinstance(family, type):
        family = family()
    fail = _Fail("check_family", family)
    gen = _make_rng(rng)
    _check_name(fail, family)
    if not isinstance(family, Family):
        raise fail("interface", f"{type(family).__name__} is not a mixedmodels Family subclass")

    links = getattr(family, "links", None)
    if (
        not isinstance(links, tuple)
        or not links
        or not all(isinstance(x, str) and x for x in links)
    ):
        raise fail("links", f"`links` must be a non-empty tuple of names, got {links!r}")
    if family.default_link not in links:
        raise fail("default_link", f"default_link {family.default_link!r} not in links {links}")
    link_obj: Link | None = None
    if link is not None:
        link_obj = _resolve_link(link)
        if link_obj.name not in links:
            raise fail("links", f"link {link_obj.name!r} is not one of the family's links {links}")

    # -- valid means and the variance function
    cand = np.asarray(_FAMILY_MU_GRID if mu is None else mu, dtype=np.float64).ravel()
    valid = np.asarray(_call(fail, "valid_mu", family.valid_mu, cand))
    if valid.shape != cand.shape or valid.dtype != np.bool_:
        raise fail("valid_mu", f"must return a boolean array of shape {cand.shape}")
    grid = cand[valid]
    if grid.size == 0:
        raise fail("valid_mu", f"accepts none of the means {_fmt(cand)}")
    var = _as_array(fail, "variance", _call(fail, "variance", family.variance, grid), grid.shape)
    bad = ~(np.isfinite(var) & (var > 0))
    if np.any(bad):
        raise fail(
            "variance",
            f"variance(mu) = {_fmt(var[bad])} is not positive at mu = {_fmt(grid[bad])} (if "
            "these means are outside the family's parameter space, valid_mu must say so)",
        )

    phi = _TEST_DISPERSION if family.has_dispersion else 1.0
    pref = [m for m in _MOMENT_MU if m in set(grid.tolist())] if mu is None else []
    mus = np.array((pref or grid.tolist())[:3])
    k = mus.size
    mu_rep = np.repeat(mus, _N_SIM)

    # -- simulate: shape, finiteness, moments
    y = _as_array(
        fail,
        "simulate",
        _call(fail, "simulate", family.simulate, mu_rep, gen, None, phi),
        mu_rep.shape,
    )
    if not np.all(np.isfinite(y)):
        raise fail(
            "simulate",
            f"returned non-finite values at mu = {_fmt(np.unique(mu_rep[~np.isfinite(y)]))}",
        )
    ys = y.reshape(k, _N_SIM)
    target_var = phi * _as_array(fail, "variance", family.variance(mus), mus.shape)
    means = ys.mean(axis=1)
    for i in range(k):
        se = math.sqrt(target_var[i] / _N_SIM)
        if abs(means[i] - mus[i]) > _N_SE * se + 1e-12 * max(1.0, abs(mus[i])):
            raise fail(
                "simulate mean",
                f"at mu = {mus[i]:g} (dispersion {phi:g}) the mean of {_N_SIM} draws is "
                f"{means[i]:.6g}, {abs(means[i] - mus[i]) / se:.1f} standard errors from mu",
            )
        dev = ys[i] - means[i]
        s2 = float(np.mean(dev**2)) * _N_SIM / (_N_SIM - 1)
        m4 = float(np.mean(dev**4))
        se_var = math.sqrt(max(m4 - s2 * s2, 0.0) / _N_SIM)
        tol = _N_SE * se_var + 0.02 * target_var[i]
        if abs(s2 - target_var[i]) > tol:
            raise fail(
                "simulate variance",
                f"at mu = {mus[i]:g} the variance of {_N_SIM} draws is {s2:.6g}, but "
                f"dispersion * variance(mu) / weight = {target_var[i]:.6g} "
                f"(tolerance {tol:.3g})",
            )

    # -- loglik: finite at draws, weights of one equal no weights, score has mean zero
    ll = _as_array(
        fail, "loglik", _call(fail, "loglik", family.loglik, y, mu_rep, None, phi), y.shape
    )
    if not np.all(np.isfinite(ll)):
        j = int(np.argmax(~np.isfinite(ll)))
        raise fail("loglik", f"loglik(y={y[j]:.6g}, mu={mu_rep[j]:g}) = {ll[j]} at a simulated y")
    ll1 = _as_array(fail, "loglik", family.loglik(y, mu_rep, np.ones_like(y), phi), y.shape)
    if not np.allclose(ll1, ll, rtol=1e-12, atol=1e-12):
        raise fail("loglik weights", "loglik with weights of one differs from loglik with None")
    if not family.has_dispersion:
        ll2 = _as_array(fail, "loglik", family.loglik(y, mu_rep, None, 2.5), y.shape)
        if not np.allclose(ll2, ll, rtol=1e-12, atol=1e-12):
            raise fail("loglik dispersion", "has_dispersion is False but loglik depends on it")

    h = 1e-6 * np.maximum(np.abs(mus), 1e-2)
    for i in range(k):
        lo_mu, hi_mu = np.array([mus[i] - h[i]]), np.array([mus[i] + h[i]])
        if not (family.valid_mu(lo_mu)[0] and family.valid_mu(hi_mu)[0]):
            continue
        score = (
            family.loglik(ys[i], hi_mu, None, phi) - family.loglik(ys[i], lo_mu, None, phi)
        ) / (2 * h[i])
        _zero_mean(fail, "loglik score (mu)", score, f"at mu = {mus[i]:g}")
        if family.has_dispersion:
            hp = 1e-6 * phi
            score_phi = (
                family.loglik(ys[i], mus[i], None, phi + hp)
                - family.loglik(ys[i], mus[i], None, phi - hp)
            ) / (2 * hp)
            _zero_mean(
                fail,
                "loglik score (dispersion)",
                score_phi,
                f"at mu = {mus[i]:g}, dispersion {phi}",
            )

    # -- loglik: normalised over the support
    nonneg_support = bool(np.all(y >= 0))
    for i in range(k):
        _check_normalised(fail, family, float(mus[i]), phi, ys[i], nonneg_support)

    # -- unit deviance
    n_sub = 400
    ysub = ys[:, :n_sub].ravel()
    musub = np.repeat(mus, n_sub)
    d = _as_array(
        fail,
        "unit_deviance",
        _call(fail, "unit_deviance", family.unit_deviance, ysub, musub),
        ysub.shape,
    )
    bad = ~np.isfinite(d) | (d < -1e-10 * (1.0 + np.abs(d)))
    if np.any(bad):
        j = int(np.argmax(bad))
        raise fail(
            "unit_deviance", f"unit_deviance(y={ysub[j]:.6g}, mu={musub[j]:g}) = {d[j]:.6g} < 0"
        )
    d0 = _as_array(fail, "unit_deviance", family.unit_deviance(grid, grid), grid.shape)
    if np.any(~(np.abs(d0) <= 1e-10 * (1.0 + np.abs(grid)))):
        j = int(np.argmax(~(np.abs(d0) <= 1e-10 * (1.0 + np.abs(grid)))))
        raise fail("unit_deviance", f"unit_deviance(y=mu={grid[j]:g}) = {d0[j]:.6g}, not 0")
    if getattr(family, "deviance_is_loglik_ratio", True):
        for w in (1.0, 3.0):
            wv = np.full(ysub.shape, w)
            with np.errstate(all="ignore"):
                sat = np.asarray(family.loglik(ysub, ysub, wv, phi), dtype=np.float64)
                fit = np.asarray(family.loglik(ysub, musub, wv, phi), dtype=np.float64)
            rhs = 2.0 * (sat - fit) / w * phi
            ok = np.isfinite(rhs)
            if ok.mean() < 0.1:
                raise fail(
                    "deviance = loglik ratio",
                    "loglik(y, mu=y) is not finite at most simulated y; set "
                    "deviance_is_loglik_ratio = False if the identity does not apply",
                )
            err = np.where(ok, np.abs(d - rhs), 0.0)
            tol = 1e-7 * (1.0 + np.abs(d))
            if np.any(err > tol):
                j = int(np.argmax(err / tol))
                raise fail(
                    "deviance = loglik ratio",
                    f"at y = {ysub[j]:.6g}, mu = {musub[j]:g}, weight {w:g}, dispersion "
                    f"{phi:g}: unit_deviance = {d[j]:.10g} but 2 * dispersion * "
                    f"(loglik(y, y) - loglik(y, mu)) / weight = {rhs[j]:.10g} (set "
                    "deviance_is_loglik_ratio = False if the family is not of exponential-"
                    "dispersion form)",
                )

    # -- validate_response
    sample = ys[:, :50].ravel().copy()
    _call(fail, "validate_response accepts simulated y", family.validate_response, sample)
    with_nan = sample.copy()
    with_nan[len(with_nan) // 2] = np.nan
    _expect_value_error(fail, family, with_nan, "NaN")
    if nonneg_support:
        with_neg = sample.copy()
        with_neg[len(with_neg) // 2] = -1.0
        _expect_value_error(fail, family, with_neg, "-1.0 (no simulated value is negative)")

    # -- starting values
    start = _as_array(
        fail, "starting_mu", _call(fail, "starting_mu", family.starting_mu, sample), sample.shape
    )
    bad = ~np.asarray(family.valid_mu(start), dtype=bool)
    if np.any(bad):
        j = int(np.argmax(bad))
        raise fail(
            "starting_mu",
            f"starting_mu gives {start[j]:.6g} for y = {sample[j]:.6g}, not a valid mean",
        )

    # -- the link with the family
    if link_obj is not None:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            eta = np.asarray(link_obj.link(grid), dtype=np.float64)
            usable = np.isfinite(eta) & np.asarray(link_obj.valid_eta(eta), dtype=bool)
        if not np.any(usable):
            raise fail(
                "link", f"link {link_obj.name!r} is defined at none of the means {_fmt(grid)}"
            )
        back = np.asarray(link_obj.inverse(eta[usable]), dtype=np.float64)
        okm = np.asarray(family.valid_mu(back), dtype=bool) & np.isclose(
            back, grid[usable], rtol=1e-8, atol=1e-12
        )
        if not np.all(okm):
            j = int(np.argmax(~okm))
            raise fail(
                "link",
                f"{link_obj.name!r} maps mu = {grid[usable][j]:g} to eta = {eta[usable][j]:.6g} "
                f"and back to {back[j]:.10g}, not a valid mean equal to mu",
            )


def _zero_mean(fail: _Fail, check: str, values: FloatArray, where: str) -> None:
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise fail(check, f"{where}: the derivative of loglik is not finite at simulated y")
    m = float(values.mean())
    se = float(values.std(ddof=1)) / math.sqrt(values.size)
    if abs(m) > _N_SE * se + 1e-9:
        raise fail(
            check,
            f"{where}: the mean score over {values.size} simulated responses is {m:.6g}, "
            f"{abs(m) / max(se, 1e-300):.1f} standard errors from 0: loglik and simulate "
            "describe different distributions",
        )


def _check_normalised(
    fail: _Fail, family: Family, mu: float, phi: float, draws: FloatArray, nonneg: bool
) -> None:
    mu_arr = np.array([mu])
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
        raise fail(
            "loglik normalised",
            f"at mu = {mu:g}, dispersion {phi:g}, the {what} is {total:.8g}, not 1",
        )


def _expect_value_error(fail: _Fail, family: Family, y: FloatArray, what: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            family.validate_response(y)
    except ValueError as exc:
        if not str(exc).strip():
            raise fail("validate_response", f"the ValueError for {what} has no message") from exc
        return
    except Exception as exc:
        raise fail(
            "validate_response",
            f"raised {type(exc).__name__} instead of ValueError for a response containing {what}",
        ) from exc
    raise fail("validate_response", f"accepted a response containing {what}")


# --------------------------------------------------------------------------------------
# covariance structures


def _draw_params(
    lower: FloatArray, upper: FloatArray, rng: np.random.Generator, n: int
) -> FloatArray:
    """``n`` parameter vectors strictly inside the bounds, away from them by a margin."""
    p = lower.size
    out = np.empty((n, p))
    for j in range(p):
        lo, hi = lower[j], upper[j]
        if np.isfinite(lo) and np.isfinite(hi):
            r = hi - lo
            out[:, j] = rng.uniform(lo + 0.05 * r, hi - 0.05 * r, n) if r > 0 else lo
        elif np.isfinite(lo):
            out[:, j] = lo + 0.05 + rng.exponential(1.5, n)
        elif np.isfinite(hi):
            out[:, j] = hi - 0.05 - rng.exponential(1.5, n)
        else:
            out[:, j] = rng.normal(0.0, 1.5, n)
    return out


def _on_bounds(
    interior: FloatArray, lower: FloatArray, upper: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """Copies of ``interior`` with random coordinates moved onto their finite bounds."""
    rows = []
    for row in interior:
        new = row.copy()
        for j in range(row.size):
            if rng.random() < 0.5:
                choices = [b for b in (lower[j], upper[j]) if np.isfinite(b)]
                if choices:
                    new[j] = choices[int(rng.integers(len(choices)))]
        rows.append(new)
    all_lower = np.where(np.isfinite(lower), lower, interior[0] if len(interior) else 0.0)
    all_upper = np.where(np.isfinite(upper), upper, interior[0] if len(interior) else 0.0)
    rows.extend([all_lower, all_upper])
    return np.array(rows).reshape(-1, lower.size)


def check_covariance_structure(
    cls: type[CovarianceStructure],
    dims: Sequence[int] = (1, 2, 3),
    rng: RngLike = None,
) -> None:
    """Check a :class:`~mixedmodels.interfaces.CovarianceStructure` class.

    For each dimension in ``dims`` the class is instantiated as ``cls(dim, names)`` and
    checked: ``n_params`` equals the lengths of ``param_names()`` (unique strings),
    ``start()`` and both bounds; ``start()`` is finite and within the bounds; at random
    parameters inside the bounds and on them, ``factor`` is a finite ``dim x dim``
    lower-triangular matrix and deterministic, and ``covariance`` is finite, symmetric,
    positive semi-definite and equal to ``factor @ factor.T``; at interior points the
    covariance is positive definite; a change of ``1e-8`` (relative) in the parameters
    changes the covariance by at most ``1e-4`` (relative); and where the class has
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
        Naming the structure, the dimension, the failed check and the parameters.
    """
    fail = _Fail("check_covariance_structure", cls)
    gen = _make_rng(rng)
    if not (isinstance(cls, type) and issubclass(cls, CovarianceStructure)):
        raise fail("interface", f"{cls!r} is not a CovarianceStructure subclass")
    _check_name(fail, cls)
    for dim in dims:
        names = [f"c{i}" for i in range(dim)]
        inst = _call(fail, f"instantiate dim={dim}", cls, dim, names)
        _check_structure_instance(fail, inst, dim, gen)
    if _has_residual_use(cls):
        _check_residual_correlation(fail, cls, gen)


def _has_residual_use(cls: type[CovarianceStructure]) -> bool:
    base = CovarianceStructure.residual_correlation.__func__  # type: ignore[attr-defined]
    return getattr(cls.residual_correlation, "__func__", None) is not base


def _check_residual_correlation(
    fail: _Fail, cls: type[CovarianceStructure], rng: np.random.Generator
) -> None:
    sizes = [1, 2, 3, 3, 4, 5, 6, 6]
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
    n = _call(fail, "residual n_params", lambda: obj.n_params)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise fail("residual n_params", f"must be a non-negative int, got {n!r}")
    n = int(n)
    pnames = _call(fail, "residual param_names", obj.param_names)
    if len(pnames) != n or len(set(pnames)) != n:
        raise fail("residual param_names", f"{pnames!r} are not {n} distinct names")
    start = _as_array(fail, "residual start", _call(fail, "start", obj.start), (n,))
    bounds = _call(fail, "residual bounds", obj.bounds)
    lower = _as_array(fail, "residual bounds", bounds[0], (n,))
    upper = _as_array(fail, "residual bounds", bounds[1], (n,))
    if not np.all(np.isfinite(start)) or np.any((start < lower) | (start > upper)):
        raise fail("residual start", f"start {_fmt(start)} not within the bounds")
    # Groups of each size, as the fitter batches them.
    batches = []
    for k in sorted(set(sizes)):
        rows = [np.flatnonzero(groups == g) for g in range(len(sizes)) if sizes[g] == k]
        batches.append(coords[np.array(rows)])
    for params in [start, *_draw_params(lower, upper, rng, 10)]:
        for block in batches:
            where = f"at params {_fmt(params)}, groups of {block.shape[1]}"
            C = np.asarray(
                _call(fail, "residual correlations", obj.correlations, params.copy(), block),
                dtype=np.float64,
            )
            k = block.shape[1]
            if C.shape != (block.shape[0], k, k):
                raise fail("residual correlations", f"shape {C.shape} {where}")
            if not np.all(np.isfinite(C)):
                raise fail("residual correlations finite", f"not finite {where}")
            if np.max(np.abs(C - C.transpose(0, 2, 1))) > 1e-10:
                raise fail("residual correlations symmetric", f"not symmetric {where}")
            if np.max(np.abs(np.diagonal(C, axis1=1, axis2=2) - 1.0)) > 1e-10:
                raise fail("residual correlations unit diagonal", f"diagonal not 1 {where}")
            if np.linalg.eigvalsh(C).min() <= 1e-12:
                raise fail("residual correlations positive definite", f"not PD {where}")
            step = 1e-8 * np.maximum(np.abs(params), 1.0)
            C1 = np.asarray(obj.correlations(np.clip(params + step, lower, upper), block))
            if np.max(np.abs(C1 - C)) > 1e-4:
                raise fail("residual continuity", f"a 1e-8 step moves C by more than 1e-4 {where}")
    natural = _call(fail, "residual natural_parameters", obj.natural_parameters, start.copy())
    if not isinstance(natural, list):
        raise fail("residual natural_parameters", "must return a list of (name, value)")


def _check_structure_instance(
    fail: _Fail, inst: CovarianceStructure, dim: int, rng: np.random.Generator
) -> None:
    tag = f"dim={dim}"
    n = _call(fail, f"n_params ({tag})", lambda: inst.n_params)
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise fail(f"n_params ({tag})", f"must be a non-negative int, got {n!r}")
    n = int(n)
    pnames = _call(fail, f"param_names ({tag})", inst.param_names)
    if len(pnames) != n or not all(isinstance(s, str) for s in pnames):
        raise fail(f"param_names ({tag})", f"{pnames!r} is not {n} names (n_params = {n})")
    if len(set(pnames)) != n:
        raise fail(f"param_names ({tag})", f"{pnames!r} has duplicates")
    start = _as_array(fail, f"start ({tag})", _call(fail, "start", inst.start), (n,))
    bounds = _call(fail, f"bounds ({tag})", inst.bounds)
    if not (isinstance(bounds, tuple) and len(bounds) == 2):
        raise fail(f"bounds ({tag})", "must return a (lower, upper) tuple")
    lower = _as_array(fail, f"bounds ({tag})", bounds[0], (n,))
    upper = _as_array(fail, f"bounds ({tag})", bounds[1], (n,))
    if np.any(np.isnan(lower) | np.isnan(upper) | (lower > upper)):
        raise fail(f"bounds ({tag})", f"lower {_fmt(lower)} / upper {_fmt(upper)} are not ordered")
    if not np.all(np.isfinite(start)) or np.any((start < lower) | (start > upper)):
        raise fail(
            f"start ({tag})",
            f"start {_fmt(start)} is not finite or not within [{_fmt(lower)}, {_fmt(upper)}]",
        )

    interior = _draw_params(lower, upper, rng, 30)
    boundary = _on_bounds(interior[:15], lower, upper, rng)
    for params, is_interior in [
        *((p, True) for p in interior),
        *((p, False) for p in boundary),
        (start, False),
    ]:
        _check_factor_at(fail, inst, params, dim, tag, is_interior)

    # Continuity: a tiny parameter change gives a tiny covariance change.
    for params in interior[:10]:
        c0 = np.asarray(inst.covariance(params), dtype=np.float64)
        step = 1e-8 * np.maximum(np.abs(params), 1.0) * rng.choice([-1.0, 1.0], size=n)
        moved = np.clip(params + step, lower, upper)
        c1 = np.asarray(inst.covariance(moved), dtype=np.float64)
        change = float(np.linalg.norm(c1 - c0))
        allowed = 1e-4 * (1.0 + float(np.linalg.norm(c0)))
        if not change <= allowed:
            raise fail(
                f"continuity ({tag})",
                f"moving params {_fmt(params)} by {_fmt(moved - params)} changes the "
                f"covariance by {change:.3g} (Frobenius), more than {allowed:.3g}",
            )

    inverse_map = getattr(inst, "params_from_covariance", None)
    if callable(inverse_map):
        for params in interior[:10]:
            cov = np.asarray(inst.covariance(params), dtype=np.float64)
            back = _as_array(
                fail,
                f"params_from_covariance ({tag})",
                _call(fail, "params_from_covariance", inverse_map, cov),
                (n,),
            )
            cov2 = np.asarray(inst.covariance(back), dtype=np.float64)
            err = float(np.max(np.abs(cov2 - cov)))
            if not err <= 1e-8 * (1.0 + float(np.max(np.abs(cov)))):
                raise fail(
                    f"params_from_covariance round trip ({tag})",
                    f"covariance(params_from_covariance(C)) differs from C by {err:.3g} at "
                    f"params {_fmt(params)} (recovered {_fmt(back)})",
                )


def _check_factor_at(
    fail: _Fail,
    inst: CovarianceStructure,
    params: FloatArray,
    dim: int,
    tag: str,
    interior: bool,
) -> None:
    where = f"at params {_fmt(params)} ({tag})"
    lam = _as_array(
        fail,
        f"factor ({tag})",
        _call(fail, f"factor ({tag})", inst.factor, params.copy()),
        (dim, dim),
    )
    if not np.all(np.isfinite(lam)):
        raise fail("factor finite", f"factor is not finite {where}: {_fmt(lam)}")
    scale = max(1.0, float(np.max(np.abs(lam))))
    upper_part = np.abs(np.triu(lam, 1))
    if np.any(upper_part > 1e-12 * scale):
        raise fail(
            "factor lower triangular",
            f"factor has non-zero entries above the diagonal {where}: {_fmt(lam)}",
        )
    again = np.asarray(inst.factor(params.copy()), dtype=np.float64)
    if not np.array_equal(again, lam):
        raise fail("factor deterministic", f"two calls of factor differ {where}")
    cov = _as_array(
        fail,
        f"covariance ({tag})",
        _call(fail, "covariance", inst.covariance, params.copy()),
        (dim, dim),
    )
    if not np.all(np.isfinite(cov)):
        raise fail("covariance finite", f"covariance is not finite {where}")
    cscale = max(1.0, float(np.max(np.abs(cov))))
    asym = float(np.max(np.abs(cov - cov.T)))
    if asym > 1e-10 * cscale:
        raise fail("covariance symmetric", f"covariance is not symmetric {where} (by {asym:.3g})")
    eig = np.linalg.eigvalsh(0.5 * (cov + cov.T))
    if eig[0] < -1e-10 * cscale:
        raise fail(
            "covariance positive semi-definite",
            f"smallest eigenvalue {eig[0]:.6g} {where}: {_fmt(cov)}",
        )
    if interior and not eig[0] > 1e-12 * max(1.0, float(eig[-1])):
        raise fail(
            "covariance positive definite at interior points",
            f"smallest eigenvalue {eig[0]:.6g} {where}",
        )
    diff = float(np.max(np.abs(cov - lam @ lam.T)))
    if diff > 1e-10 * cscale:
        raise fail(
            "covariance = factor @ factor.T",
            f"covariance differs from factor @ factor.T by {diff:.3g} {where}",
        )


# --------------------------------------------------------------------------------------
# estimators


def _value(result: Any, name: str) -> Any:
    """Attribute ``name`` of ``result``, called if it is a method (``aic`` or ``aic()``)."""
    value = getattr(result, name)
    return (
        value() if callable(value) and not isinstance(value, (pd.Series, pd.DataFrame)) else value
    )


_DF_ATTRIBUTES = ("df", "n_params", "npar")


def _check_result(fail: _Fail, result: Any, has_likelihood: bool) -> dict[str, Any]:
    """Check a fitted result's common attributes and return them."""
    out: dict[str, Any] = {}
    for attr in ("fixef", "vcov", "converged"):
        if not hasattr(result, attr):
            raise fail(f"result.{attr}", f"the result ({type(result).__name__}) has no {attr!r}")
    fixef = _value(result, "fixef")
    if not isinstance(fixef, pd.Series):
        raise fail("result.fixef", f"must be a pandas Series, got {type(fixef).__name__}")
    beta = np.asarray(fixef, dtype=np.float64)
    if not np.all(np.isfinite(beta)):
        raise fail("result.fixef", f"has non-finite values: {fixef.to_dict()}")
    if not fixef.index.is_unique:
        raise fail("result.fixef", f"index has duplicate names: {list(fixef.index)}")
    vcov = _value(result, "vcov")
    if not isinstance(vcov, pd.DataFrame):
        raise fail("result.vcov", f"must be a pandas DataFrame, got {type(vcov).__name__}")
    if list(vcov.index) != list(fixef.index) or list(vcov.columns) != list(fixef.index):
        raise fail(
            "result.vcov",
            f"index {list(vcov.index)} / columns {list(vcov.columns)} do not match the fixef "
            f"index {list(fixef.index)}",
        )
    v = np.asarray(vcov, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise fail("result.vcov", "has non-finite values")
    vscale = max(float(np.max(np.abs(v))) if v.size else 0.0, 1e-300)
    asym = float(np.max(np.abs(v - v.T))) if v.size else 0.0
    if asym > 1e-8 * vscale:
        raise fail("result.vcov symmetric", f"vcov is not symmetric (max |V - V.T| = {asym:.3g})")
    if v.size:
        eig = np.linalg.eigvalsh(0.5 * (v + v.T))
        if eig[0] < -1e-8 * vscale:
            raise fail("result.vcov positive semi-definite", f"smallest eigenvalue {eig[0]:.6g}")
    converged = _value(result, "converged")
    if not isinstance(converged, (bool, np.bool_)):
        raise fail("result.converged", f"must be a bool, got {type(converged).__name__}")
    out.update(fixef=fixef, vcov=v)

    if has_likelihood:
        for attr in ("loglik", "aic"):
            if not hasattr(result, attr):
                raise fail(
                    f"result.{attr}", f"the result ({type(result).__name__}) has no {attr!r}"
                )
        try:
            loglik = float(_value(result, "loglik"))
            aic = float(_value(result, "aic"))
        except (TypeError, ValueError) as exc:
            raise fail("result.loglik", f"loglik/aic are not numbers: {exc}") from exc
        if not (math.isfinite(loglik) and math.isfinite(aic)):
            raise fail("result.loglik", f"loglik = {loglik}, aic = {aic}: not finite")
        implied = (aic + 2.0 * loglik) / 2.0
        declared = None
        for attr in _DF_ATTRIBUTES:
            if hasattr(result, attr):
                declared = _value(result, attr)
                break
        if declared is not None:
            if abs(aic - (-2.0 * loglik + 2.0 * float(declared))) > 1e-8 * max(1.0, abs(aic)):
                raise fail(
                    "result.aic",
                    f"aic = {aic:.10g} but -2 * loglik + 2 * df = "
                    f"{-2.0 * loglik + 2.0 * float(declared):.10g} (loglik {loglik:.10g}, "
                    f"df {declared})",
                )
            df = float(declared)
        else:
            df = implied
        if abs(df - round(df)) > 1e-6 * max(1.0, abs(aic)) or round(df) < len(fixef):
            raise fail(
                "result.aic",
                f"aic = {aic:.10g} and loglik = {loglik:.10g} imply df = {implied:.8g}, not a "
                f"whole number of parameters >= the {len(fixef)} fixed effects",
            )
        if hasattr(result, "bic") and hasattr(result, "nobs"):
            bic = float(_value(result, "bic"))
            nobs = float(_value(result, "nobs"))
            expect = -2.0 * loglik + math.log(nobs) * round(df)
            if abs(bic - expect) > 1e-8 * max(1.0, abs(bic)):
                raise fail(
                    "result.bic",
                    f"bic = {bic:.10g} but -2 * loglik + log(nobs) * df = {expect:.10g}",
                )
        out.update(loglik=loglik, aic=aic)
    return out


def check_estimator(
    estimator: Estimator,
    model_factory: Callable[[int | None], Any] | None = None,
    *,
    has_likelihood: bool = True,
) -> None:
    """Check an :class:`~mixedmodels.interfaces.Estimator` against its contract.

    Without a model: ``name`` is a non-empty string and ``supports`` returns ``None`` or
    a message, without raising, for objects that are not models.

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
        Naming the estimator, the failed check and the numbers.
    """
    fail = _Fail("check_estimator", estimator)
    _check_name(fail, estimator)
    if not isinstance(estimator, Estimator):
        raise fail("interface", f"{type(estimator).__name__} is not a mixedmodels Estimator")
    for junk in (None, object(), "not a model", 42):
        try:
            reason = estimator.supports(junk)
        except Exception as exc:
            raise fail(
                "supports",
                f"supports({junk!r}) raised {type(exc).__name__}: {exc}; it must return a "
                "message instead",
            ) from exc
        if reason is not None and not isinstance(reason, str):
            raise fail("supports", f"supports({junk!r}) returned {reason!r}, not None or a str")
    if model_factory is None:
        return

    model = model_factory(None)
    reason = _call(fail, "supports(model)", estimator.supports, model)
    if reason is not None:
        raise fail("supports(model)", f"the factory's model is not supported: {reason}")
    first = _check_result(fail, _call(fail, "fit", estimator.fit, model), has_likelihood)
    second = _check_result(
        fail, _call(fail, "fit", estimator.fit, model_factory(None)), has_likelihood
    )
    b1, b2 = np.asarray(first["fixef"], float), np.asarray(second["fixef"], float)
    if list(first["fixef"].index) != list(second["fixef"].index) or not np.allclose(
        b1, b2, rtol=1e-10, atol=1e-12
    ):
        raise fail(
            "deterministic",
            f"two fits of the same model give fixef {first['fixef'].to_dict()} and "
            f"{second['fixef'].to_dict()}",
        )
    if not np.allclose(first["vcov"], second["vcov"], rtol=1e-10, atol=1e-14):
        raise fail("deterministic", "two fits of the same model give different vcov")
    if has_likelihood and abs(first["loglik"] - second["loglik"]) > 1e-12 * max(
        1.0, abs(first["loglik"])
    ):
        raise fail(
            "deterministic",
            f"two fits of the same model give loglik {first['loglik']!r} and {second['loglik']!r}",
        )

    permuted = _check_result(
        fail, _call(fail, "fit (permuted rows)", estimator.fit, model_factory(1)), has_likelihood
    )
    if has_likelihood:
        l0, l1 = first["loglik"], permuted["loglik"]
        if abs(l0 - l1) > 1e-8 * max(1.0, abs(l0)):
            raise fail(
                "row order",
                f"loglik is {l0:.12g} for the data in order but {l1:.12g} with the rows "
                f"permuted (relative difference {abs(l0 - l1) / max(1.0, abs(l0)):.3g})",
            )
    else:
        bp = permuted["fixef"].reindex(first["fixef"].index).to_numpy(dtype=float)
        if not np.allclose(bp, b1, rtol=1e-6, atol=1e-10):
            raise fail(
                "row order",
                f"fixef {first['fixef'].to_dict()} in order but "
                f"{permuted['fixef'].to_dict()} with the rows permuted",
            )


# --------------------------------------------------------------------------------------
# diagnostics


def check_diagnostic(diagnostic: Diagnostic, result: Any = None) -> None:
    """Check a :class:`~mixedmodels.interfaces.Diagnostic`.

    ``name`` is a non-empty string; ``supports`` returns ``None`` or a message without
    raising for objects that are not results; with ``result`` (one the diagnostic
    supports), ``run(result)`` returns a :class:`pandas.DataFrame` with at least the
    columns ``check``, ``statistic`` and ``p_value``, the p-values in ``[0, 1]`` or NaN.

    Parameters
    ----------
    diagnostic
        The diagnostic instance.
    result
        A fitted result to run it on.

    Raises
    ------
    AssertionError
        Naming the diagnostic and the failed check.
    """
    fail = _Fail("check_diagnostic", diagnostic)
    _check_name(fail, diagnostic)
    if not isinstance(diagnostic, Diagnostic):
        raise fail("interface", f"{type(diagnostic).__name__} is not a mixedmodels Diagnostic")
    for junk in (None, object(), "not a result"):
        try:
            reason = diagnostic.supports(junk)
        except Exception as exc:
            raise fail(
                "supports", f"supports({junk!r}) raised {type(exc).__name__}: {exc}"
            ) from exc
        if reason is not None and not isinstance(reason, str):
            raise fail("supports", f"supports({junk!r}) returned {reason!r}, not None or a str")
    if result is None:
        return
    reason = _call(fail, "supports(result)", diagnostic.supports, result)
    if reason is not None:
        raise fail("supports(result)", f"the given result is not supported: {reason}")
    table = _call(fail, "run", diagnostic.run, result)
    if not isinstance(table, pd.DataFrame):
        raise fail("run", f"must return a pandas DataFrame, got {type(table).__name__}")
    missing = {"check", "statistic", "p_value"} - set(table.columns)
    if missing:
        raise fail("run", f"the table lacks the columns {sorted(missing)}")
    p = pd.to_numeric(table["p_value"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isnan(p) & ((p < 0) | (p > 1))
    if np.any(bad):
        raise fail("run", f"p-values outside [0, 1]: {_fmt(p[bad])}")
