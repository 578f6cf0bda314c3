"""The GLMM criterion: PIRLS for the conditional modes, Laplace and adaptive quadrature.

Follows lme4 (Bates et al. 2015; lme4's ``glmer``): for given ``theta`` (and ``beta``)
penalised iteratively reweighted least squares finds the conditional modes ``u`` that
minimise the penalised deviance ``sum w d(y, mu) + |u|^2``; the Laplace approximation of
``-2 log L`` is then ``log|L_theta|^2 + |u|^2 - 2 sum log p(y | mu)``.  Adaptive
Gauss-Hermite quadrature (one scalar random-effect term) integrates each level's
effect numerically around its mode; as lme4 does, it uses deviance residuals, so its
log-likelihood is relative to the saturated model.  ``beta`` is either updated inside
PIRLS (lme4's ``nAGQ = 0``, the fast first stage) or held fixed (the second stage,
where the optimiser moves ``theta`` and ``beta`` together).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.typing import NDArray

from ..errors import FitError
from ..interfaces import Family, FloatArray, Link
from ..linear.criterion import TermData
from .pwls import Factor, PenalizedSystem

__all__ = ["GLMMProblem", "PirlsResult"]

_MAX_PIRLS = 200
_PIRLS_TOL = 1e-10
_MAX_HALVINGS = 20
# PIRLS also stops after _STALL_AFTER iterations when _STALL_COUNT successive ones
# changed the penalised deviance by no more than rounding (relative _STALL_TOL).
_STALL_AFTER = 30
_STALL_COUNT = 3
_STALL_TOL = 1e-14


def mode_step(
    u1: FloatArray,
    new_u1: FloatArray,
    uR: FloatArray,
    new_uR: FloatArray,
    beta: FloatArray,
    new_beta: FloatArray,
    joint: bool,
) -> tuple[float, float]:
    """Largest change of the modes in one PIRLS step (``beta`` too when it is iterated
    jointly), and the scale it is compared with (``1 + `` the largest new mode)."""
    step = max(
        float(np.max(np.abs(new_u1 - u1), initial=0.0)),
        float(np.max(np.abs(new_uR - uR), initial=0.0)),
        float(np.max(np.abs(new_beta - beta), initial=0.0)) if joint else 0.0,
    )
    scale = 1.0 + max(
        float(np.max(np.abs(new_u1), initial=0.0)),
        float(np.max(np.abs(new_uR), initial=0.0)),
    )
    return step, scale


@dataclass
class PirlsResult:
    """The conditional modes and everything evaluated there."""

    u1: FloatArray  # (n1, p1) spherical effects of the first term
    uR: FloatArray  # (q_rest,) spherical effects of the other terms
    beta: FloatArray
    eta: FloatArray
    mu: FloatArray
    factor: Factor
    converged: bool
    iterations: int
    deviance: float  # sum w d(y, mu) / phi at the modes

    @property
    def ussq(self) -> float:
        return float(np.sum(self.u1**2) + np.sum(self.uR**2))


class GLMMProblem:
    """Data, family and the PIRLS / Laplace / AGQ machinery of one GLMM.

    Parameters
    ----------
    X, y, terms
        Fixed-effects matrix, response (a proportion for the binomial), random-effect
        terms (largest first).
    weights
        Prior weights (binomial: the number of trials times any prior weights).
    offset
        Offset of the linear predictor, or ``None``.
    family, link
        The response distribution and link.
    """

    def __init__(
        self,
        X: FloatArray,
        y: FloatArray,
        terms: list[TermData],
        weights: FloatArray | None,
        offset: FloatArray | None,
        family: Family,
        link: Link,
    ) -> None:
        self.X, self.y = X, y
        self.n, self.p = X.shape
        self.terms = terms
        self.pw = np.ones(self.n) if weights is None else weights
        #: Dispersion phi of families that have one (Gamma, inverse Gaussian, gaussian
        #: with a link): y | b has variance phi V(mu) / w; estimated by the fitter.
        self.dispersion = 1.0
        #: Laplace with the observed rather than the expected (Fisher) information:
        #: lme4 uses Fisher weights; glmmTMB, whose domain the dispersion families
        #: are, the exact Hessian.  They differ only for non-canonical links.
        self.observed_information = False
        self.offset = np.zeros(self.n) if offset is None else offset
        self.family, self.link = family, link
        binary = family.name == "binomial" and bool(np.all((y == 0.0) | (y == 1.0)))
        self._binary: NDArray[np.bool_] | None = (y == 1.0) if binary else None
        self.joint = PenalizedSystem(X, terms, augment=True)
        self.fixed = PenalizedSystem(X, terms, augment=False)
        sizes = [t.structure.n_params for t in terms]
        self._theta_index = np.cumsum([0, *sizes]).tolist()
        self.n_theta = self._theta_index[-1]
        # Warm starts: the last modes found, reused by the next evaluation.
        self._u1 = np.zeros((self.fixed.n1, self.fixed.p1))
        self._uR = np.zeros(self.fixed.q_rest)
        self._beta: FloatArray | None = None
        # Newton steps in PIRLS (non-canonical links), decided at the first PIRLS.
        self._newton: bool | None = None
        # -2 log p(y | mu) = deviance / phi + c(y, phi) for the exponential-dispersion
        # families: c is cached per (family instance, phi) and checked once.
        self._loglik_constant: tuple[Family, float, float | None] | None = None

    def pirls_failure(self, where: str, theta: FloatArray) -> FitError:
        """The error for PIRLS failing ``where``, with what the linear predictor and the
        data say about why."""
        theta = np.asarray(theta, dtype=np.float64)
        x_scale = float(np.max(np.abs(self.X), initial=0.0))
        causes = []
        if x_scale > 1e4:
            causes.append(f"fixed-effect columns as large as {x_scale:.3g}: center or rescale them")
        if np.max(np.abs(theta), initial=0.0) > 1e3:
            causes.append(
                f"random-effect parameters as large as {np.max(np.abs(theta)):.3g}: too many "
                "random effects for the data, or a grouping factor with one row per level"
            )
        causes.append(
            "the mean overflows or the weights degenerate at these parameters (complete "
            "separation, or a model too rich for the data: simplify the random effects)"
        )
        return FitError(
            f"the penalised iteratively reweighted least squares (PIRLS) for the random "
            f"effects' modes failed {where} (theta = {np.round(theta, 4).tolist()}); "
            f"likely causes: {'; '.join(causes)}"
        )

    # --- helpers ----------------------------------------------------------------------
    def lambdas(self, theta: FloatArray) -> list[FloatArray]:
        idx = self._theta_index
        return [t.structure.factor(theta[idx[i] : idx[i + 1]]) for i, t in enumerate(self.terms)]

    def _weights(
        self, eta: FloatArray, mu: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Mean, ``d mu / d eta`` and the Fisher weights at ``eta`` (``mu``: its mean,
        when already known)."""
        if mu is None:
            mu = self.link.inverse(eta)
        dmu = self.link.mu_eta(eta)
        # dmu * (dmu / V) rather than dmu^2 / V: no overflow while the weight itself is
        # finite (log link: dmu = V = mu).  Where the mean overflows (an extreme linear
        # predictor) the weights are not finite, and PIRLS rejects them (its factor is
        # refused, its step halved).
        with np.errstate(over="ignore", invalid="ignore"):
            w = self.pw * dmu * (dmu / (self.family.variance(mu) * self.dispersion))
        return mu, dmu, w

    def _score(self, mu: FloatArray, dmu: FloatArray) -> FloatArray:
        """``r = w (y - mu) mu' / (phi V)``: minus half the deviance's derivative in eta."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self.pw * (self.y - mu) * (dmu / (self.family.variance(mu) * self.dispersion))

    def _newton_steps(
        self, eta: FloatArray, mu: FloatArray, dmu: FloatArray, w: FloatArray
    ) -> bool:
        """Whether PIRLS takes Newton steps (observed weights): for a link that is not
        canonical for the family, where Fisher scoring converges only linearly (probit
        VerbAgg: 9 iterations a call against 3.5 for the logit).  The modes are the
        same (the score vanishes there either way).  Decided once per problem."""
        if self._newton is None:
            obs = self._observed_weights(eta, mu, dmu, w)
            self._newton = obs is not None and not np.allclose(obs, w, rtol=1e-6, atol=1e-12)
        return self._newton

    def _second_order(
        self, eta: FloatArray, mu: FloatArray, dmu: FloatArray, w: FloatArray
    ) -> tuple[FloatArray, FloatArray] | None:
        """The observed weights ``W~ = -d r / d eta`` (the deviance's Hessian in eta,
        halved) and ``d w / d eta`` of the Fisher weights, from the link's second
        derivative; ``None`` for a link without one."""
        second = getattr(self.link, "mu_eta_derivative", None)
        if second is None:
            return None
        var = self.family.variance(mu) * self.dispersion
        # The variance function's derivative in closed form (the built-in families): a
        # central difference would carry ~1e-10 relative rounding, which the Hessian of
        # the criterion (differences of the Laplace gradient) amplifies to ~1e-8.
        dvar = self.family.variance_derivative(mu) * self.dispersion
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            d2 = second(eta)
            dratio = d2 / var - dmu * dmu * dvar / (var * var)
            obs = w - self.pw * (self.y - mu) * dratio
            dw = self.pw * dmu * (2.0 * d2 / var - dmu * dmu * dvar / (var * var))
        return np.asarray(obs, dtype=np.float64), np.asarray(dw, dtype=np.float64)

    def _observed_weights(
        self, eta: FloatArray, mu: FloatArray, dmu: FloatArray, w: FloatArray
    ) -> FloatArray | None:
        """``W~`` for a Newton step, or ``None`` where the link has no second derivative
        or ``W~`` is not positive (far from the modes; Fisher's step is taken there)."""
        out = self._second_order(eta, mu, dmu, w)
        if out is None or not np.all(np.isfinite(out[0]) & (out[0] > 0.0)):
            return None
        return out[0]

    def _deviance(self, mu: FloatArray) -> float:
        if self._binary is not None:
            # 0/1 responses: the binomial unit deviance is -2 log of the probability of
            # the observed outcome (one log per row instead of two and two divisions).
            p_obs = np.where(self._binary, mu, 1.0 - mu)
            with np.errstate(divide="ignore"):
                return float(-2.0 * np.sum(self.pw * np.log(p_obs)))
        return float(np.sum(self.pw * self.family.unit_deviance(self.y, mu))) / self.dispersion

    def _penalised_deviance(self, mu: FloatArray, u1: FloatArray, uR: FloatArray) -> float:
        if not np.all(np.isfinite(mu)):
            return np.inf  # an overflowing mean: a step PIRLS must halve
        return self._deviance(mu) + float(np.sum(u1**2) + np.sum(uR**2))

    # --- PIRLS --------------------------------------------------------------------------
    def warm_start(self, modes: PirlsResult) -> None:
        """Start the next PIRLS from ``modes`` (each PIRLS starts from the last modes
        found, which makes a sequence of evaluations depend on its order)."""
        self._u1, self._uR = modes.u1.copy(), modes.uR.copy()

    def pirls(self, theta: FloatArray, beta: FloatArray | None = None) -> PirlsResult | None:
        """Conditional modes at ``theta``; ``beta`` fixed, or updated jointly if ``None``."""
        lambdas = self.lambdas(np.asarray(theta, dtype=np.float64))
        joint = beta is None
        system = self.joint if joint else self.fixed
        q = self.fixed.q_rest
        u1, uR = self._u1.copy(), self._uR.copy()
        cur_beta: FloatArray
        if beta is not None:
            cur_beta = np.asarray(beta, dtype=np.float64)
        elif self._beta is not None:
            cur_beta = self._beta
        else:
            # glm.fit's start: the family's starting mean, u = 0.
            mu0 = self.family.starting_mu(self.y, self.pw)
            start = self.link.link(mu0) - self.offset
            cur_beta = np.asarray(np.linalg.lstsq(self.X, start, rcond=None)[0], dtype=np.float64)
            u1[:], uR[:] = 0.0, 0.0
        fixed_eta = self.offset + self.X @ cur_beta
        eta = fixed_eta + system.random_part(lambdas, u1, uR[:q])
        mu, dmu, w = self._weights(eta)
        pdev = self._penalised_deviance(mu, u1, uR[:q])
        if not np.isfinite(pdev) and (np.any(u1) or np.any(uR)):
            # The warm start overflows at these parameters: start from u = 0 instead.
            u1, uR = np.zeros_like(u1), np.zeros_like(uR)
            eta = fixed_eta.copy()
            mu, dmu, w = self._weights(eta)
            pdev = self._penalised_deviance(mu, u1, uR[:q])
        if not np.isfinite(pdev):
            return None  # the mean overflows even without random effects
        converged = False
        iterations = stalled = 0
        newton = self._newton_steps(eta, mu, dmu, w)
        observed = False  # whether the last factor has the observed weights
        for iterations in range(1, _MAX_PIRLS + 1):
            step_w = self._observed_weights(eta, mu, dmu, w) if newton else None
            observed = step_w is not None
            if step_w is None:
                step_w = w
                z = (eta - self.offset) + (self.y - mu) / dmu
            else:
                z = (eta - self.offset) + self._score(mu, dmu) / step_w
            if not joint:
                z = z - (fixed_eta - self.offset)
            f = system.factor(lambdas, step_w)
            if f is None and observed:
                observed, step_w = False, w
                z = (eta - self.offset) + (self.y - mu) / dmu
                if not joint:
                    z = z - (fixed_eta - self.offset)
                f = system.factor(lambdas, w)
            if f is None:
                return None
            r1, rR = system.rhs(lambdas, step_w, z)
            new_u1, new_xR = system.solve(f, r1, rR)
            new_uR = new_xR[:q]
            new_beta = new_xR[q:] if joint else cur_beta
            # Step halving until the penalised deviance does not increase.
            for _ in range(_MAX_HALVINGS):
                new_fixed = self.offset + self.X @ new_beta
                new_eta = new_fixed + system.random_part(lambdas, new_u1, new_uR)
                new_mu = self.link.inverse(new_eta)
                new_pdev = (
                    self._penalised_deviance(new_mu, new_u1, new_uR)
                    if np.all(np.isfinite(new_eta))
                    else np.inf
                )
                if new_pdev <= pdev * (1 + 1e-12) + 1e-12:
                    break
                new_u1 = 0.5 * (new_u1 + u1)
                new_uR = 0.5 * (new_uR + uR[:q])
                new_beta = 0.5 * (new_beta + cur_beta)
            else:
                return None
            # Converged when the modes stop moving (Fisher scoring with a non-canonical
            # link converges linearly: the deviance change alone stops too early).
            step, scale = mode_step(u1, new_u1, uR[:q], new_uR, cur_beta, new_beta, joint)
            u1, uR, cur_beta, fixed_eta, eta = new_u1, new_uR, new_beta, new_fixed, new_eta
            mu, dmu, w = self._weights(eta, new_mu)
            # Modes drifting off to infinity (complete separation) while the criterion
            # no longer changes: stop once several iterations change it only by rounding
            # (otherwise all _MAX_PIRLS iterations run at every evaluation).
            stalled = stalled + 1 if pdev - new_pdev <= _STALL_TOL * (1.0 + abs(pdev)) else 0
            pdev = new_pdev
            if step < _PIRLS_TOL * scale or (
                iterations >= _STALL_AFTER and stalled >= _STALL_COUNT
            ):
                converged = True
                break
        if not converged or observed:
            # Otherwise the last factor stands: its weights differ from those at the
            # modes by O(step) < 1e-10, below what the criterion can resolve.  The
            # Laplace criterion takes the Fisher weights (lme4), not Newton's.
            f = system.factor(lambdas, w)
        if f is None:
            return None
        self._u1, self._uR = u1, uR[:q]
        if joint:
            self._beta = cur_beta
        deviance = pdev - float(np.sum(u1**2) + np.sum(uR[:q] ** 2))
        return PirlsResult(u1, uR[:q], cur_beta, eta, mu, f, converged, iterations, deviance)

    # --- gradient in beta ----------------------------------------------------------------
    def _gradient_terms(
        self, eta: FloatArray, mu: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """The per-row terms of the Laplace gradient at ``eta`` (``mu``: its mean, when
        known): the score ``r``, the observed weights ``W~``, Fisher's weights ``w`` and
        their derivative ``dw / deta``; from the link's second derivative, or by
        differences for a link without one.  The in-memory and the chunked gradients
        both take them from here (the same arithmetic on the same rows)."""
        mu, dmu, w = self._weights(eta, mu)
        second = self._second_order(eta, mu, dmu, w)
        if second is not None:
            w_obs, dw = second
            return self._score(mu, dmu), w_obs, w, dw
        r, w_obs = self._score_terms(eta)
        h_eta = 1e-6 * np.maximum(1.0, np.abs(eta))
        dw = (self._weights(eta + h_eta)[2] - self._weights(eta - h_eta)[2]) / (2 * h_eta)
        return r, w_obs, w, dw

    def _score_terms(self, eta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``r = w (y - mu) / mu'`` (minus half the derivative of the deviance in eta) and
        ``W~ = -dr/deta`` (the observed weights; Fisher's for canonical links): from the
        link's second derivative where it has one, else by central differences."""
        mu, dmu, w = self._weights(eta)
        second = self._second_order(eta, mu, dmu, w)
        if second is not None:
            return self._score(mu, dmu), second[0]

        def r_of(e: FloatArray) -> FloatArray:
            mu = self.link.inverse(e)
            dmu = self.link.mu_eta(e)
            # (y - mu) * (dmu / V): no overflow while the score itself is finite.
            with np.errstate(over="ignore", invalid="ignore"):
                ratio = dmu / (self.family.variance(mu) * self.dispersion)
            return self.pw * (self.y - mu) * ratio

        h = 1e-6 * np.maximum(1.0, np.abs(eta))
        return r_of(eta), -(r_of(eta + h) - r_of(eta - h)) / (2 * h)

    def laplace_gradient(
        self, theta: FloatArray, beta: FloatArray | None
    ) -> tuple[float, FloatArray | None, FloatArray | None]:
        """The Laplace criterion and its exact gradient in ``theta`` and ``beta``.

        ``beta=None`` is the first stage (``beta`` updated inside PIRLS, lme4's
        ``nAGQ = 0``): the gradient is then the total derivative in ``theta`` with
        ``beta`` following its PIRLS value, and no ``beta`` gradient is returned.

        With ``F = log|Omega| + |u|^2 + dev(eta)`` at the modes (``Omega`` the Fisher
        system ``Lambda' Z' W Z Lambda + I``), the penalised deviance is stationary in
        the modes, so only its explicit dependence counts (``-2 r' dEta``); ``log|Omega|``
        moves with ``Lambda`` (``2 tr(Omega^-1 Lambda' Z' W Z dLambda)``) and with the
        weights at the moved modes (``sum_i h_i w'_i deta_i``, ``h`` the leverages).
        The modes move by the implicit function theorem with the observed-information
        system ``Omega~`` (Fisher's for canonical links):
        ``dx = Omega~^-1 (dLambda' Z' r - [Lambda Z, X]' W~ Z dLambda u)`` for
        ``theta``, and ``deta = X - Z Lambda Omega~^-1 Lambda' Z' W~ X`` for ``beta``.
        """
        joint = beta is None
        res = self.pirls(theta, beta)
        if res is None:
            return np.inf, None, None
        value = float(res.factor.logdet_re + res.ussq + self.minus2_loglik(res.mu, res.deviance))
        system = self.joint if joint else self.fixed
        q = self.fixed.q_rest
        lambdas = res.factor.lambdas
        eta = res.eta
        r, w_obs, w, dw = self._gradient_terms(eta, res.mu)
        sel = system.selected_inverse(res.factor)
        rows = system.row_vectors(lambdas)
        lev = system.row_bilinear(sel, rows, rows)
        canonical = np.allclose(w_obs, w, rtol=1e-6, atol=1e-12)
        f_obs = res.factor if canonical else system.factor(lambdas, w_obs)
        if f_obs is None:
            return value, None, None
        g_lev = dw * lev
        # Adjoint of the implicit-function step: with s = Omega~^-1 [Lambda Z, X]' g_lev
        # and v = [Z Lambda, X] s, g_lev' deta = g_lev' dEta0 + s' rhs, i.e. one solve
        # in all instead of one per parameter.
        s1, sR = system.solve(f_obs, *system.rhs(lambdas, np.ones(self.n), g_lev))
        v = system.random_part(lambdas, s1, sR[:q])
        if joint:
            v += self.X @ sR[q:]
        # theta: one parameter at a time (few), each vectorised over rows.
        g_theta = np.empty(self.n_theta)
        idx = self._theta_index
        for t_i, term in enumerate(self.terms):
            jac = term.structure.factor_jacobian(theta[idx[t_i] : idx[t_i + 1]])
            for j in range(jac.shape[0]):
                dl = [np.zeros_like(lam) for lam in lambdas]
                dl[t_i] = jac[j]
                zdu = system.random_part(dl, res.u1, res.uR)  # Z dLambda u
                zds = system.random_part(dl, s1, sR[:q])  # Z dLambda s
                trace = float(w @ system.row_bilinear(sel, rows, system.row_vectors(dl)))
                g_theta[idx[t_i] + j] = (
                    2.0 * trace + g_lev @ zdu + r @ zds - v @ (w_obs * zdu) - 2.0 * (r @ zdu)
                )
        if joint:
            return value, g_theta, None
        # beta: deta/dbeta = X - Z Lambda Omega~^-1 Lambda' Z' W~ X, so
        # g_lev' deta = X' g_lev - X' W~ v.
        g_beta = -2.0 * (self.X.T @ r) + self.X.T @ (g_lev - w_obs * v)
        return value, g_theta, g_beta

    # --- criteria ---------------------------------------------------------------------
    def minus2_loglik(self, mu: FloatArray, deviance: float | None = None) -> float:
        """``-2 sum log p(y | mu)`` (R's ``family()$aic`` without its parameter count).

        ``deviance`` (the scaled deviance at ``mu``, known after PIRLS) lets it add the
        cached constant instead of evaluating the log-density again.
        """
        cache = self._loglik_constant
        if cache is None or cache[0] is not self.family or cache[1] != self.dispersion:
            cache = (self.family, self.dispersion, self._constant_part(mu))
            self._loglik_constant = cache
        if cache[2] is None:
            return self._full_minus2_loglik(mu)
        dev = self._deviance(mu) if deviance is None else deviance
        return dev + cache[2]

    def _full_minus2_loglik(self, mu: FloatArray) -> float:
        loglik = self.family.loglik(self.y, mu, self.pw, dispersion=self.dispersion)
        return -2.0 * float(np.sum(loglik))

    def modes_minus2_loglik(self, modes: PirlsResult) -> float:
        """``-2 sum log p(y | mu)`` at the means of ``modes`` (a PIRLS result of this
        problem), with the problem's current family and dispersion: no PIRLS (the
        family-parameter fits evaluate it for many values of that parameter)."""
        return self._full_minus2_loglik(self.link.inverse(modes.eta))

    def fisher_fixed_effects_vcov(self, modes: PirlsResult) -> FloatArray | None:
        """``(X' V^-1 X)^-1`` at ``modes`` with Fisher's weights (the fast fit's vcov);
        ``None`` where the system cannot be factored."""
        f = self.joint.factor(modes.factor.lambdas, self._weights(modes.eta)[2])
        return self.joint.fixed_effects_vcov(f) if f is not None else None

    def _constant_part(self, mu: FloatArray) -> float | None:
        """``-2 log L - deviance``, if it does not depend on ``mu`` (checked at two)."""
        other = 0.5 * (mu + float(np.mean(mu)))
        c1 = self._full_minus2_loglik(mu) - self._deviance(mu)
        c2 = self._full_minus2_loglik(other) - self._deviance(other)
        scale = 1.0 + abs(c1) + abs(self._deviance(mu))
        return c1 if np.isfinite(c1) and abs(c1 - c2) <= 1e-11 * scale else None

    def laplace(self, theta: FloatArray, beta: FloatArray | None = None) -> float:
        """Laplace approximation of ``-2 log L`` at ``theta`` (and ``beta``)."""
        res = self.pirls(theta, beta)
        if res is None:
            return np.inf
        logdet = res.factor.logdet_re
        if self.observed_information:
            # log|Lambda' Z' W~ Z Lambda + I| with the observed weights (the exact
            # Hessian of the joint log-density at the modes), as glmmTMB/TMB.
            f = self.fixed.factor(res.factor.lambdas, self._score_terms(res.eta)[1])
            if f is None:
                return np.inf
            logdet = f.logdet_re
        return logdet + res.ussq + self.minus2_loglik(res.mu, res.deviance)

    def agq(self, theta: FloatArray, beta: FloatArray, nagq: int) -> float:
        """Adaptive Gauss-Hermite approximation of lme4's ``-2 log L`` (deviance
        residuals, i.e. relative to the saturated model), one scalar term only."""
        res = self.pirls(theta, beta)
        if res is None:
            return np.inf
        term = self.terms[0]
        lam = float(res.factor.lambdas[0][0, 0])
        # Conditional SD of each level's spherical effect at the mode.
        T = 1.0 / res.factor.Tinv[:, 0, 0]
        sd = 1.0 / np.sqrt(T)
        nodes, weights = hermegauss(nagq)
        weights = weights / np.sqrt(2.0 * np.pi)
        u_hat = res.u1[:, 0]
        # eta at each node: move only this level's effect by sd * z.
        shift = (term.Z[:, 0] * lam * sd[term.codes])[:, None] * nodes[None, :]
        eta = res.eta[:, None] + shift
        mu = self.link.inverse(eta)
        dev = self.pw[:, None] * self.family.unit_deviance(self.y[:, None], mu)
        n1 = term.n_levels
        D = np.zeros((n1, nagq))
        for k in range(nagq):  # a loop over nodes (<= 25), not over rows or levels
            D[:, k] = np.bincount(term.codes, dev[:, k], n1)
        u = u_hat[:, None] + sd[:, None] * nodes[None, :]
        expo = -0.5 * (u**2 + D - nodes[None, :] ** 2) + np.log(weights)[None, :]
        top = expo.max(axis=1)
        log_sum = top + np.log(np.exp(expo - top[:, None]).sum(axis=1))
        return float(np.sum(np.log(T)) - 2.0 * np.sum(log_sum))
