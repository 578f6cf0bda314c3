"""MASS's glmmPQL iteration: weighted ML linear mixed models on the working response.

Each step fits ``zz ~ fixed + random`` by maximum likelihood with precision weights
``wz`` (nlme's ``varFixed(~ 1/wz)``) and the residual correlation, then updates the
working response and weights from the fitted linear predictor; it stops, as MASS does,
when ``sum((eta - eta_old)^2) < 1e-6 sum(eta^2)`` or after ``niter`` steps.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import mixedmodels as mm
from mixedmodels.interfaces import Family, FloatArray, Link

from ._glm import GLMStart

__all__ = ["PQLConvergenceWarning", "PQLIterations", "pql_iterate"]


class PQLConvergenceWarning(mm.ConvergenceWarning):
    """glmmPQL stopped at ``niter`` before the linear predictor settled."""


@dataclass
class PQLIterations:
    lmm: Any  # the last weighted LMM fit (mixedmodels.LMMResult)
    eta: FloatArray
    iterations: int
    converged: bool
    working_response: FloatArray
    working_weights: FloatArray


def working_model(base: mm.Model, zz: FloatArray, wz: FloatArray, correlation: Any) -> mm.Model:
    """The working LMM ``zz ~ fixed + random`` with precision weights ``wz``, made from
    the glmmPQL model without parsing the formula again: the fixed and random design
    are the base model's, only the response, family, weights and offset change (as
    in MASS, the working fit has no offset: it is taken out of ``zz``)."""
    model = copy.copy(base)
    model.design = dataclasses.replace(
        base.design, y=zz, offset=None, response_name="zz", formula=base.formula
    )
    model.family, model.link = _gaussian()
    model.y = zz
    model.trials = None
    model.weights = wz
    model.offset = None
    model.extras = {} if correlation is None else {"correlation": correlation}
    return model


@functools.cache
def _gaussian() -> tuple[Family, Link]:
    """The registered gaussian family and identity link (through the public Model)."""
    probe = mm.Model("y ~ 1", pd.DataFrame({"y": [0.0, 1.0, 3.0]}))
    return probe.family, probe.link


def pql_iterate(
    frame: pd.DataFrame | Callable[[], pd.DataFrame],
    rhs: str,
    y: FloatArray,
    prior: FloatArray,
    offset: FloatArray,
    family: Family,
    link: Link,
    start: GLMStart,
    correlation: Any = None,
    niter: int = 10,
    base: mm.Model | None = None,
    **lmm_options: Any,
) -> PQLIterations:
    """Run glmmPQL's loop from the GLM start.

    ``frame`` holds the rows used (in order), or makes them when called; ``rhs`` is
    the right-hand side, fixed and random terms (lme4 syntax); ``offset`` is
    subtracted from the working response as in MASS and added back to the fitted
    values.  ``base``, the glmmPQL model
    on the same rows, lends its design to the working fits (no formula parsing);
    without it (or when a working weight is not positive, so that rows drop out) the
    working model is built from ``frame``.
    """
    data: pd.DataFrame | None = None
    eta = start.eta.copy()
    zz = eta + start.residuals - offset
    wz = start.weights.copy()
    formula = f"zz_pql_ ~ {rhs}"
    fit = None
    converged = False
    i = 0
    model: Any = None
    for i in range(1, niter + 1):  # noqa: B007 - the count is reported
        if base is not None and np.all(wz > 0):
            if model is None:
                model = working_model(base, zz, wz, correlation)
            else:
                model.design.y = zz
                model.y = zz
                model.weights = wz
        elif model is None or not np.all(wz > 0):
            if data is None:
                data = (frame() if callable(frame) else frame).copy()
            data["zz_pql_"] = zz
            data["wz_pql_"] = wz
            extras = {} if correlation is None else {"correlation": correlation}
            model = mm.Model(formula, data, family="gaussian", weights="wz_pql_", **extras)
        else:
            # the design does not change between iterations, only the working response
            # and weights: swap them into the model instead of building it again
            model.design.y = zz
            model.y = zz
            model.weights = wz
        options = dict(lmm_options)
        if fit is not None and "start" not in options:
            # warm start from the previous working fit (as lme4's refit: zero SDs
            # nudged off the boundary)
            options["start"] = np.where(fit.theta == 0, 0.05, fit.theta)
        fit = model.fit(method="ml", **options)
        eta_old = eta
        eta = np.asarray(fit.fitted(), dtype=np.float64) + offset
        if np.sum((eta - eta_old) ** 2) < 1e-6 * np.sum(eta**2):
            converged = True
            break
        mu = link.inverse(eta)
        mu_eta = link.mu_eta(eta)
        zz = eta + (y - mu) / mu_eta - offset
        wz = prior * mu_eta**2 / family.variance(mu)
    if not converged:
        warnings.warn(
            f"glmmPQL: the linear predictor still changed after niter={niter} iterations",
            PQLConvergenceWarning,
            stacklevel=3,
        )
    return PQLIterations(fit, eta, i, converged, zz, wz)
