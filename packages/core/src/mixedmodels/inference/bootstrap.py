"""Parametric bootstrap (lme4's ``bootMer``) and the bootstrap likelihood-ratio test
between nested models (pbkrtest's ``PBmodcomp``).

Each replicate ``i`` draws from its own random stream,
``SeedSequence(seed, spawn_key=(i,))``: the replicates, and everything computed from
them, are the same whatever the number of worker processes and however the
replicates are shared out.  Work runs in forked worker processes where the platform
has ``fork`` (the fit and the statistic are inherited, nothing is pickled), otherwise
in spawned ones (the statistic must then be picklable).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..interfaces import FloatArray
from ..linear.interface import is_linear_criterion

__all__ = ["BootstrapResult", "bootstrap", "pb_modcomp"]

# Replicates per task sent to a worker (small enough for the progress bar to move).
_CHUNK = 25


# --- refitting to a new response -----------------------------------------------------------
def refit(result: Any, y: FloatArray, check: bool = False) -> Any:
    """The model of ``result`` fitted again, by the same method, to the response ``y``
    (lme4's ``refit(fit, newresp)``; the result's own ``refit``)."""
    if not callable(getattr(result, "refit", None)):
        raise TypeError(f"cannot refit a {type(result).__name__}; bootstrap needs an LMM or GLMM")
    return result.refit(y, check=check)


def default_statistic(fit: Any) -> pd.Series:
    """Random-effect SDs and correlations, the residual SD (LMMs) and the fixed
    effects, named as :meth:`~mixedmodels.LMMResult.confint` names them."""
    from .variance_parameters import _blocks, variance_parameter_names

    names = variance_parameter_names(fit)
    values: list[float] = []
    covs = list(fit.covariance_matrices().values())
    for block, cov in zip(_blocks(fit.model), covs, strict=True):
        c = cov.to_numpy()
        sd = np.sqrt(np.maximum(np.diag(c), 0.0))
        pairs = block.pairs
        if not pairs:
            cols, rows = np.triu_indices(len(sd))
            pairs = list(zip(rows.tolist(), cols.tolist(), strict=True))
        for r, k in pairs:
            if r == k:
                values.append(float(sd[r]))
            else:
                den = sd[r] * sd[k]
                values.append(float(c[r, k] / den) if den > 0 else np.nan)
    if is_linear_criterion(getattr(fit, "_problem", None)):
        values.append(float(fit.sigma))
    elif getattr(fit, "dispersion", None) is not None:
        values.append(float(np.sqrt(fit.dispersion)))  # lme4's sigma() of a glmer fit
    return pd.concat([pd.Series(values, index=names), fit.fixef.astype(float)])


def _as_series(value: Any, names: Sequence[str] | None = None) -> pd.Series:
    if isinstance(value, pd.Series):
        return value.astype(float)
    if isinstance(value, dict):
        return pd.Series(value, dtype=float)
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    index = list(names) if names is not None else [f"t{i + 1}" for i in range(arr.size)]
    return pd.Series(arr, index=index)


# --- work in worker processes -------------------------------------------------------------
# Inherited by forked workers: (function of one replicate index, nothing else).
_TASK: Callable[[int], FloatArray] | None = None


def _run_chunk(indices: Sequence[int]) -> list[FloatArray]:
    assert _TASK is not None
    return [_TASK(i) for i in indices]


def _init_spawned(task: Callable[[int], FloatArray]) -> None:
    global _TASK
    _TASK = task
    _limit_threads()


def _limit_threads() -> None:
    """One BLAS thread per worker: the workers are the parallelism."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # pragma: no cover - threadpoolctl is a dependency
        pass


def _init_forked() -> None:
    _limit_threads()


def _map(
    task: Callable[[int], FloatArray], nsim: int, n_jobs: int, progress: Any, label: str
) -> list[FloatArray]:
    """``[task(i) for i in range(nsim)]`` over ``n_jobs`` processes, in order."""
    from ..numerics.progress import Progress

    global _TASK
    chunks = [list(range(i, min(nsim, i + _CHUNK))) for i in range(0, nsim, _CHUNK)]
    out: list[FloatArray] = []
    with Progress(nsim, label, progress) as bar:
        if n_jobs <= 1 or nsim <= _CHUNK:
            for i in range(nsim):
                out.append(task(i))
                bar.update()
            return out
        methods = multiprocessing.get_all_start_methods()
        if "fork" in methods:
            _TASK = task
            pool = ProcessPoolExecutor(
                n_jobs, mp_context=multiprocessing.get_context("fork"), initializer=_init_forked
            )
        else:  # pragma: no cover - platforms without fork
            pool = ProcessPoolExecutor(
                n_jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_spawned,
                initargs=(task,),
            )
        try:
            with pool:
                for part in pool.map(_run_chunk, chunks):
                    out.extend(part)
                    bar.update(len(part))
        finally:
            _TASK = None
    return out


def _workers(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs == 0:
        return 1
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    return int(n_jobs)


def _rng(entropy: int, i: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(i,)))


