"""Numerical derivatives by finite differences, one implementation per scheme.

* :func:`finite_difference_derivatives`: gradient and Hessian of a criterion by central
  differences, second-order one-sided next to a bound, forward cross differences
  (``O(k^2 / 2)`` evaluations: the optimiser's convergence check and Newton polish).
* :func:`central_hessian`: Hessian by central differences in every entry, the cross
  terms too (four points each), with steps shrunk to stay inside the bounds (Wald
  intervals of variance parameters, as nlme's ``intervals``).
* :func:`gradient_differences`: Hessian by central differences of an exact gradient.
* :func:`richardson_central`: gradient and Hessian by central differences at two given
  steps combined by one Richardson step (a GLMM's final derivatives without an exact
  gradient: steps a fraction of each parameter's standard error).
* :func:`central_gradient`: gradient by central differences, one-sided where the
  criterion is not finite on one side.
* :func:`clipped_central_gradient`: gradient by central differences with an absolute
  step, clipped at the bounds (the profile likelihood's inner minimiser).
* :func:`richardson_derivatives`: numDeriv's ``genD`` (Richardson extrapolation of
  central differences; Satterthwaite's df as lmerTest, profile curvatures).
* :func:`matrix_jacobian` (re-exported from :mod:`mixedmodels.interfaces`): central
  differences of a matrix-valued function.  It stays in the bottom layer because the
  default :meth:`~mixedmodels.interfaces.CovarianceStructure.factor_jacobian` of the
  plugin interface uses it, and the interfaces import nothing of the core.

The schemes differ in their step rules and their treatment of bounds on purpose: each
is tuned to its caller's accuracy (reference tests against R), so their rules are kept
as they are, as parameters where a caller varies them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ..interfaces import FloatArray, matrix_jacobian

__all__ = [
    "central_gradient",
    "central_hessian",
    "clipped_central_gradient",
    "finite_difference_derivatives",
    "gradient_differences",
    "matrix_jacobian",
    "richardson_central",
    "richardson_derivatives",
]


def finite_difference_derivatives(
    fun: Callable[[FloatArray], float],
    x: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    value: float | None = None,
    step: float = 1e-4,
) -> tuple[FloatArray, FloatArray]:
    """Central-difference gradient and Hessian, one-sided next to a bound.

    ``value`` is ``fun(x)`` when the caller already has it.  ``step`` is the relative
    step; a criterion with an inner iteration (a GLMM's PIRLS) needs a larger one so
    that its convergence noise stays small against ``step**2``.
    """
    k = len(x)
    f0 = fun(x) if value is None else value
    # Relative steps, floored where rounding in f would swamp the second differences
    # (about eps |f| / h^2: large deviances, e.g. 10^5 on 50,000 rows, with a parameter
    # near zero).
    floor = 1e-2 * (np.finfo(float).eps * max(1.0, abs(f0))) ** 0.25 if np.isfinite(f0) else 0
    h = np.maximum(step * np.maximum(np.abs(x), 1e-2), floor)
    grad = np.zeros(k)
    hess = np.zeros((k, k))

    def shifted(i: int, s: float, j: int | None = None, t: float = 0.0) -> float:
        y = x.copy()
        y[i] += s
        if j is not None:
            y[j] += t
        return float(fun(y))

    # Step direction per coordinate: away from a bound that is within one step.
    sign = np.where(x - h < lower, 1.0, np.where(x + h > upper, -1.0, 0.0))
    signed_h = np.where(sign < 0, -h, h)
    forward = np.zeros(k)  # f(x + step_i e_i), reused by the cross derivatives
    # Values as Python floats: a criterion that is infinite next to x gives non-finite
    # differences quietly (inf - inf), which the callers check for (check_convergence
    # reports them).
    _differences(shifted, float(f0), h, signed_h, sign, grad, hess, forward)
    return grad, hess


def _differences(
    shifted: Callable[..., float],
    f0: float,
    h: FloatArray,
    signed_h: FloatArray,
    sign: FloatArray,
    grad: FloatArray,
    hess: FloatArray,
    forward: FloatArray,
) -> None:
    """Fill ``grad``, ``hess`` and ``forward`` by central (or one-sided) differences."""
    k = len(h)
    for i in range(k):
        if sign[i] == 0.0:
            fp, fm, hi = shifted(i, h[i]), shifted(i, -h[i]), float(h[i])
            grad[i] = (fp - fm) / (2 * hi)
            hess[i, i] = (fp - 2 * f0 + fm) / hi**2
            forward[i] = fp
        else:
            s = float(signed_h[i])
            f1, f2 = shifted(i, s), shifted(i, 2 * s)
            grad[i] = (-3 * f0 + 4 * f1 - f2) / (2 * s)
            hess[i, i] = (f0 - 2 * f1 + f2) / s**2
            forward[i] = f1
    for i in range(k):
        for j in range(i + 1, k):
            fpp = shifted(i, signed_h[i], j, signed_h[j])
            fi, fj = float(forward[i]), float(forward[j])
            hess[i, j] = hess[j, i] = (fpp - fi - fj + f0) / float(signed_h[i] * signed_h[j])


def central_hessian(
    fun: Callable[[FloatArray], float],
    x: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    free: NDArray[np.bool_],
    step: float = 1e-4,
    se_fraction: float = 0.02,
) -> FloatArray:
    """Hessian of a deviance by central differences in every entry (the cross terms
    too: one-sided cross differences are only first-order accurate, a percent off on
    nlme's examples).  Coordinates not ``free`` are left at zero.

    A pilot pass over the diagonal with steps ``step * max(|x_i|, 0.1)`` (at most half
    the distance to the nearer bound) gives each coordinate's standard error; the final
    steps are ``se_fraction`` of it, so that each difference changes the deviance by
    about ``se_fraction**2`` (4e-4), far above its rounding noise (3e-11 on the residual
    structures' whitening), on any parameter scale.  A step relative to the value alone
    is 1e-5 or less on a parameter near 0 (AR(1)'s unconstrained Phi), where that noise
    moves the Hessian entry by several percent and the Wald interval with it (the
    difference between machines' BLAS summation orders; nlme's ``fdHess`` likewise).
    """
    k = x.size
    f0 = fun(x)
    h = step * np.maximum(np.abs(x), 1e-1)
    room = np.minimum(x - lower, upper - x)
    h = np.where(free, np.minimum(h, 0.5 * room), 0.0)
    for c in np.flatnonzero(free):
        e = np.zeros(k)
        e[c] = h[c]
        hcc = (fun(x + e) - 2 * f0 + fun(x - e)) / h[c] ** 2
        if np.isfinite(hcc) and hcc > 0:
            h[c] = min(se_fraction * np.sqrt(2.0 / hcc), 0.5 * room[c])
    H = np.zeros((k, k))

    def at(i: int, a: float, j: int | None = None, b: float = 0.0) -> float:
        z = x.copy()
        z[i] += a
        if j is not None:
            z[j] += b
        return fun(z)

    idx = [int(i) for i in np.flatnonzero(free)]
    for i in idx:
        H[i, i] = (at(i, h[i]) - 2 * f0 + at(i, -h[i])) / h[i] ** 2
    for a, i in enumerate(idx):
        for j in idx[a + 1 :]:
            num = (
                at(i, h[i], j, h[j])
                - at(i, h[i], j, -h[j])
                - at(i, -h[i], j, h[j])
                + at(i, -h[i], j, -h[j])
            )
            H[i, j] = H[j, i] = num / (4 * h[i] * h[j])
    return H


def richardson_central(
    fun: Callable[[FloatArray], float],
    x: FloatArray,
    h: FloatArray,
    free: NDArray[np.bool_],
    value: float | None = None,
    hessian: bool = True,
) -> tuple[FloatArray, FloatArray, int]:
    """Gradient and (optionally) Hessian of ``fun`` over the ``free`` coordinates by
    central differences at steps ``h`` and ``h / 2`` combined by one Richardson step
    (truncation error ``O(h^4)``; cross terms from four points each).  Entries of
    coordinates not ``free`` are zero.  Returns them and the number of evaluations.

    With steps a sizeable fraction of each parameter's standard error the differences
    are far above the rounding noise of a criterion evaluated by an inner iteration
    (which the usual ``1e-3``-relative steps amplify by ``1/h^2``), and the Richardson
    step keeps the truncation error small; the caller chooses ``h`` (e.g.
    :func:`~mixedmodels.numerics.optimize.newton_refine`) and keeps it inside the
    bounds.
    """
    x = np.asarray(x, dtype=np.float64)
    k = x.size
    f0 = float(fun(x)) if value is None else float(value)
    count = 0 if value is not None else 1
    idx = [int(i) for i in np.flatnonzero(free)]
    grad = np.zeros(k)
    hess = np.zeros((k, k))

    def at(i: int, a: float, j: int | None = None, b: float = 0.0) -> float:
        nonlocal count
        z = x.copy()
        z[i] += a
        if j is not None:
            z[j] += b
        count += 1
        return float(fun(z))

    for i in idx:  # a loop over parameters (few)
        first, second = [], []
        for t in (float(h[i]), 0.5 * float(h[i])):
            fp, fm = at(i, t), at(i, -t)
            first.append((fp - fm) / (2.0 * t))
            second.append((fp - 2.0 * f0 + fm) / t**2)
        grad[i] = (4.0 * first[1] - first[0]) / 3.0
        hess[i, i] = (4.0 * second[1] - second[0]) / 3.0
    if hessian:
        for a, i in enumerate(idx):
            for j in idx[a + 1 :]:
                cross = []
                for t in (1.0, 0.5):
                    hi, hj = t * float(h[i]), t * float(h[j])
                    num = (
                        at(i, hi, j, hj)
                        - at(i, hi, j, -hj)
                        - at(i, -hi, j, hj)
                        + at(i, -hi, j, -hj)
                    )
                    cross.append(num / (4.0 * hi * hj))
                hess[i, j] = hess[j, i] = (4.0 * cross[1] - cross[0]) / 3.0
    return grad, hess, count


def gradient_differences(
    gradient: Callable[[FloatArray], FloatArray | None],
    x: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    step: float = 1e-4,
) -> tuple[FloatArray, FloatArray] | None:
    """The exact gradient at ``x`` and the Hessian by differences of it: central,
    second-order one-sided next to a bound; ``2k`` gradient evaluations instead of the
    ``O(k^2)`` criterion evaluations of :func:`finite_difference_derivatives`, and
    accurate to ``O(step^2)``.  ``None`` if the gradient is unavailable anywhere."""
    x = np.asarray(x, dtype=np.float64)
    k = x.size
    g0 = gradient(x)
    if g0 is None:
        return None
    # An absolute floor of `step`: near zero a relative step would let the gradient's
    # PIRLS noise (~1e-7) swamp the differences.
    h = step * np.maximum(np.abs(x), 1.0)
    hess = np.empty((k, k))
    for i in range(k):  # a loop over parameters (few)
        e = np.zeros(k)
        e[i] = h[i]
        if x[i] - h[i] < lower[i] or x[i] + h[i] > upper[i]:
            s = 1.0 if x[i] - h[i] < lower[i] else -1.0
            g1, g2 = gradient(x + s * e), gradient(x + 2 * s * e)
            if g1 is None or g2 is None:
                return None
            hess[:, i] = (-3 * g0 + 4 * g1 - g2) / (2 * s * h[i])
        else:
            gp, gm = gradient(x + e), gradient(x - e)
            if gp is None or gm is None:
                return None
            hess[:, i] = (gp - gm) / (2 * h[i])
    return np.asarray(g0, dtype=np.float64), (hess + hess.T) / 2.0


def clipped_central_gradient(
    f: Callable[[FloatArray], float],
    x: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    h: float,
) -> FloatArray:
    """Gradient by central differences with one absolute step ``h``, one-sided where a
    bound is within ``h`` (the profile's inner minimiser; lme4's profile likewise)."""
    g = np.empty(x.size)
    for i in range(x.size):
        lo = max(x[i] - h, lower[i])
        hi = min(x[i] + h, upper[i])
        a = x.copy()
        b = x.copy()
        a[i], b[i] = lo, hi
        g[i] = (f(b) - f(a)) / (hi - lo) if hi > lo else 0.0
    return g


def central_gradient(
    fun: Callable[[FloatArray], float], z: FloatArray, step: float = 1e-5
) -> FloatArray:
    """Gradient by central differences with steps ``step * max(1, |z_i|)``; one-sided
    (first order) where ``fun`` is not finite on one side, 0 where on neither."""
    out = np.zeros(z.size)
    f0 = fun(z)
    for i in range(z.size):
        h = step * max(1.0, abs(z[i]))
        up, down = z.copy(), z.copy()
        up[i] += h
        down[i] -= h
        fu, fd = fun(up), fun(down)
        if np.isfinite(fu) and np.isfinite(fd):
            out[i] = (fu - fd) / (2 * h)
        elif np.isfinite(fu):
            out[i] = (fu - f0) / h
        elif np.isfinite(fd):
            out[i] = (f0 - fd) / h
    return out


def richardson_derivatives(
    func: Callable[[FloatArray], FloatArray],
    x: FloatArray,
    step: float = 1e-2,
    r: int = 4,
    v: float = 2.0,
    second: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """Value, Jacobian and (optionally) second derivatives of a vector function.

    numDeriv's ``genD`` scheme (as lmerTest uses it): central differences with steps
    ``h`` halved ``r`` times and combined by Richardson extrapolation.  The first step
    is ``step * max(|x|, 1)``, larger than numDeriv's ``1e-4 |x|``: the profiled
    criterion is smooth but its evaluation carries rounding noise (the penalised RSS is
    the difference of large cross-products), which tiny steps amplify; Richardson's
    extrapolation removes the truncation error of the larger steps.

    Returns
    -------
    f0
        ``func(x)``, shape ``(m,)``.
    jac
        ``(m, k)``: ``d f / d x_i``.
    hess
        ``(m, k, k)`` second derivatives, or ``None`` if ``second`` is false.
    """
    x = np.asarray(x, dtype=np.float64)
    k = x.size
    f0 = np.asarray(func(x), dtype=np.float64)
    h0 = step * np.maximum(np.abs(x), 1.0)
    m = f0.size
    jac = np.empty((m, k))
    hdiag = np.empty((m, k))
    hess = np.empty((m, k, k)) if second else None
    factors = [4.0**j for j in range(1, r)]

    def extrapolate(a: FloatArray) -> FloatArray:
        a = a.copy()
        for j, f in enumerate(factors, start=1):
            a[: r - j] = (a[1 : r - j + 1] * f - a[: r - j]) / (f - 1.0)
        return a[0]

    for i in range(k):
        e = np.zeros(k)
        e[i] = 1.0
        da = np.empty((r, m))
        ha = np.empty((r, m))
        h = h0.copy()
        for s in range(r):
            f1 = np.asarray(func(x + e * h), dtype=np.float64)
            f2 = np.asarray(func(x - e * h), dtype=np.float64)
            da[s] = (f1 - f2) / (2.0 * h[i])
            ha[s] = (f1 - 2.0 * f0 + f2) / h[i] ** 2
            h = h / v
        jac[:, i] = extrapolate(da)
        hdiag[:, i] = extrapolate(ha)
    if hess is not None:
        for i in range(k):
            hess[:, i, i] = hdiag[:, i]
            for j in range(i):
                ei = np.zeros(k)
                ei[i] = 1.0
                ej = np.zeros(k)
                ej[j] = 1.0
                da = np.empty((r, m))
                h = h0.copy()
                for s in range(r):
                    f1 = np.asarray(func(x + ei * h + ej * h), dtype=np.float64)
                    f2 = np.asarray(func(x - ei * h - ej * h), dtype=np.float64)
                    da[s] = (
                        f1 - 2.0 * f0 + f2 - hdiag[:, i] * h[i] ** 2 - hdiag[:, j] * h[j] ** 2
                    ) / (2.0 * h[i] * h[j])
                    h = h / v
                hess[:, i, j] = hess[:, j, i] = extrapolate(da)
    return f0, jac, hess
