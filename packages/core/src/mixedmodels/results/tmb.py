"""The fitted multi-predictor model of the general Laplace engine (glmmTMB's
``glmmTMB`` object): conditional, zero-inflation and dispersion components."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..generalized.components import Component
from ..generalized.conditional import link_derivatives
from ..generalized.laplace_engine import LaplaceFit, LaplaceProblem
from ..interfaces import ConditionalFamily, FloatArray
from ..model import Model
from .lmm import LMMResult

__all__ = ["TMBResult"]

_PREFIX = {"cond": "", "zi": "zi~", "disp": "d~"}
_BLOCK = {"cond": "beta", "zi": "betazi", "disp": "betad"}


class TMBResult:
    """A model fitted by the general Laplace engine (``mm.glmm`` with a conditional
    family, ``ziformula`` or ``dispformula``).

    Attributes
    ----------
    model
        The :class:`~mixedmodels.Model`.
    components
        ``{"cond": ..., "zi": ..., "disp": ...}`` (those present).
    params
        Every fixed parameter in glmmTMB's order (``beta``, ``betazi``, ``betad``,
        ``theta``, ``thetazi``, ``psi``); ``theta`` on the covariance structures' scale.
    """

    def __init__(self, model: Model, fit: LaplaceFit) -> None:
        self.model = model
        self._fit = fit
        self._problem: LaplaceProblem = fit.problem
        self.family: ConditionalFamily = fit.problem.family
        self.link = model.link
        self.components: dict[str, Component] = fit.problem.components
        self.params = fit.params.copy()
        self.converged = fit.converged
        self.messages = list(fit.messages)
        self.method = "Laplace"
        self.reml = False

    @classmethod
    def from_fit(cls, model: Model, fit: LaplaceFit) -> TMBResult:
        return cls(model, fit)

    # --- sizes and likelihood -----------------------------------------------------------
    @property
    def nobs(self) -> int:
        return int(self.model.n_obs)

    @property
    def df(self) -> int:
        """Number of estimated parameters (glmmTMB's ``df`` of ``logLik``)."""
        return int(self.params.size)

    @property
    def loglik(self) -> float:
        return float(self._fit.loglik)

    @property
    def deviance(self) -> float:
        """``-2 logLik`` (glmmTMB's summary 'deviance')."""
        return -2.0 * self.loglik

    # The same criteria of loglik, df and nobs as a mixed model's.
    aic: Any = LMMResult.aic
    bic: Any = LMMResult.bic

    @property
    def df_residual(self) -> int:
        return self.nobs - self.df

    # --- fixed parameters ---------------------------------------------------------------
    def _part(self, block: str) -> FloatArray:
        return self._problem.part(self.params, block)

    def fixef_component(self, component: str = "cond") -> pd.Series:
        """Fixed effects of one component (``"cond"``, ``"zi"``, ``"disp"``)."""
        if component not in self.components:
            return pd.Series(dtype=np.float64)
        comp = self.components[component]
        return pd.Series(self._part(_BLOCK[component]), index=comp.fixef_names, dtype=np.float64)

    @property
    def fixef(self) -> pd.Series:
        """Conditional-model fixed effects (``fixef(m)$cond``)."""
        return self.fixef_component("cond")

    @property
    def fixef_all(self) -> dict[str, pd.Series]:
        """Fixed effects of every component (glmmTMB's ``fixef(m)``)."""
        return {k: self.fixef_component(k) for k in ("cond", "zi", "disp") if k in self.components}

    def param_names(self) -> list[str]:
        """glmmTMB's row names of ``vcov(m, full = TRUE)``."""
        names: list[str] = []
        for k in ("cond", "zi", "disp"):
            if k in self.components:
                names += [_PREFIX[k] + n for n in self.components[k].fixef_names]
        for k in self._problem.re_names:
            i = 1
            tag = "theta_"  # glmmTMB's names do not tell the zi thetas apart
            for t, expr, g in zip(
                self.components[k].terms,
                self.components[k].term_exprs,
                self.components[k].group_names,
                strict=True,
            ):
                for _ in range(t.structure.n_params):
                    names.append(f"{tag}{expr.split('|')[0].strip()}|{g}.{i}")
                    i += 1
        names += list(self.family_params)
        return names

    @property
    def vcov_full(self) -> pd.DataFrame:
        """Wald covariance of every fixed parameter (inverse Hessian of the Laplace
        objective; NaN for parameters on a bound)."""
        names = self.param_names()
        return pd.DataFrame(self._fit.vcov, index=names, columns=names)

    def vcov_component(self, component: str = "cond") -> pd.DataFrame:
        b = self._problem.blocks.get(_BLOCK[component])
        if b is None:
            return pd.DataFrame()
        names = self.components[component].fixef_names
        V = self._fit.vcov[b.start : b.stop, b.start : b.stop]
        return pd.DataFrame(V, index=names, columns=names)

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the conditional fixed effects (``vcov(m)$cond``)."""
        return self.vcov_component("cond")

    @property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.fixef.index)

    def coef_table(self, component: str = "cond") -> pd.DataFrame:
        """Estimate, standard error, z and p of one component's fixed effects."""
        est = self.fixef_component(component)
        V = self.vcov_component(component)
        se = np.sqrt(np.diag(V.to_numpy())) if len(est) else np.zeros(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est.to_numpy() / se
        return pd.DataFrame(
            {
                "Estimate": est.to_numpy(),
                "Std. Error": se,
                "z value": z,
                "Pr(>|z|)": 2.0 * stats.norm.sf(np.abs(z)),
            },
            index=est.index,
        )

    # --- dispersion and family parameters ------------------------------------------------
    @property
    def family_params(self) -> dict[str, float]:
        """The family's extra parameters on their natural scale (Tweedie's power)."""
        psi = self._part("psi")
        if self.family.name == "tweedie":
            return {"Tweedie power": float(self.family.power(psi))}  # type: ignore[attr-defined]
        return {n: float(v) for n, v in zip(self.family.shape_names, psi, strict=True)}

    @property
    def sigma(self) -> float:
        """glmmTMB's ``sigma()``: the family's dispersion at the dispersion intercept
        (NaN for a ``dispformula`` with covariates, 1 without a dispersion)."""
        if "disp" not in self.components:
            return 1.0
        comp = self.components["disp"]
        if comp.fixef_names != ["(Intercept)"] or comp.offset is not None:
            return float("nan")
        phi = np.exp(self._part("betad"))
        return float(self.family.sigma(phi)[0])

    # --- random effects -----------------------------------------------------------------
    def _lambdas(self, component: str) -> list[FloatArray]:
        return self._problem.lambdas(self.params, component)

    def covariance_matrices(self, component: str = "cond") -> dict[str, pd.DataFrame]:
        """Covariance matrix of each random-effect term of a component (``VarCorr``)."""
        out: dict[str, pd.DataFrame] = {}
        if component not in self._problem.re_names:
            return out
        comp = self.components[component]
        for lam, g, cols in zip(
            self._lambdas(component), comp.group_names, comp.column_names, strict=True
        ):
            out[g] = pd.DataFrame(lam @ lam.T, index=cols, columns=cols)
        return out

    @property
    def varcorr(self) -> pd.DataFrame:
        """Random-effect SDs and correlations, one row per (component, group, term)."""
        rows = []
        for k in self._problem.re_names:
            for g, cov in self.covariance_matrices(k).items():
                c = cov.to_numpy()
                sd = np.sqrt(np.diag(c))
                for i, name in enumerate(cov.index):
                    rows.append(
                        {"component": k, "group": g, "term": name, "variance": c[i, i], "sd": sd[i]}
                    )
        return pd.DataFrame(rows, columns=["component", "group", "term", "variance", "sd"])

    @cached_property
    def _modes(self) -> FloatArray:
        self._problem.inner(self.params, self._fit.u)
        return self._fit.u

    def _component_u(self, component: str) -> list[FloatArray]:
        """Spherical modes of each term of a component, ``(n_levels, dim)``."""
        names = self._problem.re_names
        u = self._fit.u
        start = 0
        for k in names:
            size = sum(t.q for t in self.components[k].terms)
            if k == component:
                u = u[start : start + size]
                break
            start += size
        out, i = [], 0
        for t in self.components[component].terms:
            out.append(u[i : i + t.q].reshape(t.n_levels, t.dim))
            i += t.q
        return out

    def _all_b(self, params: FloatArray) -> FloatArray:
        """Conditional modes ``b = Lambda u`` of every term, flattened, at ``params``."""
        pr = self._problem
        u = pr.inner(params, self._fit.u).u
        out, start = [], 0
        for k in pr.re_names:
            for t, lam in zip(self.components[k].terms, pr.lambdas(params, k), strict=True):
                out.append((u[start : start + t.q].reshape(t.n_levels, t.dim) @ lam.T).ravel())
                start += t.q
        return np.concatenate(out) if out else np.zeros(0)

    @cached_property
    def _condvar(self) -> dict[str, list[FloatArray]]:
        """Conditional covariances of the random effects (per component and term), as
        TMB's ``sdreport``: ``Lambda H^-1 Lambda'`` plus ``J V J'``, the uncertainty of
        the fixed parameters carried through the modes' Jacobian ``J = db/dparams``."""
        pr = self._problem
        out: dict[str, list[FloatArray]] = {}
        if pr.solver is None:
            return out
        # J by central differences of the modes (2 inner solves per parameter)
        free = np.flatnonzero(self._fit.free & np.isfinite(np.diag(self._fit.vcov)))
        J = np.zeros((pr.q, free.size))
        for c, j in enumerate(free):  # a loop over parameters (few)
            h = 1e-5 * max(1.0, abs(self.params[j]))
            up, down = self.params.copy(), self.params.copy()
            up[j] += h
            down[j] -= h
            J[:, c] = (self._all_b(up) - self._all_b(down)) / (2.0 * h)
        V = self._fit.vcov[np.ix_(free, free)]
        state = pr.inner(self.params, self._fit.u)  # factor H at the modes again
        pr.u = state.u
        solver = pr.solver
        if len(pr.re_names) == 1:
            base = {pr.re_names[0]: solver.conditional_covariances()}  # type: ignore[union-attr]
        else:
            Hinv = solver.inverse()  # type: ignore[union-attr]
            base, start = {}, 0
            for k in pr.re_names:
                blocks = []
                for t, lam in zip(self.components[k].terms, self._lambdas(k), strict=True):
                    idx = start + np.arange(t.q).reshape(t.n_levels, t.dim)
                    cov_u = Hinv[idx[:, :, None], idx[:, None, :]]
                    blocks.append(np.einsum("ij,njk,lk->nil", lam, cov_u, lam))
                    start += t.q
                base[k] = blocks
        start = 0
        for k in pr.re_names:
            blocks = []
            for t, cov in zip(self.components[k].terms, base[k], strict=True):
                Jt = J[start : start + t.q].reshape(t.n_levels, t.dim, -1)
                blocks.append(cov + np.einsum("nia,ab,njb->nij", Jt, V, Jt))
                start += t.q
            out[k] = blocks
        return out

    def ranef(self, component: str = "cond", condvar: bool = False) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects per grouping factor (``ranef``);
        with ``condvar=True`` also their conditional SDs (columns ``<term>.condsd``)."""
        out: dict[str, pd.DataFrame] = {}
        if component not in self._problem.re_names:
            return out
        comp = self.components[component]
        cv = self._condvar.get(component) if condvar else None
        for j, (u, lam, g, cols, levels) in enumerate(
            zip(
                self._component_u(component),
                self._lambdas(component),
                comp.group_names,
                comp.column_names,
                comp.level_names,
                strict=True,
            )
        ):
            b = u @ lam.T
            df = pd.DataFrame(b, index=levels, columns=cols)
            if cv is not None:
                sd = np.sqrt(np.einsum("nii->ni", cv[j]))
                for i, c in enumerate(cols):
                    df[f"{c}.condsd"] = sd[:, i]
            out[g] = df
        return out

    # --- prediction ------------------------------------------------------------------------
    def _predictors(self) -> dict[str, FloatArray]:
        pr = self._problem
        pr._set_lambdas(self.params)
        return pr.predictors(self.params, self._fit.u)

    def _new_predictors(
        self, newdata: Any, fixed_only: bool, allow_new_levels: bool
    ) -> tuple[dict[str, FloatArray], Any]:
        """Every linear predictor on ``newdata``: each component's fixed part and (unless
        ``fixed_only``) its random effects at the conditional modes; levels not seen in
        fitting get zero (``allow_new_levels``, as glmmTMB) or are an error."""
        from ..design.data import as_pandas
        from ..errors import ModelSpecificationError

        frame = as_pandas(newdata)
        out: dict[str, FloatArray] = {}
        for k, comp in self.components.items():
            design = comp.model.design
            keep = [design.fixef_names.index(c) for c in comp.fixef_names]
            eta = design.fixed_matrix(frame)[:, keep] @ self._part(_BLOCK[k])
            offset = design.offset_for(frame)
            if offset is not None:
                eta = eta + offset
            if not fixed_only and k in self._problem.re_names:
                pairs = design.random_matrices(frame)
                ordered = [pairs[design.terms.index(t)] for t in comp.model.terms]
                for (Z, codes), u, lam, g in zip(
                    ordered,
                    self._component_u(k),
                    self._lambdas(k),
                    comp.group_names,
                    strict=True,
                ):
                    new = codes < 0
                    if np.any(new) and not allow_new_levels:
                        raise ModelSpecificationError(
                            f"newdata has {int(np.sum(new))} rows with levels of {g!r} not "
                            f"seen in fitting (the {k} model); pass allow_new_levels=True to "
                            "predict them with zero random effects, as glmmTMB"
                        )
                    b = (u @ lam.T)[np.maximum(codes, 0)]
                    b[new] = 0.0
                    eta = eta + np.sum(Z * b, axis=1)
            out[k] = eta
        return out, frame.index

    def predict(
        self,
        type: str = "response",
        re_form: str | None = None,
        newdata: Any = None,
        allow_new_levels: bool = False,
    ) -> pd.Series:
        """Predictions, as glmmTMB's ``predict``.

        Parameters
        ----------
        type
            ``"link"`` (conditional linear predictor), ``"conditional"`` (mean of the
            conditional distribution: for a truncated family, of the positive counts),
            ``"zprob"`` (zero-inflation probability), ``"zlink"``, ``"disp"``
            (the dispersion as ``sigma()`` defines it: the gaussian's standard
            deviation), ``"response"`` (``(1 - zprob) * conditional``).
        re_form
            ``None``: conditional on the random effects; ``"NA"`` or ``"~0"``: the
            fixed part only.
        newdata
            Data to predict for (``None``: the fitted rows); it needs the columns of
            every component's formula (and the grouping factors unless ``re_form`` is
            ``"NA"``).
        allow_new_levels
            Levels of a grouping factor not seen in fitting get zero random effects
            (glmmTMB's ``allow.new.levels = TRUE``); otherwise they are an error.
        """
        if re_form is not None and str(re_form).replace(" ", "") not in ("NA", "~0"):
            raise ValueError(f"re_form must be None or 'NA', not {re_form!r}")
        if newdata is not None:
            eta, index = self._new_predictors(newdata, re_form is not None, allow_new_levels)
        elif re_form is None:
            eta, index = self._predictors(), self.model.design.row_index
        else:
            eta, index = self._problem.fixed_predictors(self.params), self.model.design.row_index
        return self._transform(eta, index, type)

    def _transform(self, eta: dict[str, FloatArray], index: Any, type: str) -> pd.Series:
        """Predictions of ``type`` from the linear predictors."""
        n = eta["cond"].shape[0]
        if type == "link":
            return pd.Series(eta["cond"], index=index)
        phi = np.exp(eta["disp"]) if "disp" in eta else np.ones(n)
        if type == "disp":  # glmmTMB: the dispersion as sigma() defines it per family
            return pd.Series(self.family.sigma(phi), index=index)
        pi = 1.0 / (1.0 + np.exp(-eta["zi"])) if "zi" in eta else np.zeros(n)
        if type == "zprob":
            return pd.Series(pi, index=index)
        if type == "zlink":
            return pd.Series(eta.get("zi", np.full(n, -np.inf)), index=index)
        mu = link_derivatives(self.link, eta["cond"])[0]
        cond = self.family.predict_mean(mu, phi, self._part("psi"))
        if type == "conditional":
            return pd.Series(cond, index=index)
        if type == "response":
            return pd.Series((1.0 - pi) * cond, index=index)
        raise ValueError(
            f"type must be 'response', 'link', 'conditional', 'zprob', 'zlink' or 'disp', "
            f"not {type!r}"
        )

    @property
    def fitted(self) -> pd.Series:
        """Fitted means (``type="response"``)."""
        return self.predict("response")

    def residuals(self, type: str = "response") -> pd.Series:
        """Response or Pearson residuals (glmmTMB's ``residuals``)."""
        y = self.model.y
        mean = self.fitted.to_numpy()
        if type == "response":
            return pd.Series(y - mean, index=self.model.design.row_index)
        if type == "pearson":
            return pd.Series(
                (y - mean) / np.sqrt(self._response_variance()), index=self.model.design.row_index
            )
        raise ValueError(f"type must be 'response' or 'pearson', not {type!r}")

    def _response_variance(self) -> FloatArray:
        eta = self._predictors()
        phi = np.exp(eta["disp"]) if "disp" in eta else np.ones(self.nobs)
        pi = 1.0 / (1.0 + np.exp(-eta["zi"])) if "zi" in eta else np.zeros(self.nobs)
        mu = link_derivatives(self.link, eta["cond"])[0]
        m = self.family.response_mean(mu, phi, self._part("psi"))
        v = self.family.response_variance(mu, phi, self._part("psi"))
        # mixture of a point mass at zero and the conditional distribution
        return (1.0 - pi) * (v + pi * m * m)

    # --- simulation -------------------------------------------------------------------------
    def simulate(self, nsim: int = 1, seed: Any = None, re_form: str | None = "NA") -> pd.DataFrame:
        """Responses simulated from the fitted model (glmmTMB's ``simulate``: new random
        effects drawn from their fitted distribution, ``re_form="NA"``; ``re_form=None``
        keeps the conditional modes)."""
        rng = np.random.default_rng(seed)
        pr = self._problem
        pr._set_lambdas(self.params)
        psi = self._part("psi")
        cols = {}
        for s in range(nsim):  # a loop over replicates
            u = self._fit.u if re_form is None else rng.standard_normal(pr.q)
            eta = pr.predictors(self.params, u)
            phi = np.exp(eta["disp"]) if "disp" in eta else np.ones(self.nobs)
            mu = link_derivatives(self.link, eta["cond"])[0]
            y = np.asarray(self.family.sample(mu, phi, psi, rng), dtype=np.float64)
            if "zi" in eta:
                pi = 1.0 / (1.0 + np.exp(-eta["zi"]))
                y = np.where(rng.random(self.nobs) < pi, 0.0, y)
            cols[f"sim_{s + 1}"] = y
        return pd.DataFrame(cols, index=self.model.design.row_index)

    # --- inference ---------------------------------------------------------------------------
    def confint(
        self, parm: Any = None, level: float = 0.95, method: str = "wald", full: bool = False
    ) -> pd.DataFrame:
        """Confidence intervals (glmmTMB's ``confint``): ``"wald"`` for every fixed
        effect of every component and the random-effect SDs (on the log scale, then
        transformed, as glmmTMB), or ``"profile"`` (likelihood profile); ``full=True`` adds
        the dispersion model's coefficients."""
        from ..inference.tmb_intervals import profile_intervals, wald_intervals

        if method == "wald":
            return wald_intervals(self, parm, level, full)
        if method == "profile":
            return profile_intervals(self, parm, level, full)
        raise ValueError(f"method must be 'wald' or 'profile', not {method!r}")

    def anova(self, *others: Any, **options: Any) -> pd.DataFrame:
        """Likelihood-ratio tests against other fits of the same response (glmmTMB's
        ``anova(m0, m1)``); options as :func:`mixedmodels.anova`."""
        from ..inference.anova import anova

        return anova(self, *others, **options)

    def summary(self) -> str:
        """glmmTMB's ``summary()`` text."""
        from ..output.tmb_summary import format_tmb_summary

        return format_tmb_summary(self)

    def __repr__(self) -> str:
        return (
            f"<TMBResult {self.family.name} ({self.link.name}): logLik {self.loglik:.4f}, "
            f"{self.df} parameters, {self.nobs} observations>"
        )

    def __str__(self) -> str:
        return self.summary()