def _simulate_one(result: Any, rng: np.random.Generator) -> FloatArray:
    return np.asarray(result.simulate(1, seed=rng).to_numpy()[:, 0], dtype=np.float64)


def _entropy(seed: int | None) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def _check_nsim(nsim: Any) -> int:
    if isinstance(nsim, bool) or not isinstance(nsim, int | np.integer) or nsim < 1:
        raise ValueError(f"nsim must be a positive integer (number of simulations), got {nsim!r}")
    return int(nsim)


# --- bootstrap ------------------------------------------------------------------------------
def _norm_inter(t: FloatArray, alpha: FloatArray) -> FloatArray:
    """boot's ``norm.inter``: quantiles by interpolation on the normal scale between
    order statistics ``(R + 1) alpha``."""
    t = np.sort(t[np.isfinite(t)])
    R = t.size
    out = np.full(alpha.size, np.nan)
    if R == 0:
        return out
    rk = (R + 1) * alpha
    k = np.trunc(rk).astype(int)
    for i, (a, ki, rki) in enumerate(zip(alpha, k, rk, strict=True)):
        if ki == rki and 1 <= ki <= R:
            out[i] = t[ki - 1]
        elif ki <= 0:
            out[i] = t[0]
        elif ki >= R:
            out[i] = t[R - 1]
        else:
            z = stats.norm.ppf(a)
            z1 = stats.norm.ppf(ki / (R + 1))
            z2 = stats.norm.ppf((ki + 1) / (R + 1))
            out[i] = t[ki - 1] + (z - z1) / (z2 - z1) * (t[ki] - t[ki - 1])
    return out


@dataclass
class BootstrapResult:
    """Replicates of a statistic under the fitted model (see :func:`bootstrap`).

    Attributes
    ----------
    t0
        The statistic on the original fit.
    replicates
        ``nsim`` rows (in replicate order), one column per element of the statistic;
        a row of ``NaN`` where the refit failed.
    seed
        The entropy of the random streams (given or drawn): the same seed gives the
        same replicates.
    n_failed
        Number of failed refits.
    """

    t0: pd.Series
    replicates: pd.DataFrame
    seed: int
    n_failed: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def nsim(self) -> int:
        return len(self.replicates)

    def summary(self) -> pd.DataFrame:
        """``original``, ``bootBias``, ``bootSE`` and ``bootMed`` per statistic (as
        lme4's ``summary(bootMer(...))``)."""
        reps = self.replicates
        return pd.DataFrame(
            {
                "original": self.t0,
                "bootBias": reps.mean() - self.t0,
                "bootSE": reps.std(ddof=1),
                "bootMed": reps.median(),
            }
        )

    def confint(self, level: float = 0.95, type: str = "perc") -> pd.DataFrame:
        """Bootstrap confidence intervals (boot's ``boot.ci``): ``"perc"`` (percentile),
        ``"basic"`` (``2 t0 - `` the percentile ends) or ``"norm"`` (``t0`` minus the
        bias, plus or minus the normal quantile times the bootstrap SD)."""
        from .variance_parameters import _percent_labels

        if not 0.0 < level < 1.0:
            raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
        kind = str(type).lower()
        a = (1.0 - level) / 2.0
        rows = {}
        for name in self.replicates.columns:
            t = self.replicates[name].to_numpy(dtype=np.float64)
            t0 = float(self.t0[name])
            if kind in ("perc", "percentile"):
                lo, hi = _norm_inter(t, np.array([a, 1.0 - a]))
            elif kind == "basic":
                q_hi, q_lo = _norm_inter(t, np.array([1.0 - a, a]))
                lo, hi = 2.0 * t0 - q_hi, 2.0 * t0 - q_lo
            elif kind in ("norm", "normal"):
                ok = t[np.isfinite(t)]
                bias = float(ok.mean()) - t0 if ok.size else np.nan
                sd = float(ok.std(ddof=1)) if ok.size > 1 else np.nan
                z = float(stats.norm.ppf(1.0 - a))
                lo, hi = t0 - bias - z * sd, t0 - bias + z * sd
            else:
                raise ValueError(f"unknown interval type {type!r}; use 'perc', 'basic' or 'norm'")
            rows[name] = (lo, hi)
        return pd.DataFrame.from_dict(rows, orient="index", columns=_percent_labels(level))

    def __repr__(self) -> str:
        return (
            f"<BootstrapResult nsim={self.nsim}, {self.replicates.shape[1]} statistics, "
            f"seed={self.seed}, failed={self.n_failed}>"
        )


