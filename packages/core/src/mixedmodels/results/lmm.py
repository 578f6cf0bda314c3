"""The fitted linear mixed model."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError
from ..interfaces import FloatArray
from ..linear.criterion import Evaluation
from ..linear.fit import LMMFit, conditional_fitted, fit_lmm
from ..linear.interface import ProfiledCriterion
from ..model import Model
from ..numerics.optimize import OptimizerSummary
from ..output.report import Summary
from .refit import refit_start, with_response

__all__ = ["LMMResult"]


def check_nsim(nsim: Any) -> int:
    """The number of simulations, a positive integer, or a clear error."""
    if isinstance(nsim, bool) or not isinstance(nsim, int | np.integer) or nsim < 1:
        raise ModelSpecificationError(f"nsim must be a positive integer, got {nsim!r}")
    return int(nsim)


def singular_fit(
    structures: Any,
    problem: Any,
    theta: FloatArray,
    split: Callable[[FloatArray], list[FloatArray]],
    messages: list[str],
) -> bool:
    """Whether a fit is singular (a structure's parameters on the boundary), judged on
    the standardised theta where the fit has one (decision 0014); says so in
    ``messages``."""
    boundary = getattr(problem, "boundary_theta", lambda th: th)(theta)
    singular = any(s.is_boundary(th) for s, th in zip(structures, split(boundary), strict=True))
    if singular:
        messages.append("boundary (singular) fit: a variance is (near) zero")
    return singular


class LMMResult:
    """A linear mixed model fitted by REML or ML.

    Most attributes mirror lme4's accessors: :attr:`fixef`, :attr:`vcov`,
    :meth:`varcorr`, :meth:`ranef`, :meth:`coef`, :meth:`fitted`, :meth:`residuals`,
    :meth:`predict`, :meth:`simulate`, :attr:`loglik`, :attr:`aic`, :attr:`bic`,
    :attr:`deviance`, :meth:`summary`.
    """

    def __init__(
        self,
        model: Model,
        problem: ProfiledCriterion,
        evaluation: Evaluation,
        reml: bool,
        optimizer: OptimizerSummary,
        converged: bool,
        messages: list[str],
    ) -> None:
        self.model = model
        self._problem = problem
        self._ev = evaluation
        self.reml = reml
        self.method = "REML" if reml else "ML"
        self.optimizer = optimizer
        self.converged = converged
        self.messages = list(messages)
        self.theta = np.asarray(evaluation.theta, dtype=np.float64)
        n, p = problem.n, problem.p
        self.sigma = float(np.sqrt(evaluation.pwrss / (n - p if reml else n)))
        beta, us, _ = problem.solve(evaluation)
        self._beta = beta
        self._u = us
        self.singular = singular_fit(
            model.structures, problem, self.theta, problem.split_theta, self.messages
        )

    @classmethod
    def from_fit(cls, fit: LMMFit) -> LMMResult:
        """The result of a fit's state (:func:`mixedmodels.linear.fit.fit_lmm`)."""
        return cls(
            model=fit.model,
            problem=fit.problem,
            evaluation=fit.evaluation,
            reml=fit.reml,
            optimizer=fit.optimizer,
            converged=fit.converged,
            messages=fit.messages,
        )

    # --- refits ---------------------------------------------------------------------
    def refit(self, newresp: Any, check: bool = False) -> LMMResult:
        """The same model fitted again, by the same method, to the response ``newresp``
        (lme4's ``refit(fit, newresp)``).

        As lme4's, the optimisation starts from the fitted parameters (those on a zero
        bound moved to 0.05, where the criterion is not flat).

        Parameters
        ----------
        newresp
            The new response, one value per observation used in the fit.
        check
            Run the convergence check (off by default: refits are usually many).
        """
        start = refit_start(self.model, self.theta, self._problem)
        model = with_response(self.model, newresp)
        return self.from_fit(fit_lmm(model, reml=bool(self.reml), start=start, check=check))

    def refit_ml(self) -> LMMResult:
        """The maximum-likelihood fit of the same model (lme4's ``refitML``): this result
        itself if it is one, else the model fitted again by ML."""
        if not self.reml:
            return self
        return self.from_fit(fit_lmm(self.model, reml=False))

    # --- sizes ----------------------------------------------------------------------
    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return self._problem.n

    @property
    def ngrps(self) -> dict[str, int]:
        """Number of levels per grouping factor (lme4's ngrps)."""
        return {t.group_name: t.n_levels for t in self.model.terms}

    @property
    def n_theta(self) -> int:
        return int(self.theta.size)

    @property
    def df(self) -> int:
        """Number of estimated parameters (fixed effects, theta, residual SD)."""
        return self._problem.p + self.n_theta + 1

    # --- fixed effects --------------------------------------------------------------
    @property
    def fixef(self) -> pd.Series:
        """Fixed-effect estimates, named as in R."""
        return pd.Series(self._beta, index=self.model.fixef_names, name="estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates."""
        v = self.sigma**2 * self._problem.vcov_unscaled(self._ev)
        names = self.model.fixef_names
        return pd.DataFrame(v, index=names, columns=names)

    @property
    def fixef_se(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.model.fixef_names)

    # --- variance components --------------------------------------------------------
    def _lambdas(self) -> list[FloatArray]:
        return self._ev.lambdas

    def covariance_matrices(self) -> dict[str, pd.DataFrame]:
        """Covariance matrix of each random-effect term (lme4's VarCorr), by group."""
        out = {}
        for t, name, lam in zip(
            self.model.terms, self.model.group_names, self._lambdas(), strict=True
        ):
            cov = self.sigma**2 * (lam @ lam.T)
            out[name] = pd.DataFrame(cov, index=t.column_names, columns=t.column_names)
        return out

    def varcorr(self) -> pd.DataFrame:
        """Variance components as lme4's ``as.data.frame(VarCorr(fit))``.

        Columns ``grp``, ``var1``, ``var2``, ``vcov`` and ``sdcor``: one row per
        variance (``var2`` missing, ``sdcor`` the SD), one per correlation (``sdcor``
        the correlation), and a final ``Residual`` row.
        """
        rows: list[dict[str, Any]] = []
        for name, cov in self.covariance_matrices().items():
            c = cov.to_numpy()
            sd = np.sqrt(np.diag(c))
            cols = list(cov.columns)
            for i, ci in enumerate(cols):
                rows.append(
                    {"grp": name, "var1": ci, "var2": None, "vcov": c[i, i], "sdcor": sd[i]}
                )
            for j in range(len(cols)):
                for i in range(j + 1, len(cols)):
                    denom = sd[i] * sd[j]
                    corr = c[i, j] / denom if denom > 0 else np.nan
                    rows.append(
                        {
                            "grp": name,
                            "var1": cols[j],
                            "var2": cols[i],
                            "vcov": c[i, j],
                            "sdcor": corr,
                        }
                    )
        rows.append(
            {
                "grp": "Residual",
                "var1": None,
                "var2": None,
                "vcov": self.sigma**2,
                "sdcor": self.sigma,
            }
        )
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def structure_parameters(self, conf_int: bool = True, level: float = 0.95) -> pd.DataFrame:
        """Covariance-structure parameters in each structure's own parameterisation
        (``ar1``: SD and ``phi``; ``cs``: SDs and ``rho``; residual correlation and
        variance-function parameters as nlme reports them; the residual SD), with Wald
        intervals as nlme's ``intervals()``; see
        :func:`mixedmodels.inference.parameters.structure_parameters`."""
        from ..inference.parameters import structure_parameters

        return structure_parameters(self, conf_int=conf_int, level=level)

    # --- likelihood -----------------------------------------------------------------
    @property
    def reml_criterion(self) -> float | None:
        """The REML criterion at the optimum (``None`` for ML fits)."""
        return self._ev.objective if self.reml else None

    @property
    def loglik(self) -> float:
        """Log-likelihood (the restricted one for REML fits), as lme4's logLik."""
        return -0.5 * self._ev.objective

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.df

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.df

    @cached_property
    def deviance(self) -> float:
        """ML deviance (-2 log-likelihood) at the estimates; for REML fits, at the REML
        estimates (what lme4 reports as ``deviance(fit, REML = FALSE)``)."""
        if not self.reml:
            return self._ev.objective
        return self._problem.objective(self.theta, reml=False)

    def deviance_function(self) -> Callable[[FloatArray], float]:
        """The criterion the fit minimised, as a function of its parameters (lme4's
        ``getME(fit, "devfun")``): the REML criterion (REML fits) or the ML deviance of
        ``theta`` (followed by the residual structure's parameters, if any), with the
        fixed effects and the residual scale profiled out."""
        problem, reml = self._problem, self.reml
        return lambda params: float(problem.objective(np.asarray(params, float), reml))

    # --- random effects -------------------------------------------------------------
    def _b(self) -> list[FloatArray]:
        """Conditional modes per term, ``(n_levels, dim)``."""
        return [u @ lam.T for u, lam in zip(self._u, self._lambdas(), strict=True)]

    @cached_property
    def _condvar(self) -> list[FloatArray]:
        blocks = self._problem.conditional_variances(self._ev)
        return [self.sigma**2 * b for b in blocks]

    def ranef(self, condvar: bool = False) -> Any:
        """Conditional modes of the random effects.

        Parameters
        ----------
        condvar
            If false (default), a dict mapping each grouping factor to a DataFrame
            (levels x terms), as lme4's ``ranef``.  If true, a long DataFrame as lme4's
            ``as.data.frame(ranef(fit, condVar = TRUE))`` with columns ``grpvar``,
            ``term``, ``grp``, ``condval`` and ``condsd``.
        """
        terms = self.model.terms
        bs = self._b()
        if not condvar:
            out: dict[str, pd.DataFrame] = {}
            for t, b in zip(terms, bs, strict=True):
                frame = pd.DataFrame(
                    b, index=pd.Index(t.levels, name=t.group_name), columns=t.column_names
                )
                if t.group_name in out:  # `||` terms share their group, as in lme4
                    out[t.group_name] = out[t.group_name].join(frame)
                else:
                    out[t.group_name] = frame
            return out
        frames = []
        for t, b, cv in zip(terms, bs, self._condvar, strict=True):
            sd = np.sqrt(np.maximum(np.einsum("nii->ni", cv), 0.0))
            for k, col in enumerate(t.column_names):
                frames.append(
                    pd.DataFrame(
                        {
                            "grpvar": t.group_name,
                            "term": col,
                            "grp": t.levels,
                            "condval": b[:, k],
                            "condsd": sd[:, k],
                        }
                    )
                )
        return pd.concat(frames, ignore_index=True)

    def coef(self) -> dict[str, pd.DataFrame]:
        """Fixed plus random effects per level of each grouping factor (lme4's coef)."""
        fe = self.fixef
        out = {}
        for group, re in self.ranef().items():
            frame = pd.DataFrame(
                np.tile(fe.to_numpy(), (len(re), 1)), index=re.index, columns=fe.index
            )
            for col in re.columns:
                if col in frame.columns:
                    frame[col] = frame[col] + re[col]
                else:
                    frame[col] = re[col]
            out[group] = frame
        return out

    # --- fitted values, residuals, prediction ---------------------------------------
    def _random_part(
        self, Zs: list[FloatArray], codes: list[np.ndarray], include: list[bool] | None = None
    ) -> FloatArray:
        """Sum of ``Z_k b_k`` over the included terms; unseen levels (code -1) add 0."""
        n = Zs[0].shape[0] if Zs else 0
        total = np.zeros(n)
        use = include if include is not None else [True] * len(Zs)
        for Z, c, b, on in zip(Zs, codes, self._b(), use, strict=True):
            if not on:
                continue
            known = c >= 0
            contrib = np.zeros(n)
            contrib[known] = np.einsum("ij,ij->i", Z[known], b[c[known]])
            total += contrib
        return total

    @cached_property
    def _fitted(self) -> FloatArray:
        return conditional_fitted(self.model, self._beta, self._u, self._lambdas())

    def fitted(self) -> pd.Series:
        """Fitted values conditional on the random effects, indexed like the data."""
        return pd.Series(self._fitted, index=self.model.design.row_index, name="fitted")

    def residuals(self, type: str = "response", scaled: bool = False) -> pd.Series:
        """Residuals: ``"response"`` (y - fitted) or ``"pearson"`` (times the square
        root of the prior weight), divided by sigma if ``scaled``.  With a residual
        structure, ``"pearson"`` divides by each observation's SD multiplier and
        ``"normalized"`` also decorrelates within groups (nlme's residual types)."""
        r = self.model.response - self._fitted
        if self._problem.residual is not None:
            from ..inference.parameters import structured_residuals

            r = structured_residuals(self, r, type)
        elif type in ("pearson", "normalized"):
            if self.model.weights is not None:
                r = r * np.sqrt(self.model.weights)
        elif type != "response":
            raise ModelSpecificationError(
                f"unknown residual type {type!r}; use 'response', 'pearson' or 'normalized'"
            )
        if scaled:
            r = r / self.sigma
        return pd.Series(r, index=self.model.design.row_index, name="residuals")

    def predict(
        self,
        newdata: Any = None,
        re_form: str | None = None,
        allow_new_levels: bool = False,
        se_fit: bool = False,
        interval: str | None = None,
        level: float = 0.95,
        method: str = "wald",
        nsim: int = 500,
        seed: Any = None,
    ) -> Any:
        """Predictions, with standard errors and intervals on request.

        Parameters
        ----------
        newdata
            Data to predict for (default: the fitted data).
        re_form
            ``None`` includes every random effect; ``"~0"`` (or ``"NA"``) none, i.e.
            population-level predictions; a formula of bar terms, e.g.
            ``"~(1 | Subject)"``, those terms only (matched by grouping factor).
        allow_new_levels
            Predict for levels not seen in fitting with their random effects at zero
            (the population mean) instead of raising.
        se_fit
            Add the standard errors (column ``se.fit``).
        interval
            ``None`` / ``"none"``, ``"confidence"`` (for the mean prediction) or
            ``"prediction"`` (for a new observation), as R's ``predict.lm``; columns
            ``lwr`` and ``upr``.
        level
            Coverage of the intervals.
        method
            ``"wald"`` (default): normal intervals from the standard errors, which
            account for: population-level predictions (``re_form="NA"``): the fixed
            effects' uncertainty, ``x' V x`` (a hand computation with lme4's ``vcov``;
            glmmTMB's ``se.fit`` with ``re.form = NA``); conditional predictions: the
            prediction error variance of ``x' beta + z' b`` from the mixed-model
            equations (Henderson), the covariance parameters taken as known;
            ``"prediction"`` adds the residual variance and, for random-effect terms
            left out (or new levels), a new group's random-effect variance.
            ``"bootstrap"``: percentile confidence intervals (and SDs for ``se.fit``)
            of the predictions of ``nsim`` parametric-bootstrap refits (lme4's
            ``bootMer`` with ``predict``), which carry the covariance parameters'
            uncertainty too.
        nsim, seed
            Bootstrap replicates and seed.

        Returns
        -------
        pandas.Series or pandas.DataFrame
            The predictions (a Series) or, with ``se_fit`` or ``interval``, a frame with
            ``fit``, ``se.fit``, ``lwr``, ``upr``.
        """
        return self._predict(
            newdata, re_form, allow_new_levels, se_fit, interval, level, "link", method, nsim, seed
        )

    def _predict(
        self,
        newdata: Any,
        re_form: str | None,
        allow_new_levels: bool,
        se_fit: bool,
        interval: str | None,
        level: float,
        type: str,
        method: str,
        nsim: int,
        seed: Any,
    ) -> Any:
        """:meth:`predict`'s table when ``se_fit`` or an interval is asked for (on the
        ``type`` scale), else the linear predictor (a Series)."""
        design = self._prediction_design(newdata, re_form, allow_new_levels)
        if se_fit or interval not in (None, "none"):
            from ..inference.prediction import prediction_table

            return prediction_table(
                self,
                design,
                newdata,
                re_form,
                allow_new_levels,
                se_fit,
                interval,
                level,
                type,
                method,
                nsim,
                seed,
            )
        X, offset, Zs, codes, index, include = design
        eta = X @ self._beta
        if offset is not None:
            eta = eta + offset
        if any(include):
            eta = eta + self._random_part(Zs, codes, include)
        return pd.Series(eta, index=index, name="prediction")

    def _prediction_design(
        self, newdata: Any, re_form: str | None, allow_new_levels: bool
    ) -> tuple[FloatArray, Any, list[FloatArray], list[Any], Any, list[bool]]:
        """Fixed-effects rows, offset, random-effect rows and codes, index and the terms
        included, for the fitted data or ``newdata``."""
        from ..design.data import as_pandas

        m = self.model
        include = self._terms_in(re_form)
        if newdata is None:
            X, offset = m.X, m.offset
            Zs = [t.Z for t in m.terms]
            codes = [t.codes for t in m.terms]
            index = m.design.row_index
        else:
            frame = as_pandas(newdata)
            Xfull = m.design.fixed_matrix(frame)
            keep = [m.design.fixef_names.index(c) for c in m.fixef_names]
            X = Xfull[:, keep]
            offset = m.design.offset_for(frame)
            pairs = m.design.random_matrices(frame)
            ordered = [pairs[m.design.terms.index(t)] for t in m.terms]
            Zs = [z for z, _ in ordered]
            codes = [c for _, c in ordered]
            index = frame.index
            for t, c, use in zip(m.terms, codes, include, strict=True):
                if use and not allow_new_levels and np.any(c < 0):
                    raise ModelSpecificationError(
                        f"newdata has {int(np.sum(c < 0))} rows with levels of "
                        f"{t.group_name!r} not seen in fitting; pass allow_new_levels=True "
                        "to predict them at the population level"
                    )
        return X, offset, Zs, codes, index, include

    def _terms_in(self, re_form: str | None) -> list[bool]:
        terms = self.model.terms
        if re_form is None:
            return [True] * len(terms)
        text = re_form.replace(" ", "")
        if text in {"~0", "NA", "~1", "0"}:
            return [False] * len(terms)
        from ..formula.parse import parse_formula

        parsed = parse_formula("y " + re_form if re_form.strip().startswith("~") else re_form)
        groups = {b.group for b in parsed.random_terms}
        unknown = groups - {t.group_name for t in terms}
        if unknown:
            raise ModelSpecificationError(
                f"re_form names grouping factors not in the model: {sorted(unknown)}"
            )
        return [t.group_name in groups for t in terms]

    def simulate(self, nsim: int = 1, seed: Any = None, re_form: str | None = "NA") -> pd.DataFrame:
        """Simulate responses from the fitted model (lme4's ``simulate``).

        Parameters
        ----------
        nsim
            Number of simulated responses.
        seed
            Seed (or :class:`numpy.random.Generator`) of the random numbers.
        re_form
            Which random effects are held at their conditional modes, as lme4's
            ``re.form`` and :meth:`predict`'s ``re_form``: ``"NA"`` or ``"~0"``
            (default) draws new random effects for every term (unconditional, lme4's
            default ``re.form = NA``); ``None`` conditions on all of them (lme4's
            ``re.form = NULL``: only new residuals); a formula such as
            ``"~(1|Subject)"`` conditions on the terms of those grouping factors and
            draws the others anew.

        Returns
        -------
        pandas.DataFrame
            Columns ``sim_1`` ... ``sim_<nsim>``, indexed like the data, as lme4.
        """
        nsim = check_nsim(nsim)
        rng = np.random.default_rng(seed)
        m = self.model
        n = self.nobs
        sims = self._simulated_eta(re_form, rng, nsim)
        if self._problem.residual is not None:
            from ..inference.parameters import residual_noise

            sims += self.sigma * residual_noise(self, rng, nsim)
        else:
            noise_sd = self.sigma / (np.sqrt(m.weights) if m.weights is not None else 1.0)
            sims += rng.standard_normal((n, nsim)) * np.reshape(noise_sd, (-1, 1))
        return pd.DataFrame(
            sims, index=m.design.row_index, columns=[f"sim_{i + 1}" for i in range(nsim)]
        )

    def _simulated_eta(
        self, re_form: str | None, rng: np.random.Generator, nsim: int
    ) -> FloatArray:
        """``nsim`` columns of linear predictors: the fixed part, the conditional modes of
        the terms ``re_form`` holds and new random effects (``sigma`` times the relative
        ones) for the others."""
        m = self.model
        keep = self._terms_in(re_form)
        mu = m.X @ self._beta
        if m.offset is not None:
            mu = mu + m.offset
        if any(keep):
            # Held terms contribute their conditional modes, the same in every column.
            mu = mu + self._random_part([t.Z for t in m.terms], [t.codes for t in m.terms], keep)
        eta = np.repeat(mu[:, None], nsim, axis=1)
        for t, lam, held in zip(m.terms, self._lambdas(), keep, strict=True):
            if held:
                continue
            u = rng.standard_normal((t.n_levels, t.dim, nsim))
            b = np.einsum("ij,njs->nis", lam, u) * self.sigma
            if t.dim == 1:
                eta += t.Z[:, :1] * b[t.codes, 0, :]
            else:
                eta += np.einsum("nj,njs->ns", t.Z, b[t.codes])
        return eta

    # --- inference ------------------------------------------------------------------
    def confint(
        self,
        parm: Any = None,
        level: float = 0.95,
        method: str = "profile",
        nsim: int = 500,
        seed: int | None = None,
        boot_type: str = "perc",
        n_jobs: int = 1,
        progress: Any = True,
    ) -> pd.DataFrame:
        """Confidence intervals for the variance parameters and fixed effects (lme4's
        ``confint`` of an lmer or glmer fit).

        Parameters
        ----------
        parm
            Parameter names (default: all): ``"sd_(Intercept)|Subject"``,
            ``"cor_Days.(Intercept)|Subject"``, ``"sigma"`` (models with a residual SD)
            and the fixed effects, or lme4's old names (``".sig01"``, ``".sigma"``),
            ``"theta_"`` (all variance parameters), ``"beta_"`` (all fixed effects), or
            positions.
        level
            Confidence level.
        method
            ``"profile"`` (default; profile likelihood of the ML deviance, as lme4 —
            REML fits are refitted by ML; a GLMM's deviance is its fit's Laplace or
            quadrature criterion), ``"wald"`` (normal intervals for the fixed effects;
            ``NaN`` for variance parameters, as lme4) or ``"boot"`` (parametric
            bootstrap, :func:`mixedmodels.bootstrap`).
        nsim, seed, boot_type, n_jobs
            Bootstrap only: number of simulations, seed, ``"perc"``, ``"basic"`` or
            ``"norm"`` intervals, worker processes.
        progress
            Show a progress bar on stderr (profile and bootstrap); ``False`` switches it
            off.

        Returns
        -------
        pandas.DataFrame
            One row per parameter, columns ``"2.5 %"`` and ``"97.5 %"`` (for
            ``level=0.95``).  A profile that does not reach the level before a bound
            (a standard deviation of 0, a correlation of +-1) gives the bound.
        """
        from ..inference.confint import confint

        return confint(
            self,
            parm=parm,
            level=level,
            method=method,
            nsim=nsim,
            seed=seed,
            boot_type=boot_type,
            n_jobs=n_jobs,
            progress=progress,
        )

    # --- reporting ------------------------------------------------------------------
    def summary(self, ddf: str = "satterthwaite") -> Summary:
        """lme4-style text summary, with lmerTest's df and p-values by default.

        Parameters
        ----------
        ddf
            ``"satterthwaite"`` (default, as lmerTest), ``"kenward-roger"`` (adjusted
            standard errors and df, REML fits only) or ``"none"`` (lme4's layout, t
            values only).
        """
        from ..output.summary import format_summary

        return Summary(format_summary(self, ddf=ddf), self)

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        return (
            f"<LMMResult {self.method}: {self.model.formula}, n={self.nobs}, "
            f"logLik={self.loglik:.4f}{'' if self.converged else ', NOT CONVERGED'}"
            f"{', singular' if self.singular else ''}>"
        )

    def __str__(self) -> str:
        return self.summary()
