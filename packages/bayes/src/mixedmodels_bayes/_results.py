"""The result of a Bayesian fit: draws, ArviZ InferenceData and brms's verbs."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ._data import BayesData
from ._draws import interval_summary, scalar_draws
from ._priors import PriorSet
from ._sampler import SamplerOptions, SamplingOutput
from ._summary import BayesSummary, brms_summary

__all__ = ["BayesResult"]


class BayesResult:
    """A posterior sample of a mixed model (brms's ``brmsfit``).

    Attributes
    ----------
    model : mixedmodels.Model
        The model fitted.
    data : BayesData
        Its numbers as the samplers saw them.
    priors : PriorSet
        The priors used (:meth:`prior_summary` prints them).
    draws : dict
        Natural draws, ``(chains, draws, ...)``: ``Intercept`` (centred design), ``b``,
        ``sd_<k>``, ``L_<k>``, ``r_<k>``, ``sigma``, ``shape``.
    sample_stats : dict
        ``diverging``, ``tree_depth``, ``n_steps``, ``acceptance_rate``, ``energy``,
        ``step_size`` per draw.
    sampler : str
        ``"joint"``, ``"collapsed"`` or ``"collapsed_imh"``.
    options : SamplerOptions
    elapsed_s : float
        Sampling time including compilation.
    warnings : list of str
        The sampler warnings raised.
    """

    def __init__(
        self,
        model: Any,
        data: BayesData,
        priors: PriorSet,
        output: SamplingOutput,
        options: SamplerOptions,
        prior_output: SamplingOutput | None = None,
    ) -> None:
        self.model = model
        self.data = data
        self.priors = priors
        self.draws = output.draws
        self.sample_stats = output.stats
        self.sampler = output.sampler
        self.options = options
        self.elapsed_s = output.elapsed_s
        #: what the sampler reports about its run (``collapsed_imh``: evaluations of the
        #: marginal, acceptance, proposal); empty for NUTS
        self.sampler_info: dict[str, Any] = dict(getattr(output, "record", {}))
        self.prior_output = prior_output
        self.warnings: list[str] = []

    # -- basic facts ------------------------------------------------------------------
    @property
    def formula(self) -> str:
        return str(self.model.formula)

    @property
    def nobs(self) -> int:
        return self.data.n

    @property
    def n_chains(self) -> int:
        return int(self.draws["sd_0"].shape[0]) if self.data.terms else self.options.chains

    @property
    def n_draws(self) -> int:
        return int(next(iter(self.scalars.values())).shape[1])

    @cached_property
    def scalars(self) -> dict[str, np.ndarray]:
        """Every scalar parameter under brms's name, ``(chains, draws)``."""
        return scalar_draws(self.data, self.draws)

    def ranef_draws(self) -> dict[str, np.ndarray]:
        """``r_<group>`` draws, ``(chains, draws, levels, coefficients)``."""
        return {f"r_{t.key}": self.draws[f"r_{k}"] for k, t in enumerate(self.data.terms)}

    def as_draws_df(self) -> pd.DataFrame:
        """One row per draw, brms's columns (``b_``, ``sd_``, ``cor_``, ``sigma``,
        ``r_<group>[level,coef]``) plus ``.chain``, ``.iteration``, ``.draw``."""
        cols: dict[str, np.ndarray] = {k: v.reshape(-1) for k, v in self.scalars.items()}
        for k, t in enumerate(self.data.terms):
            r = self.draws[f"r_{k}"]
            flat = r.reshape(-1, t.n_levels, t.dim)
            for j, col in enumerate(t.columns):
                for i, lev in enumerate(t.levels):
                    cols[f"r_{t.key}[{lev},{col}]"] = flat[:, i, j]
        out = pd.DataFrame(cols)
        c, d = self.n_chains, self.n_draws
        out[".chain"] = np.repeat(np.arange(1, c + 1), d)
        out[".iteration"] = np.tile(np.arange(1, d + 1), c)
        out[".draw"] = np.arange(1, c * d + 1)
        return out

    # -- brms's verbs -----------------------------------------------------------------
    def prior_summary(self) -> pd.DataFrame:
        """The priors used, as brms's ``prior_summary`` (prior, class, coef, group, lb,
        source)."""
        return self.priors.table.copy()

    def summary(self, prob: float = 0.95) -> BayesSummary:
        """brms's ``summary``: group-level, population-level and family-specific blocks
        (Estimate, Est.Error, l-95% CI, u-95% CI, Rhat, Bulk_ESS, Tail_ESS)."""
        return brms_summary(self, prob)

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        return (
            f"<BayesResult {self.formula!r} family={self.data.family} sampler={self.sampler} "
            f"{self.n_chains}x{self.n_draws} draws>"
        )

    def fixef(self, prob: float = 0.95) -> pd.DataFrame:
        """Posterior summaries of the population-level effects (brms's ``fixef``)."""
        fx = {k[2:]: v.reshape(-1) for k, v in self.scalars.items() if k.startswith("b_")}
        rows = {k: interval_summary(v, prob) for k, v in fx.items()}
        return pd.DataFrame(rows).T.astype(float)

    def ranef(self, prob: float = 0.95) -> dict[str, pd.DataFrame]:
        """Posterior summaries of the group-level effects (brms's ``ranef``): per group a
        table indexed by level with columns ``(coef, statistic)``."""
        out: dict[str, pd.DataFrame] = {}
        for k, t in enumerate(self.data.terms):
            r = self.draws[f"r_{k}"].reshape(-1, t.n_levels, t.dim)
            s = interval_summary(r, prob)
            frame = pd.concat(
                {
                    c: pd.DataFrame({key: val[:, j] for key, val in s.items()}, index=t.levels)
                    for j, c in enumerate(t.columns)
                },
                axis=1,
            )
            out[t.key] = frame
        return out

    def coef(self, prob: float = 0.95) -> dict[str, pd.DataFrame]:
        """Population plus group-level effects per level (brms's ``coef``)."""
        fx = {k[2:]: v.reshape(-1) for k, v in self.scalars.items() if k.startswith("b_")}
        out: dict[str, pd.DataFrame] = {}
        for k, t in enumerate(self.data.terms):
            r = self.draws[f"r_{k}"].reshape(-1, t.n_levels, t.dim)
            parts = {}
            for j, c in enumerate(t.columns):
                total = r[:, :, j] + (fx[c][:, None] if c in fx else 0.0)
                s = interval_summary(total, prob)
                parts[c] = pd.DataFrame(s, index=t.levels)
            out[t.key] = pd.concat(parts, axis=1)
        return out

    # -- predictions ------------------------------------------------------------------
    def _flat(self, name: str) -> np.ndarray:
        v = self.draws[name]
        return v.reshape((-1, *v.shape[2:]))

    def _design(
        self, newdata: Any, re_form: Any, allow_new_levels: bool, seed: int | None
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray], dict[str, Any]]:
        """(Xc, offset, Zs, codes, r-draws) for the data to predict."""
        bd, model = self.data, self.model
        include = _terms_included(re_form, bd)
        params_r = {f"r_{k}": self._flat(f"r_{k}") for k in range(len(bd.terms))}
        if newdata is None:
            Zs = [t.Z for t in bd.terms]
            codes = [
                t.codes if k in include else -np.ones(bd.n, np.int64)
                for k, t in enumerate(bd.terms)
            ]
            return bd.Xc, bd.offset, Zs, codes, params_r
        X = model.design.fixed_matrix(newdata)
        keep = [model.design.fixef_names.index(n) for n in bd.fixef_names]
        Xc = bd.fixed_columns(X[:, keep])
        off = model.design.offset_for(newdata)
        offset = np.zeros(X.shape[0]) if off is None else off
        mats = model.design.random_matrices(newdata)
        Zs, codes = [], []
        rng = np.random.default_rng(seed)
        for k, t in enumerate(bd.terms):
            Z, code = mats[t.design_index]
            Z = np.nan_to_num(np.asarray(Z, dtype=float))
            code = np.asarray(code, dtype=np.int64)
            if k not in include:
                code = -np.ones_like(code)
            elif np.any(code < 0):
                if not allow_new_levels:
                    raise ValueError(
                        f"newdata has levels of {t.group!r} that were not in the fitted "
                        f"data (rows {np.flatnonzero(code < 0)[:10].tolist()}); pass "
                        "allow_new_levels=True to draw them from the group-level distribution"
                    )
                # brms's sample_new_levels = "gaussian": new levels ~ N(0, Sigma) per draw.
                new_rows = np.flatnonzero(code < 0)
                labels = _group_labels(newdata, t.group, new_rows)
                uniq, inv = np.unique(labels, return_inverse=True)
                S = params_r[f"r_{k}"].shape[0]
                sd = self._flat(f"sd_{k}")
                if t.correlated:
                    T = sd[:, :, None] * self._flat(f"L_{k}")
                else:
                    T = sd[:, :, None] * np.eye(t.dim)
                z = rng.standard_normal((S, len(uniq), t.dim))
                new_r = np.einsum("sld,sed->sle", z, T)
                params_r[f"r_{k}"] = np.concatenate([params_r[f"r_{k}"], new_r], axis=1)
                code = code.copy()
                code[new_rows] = t.n_levels + inv
            Zs.append(Z)
            codes.append(code)
        return Xc, offset, Zs, codes, params_r

    def _eta(self, Xc: Any, offset: Any, Zs: Any, codes: Any, params_r: dict[str, Any]) -> Any:
        import jax
        import jax.numpy as jnp

        from ._likelihood import linear_predictor

        bd = self.data
        S = self._flat("b").shape[0]
        flat = {"b": self._flat("b"), **params_r}
        if bd.has_intercept:
            flat["Intercept"] = self._flat("Intercept")
        Xj, oj = jnp.asarray(Xc), jnp.asarray(offset)
        Zj = [jnp.asarray(z) for z in Zs]
        cj = [jnp.asarray(c) for c in codes]

        def one(p: dict[str, Any]) -> Any:
            return linear_predictor(p, Xj, oj, Zj, cj, bd.has_intercept)

        batch = int(max(1, min(S, 2e7 // max(1, Xj.shape[0]))))
        return jax.jit(lambda p: jax.lax.map(one, p, batch_size=batch))(flat)

    def _family_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in ("sigma", "shape"):
            if k in self.draws:
                out[k] = self._flat(k)[:, None]
        return out

    def _new_trials(self, newdata: Any, trials: Any, rows: int) -> np.ndarray:
        """Binomial trials of ``newdata``: ``trials`` when given; else, for a
        ``cbind(successes, failures)`` response, their sum in ``newdata`` (as brms reads
        ``trials()`` from new data); else one trial per row (a 0/1 response)."""
        if trials is not None:
            out = np.broadcast_to(np.asarray(trials, dtype=float), (rows,)).copy()
            if np.any(~np.isfinite(out)) or np.any(out < 0):
                raise ValueError("trials must be finite and non-negative")
            return out
        if self.model.trials is None:
            return np.ones(rows)
        try:
            response = self.model.design.response_for(newdata)
        except (KeyError, ValueError) as exc:
            raise ValueError(
                f"the response {self.data.response_name!r} gives the binomial trials, and newdata "
                f"cannot evaluate it ({exc}); add its columns to newdata or pass trials="
            ) from exc
        out = np.asarray(response, dtype=float)
        return out[:, 0] + out[:, 1] if out.ndim == 2 else np.ones(rows)

    def posterior_epred(
        self,
        newdata: Any = None,
        re_form: Any = None,
        allow_new_levels: bool = False,
        seed: int | None = None,
        trials: Any = None,
    ) -> np.ndarray:
        """Draws of the expected response, ``(draws, rows)`` (brms's
        ``posterior_epred``; binomial: the expected number of successes, with the
        trials of ``newdata`` read from its ``cbind()`` columns or given as ``trials``)."""
        from ._likelihood import inverse_link

        eta = self._eta(*self._design(newdata, re_form, allow_new_levels, seed))
        mu = np.asarray(inverse_link(self.data.link, eta))
        if self.data.family == "binomial":
            if newdata is None and trials is None:
                n_trials = self.data.trials
            else:
                n_trials = self._new_trials(newdata, trials, mu.shape[1])
            mu = mu * n_trials
        return mu

    def posterior_predict(
        self,
        newdata: Any = None,
        re_form: Any = None,
        allow_new_levels: bool = False,
        seed: int | None = None,
        trials: Any = None,
    ) -> np.ndarray:
        """Posterior predictive draws of the response, ``(draws, rows)``."""
        import jax

        from ._likelihood import observation

        eta = self._eta(*self._design(newdata, re_form, allow_new_levels, seed))
        if newdata is not None and self.data.family == "binomial":
            trials = self._new_trials(newdata, trials, eta.shape[1])
        weights = None
        if newdata is not None and self.data.family == "gaussian":
            weights = np.ones(eta.shape[1])
        fp = self._family_params()
        obs = observation(
            self.data, eta, fp.get("sigma"), fp.get("shape"), trials=trials, weights=weights
        )
        key = jax.random.PRNGKey(0 if seed is None else int(seed) + 1)
        return np.asarray(obs.sample(key))

    def predict(
        self,
        newdata: Any = None,
        re_form: Any = None,
        allow_new_levels: bool = False,
        summary: bool = True,
        prob: float = 0.95,
        seed: int | None = None,
        trials: Any = None,
    ) -> Any:
        """Posterior predictive distribution (brms's ``predict``).

        Parameters
        ----------
        newdata
            Data to predict for (default: the fitted data).
        re_form
            ``None`` for every group-level term, ``NA`` / ``"~0"`` for none, or a list of
            grouping factors to include.
        allow_new_levels
            Draw levels not seen in fitting from the group-level distribution (brms's
            ``sample_new_levels = "gaussian"``); otherwise they are an error.
        summary
            Return brms's table (Estimate, Est.Error, Q2.5, Q97.5); ``False``: the draws.
        trials
            Binomial trials of ``newdata`` (default: the sum of its ``cbind()`` response
            columns, or one per row for a 0/1 response).
        """
        draws = self.posterior_predict(newdata, re_form, allow_new_levels, seed, trials)
        if not summary:
            return draws
        return pd.DataFrame(interval_summary(draws, prob))

    def fitted(
        self,
        newdata: Any = None,
        re_form: Any = None,
        allow_new_levels: bool = False,
        summary: bool = True,
        prob: float = 0.95,
        seed: int | None = None,
        trials: Any = None,
    ) -> Any:
        """Expected response (brms's ``fitted``): summary table or draws (``trials`` as
        in :meth:`predict`)."""
        draws = self.posterior_epred(newdata, re_form, allow_new_levels, seed, trials)
        if not summary:
            return draws
        return pd.DataFrame(interval_summary(draws, prob))

    def log_likelihood(self) -> np.ndarray:
        """Pointwise log-likelihood, ``(chains, draws, n)``."""
        from ._likelihood import observation

        bd = self.data
        eta = self._eta(*self._design(None, None, False, None))
        fp = self._family_params()
        obs = observation(bd, eta, fp.get("sigma"), fp.get("shape"))
        ll = np.asarray(obs.log_prob(bd.y))
        if bd.family != "gaussian" and bd.weights is not None:
            ll = ll * bd.weights
        return ll.reshape(self.n_chains, self.n_draws, bd.n)

    def bayes_R2(self, prob: float = 0.95) -> pd.DataFrame:
        """Bayesian R² (Gelman et al. 2019, brms's ``bayes_R2``)."""
        mu = self.posterior_epred()
        e = self.data.y[None, :] - mu
        var_mu = mu.var(axis=1, ddof=1)
        var_e = e.var(axis=1, ddof=1)
        r2 = var_mu / (var_mu + var_e)
        return pd.DataFrame(interval_summary(r2[:, None], prob), index=["R2"])

    # -- ArviZ ------------------------------------------------------------------------
    @cached_property
    def idata(self) -> Any:
        """ArviZ ``InferenceData``: posterior (brms's names; ``r_<group>`` with level and
        coefficient dimensions), sample_stats, log_likelihood, observed_data and, when
        sampled, prior and prior_predictive."""
        import arviz as az

        bd = self.data
        posterior: dict[str, Any] = dict(self.scalars)
        coords: dict[str, Any] = {"obs": np.arange(bd.n)}
        dims: dict[str, list[str]] = {"y": ["obs"]}
        for k, t in enumerate(bd.terms):
            name = f"r_{t.key}"
            posterior[name] = self.draws[f"r_{k}"]
            coords[f"{t.key}_level"] = t.levels
            coords[f"{t.key}_coef"] = t.columns
            dims[name] = [f"{t.key}_level", f"{t.key}_coef"]
        stats = dict(self.sample_stats)
        kwargs: dict[str, Any] = {}
        if self.prior_output is not None:
            kwargs["prior"] = scalar_draws(bd, self.prior_output.draws)
            if "y" in self.prior_output.draws:
                kwargs["prior_predictive"] = {"y": self.prior_output.draws["y"]}
        return az.from_dict(
            posterior=posterior,
            sample_stats=stats,
            log_likelihood={"y": self.log_likelihood()},
            observed_data={"y": bd.y},
            coords=coords,
            dims=dims,
            **kwargs,
        )

    def add_posterior_predictive(self, seed: int | None = None) -> Any:
        """Add posterior predictive draws of the response to :attr:`idata`."""
        import xarray as xr

        pp = self.posterior_predict(seed=seed).reshape(self.n_chains, self.n_draws, -1)
        self.idata.add_groups(
            posterior_predictive=xr.Dataset(
                {"y": (("chain", "draw", "obs"), pp)},
                coords={"chain": np.arange(self.n_chains), "draw": np.arange(self.n_draws)},
            )
        )
        return self.idata

    def loo(self, **options: Any) -> Any:
        """PSIS-LOO through ArviZ (``arviz.loo``)."""
        import arviz as az

        return az.loo(self.idata, **options)

    def waic(self, **options: Any) -> Any:
        """WAIC through ArviZ (``arviz.waic``)."""
        import arviz as az

        return az.waic(self.idata, **options)

    def pp_check(self, ndraws: int = 10, ax: Any = None, seed: int | None = None) -> Any:
        """Density overlay of the observed response and ``ndraws`` posterior predictive
        draws (brms's ``pp_check``; needs matplotlib)."""
        import matplotlib.pyplot as plt
        from scipy.stats import gaussian_kde

        pp = self.posterior_predict(seed=seed)
        rng = np.random.default_rng(seed)
        pick = rng.choice(pp.shape[0], size=min(ndraws, pp.shape[0]), replace=False)
        if ax is None:
            _, ax = plt.subplots()
        y = self.data.y
        grid = np.linspace(min(y.min(), pp[pick].min()), max(y.max(), pp[pick].max()), 256)
        for i in pick:
            if np.ptp(pp[i]) > 0:
                ax.plot(grid, gaussian_kde(pp[i])(grid), color="lightsteelblue", lw=0.7)
        ax.plot(grid, gaussian_kde(y)(grid), color="navy", lw=1.6, label="y")
        ax.set_xlabel(self.data.response_name)
        ax.legend()
        return ax


def _terms_included(re_form: Any, bd: BayesData) -> set[int]:
    if re_form is None:
        return set(range(len(bd.terms)))
    if (isinstance(re_form, float) and np.isnan(re_form)) or (
        isinstance(re_form, str) and re_form.replace(" ", "") in ("NA", "~0", "0")
    ):
        return set()
    if isinstance(re_form, str):
        re_form = [re_form]
    wanted = set(re_form)
    known = {t.group for t in bd.terms} | {t.key for t in bd.terms}
    unknown = wanted - known
    if unknown:
        raise ValueError(
            f"re_form names {sorted(unknown)}, not grouping factors of the model; "
            f"its grouping factors are {sorted(known)}"
        )
    return {k for k, t in enumerate(bd.terms) if t.group in wanted or t.key in wanted}


def _group_labels(newdata: Any, group: str, rows: np.ndarray) -> np.ndarray:
    """Labels of the new levels (one new level per row when they cannot be read)."""
    frame = newdata if isinstance(newdata, pd.DataFrame) else pd.DataFrame(newdata)
    parts = group.split(":")
    if all(p in frame.columns for p in parts):
        vals = frame[parts].astype(str).agg(":".join, axis=1).to_numpy()
        return np.asarray(vals[rows])
    return np.asarray([f"new{i}" for i in range(len(rows))])
