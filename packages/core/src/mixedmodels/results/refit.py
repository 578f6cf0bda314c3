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


def refit_start(model: Model, theta: Any) -> FloatArray:
    """The start of a refit, as lme4's ``refit``: the fitted parameters, with theta's
    values on a zero lower bound (where the criterion is flat) moved to 0.05."""
    lower = np.concatenate([np.zeros(0), *[s.bounds()[0] for s in model.structures]])
    start = np.array(theta, dtype=np.float64)
    head = start[: lower.size]
    head[(lower == 0) & (head < 0.05)] = 0.05
    return start
