"""The public entry point :func:`simulate_residuals` (DHARMa's ``simulateResiduals``).

It sits above the plots so that its ``plot=True`` option draws without the residuals
module importing upward; the simulation itself is
:func:`~mixedmodels_diagnostics._residuals.simulate_scaled_residuals`.
"""

from __future__ import annotations

from typing import Any

from ._residual_plots import plot_residuals
from ._residuals import ScaledResiduals, simulate_scaled_residuals

__all__ = ["simulate_residuals"]


def simulate_residuals(
    fit: Any,
    n: int = 250,
    seed: Any = None,
    conditional: bool = False,
    integer_response: bool | None = None,
    refit: bool = False,
    plot: bool = False,
    *,
    method: str = "PIT",
    n_jobs: int | None = 1,
) -> ScaledResiduals:
    """Simulation-based scaled residuals of a fitted mixed model (DHARMa's
    ``simulateResiduals``).

    Parameters
    ----------
    fit
        A fitted :class:`~mixedmodels.LMMResult` or :class:`~mixedmodels.GLMMResult`.
    n
        Number of simulations (DHARMa's ``n``, default 250).
    seed
        Seed of the simulations and of the randomisation over ties.
    conditional
        ``False`` (default, DHARMa's default): simulate with new random effects
        (lme4's ``re.form = NA``); ``True``: given the conditional modes
        (``re.form = NULL``), which is often more sensitive to dispersion problems.
    integer_response
        Treat the response as integer valued; ``None`` decides from the family
        (binomial, Poisson, negative binomial).  Only ``method="traditional"`` uses it:
        the default PIT randomises over ties whatever the response.
    refit
        ``True``: DHARMa's parametric bootstrap; refit the model to each simulated
        response and take the residuals of the original fit among the residuals of
        the refits (deviance residuals for GLMMs, response residuals for LMMs).  Slow:
        ``n`` refits (``n_jobs`` worker processes).
    plot
        Draw :func:`plot_residuals` as well.
    method
        ``"PIT"`` (default) or ``"traditional"`` (see :func:`get_quantile`).
    n_jobs
        Worker processes for ``refit=True`` (``-1``: one per CPU).

    Returns
    -------
    ScaledResiduals
        The simulations, fitted values and scaled residuals.

    Raises
    ------
    TypeError
        ``fit`` is not a fitted LMM or GLMM.
    ValueError
        ``n`` is not a positive integer.

    Examples
    --------
    >>> import mixedmodels as mm, mixedmodels_diagnostics as mmd  # doctest: +SKIP
    >>> fit = mm.glmm("incidence/size ~ period + (1|herd)", cbpp, family="binomial",
    ...               weights="size")
    >>> res = mmd.simulate_residuals(fit, n=250, seed=1)
    >>> mmd.test_uniformity(res)
    """
    out = simulate_scaled_residuals(
        fit,
        n,
        seed,
        conditional,
        integer_response,
        refit,
        method=method,
        n_jobs=n_jobs,
    )
    if plot:
        plot_residuals(out)
    return out
