"""Simulation-based scaled (quantile) residuals, as DHARMa's ``simulateResiduals``.

The scaled residual of observation ``i`` is the position of the observed response in
the distribution of responses simulated from the fitted model: with ``n`` simulations
``s_i1 .. s_in`` it is ``mean(s_i < y_i) + U * mean(s_i == y_i)`` with ``U`` uniform
on (0, 1) (DHARMa's ``getQuantile``, method ``"PIT"``).  For a correctly specified
model these residuals are uniform on (0, 1) whatever the family; the randomisation
over ties is what makes them uniform for discrete responses as well.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["ScaledResiduals", "ensure_residuals", "get_quantile", "simulate_scaled_residuals"]

FloatArray = NDArray[np.float64]

#: Families whose responses are counts (DHARMa's ``integerResponse = TRUE``).
INTEGER_FAMILIES = frozenset({"binomial", "poisson", "negative_binomial"})


# --- the quantile residual ------------------------------------------------------------
def get_quantile(
    simulated: FloatArray,
    observed: FloatArray,
    rng: np.random.Generator,
    integer_response: bool = False,
    method: str = "PIT",
) -> FloatArray:
    """DHARMa's ``getQuantile``: scaled residuals of ``observed`` among the rows of
    ``simulated``.

    Parameters
    ----------
    simulated
        ``(n_obs, n_sim)`` simulated responses.
    observed
        ``(n_obs,)`` observed responses.
    rng
        Random numbers for the randomisation over ties.
    integer_response
        Only for ``method="traditional"``: add uniform noise on (-0.5, 0.5) to the
        simulations and the observation before taking the empirical distribution.
    method
        ``"PIT"`` (default, DHARMa's default): ``lower = mean(sim < obs)``, ``upper =
        mean(sim <= obs)``, the residual is ``lower`` when they agree, else uniform
        between them.  ``"traditional"``: DHARMa's older ECDF with ``n_sim + 1`` in the
        denominator, interpolated linearly between the simulated values.

    Returns
    -------
    numpy.ndarray
        ``(n_obs,)`` residuals in [0, 1].
    """
    sim = np.asarray(simulated, dtype=np.float64)
    obs = np.asarray(observed, dtype=np.float64)
    if sim.ndim != 2 or sim.shape[0] != obs.shape[0]:
        raise ValueError(
            f"simulated must be (n_obs, n_sim) with n_obs = len(observed) = {obs.shape[0]}, "
            f"got shape {sim.shape}"
        )
    n = sim.shape[0]
    if method == "PIT":
        lower = np.mean(sim < obs[:, None], axis=1)
        upper = np.mean(sim <= obs[:, None], axis=1)
        # One uniform per observation (DHARMa draws only for ties; the law is the same).
        u = rng.random(n)
        return np.asarray(np.where(lower == upper, lower, lower + u * (upper - lower)))
    if method != "traditional":
        raise ValueError(f"unknown method {method!r}; use 'PIT' or 'traditional'")
    if not integer_response:
        flat = sim.ravel()
        dup = flat[pd.Series(flat).duplicated().to_numpy()]
        if dup.size and np.all(dup % 1 == 0):
            # As DHARMa: integer duplicates in the simulations mean a discrete response.
            warnings.warn(
                "the response was declared continuous but the simulations hold duplicate "
                "integer values; using integer residuals (integer_response=True)",
                UserWarning,
                stacklevel=2,
            )
            integer_response = True
    if integer_response:
        sim = sim + rng.uniform(-0.5, 0.5, size=sim.shape)
        obs = obs + rng.uniform(-0.5, 0.5, size=n)
    return _dharma_ecdf(sim, obs)


def _dharma_ecdf(sim: FloatArray, obs: FloatArray) -> FloatArray:
    """DHARMa.ecdf row by row, vectorised: steps of ``1 / (n_sim + 1)`` at the
    simulated values, linear in between, 0 below the smallest and 1 above the
    largest."""
    n_sim = sim.shape[1]
    x = obs[:, None]
    below = sim <= x
    count = below.sum(axis=1)
    lo = np.where(below, sim, -np.inf).max(axis=1)
    hi = np.where(below, np.inf, sim).min(axis=1)
    f_lo = count / (n_sim + 1.0)
    f_hi = (count + np.sum(sim == hi[:, None], axis=1)) / (n_sim + 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (obs - lo) / (hi - lo)
        out = f_lo + frac * (f_hi - f_lo)
    out = np.where(count == 0, 0.0, out)
    out = np.where(np.isinf(hi), np.where(obs > lo, 1.0, f_lo), out)
    return np.asarray(out, dtype=np.float64)


# --- the result object ----------------------------------------------------------------
class ScaledResiduals:
    """Simulated responses and the scaled residuals computed from them (DHARMa's
    ``DHARMa`` object).

    Attributes
    ----------
    observed
        Observed response, ``(n_obs,)`` (binomial: successes, not proportions).
    simulated
        Simulated responses, ``(n_obs, n_sim)``, on the scale of ``observed``.
    fitted
        Fitted (predicted) response, conditional on the random effects, same scale
        (DHARMa's ``fittedPredictedResponse``).
    residuals
        The scaled residuals, a :class:`pandas.Series` indexed like the data.
    conditional
        Whether the simulations held the random effects at their conditional modes.
    refit
        Whether the residuals come from the parametric bootstrap (refitted models).
    integer_response
        Whether the response is treated as integer valued.
    method
        ``"PIT"`` or ``"traditional"`` (see :func:`get_quantile`).
    family
        Name of the response family (``"gaussian"`` for linear mixed models), or
        ``None`` when built from simulations.
    fit
        The fitted model the simulations came from (``None`` from simulations).
    refitted_residuals, refitted_pearson, fitted_residuals
        ``refit=True`` only: deviance residuals of every refit ``(n_obs, n_sim)``,
        their Pearson residuals, and the deviance residuals of the original fit.
    """

    def __init__(
        self,
        observed: FloatArray,
        simulated: FloatArray,
        fitted: FloatArray,
        residuals: FloatArray,
        *,
        index: Any = None,
        conditional: bool = False,
        refit: bool = False,
        integer_response: bool = False,
        method: str = "PIT",
        seed: Any = None,
        family: str | None = None,
        fit: Any = None,
        refitted_residuals: FloatArray | None = None,
        refitted_pearson: FloatArray | None = None,
        fitted_residuals: FloatArray | None = None,
    ) -> None:
        self.observed = np.asarray(observed, dtype=np.float64)
        self.simulated = np.asarray(simulated, dtype=np.float64)
        self.fitted = np.asarray(fitted, dtype=np.float64)
        index = pd.RangeIndex(self.observed.size) if index is None else index
        self.residuals = pd.Series(
            np.asarray(residuals, dtype=np.float64), index=index, name="scaled_residual"
        )
        self.conditional = bool(conditional)
        self.refit = bool(refit)
        self.integer_response = bool(integer_response)
        self.method = method
        self.seed = seed
        self.family = family
        self.fit = fit
        self.refitted_residuals = refitted_residuals
        self.refitted_pearson = refitted_pearson
        self.fitted_residuals = fitted_residuals

    @property
    def n_obs(self) -> int:
        """Number of observations."""
        return int(self.observed.size)

    @property
    def n_sim(self) -> int:
        """Number of simulations."""
        return int(self.simulated.shape[1])

    @property
    def index(self) -> pd.Index:
        """The row index of the data."""
        return self.residuals.index

    def to_frame(self) -> pd.DataFrame:
        """One row per observation: ``observed``, ``fitted``, ``scaled_residual``."""
        return pd.DataFrame(
            {
                "observed": self.observed,
                "fitted": self.fitted,
                "scaled_residual": self.residuals.to_numpy(),
            },
            index=self.index,
        )

    @classmethod
    def from_simulations(
        cls,
        observed: Any,
        simulated: Any,
        fitted: Any = None,
        *,
        integer_response: bool | None = None,
        seed: Any = None,
        method: str = "PIT",
        index: Any = None,
    ) -> ScaledResiduals:
        """Scaled residuals from simulations made elsewhere (DHARMa's ``createDHARMa``).

        Parameters
        ----------
        observed
            Observed responses, length ``n_obs`` (a Series keeps its index).
        simulated
            ``(n_obs, n_sim)`` simulated responses (e.g. DHARMa's
            ``simulatedResponse`` exported from R).
        fitted
            Fitted values; default: the row means of ``simulated``.
        integer_response
            Treat the response as integer valued (``None``: when every observed and
            simulated value is an integer).
        seed
            Seed of the randomisation over ties.
        method
            ``"PIT"`` (default) or ``"traditional"``.
        index
            Row index (default: that of ``observed`` if a Series, else 0..n-1).

        Returns
        -------
        ScaledResiduals
        """
        if index is None and isinstance(observed, pd.Series):
            index = observed.index
        obs = np.asarray(observed, dtype=np.float64).ravel()
        sim = np.asarray(simulated, dtype=np.float64)
        if sim.ndim == 1:
            sim = sim[:, None]
        if sim.shape[0] != obs.size:
            raise ValueError(
                f"simulated has {sim.shape[0]} rows but observed has length {obs.size}"
            )
        fit_values = (
            sim.mean(axis=1) if fitted is None else np.asarray(fitted, dtype=np.float64).ravel()
        )
        if fit_values.size != obs.size:
            raise ValueError(f"fitted has length {fit_values.size} but observed has {obs.size}")
        if integer_response is None:
            integer_response = bool(np.all(obs % 1 == 0) and np.all(sim % 1 == 0))
        rng = np.random.default_rng(seed)
        res = get_quantile(sim, obs, rng, integer_response, method)
        return cls(
            obs,
            sim,
            fit_values,
            res,
            index=index,
            integer_response=integer_response,
            method=method,
            seed=seed,
        )

    def __repr__(self) -> str:
        kind = "refit" if self.refit else ("conditional" if self.conditional else "unconditional")
        return f"<ScaledResiduals n_obs={self.n_obs}, n_sim={self.n_sim}, {kind}, {self.method}>"

    def _repr_html_(self) -> str:
        """Notebook view: what was simulated and the residuals' quantiles (uniform on
        [0, 1] when the model is right)."""
        from mixedmodels.extending import Section, Tabular, render_table

        res = self.residuals.to_numpy()
        res = res[np.isfinite(res)]
        probs = [0.0, 0.25, 0.5, 0.75, 1.0]
        q = np.quantile(res, probs) if res.size else np.full(5, np.nan)
        rows = [
            [label, f"{v:.4f}", f"{p:.2f}"]
            for label, v, p in zip(["Min", "1Q", "Median", "3Q", "Max"], q, probs, strict=True)
        ]
        tab = Tabular(
            ["quantile", "scaled residual", "uniform"],
            [Section(rows)],
            title=repr(self).strip("<>"),
            notes=[f"seed: {self.seed}", f"family: {self.family or 'simulated'}"],
        )
        return render_table(tab, "html")


# --- from a fitted model --------------------------------------------------------------
def _result_classes() -> tuple[type, ...]:
    import mixedmodels as mm

    return (mm.LMMResult, mm.GLMMResult)


def unsupported_reason(result: Any) -> str | None:
    """``None`` when scaled residuals can be simulated for ``result``, else why not
    (never raises)."""
    try:
        classes = _result_classes()
    except Exception as exc:  # pragma: no cover - core always importable here
        return f"mixedmodels results unavailable: {exc}"
    if not isinstance(result, classes):
        return (
            f"scaled residuals need a fitted LMMResult or GLMMResult, got {type(result).__name__}"
        )
    return None


def _family_name(fit: Any) -> str:
    family = getattr(fit, "family", None)
    return "gaussian" if family is None else str(family.name)


def _response_scale(fit: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Observed response, fitted values and the multiplier that takes simulated
    responses (binomial: proportions) to the scale of the observed counts."""
    if hasattr(fit, "prior_weights") and hasattr(fit, "family"):
        y = np.asarray(fit.response, dtype=np.float64)
        mu = fit.fitted().to_numpy(dtype=np.float64)
        if fit.family.name == "binomial":
            # Successes out of trials, as DHARMa represents k/n binomial data.
            scale = np.asarray(fit.prior_weights, dtype=np.float64)
            return y * scale, mu * scale, scale
        return y, mu, np.ones_like(y)
    y = np.asarray(fit.model.response, dtype=np.float64)
    mu = fit.fitted().to_numpy(dtype=np.float64)
    return y, mu, np.ones_like(y)


def _refit_residuals(
    fit: Any, sims: FloatArray, scale: FloatArray, n_jobs: int | None
) -> tuple[FloatArray, FloatArray]:
    """Deviance and Pearson residuals of the model refitted to each simulated response
    (a column of NaN where a refit fails), through the core's bootstrap machinery."""
    from mixedmodels.extending import parallel_map, refit

    n = sims.shape[0]
    is_glmm = hasattr(fit, "family")
    responses = sims / scale[:, None]  # back to the model's response scale

    def one(i: int) -> FloatArray:
        try:
            new = refit(fit, responses[:, i])
            if is_glmm:
                dev = new.residuals(type="deviance").to_numpy()
                pear = new.residuals(type="pearson").to_numpy()
            else:
                dev = new.residuals(type="response").to_numpy()
                pear = new.residuals(type="pearson", scaled=True).to_numpy()
            return np.concatenate([dev, pear])
        except (ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError):
            return np.full(2 * n, np.nan)

    out = np.column_stack(parallel_map(one, sims.shape[1], n_jobs, False, "refit"))
    return out[:n], out[n:]


def simulate_scaled_residuals(
    fit: Any,
    n: int = 250,
    seed: Any = None,
    conditional: bool = False,
    integer_response: bool | None = None,
    refit: bool = False,
    *,
    method: str = "PIT",
    n_jobs: int | None = 1,
) -> ScaledResiduals:
    """The scaled residuals of :func:`~mixedmodels_diagnostics.simulate_residuals`,
    without its ``plot`` option (this module sits below the plots).

    Parameters, return value and errors as :func:`simulate_residuals`.
    """
    reason = unsupported_reason(fit)
    if reason is not None:
        raise TypeError(f"simulate_residuals: {reason}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer (number of simulations), got {n!r}")
    family = _family_name(fit)
    if integer_response is None:
        integer_response = family in INTEGER_FAMILIES
    rng = np.random.default_rng(seed)
    observed, fitted, scale = _response_scale(fit)
    re_form = None if conditional else "NA"
    sims = fit.simulate(int(n), seed=rng, re_form=re_form).to_numpy(dtype=np.float64)
    sims = sims * scale[:, None]
    index = fit.model.design.row_index
    refitted = pearson = fitted_res = None
    if refit:
        refitted, pearson = _refit_residuals(fit, sims, scale, n_jobs)
        ok = np.all(np.isfinite(refitted), axis=0)
        if not ok.any():
            raise RuntimeError("simulate_residuals(refit=True): every refit failed")
        if not ok.all():
            warnings.warn(
                f"{int((~ok).sum())} of {n} refits failed; their simulations are dropped",
                UserWarning,
                stacklevel=3,  # the caller of the public simulate_residuals
            )
        refitted, pearson, sims = refitted[:, ok], pearson[:, ok], sims[:, ok]
        if hasattr(fit, "family"):
            fitted_res = fit.residuals(type="deviance").to_numpy(dtype=np.float64)
        else:
            fitted_res = fit.residuals(type="response").to_numpy(dtype=np.float64)
        residuals = get_quantile(refitted, fitted_res, rng, False, "PIT")
    else:
        residuals = get_quantile(sims, observed, rng, bool(integer_response), method)
    out = ScaledResiduals(
        observed,
        sims,
        fitted,
        residuals,
        index=index,
        conditional=conditional,
        refit=refit,
        integer_response=bool(integer_response),
        method=method,
        seed=seed,
        family=family,
        fit=fit,
        refitted_residuals=refitted,
        refitted_pearson=pearson,
        fitted_residuals=fitted_res,
    )
    return out


def ensure_residuals(res_or_fit: Any, where: str) -> ScaledResiduals:
    """``res_or_fit`` itself if scaled residuals, else simulated with the defaults."""
    if isinstance(res_or_fit, ScaledResiduals):
        return res_or_fit
    reason = unsupported_reason(res_or_fit)
    if reason is not None:
        raise TypeError(f"{where}: needs ScaledResiduals or a fitted model; {reason}")
    return simulate_scaled_residuals(res_or_fit)