def bootstrap(
    result: Any,
    nsim: int = 500,
    statistic: Callable[[Any], Any] | None = None,
    seed: int | None = None,
    n_jobs: int | None = 1,
    progress: Any = True,
) -> BootstrapResult:
    """Parametric bootstrap of a fitted model (lme4's ``bootMer``, ``use.u = FALSE``).

    Each replicate simulates a response from the fitted model (new random effects and
    new residuals), refits the model to it by the same method and evaluates
    ``statistic`` on the refit.

    Parameters
    ----------
    result
        A fitted :class:`~mixedmodels.LMMResult` (or GLMM result).
    nsim
        Number of replicates (a positive integer).
    statistic
        ``statistic(fit)`` returning a number, a sequence, a dict or a pandas Series;
        default: the SDs and correlations of the random effects, the residual SD and
        the fixed effects (:meth:`~mixedmodels.LMMResult.confint`'s parameters).
    seed
        Seed of the random streams (one per replicate): the same seed gives the same
        replicates whatever ``n_jobs``.  ``None`` draws one (kept in the result).
    n_jobs
        Worker processes (``-1``: one per CPU).
    progress
        Progress bar on stderr; ``False`` switches it off.

    Returns
    -------
    BootstrapResult
        With ``confint(level, type)`` for percentile, basic and normal intervals.

    Examples
    --------
    >>> import mixedmodels as mm  # doctest: +SKIP
    >>> fit = mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    >>> boot = mm.bootstrap(fit, nsim=1000, seed=1, n_jobs=2)
    >>> boot.confint(type="perc")
    """
    nsim = _check_nsim(nsim)
    entropy = _entropy(seed)
    fun = default_statistic if statistic is None else statistic
    t0 = _as_series(fun(result))
    names = list(t0.index)
    width = len(names)

    def one(i: int) -> FloatArray:
        rng = _rng(entropy, i)
        try:
            y = _simulate_one(result, rng)
            fit = refit(result, y)
            value = _as_series(fun(fit), names)
            return np.asarray(value.reindex(names).to_numpy(dtype=np.float64))
        except (ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError):
            return np.full(width, np.nan)

    rows = _map(one, nsim, _workers(n_jobs), progress, "bootstrap")
    reps = pd.DataFrame(np.vstack(rows), columns=names)
    failed = int(reps.isna().all(axis=1).sum())
    messages = []
    if failed:
        messages.append(f"{failed} of {nsim} refits failed (rows of NaN)")
        warnings.warn(messages[-1], UserWarning, stacklevel=2)
    return BootstrapResult(t0, reps, entropy, failed, messages)


# --- parametric bootstrap likelihood-ratio test ---------------------------------------------
def pb_modcomp(
    large: Any,
    small: Any,
    nsim: int = 1000,
    seed: int | None = None,
    n_jobs: int | None = 1,
    progress: Any = True,
) -> pd.DataFrame:
    """Parametric bootstrap likelihood-ratio test of ``small`` nested in ``large``
    (pbkrtest's ``PBmodcomp``).

    Both models are refitted by maximum likelihood if fitted by REML; responses are
    simulated from the small (null) model, both models refitted to each, and the
    likelihood-ratio statistics form the reference distribution.

    Parameters
    ----------
    large, small
        Fitted models of the same response on the same rows, ``small`` nested in
        ``large``.
    nsim, seed, n_jobs, progress
        As for :func:`bootstrap`.

    Returns
    -------
    pandas.DataFrame
        Rows ``LRT`` (chi-square reference) and ``PBtest`` (bootstrap reference,
        ``p = (1 + #{t* > t}) / (1 + #{t* > 0})`` as pbkrtest), columns ``stat``,
        ``df``, ``p.value``.  ``attrs``: ``reference`` (the simulated statistics, a list),
        ``n_extreme``, ``n_positive``, ``nsim``, ``seed``.
    """
    from .anova import _check_comparable, _check_nested

    nsim = _check_nsim(nsim)
    entropy = _entropy(seed)
    if int(large.df) < int(small.df):
        large, small = small, large
    _check_comparable([small, large], ["small", "large"])
    _check_nested(small, large, "small", "large")
    large_ml, small_ml = (_ml(large), _ml(small))
    tobs = max(0.0, 2.0 * (float(large_ml.loglik) - float(small_ml.loglik)))
    df = int(large_ml.df) - int(small_ml.df)

    def one(i: int) -> FloatArray:
        rng = _rng(entropy, i)
        try:
            y = _simulate_one(small_ml, rng)
            ll = float(refit(large_ml, y).loglik) - float(refit(small_ml, y).loglik)
            return np.array([2.0 * ll])
        except (ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError):
            return np.array([np.nan])

    ref = np.concatenate(_map(one, nsim, _workers(n_jobs), progress, "PB test"))
    ok = ref[np.isfinite(ref)]
    positive = ok[ok > 0]
    n_extreme = int(np.sum(tobs < positive))
    p_pb = (1 + n_extreme) / (1 + positive.size)
    p_chi = float(stats.chi2.sf(tobs, df)) if df > 0 else math.nan
    table = pd.DataFrame(
        {"stat": [tobs, tobs], "df": [float(df), np.nan], "p.value": [p_chi, p_pb]},
        index=pd.Index(["LRT", "PBtest"]),
    )
    table.attrs.update(
        {
            "reference": ref.tolist(),
            "n_extreme": n_extreme,
            "n_positive": int(positive.size),
            "nsim": nsim,
            "seed": entropy,
        }
    )
    return table


def _ml(fit: Any) -> Any:
    if getattr(fit, "reml", False):
        return fit.refit_ml()
    return fit
