"""The per-observation log-likelihood of a conditional family with zero inflation, and
its derivatives in the conditional and zero-inflation linear predictors.

A :class:`~mixedmodels.interfaces.ConditionalFamily` gives ``log f(y | mu)`` and its
derivatives in ``mu``; here they are chained through the link to ``eta`` and composed
with glmmTMB's zero inflation: ``P(y = 0) = pi + (1 - pi) f(0)`` with
``logit(pi) = eta_zi``, and for a zero-truncated family (a hurdle) ``P(y = 0) = pi``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, log_expit

from ..interfaces import ConditionalFamily, FloatArray, Link

__all__ = ["RowDerivatives", "link_derivatives", "row_loglik", "zero_inflation_parts"]


def link_derivatives(link: Link, eta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``mu``, ``dmu/deta`` and ``d2mu/deta2`` for a link (closed form for the usual
    links, central differences of ``mu_eta`` otherwise)."""
    name = link.name
    if name == "log":
        mu = np.exp(eta)
        return mu, mu, mu
    if name == "identity":
        return eta.copy(), np.ones_like(eta), np.zeros_like(eta)
    if name == "logit":
        mu = link.inverse(eta)
        d1 = mu * (1.0 - mu)
        return mu, d1, d1 * (1.0 - 2.0 * mu)
    mu = link.inverse(eta)
    d1 = link.mu_eta(eta)
    h = 1e-5 * np.maximum(1.0, np.abs(eta))
    d2 = (link.mu_eta(eta + h) - link.mu_eta(eta - h)) / (2.0 * h)
    return mu, d1, d2


@dataclass
class RowDerivatives:
    """Per-row log-likelihood and its derivatives in ``eta`` (conditional) and ``eta_zi``."""

    ll: FloatArray
    d_c: FloatArray
    d_cc: FloatArray
    d_z: FloatArray | None = None
    d_zz: FloatArray | None = None
    d_cz: FloatArray | None = None
    # d(d_cc)/d eta_zi, a third derivative of the composition (zero inflation only)
    d_ccz: FloatArray | None = None
    # from the family's optional higher derivatives (``higher=True``): d(d_cc)/d eta,
    # and the derivatives of ll, d_c and d_cc in the dispersion predictor log(phi)
    d_ccc: FloatArray | None = None
    ll_p: FloatArray | None = None
    d_c_p: FloatArray | None = None
    d_cc_p: FloatArray | None = None
    # the derivatives of ll, d_c and d_cc in each extra parameter (``higher=True``,
    # where the family gives :meth:`~mixedmodels.interfaces.ConditionalFamily.
    # logpdf_shape_derivatives`)
    shape_d: list[tuple[FloatArray, FloatArray, FloatArray]] | None = None


def _link_third(link: Link, mu: FloatArray, m1: FloatArray, m2: FloatArray) -> FloatArray | None:
    """``d3mu/deta3`` for the links in closed form (``None`` for the others)."""
    if link.name == "log":
        return mu
    if link.name == "identity":
        return np.zeros_like(mu)
    if link.name == "logit":
        return m2 * (1.0 - 2.0 * mu) - 2.0 * m1 * m1
    return None


