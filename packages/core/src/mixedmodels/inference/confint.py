"""Confidence intervals: Wald, profile likelihood (as lme4's ``confint``) and bootstrap.

Parameters are named as lme4's ``confint(fit, oldNames = FALSE)``: random-effect SDs
``sd_(Intercept)|Subject``, correlations ``cor_Days.(Intercept)|Subject``, the residual
SD ``sigma``, then the fixed effects; lme4's old names (``.sig01``, ``.sigma``) are
accepted in ``parm`` too.

Profile intervals follow lme4 (``profile.merMod``): the ML deviance (a REML fit is
refitted by ML first), profiled over all other parameters, gives the signed root
``zeta(x) = sign(x - x_hat) sqrt(dev(x) - dev_min)``, and the interval ends are where
``zeta`` equals the normal quantiles.  Variance parameters are profiled on the SD /
correlation scale with the residual SD free; a fixed effect ``beta_j = b`` is profiled
in closed form over the other fixed effects and sigma,
``r^2(theta, b) = r^2(theta) + (b - beta_j(theta))^2 / [(X'V^-1X)^-1]_jj``, and
numerically over theta.  Instead of lme4's spline through a grid of profile points,
the ends are found by root finding on ``zeta`` (a handful of profile points each).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..generalized.criterion import GLMMProblem
from ..linear.interface import is_linear_criterion
from .profile import _profile_intervals
from .variance_parameters import _percent_labels, variance_parameter_names

__all__ = ["confint", "variance_parameter_names"]


# --- the public function ----------------------------------------------------------------------
def _select(result: Any, parm: Any) -> list[str]:
    vnames = variance_parameter_names(result)
    old = variance_parameter_names(result, old=True)
    fnames = list(result.model.fixef_names)
    every = vnames + fnames
    if parm is None:
        return every
    if isinstance(parm, str):
        parm = [parm]
    out: list[str] = []
    for p in parm:
        if isinstance(p, int | np.integer) and not isinstance(p, bool):
            if not 0 <= int(p) < len(every):
                raise ValueError(f"parameter index {p} out of range (0..{len(every) - 1})")
            out.append(every[int(p)])
        elif p == "theta_":
            out.extend(vnames)
        elif p == "beta_":
            out.extend(fnames)
        elif p in every:
            out.append(str(p))
        elif p in old:
            out.append(vnames[old.index(p)])
        else:
            raise ValueError(
                f"unknown parameter {p!r}; parameters are {every} (lme4's old names "
                f"{old} are accepted too, and 'theta_' / 'beta_' for all of a kind)"
            )
    return list(dict.fromkeys(out))


def confint(
    result: Any,
    parm: Any = None,
    level: float = 0.95,
    method: str = "profile",
    nsim: int = 500,
    seed: int | None = None,
    boot_type: str = "perc",
    n_jobs: int = 1,
    progress: Any = True,
) -> pd.DataFrame:
    """Confidence intervals for the fixed effects and the variance parameters.

    See :meth:`mixedmodels.LMMResult.confint`.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    key = str(method).strip().lower()
    names = _select(result, parm)
    labels = _percent_labels(level)
    vnames = variance_parameter_names(result)
    if key == "wald":
        z = float(stats.norm.ppf(0.5 + level / 2.0))
        fe = result.fixef
        se = result.fixef_se
        rows = {}
        for n in names:
            if n in vnames:
                rows[n] = (np.nan, np.nan)  # lme4: no Wald intervals for these
            else:
                rows[n] = (fe[n] - z * se[n], fe[n] + z * se[n])
    elif key == "profile":
        problem = getattr(result, "_problem", None)
        if isinstance(problem, GLMMProblem):
            from .glmm_profile import glmm_profile_intervals

            rows = glmm_profile_intervals(result, names, level, progress)
        elif is_linear_criterion(problem):
            rows = _profile_intervals(result, names, level, progress)
        else:
            raise TypeError(
                f"profile intervals are implemented for linear and generalized linear "
                f"mixed models, not {type(result).__name__}; use method='wald' or 'boot'"
            )
    elif key in ("boot", "bootstrap"):
        from .bootstrap import bootstrap

        boot = bootstrap(result, nsim=nsim, seed=seed, n_jobs=n_jobs, progress=progress)
        table = boot.confint(level=level, type=boot_type)
        values = table.loc[names].to_numpy(dtype=np.float64)
        rows = {n: (float(v[0]), float(v[1])) for n, v in zip(names, values, strict=True)}
    else:
        raise ValueError(f"unknown method {method!r}; use 'wald', 'profile' or 'boot'")
    return pd.DataFrame.from_dict(rows, orient="index", columns=labels).loc[names]
