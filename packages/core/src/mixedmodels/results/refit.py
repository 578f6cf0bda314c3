"""Refitting a model to a new response (lme4's ``refit``): the pieces the result classes
share."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np

from ..interfaces import FloatArray
from ..model import Model

__all__ = ["refit_start", "with_response"]


def with_response(model: Model, y: FloatArray) -> Model:
    """A shallow copy of ``model`` whose response is ``y`` (same design otherwise).

    For a binomial ``cbind`` response, ``y`` is the proportion of successes (as the
    family simulates it) and the trials stay those of the data."""
    y = np.asarray(y, dtype=np.float64)
    new = copy.copy(model)
    if getattr(model, "trials", None) is not None:
        trials = np.asarray(model.trials, dtype=np.float64)
        design_y = np.column_stack([y * trials, (1.0 - y) * trials])
    else:
        design_y = y
    new.design = dataclasses.replace(model.design, y=design_y)
    if hasattr(model, "y"):
        new.y = y
    return new


def refit_start(model: Model, theta: Any, problem: Any = None) -> FloatArray:
    """The start of a refit, as lme4's ``refit``: the fitted parameters, with theta's
    values on a zero lower bound (where the criterion is flat) moved to 0.05.

    For a fit on standardised matrices (``problem`` with a ``transform``, decision
    0014) the rule applies to the standardised theta: 0.05 is not small in every unit
    of a covariate (a slope SD of 1e-7 per microday is not a zero)."""
    lower = np.concatenate([np.zeros(0), *[s.bounds()[0] for s in model.structures]])
    transform = getattr(problem, "transform", None)
    start = np.array(theta, dtype=np.float64)
    if transform is not None:
        start = transform.theta_to_standard(start)[0]
    head = start[: lower.size]
    head[(lower == 0) & (head < 0.05)] = 0.05
    if transform is not None:
        start = transform.theta_from_standard(start)
    return start