def zero_inflation_parts(eta_z: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``pi``, ``log pi`` and ``log(1 - pi)`` for ``logit(pi) = eta_z`` (no overflow)."""
    log_1m = log_expit(-eta_z)
    # log pi - log(1 - pi) = eta_z: one transcendental pass instead of two
    return expit(eta_z), log_1m + eta_z, log_1m


def row_loglik(
    family: ConditionalFamily,
    link: Link,
    y: FloatArray,
    eta: FloatArray,
    phi: FloatArray,
    shape: FloatArray,
    eta_zi: FloatArray | None = None,
    derivatives: bool = True,
    zi_parts: tuple[FloatArray, FloatArray, FloatArray] | None = None,
    higher: bool = False,
) -> RowDerivatives:
    """Log-likelihood of every row and (if ``derivatives``) its derivatives.

    ``eta_zi`` is the zero-inflation predictor (``None``: no zero inflation).  Rows
    that are impossible (a zero under a truncated family without zero inflation) get
    ``-inf``.  ``zi_parts``: :func:`zero_inflation_parts` of ``eta_zi`` if known.
    ``higher``: also the third derivative in ``eta`` and the derivatives in
    ``log(phi)`` where the family gives them
    (:meth:`~mixedmodels.interfaces.ConditionalFamily.logpdf_higher_derivatives`; for
    a truncated family, its truncated density's, 0 at the zeros), and in the extra
    parameters ``shape`` where it gives
    :meth:`~mixedmodels.interfaces.ConditionalFamily.logpdf_shape_derivatives`.
    """
    mu, m1, m2 = link_derivatives(link, eta)
    n = y.shape[0]
    full = None  # the family's higher derivatives (``higher``, not truncated)
    raw_shape = None  # and those in the extra parameters
    if family.truncated:
        pos = y > 0
        every = bool(np.all(pos))
        part = (y, mu, phi) if every else (y[pos], mu[pos], phi[pos])
        got: Any = None
        if higher and derivatives:
            got = family.logpdf_higher_derivatives(*part, shape)
        if got is None:
            got = family.logpdf_derivatives(*part, shape)
        if not every:  # the zeros: log-density -inf, every derivative 0

            def spread(v: Any, fill: float = 0.0) -> Any:
                if v is None:
                    return None
                out = np.full(n, fill)
                out[pos] = v
                return out

            got = (
                spread(got[0], -np.inf),
                *(spread(v) for v in got[1:3]),
                *(
                    (spread(got[3]), None if got[4] is None else tuple(map(spread, got[4])))
                    if len(got) == 5
                    else ()
                ),
            )
        if len(got) == 5:
            full = got
            ll, l_mu, l_mumu, l3, dphi = full
        else:
            ll, l_mu, l_mumu = got
    elif derivatives:
        full = family.logpdf_higher_derivatives(y, mu, phi, shape) if higher else None
        if higher and len(shape):
            raw_shape = family.logpdf_shape_derivatives(y, mu, phi, shape)
        if full is None:
            ll, l_mu, l_mumu = family.logpdf_derivatives(y, mu, phi, shape)
        else:
            ll, l_mu, l_mumu, l3, dphi = full
    else:
        ll = family.logpdf(y, mu, phi, shape)
        l_mu = l_mumu = np.zeros(n)
    # the conditional density's derivatives in eta (fresh arrays: updated in place below)
    f_c = l_mu * m1
    # the log link (mu' = mu'' = mu): one product fewer
    f_cc = (l_mumu * m1 + l_mu) * m1 if m2 is m1 else l_mumu * m1 * m1 + l_mu * m2
    f_ccc = f_p = f_cp = f_ccp = None
    # in log(phi) and in the extra parameters alike: (ll, d_c, d_cc) differentiated
    in_params: list[tuple[FloatArray, FloatArray, FloatArray]] = []
    if full is not None:
        m3 = None if l3 is None else _link_third(link, mu, m1, m2)
        if l3 is not None and m3 is not None:
            f_ccc = l3 * m1**3 + 3.0 * l_mumu * m1 * m2 + l_mu * m3
        if dphi is not None:
            in_params.append(dphi)
    if raw_shape is not None:
        in_params.extend(raw_shape)
    # chained through the link: d_c = l_mu m1, d_cc = l_mumu m1^2 + l_mu m2
    chained = [(a, b * m1, c * m1 * m1 + b * m2) for a, b, c in in_params]
    n_phi = 1 if full is not None and full[4] is not None else 0
    if eta_zi is None:
        if n_phi:
            f_p, f_cp, f_ccp = chained[0]
        return RowDerivatives(
            ll,
            f_c,
            f_cc,
            d_ccc=f_ccc,
            ll_p=f_p,
            d_c_p=f_cp,
            d_cc_p=f_ccp,
            shape_d=chained[n_phi:] if raw_shape is not None else None,
        )
    pi, log_pi, log_1m = zero_inflation_parts(eta_zi) if zi_parts is None else zi_parts
    # f_c and f_cc are this call's own arrays: updated in place at the zeros; the zeros
    # as indices (a gather over a fraction of the rows, not masks over all of them)
    zero = np.flatnonzero(y == 0)
    out_ll = log_1m + ll
    d_c, d_cc = f_c, f_cc
    d_z = -pi  # a new array (zi_parts' pi may be shared)
    d_zz = pi * (pi - 1.0)
    d_cz = np.zeros(n)
    d_ccz = np.zeros(n)
    if zero.size:
        pz = pi[zero]
        if family.truncated:
            out_ll[zero] = log_pi[zero]
            d_z[zero] = 1.0 - pz
            d_c[zero] = 0.0
            d_cc[zero] = 0.0
        else:
            a = log_pi[zero]
            b = log_1m[zero] + ll[zero]
            tot = np.logaddexp(a, b)
            r = np.exp(b - tot)  # probability that a zero came from the count part
            rr = r * (1.0 - r)
            out_ll[zero] = tot
            fc, fcc = f_c[zero], f_cc[zero]  # gathered before d_c, d_cc (the same arrays)
            d_c[zero] = r * fc
            d_cc[zero] = r * fcc + rr * fc * fc
            d_z[zero] = 1.0 - r - pz
            d_zz[zero] = rr - pz * (1.0 - pz)
            d_cz[zero] = -rr * fc
            # dr/deta_zi = -r (1 - r): d_cc = r f_cc + r (1 - r) f_c^2 differentiated
            d_ccz[zero] = -rr * (fcc + (1.0 - 2.0 * r) * fc * fc)
            # dr/deta = rr f_c and dr/dlog(phi) = rr f_p: the same compositions
            # differentiated in eta and in log(phi)
            if f_ccc is not None:
                f_ccc = f_ccc.copy()
                f_ccc[zero] = r * f_ccc[zero] + 3.0 * rr * fc * fcc + (1.0 - 2.0 * r) * rr * fc**3
            # the derivatives in log(phi) and in the extra parameters: dr/dx = rr f_x
            for i, (f_x, f_cx, f_ccx) in enumerate(chained):
                fp, fcp, fccp = f_x[zero], f_cx[zero], f_ccx[zero]
                f_x, f_cx, f_ccx = f_x.copy(), f_cx.copy(), f_ccx.copy()
                f_x[zero] = r * fp
                f_cx[zero] = r * fcp + rr * fp * fc
                f_ccx[zero] = (
                    r * fccp
                    + rr * fp * fcc
                    + (1.0 - 2.0 * r) * rr * fp * fc * fc
                    + 2.0 * rr * fc * fcp
                )
                chained[i] = (f_x, f_cx, f_ccx)
    if n_phi:
        f_p, f_cp, f_ccp = chained[0]
    return RowDerivatives(
        out_ll,
        d_c,
        d_cc,
        d_z,
        d_zz,
        d_cz,
        d_ccz,
        d_ccc=f_ccc,
        ll_p=f_p,
        d_c_p=f_cp,
        d_cc_p=f_ccp,
        shape_d=chained[n_phi:] if raw_shape is not None else None,
    )
