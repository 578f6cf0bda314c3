"""Spatial parameters reported as glmmTMB does (its internal log-scale ``theta``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._structures import STRUCTURES

__all__ = ["glmmtmb_theta"]

_NAMES = {cls.name for cls in STRUCTURES}


def glmmtmb_theta(fit: Any) -> pd.Series:
    """glmmTMB's ``theta`` of each spatial random field of ``fit``: ``log(sd)`` (the
    field's SD on the response scale), ``log(range)`` and, for a Matérn with its
    smoothness estimated, ``log(smoothness)``.

    Parameters
    ----------
    fit
        A fitted LMM or GLMM with a spatial field term (``exp(pos + 0 | group)``).

    Returns
    -------
    pandas.Series
        Indexed ``"<group>:log(sd)"``, ``"<group>:log(range)"``, ...
    """
    table = fit.structure_parameters(conf_int=False)
    rows = table[(table["effect"] == "ran_pars") & table["structure"].isin(_NAMES)]
    if rows.empty:
        raise ValueError("the fit has no spatial random-field term")
    keep = rows[rows["term"].isin(["sd", "range", "smoothness"])]
    index = [f"{g}:log({t})" for g, t in zip(keep["group"], keep["term"], strict=True)]
    return pd.Series(np.log(keep["estimate"].to_numpy(dtype=float)), index=index, name="theta")
