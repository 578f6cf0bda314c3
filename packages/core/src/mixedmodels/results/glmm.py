"""The fitted generalized linear mixed model.

It has the interface of :class:`~mixedmodels.results.LMMResult`; the accessors that do
not depend on the response distribution (random effects, coefficients, prediction of
the linear predictor) are the very same functions.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError
from ..generalized.criterion import GLMMProblem, PirlsResult
from ..generalized.family_parameter import fit_glmm_dispersion, fit_glmm_nb
from ..generalized.fit import GLMMFit, fit_glmm
from ..interfaces import FloatArray
from ..model import Model
from ..numerics.optimize import OptimizerSummary
from ..output.report import Summary
from .lmm import LMMResult, check_nsim, singular_fit
from .refit import with_response

__all__ = ["GLMMResult"]


def _shared(member: Any) -> Any:
    """A member of LMMResult reused as is: it reads only attributes both results have
    (model, theta, sigma, _beta, _u, _lambdas, _condvar, vcov, loglik, df, nobs)."""
    return member


class GLMMResult:
    """A GLMM fitted by the Laplace approximation, adaptive quadrature or the fast mode.

    ``loglik`` is lme4's: the Laplace approximation of the log-likelihood; for adaptive
    quadrature (``nagq > 1``) lme4 integrates deviance residuals, so that log-likelihood
    is relative to the saturated model (not comparable with the Laplace one).
    """

    def __init__(
        self,
        model: Model,
        problem: GLMMProblem,
        theta: FloatArray,
        beta: FloatArray,
        minus2loglik: float,
        nagq: int,
        vcov: FloatArray | None,
        optimizer: OptimizerSummary,
        converged: bool,
        messages: list[str],
        modes: PirlsResult | None = None,
    ) -> None:
        self.model = model
        self._problem = problem
        self.theta = np.asarray(theta, dtype=np.float64)
        self._beta = np.asarray(beta, dtype=np.float64)
        self.minus2loglik = float(minus2loglik)
        self.nagq = nagq
        self.method = {0: "fast (nAGQ = 0)", 1: "Laplace"}.get(nagq, f"adaptive GHQ ({nagq})")
        self.optimizer = optimizer
        self.converged = converged
        self.messages = list(messages)
        self.family = problem.family
        self.link = problem.link
        self.nb_size: float | None = None
        #: Estimated dispersion (families that have one), else None.
        self.dispersion: float | None = None
        self.family_parameter: float | None = None
        # The random effects are on the absolute scale: no residual scaling.
        self.sigma = 1.0
        self.reml = False
        # PIRLS at the estimates (the fitter's, where it ran it).
        res = modes if modes is not None else problem.pirls(self.theta, self._beta)
        if res is None:
            raise problem.pirls_failure("at the estimates", self.theta)
        self._modes = res
        self._u = [res.u1] + [
            res.uR[off : off + t.n_levels * t.dim].reshape(t.n_levels, t.dim)
            for t, off in zip(model.terms[1:], problem.fixed.rest_offsets, strict=False)
        ]
        self._vcov = vcov
        self.singular = singular_fit(
            model.structures, problem, self.theta, self._split_theta, self.messages
        )

    @classmethod
    def from_fit(cls, fit: GLMMFit) -> GLMMResult:
        """The result of a fit's state (:mod:`mixedmodels.generalized.fit`)."""
        result = cls(
            fit.model,
            fit.problem,
            fit.theta,
            fit.beta,
            fit.minus2loglik,
            nagq=fit.nagq,
            vcov=fit.vcov,
            optimizer=fit.optimizer,
            converged=fit.converged,
            messages=fit.messages,
            modes=fit.modes,
        )
        result.nb_size = fit.nb_size
        result.dispersion = fit.dispersion
        result.family_parameter = fit.family_parameter
        return result

    # --- refits ---------------------------------------------------------------------------
    def refit(self, newresp: Any, check: bool = False) -> GLMMResult:
        """The same model fitted again, by the same method, to the response ``newresp``
        (lme4's ``refit(fit, newresp)``).

        The optimisation starts from the fitted theta (values on a zero bound moved to
        0.05); an estimated negative binomial size or dispersion is estimated again.  A
        fast (nAGQ = 0) fit is refitted by the Laplace approximation.

        Parameters
        ----------
        newresp
            The new response (for a binomial ``cbind`` response, the proportions of
            successes), one value per observation used in the fit.
        check
            Run the convergence check (off by default: refits are usually many).
        """
        model = with_response(self.model, newresp)
        if self.nb_size is not None:
            return self.from_fit(fit_glmm_nb(model, nagq=int(self.nagq), check=check))
        if self.dispersion is not None:
            return self.from_fit(fit_glmm_dispersion(model, check=check))
        return self.from_fit(
            fit_glmm(model, nagq=max(int(self.nagq), 1), check=check, start=self.theta)
        )

    def refit_ml(self) -> GLMMResult:
        """This result: a GLMM is fitted by maximum likelihood (lme4's ``refitML``)."""
        return self

    def _split_theta(self, theta: FloatArray | None = None) -> list[FloatArray]:
        idx = self._problem._theta_index
        theta = self.theta if theta is None else theta
        return [theta[idx[i] : idx[i + 1]] for i in range(len(self.model.terms))]

    def _lambdas(self) -> list[FloatArray]:
        return self._modes.factor.lambdas

    # --- sizes and fixed effects -------------------------------------------------------
    @property
    def nobs(self) -> int:
        return self._problem.n

    ngrps: Any = _shared(LMMResult.ngrps)

    n_theta: Any = _shared(LMMResult.n_theta)

    @property
    def df(self) -> int:
        """Number of estimated parameters (fixed effects, theta, and an estimated NB size
        or dispersion)."""
        extra = (self.nb_size is not None) + (self.dispersion is not None)
        return self._problem.p + self.n_theta + extra

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self._beta, index=self.model.fixef_names, name="estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed effects (from the Hessian of the criterion)."""
        names = self.model.fixef_names
        v = self._vcov if self._vcov is not None else np.full((len(names),) * 2, np.nan)
        return pd.DataFrame(v, index=names, columns=names)

    fixef_se: Any = _shared(LMMResult.fixef_se)

    # --- variance components and random effects -------------------------------------
    covariance_matrices: Any = _shared(LMMResult.covariance_matrices)
    structure_parameters: Any = _shared(LMMResult.structure_parameters)

    def varcorr(self) -> pd.DataFrame:
        """Variance components as ``as.data.frame(VarCorr(fit))``: no residual row for
        families without a dispersion parameter, as lme4."""
        table = _shared(LMMResult.varcorr)(self)
        return table[table["grp"] != "Residual"].reset_index(drop=True)

    _b: Any = _shared(LMMResult._b)
    ranef: Any = _shared(LMMResult.ranef)
    coef: Any = _shared(LMMResult.coef)
    _random_part: Any = _shared(LMMResult._random_part)
    _terms_in: Any = _shared(LMMResult._terms_in)

    @cached_property
    def _condvar(self) -> list[FloatArray]:
        return self._problem.fixed.conditional_variances(self._modes.factor)

    # --- likelihood ---------------------------------------------------------------------
    @property
    def loglik(self) -> float:
        return -0.5 * self.minus2loglik

    aic: Any = _shared(LMMResult.aic)
    bic: Any = _shared(LMMResult.bic)
    reml_criterion = None

    @property
    def deviance(self) -> float:
        """lme4's ``deviance()`` of a GLMM: the sum of squared deviance residuals."""
        return float(np.sum(self.residuals(type="deviance").to_numpy() ** 2))

    def deviance_function(self) -> Callable[[FloatArray], float]:
        """``-2 log L`` as a function of ``(theta, beta)`` (lme4's ``getME(fit,
        "devfun")`` after the second stage): the Laplace approximation, or adaptive
        Gauss-Hermite quadrature with the fit's ``nagq``; the random effects' modes are
        found by PIRLS at each point, starting from the modes at the estimates (so
        calls do not depend on each other, nor change the fit)."""
        problem, k, nagq = self._problem, self.theta.size, max(int(self.nagq), 1)
        modes = self._modes

        def devfun(x: FloatArray) -> float:
            x = np.asarray(x, dtype=np.float64)
            problem.warm_start(modes)
            if nagq > 1:
                return float(problem.agq(x[:k], x[k:], nagq))
            return float(problem.laplace(x[:k], x[k:]))

        return devfun

    @property
    def response(self) -> FloatArray:
        """The response as fitted: a proportion for binomial data given as successes
        and failures (or with ``weights=``), else the response column."""
        return np.asarray(self._problem.y, dtype=np.float64)

    @property
    def prior_weights(self) -> FloatArray:
        """Prior weights as fitted (lme4's ``weights(fit)``): the number of trials for
        binomial data given as successes and failures, times any ``weights=``."""
        return np.asarray(self._problem.pw, dtype=np.float64)

    # --- fitted values, residuals, prediction -------------------------------------------
    def fitted(self) -> pd.Series:
        """Fitted means (response scale), conditional on the random effects."""
        return pd.Series(self._modes.mu, index=self.model.design.row_index, name="fitted")

    def linear_predictor(self) -> pd.Series:
        """The linear predictor, conditional on the random effects."""
        return pd.Series(self._modes.eta, index=self.model.design.row_index, name="eta")

    def residuals(self, type: str = "deviance") -> pd.Series:
        """Residuals of type ``"deviance"`` (default, as lme4), ``"pearson"``,
        ``"response"`` or ``"working"``."""
        P = self._problem
        y, mu, eta = P.y, self._modes.mu, self._modes.eta
        if type == "response":
            r = y - mu
        elif type == "pearson":
            r = (y - mu) * np.sqrt(P.pw / self.family.variance(mu))
        elif type == "deviance":
            r = self.family.deviance_residuals(y, mu, P.pw)
        elif type == "working":
            r = (y - mu) / self.link.mu_eta(eta)
        else:
            raise ModelSpecificationError(
                f"unknown residual type {type!r}; use 'deviance', 'pearson', 'response' "
                "or 'working'"
            )
        return pd.Series(r, index=self.model.design.row_index, name="residuals")

    _prediction_design: Any = _shared(LMMResult._prediction_design)
    _predict: Any = _shared(LMMResult._predict)
    _simulated_eta: Any = _shared(LMMResult._simulated_eta)

    def predict(
        self,
        newdata: Any = None,
        re_form: str | None = None,
        allow_new_levels: bool = False,
        type: str = "link",
        se_fit: bool = False,
        interval: str | None = None,
        level: float = 0.95,
        method: str = "wald",
        nsim: int = 500,
        seed: Any = None,
    ) -> Any:
        """Predictions on the ``"link"`` (default, as lme4) or ``"response"`` scale;
        ``re_form``, ``allow_new_levels``, ``se_fit``, ``interval="confidence"``,
        ``level``, ``method`` (``"wald"`` or ``"bootstrap"``), ``nsim`` and ``seed`` as
        for :meth:`LMMResult.predict` (the conditional standard errors use the PIRLS
        weights at the modes, the Laplace approximation).  On the response scale the
        standard errors are the delta method's and the intervals are the link-scale
        intervals back-transformed, as R's ``predict.glm``.  Prediction intervals are
        for linear mixed models only."""
        if type not in ("link", "response"):
            raise ModelSpecificationError(
                f"unknown prediction type {type!r}; use 'link' or 'response'"
            )
        eta = self._predict(
            newdata, re_form, allow_new_levels, se_fit, interval, level, type, method, nsim, seed
        )
        if type == "link" or se_fit or interval not in (None, "none"):
            return eta
        return pd.Series(self.link.inverse(eta.to_numpy()), index=eta.index, name="prediction")

    def simulate(self, nsim: int = 1, seed: Any = None, re_form: str | None = "NA") -> pd.DataFrame:
        """Simulate responses: random effects, then the family (lme4's ``simulate``).

        Binomial responses are proportions of the prior weights (trials), as R's
        ``family()$simulate``.

        Parameters
        ----------
        nsim
            Number of simulated responses.
        seed
            Seed (or :class:`numpy.random.Generator`) of the random numbers.
        re_form
            ``"NA"`` or ``"~0"`` (default): new random effects for every term
            (unconditional, lme4's ``re.form = NA``); ``None``: the conditional modes of
            all terms (lme4's ``re.form = NULL``); a formula such as ``"~(1|herd)"``:
            the modes of those grouping factors, new draws for the others.

        Returns
        -------
        pandas.DataFrame
            Columns ``sim_1`` ... ``sim_<nsim>``, indexed like the data.
        """
        nsim = check_nsim(nsim)
        rng = np.random.default_rng(seed)
        m = self.model
        # All simulations at once: (n, nsim) linear predictors, one family draw.
        eta = self._simulated_eta(re_form, rng, nsim)
        pw = self._problem.pw
        sims = self.family.simulate(
            self.link.inverse(eta),
            rng,
            None if pw is None else np.reshape(pw, (-1, 1)),
            dispersion=self.dispersion or 1.0,
        )
        return pd.DataFrame(
            np.asarray(sims, dtype=np.float64),
            index=m.design.row_index,
            columns=[f"sim_{i + 1}" for i in range(nsim)],
        )

    # --- inference ------------------------------------------------------------------------
    confint: Any = _shared(LMMResult.confint)

    # --- reporting ----------------------------------------------------------------------
    def summary(self) -> Summary:
        """glmer-style text summary (a :class:`str`; HTML in notebooks)."""
        from ..output.glmm_summary import format_glmm_summary

        return Summary(format_glmm_summary(self), self)

    _repr_html_: Any = _shared(LMMResult._repr_html_)

    def __repr__(self) -> str:
        return (
            f"<GLMMResult {self.method} {self.family.name}({self.link.name}): "
            f"{self.model.formula}, n={self.nobs}, logLik={self.loglik:.4f}"
            f"{'' if self.converged else ', NOT CONVERGED'}{', singular' if self.singular else ''}>"
        )

    __str__: Any = _shared(LMMResult.__str__)
