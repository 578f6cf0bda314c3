"""Exact case deletion (``method="exact"``): the model refitted without each unit, as
influence.ME's ``influence()`` and HLMdiag's ``case_delete``, and the measures computed
from the refits.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mixedmodels.interfaces import FloatArray

from ._influence_units import is_glmm, varcomp

__all__ = ["case_measures", "refit_deleted"]


def _refit_spec(result: Any) -> tuple[str, dict[str, Any]]:
    """The estimator name and options that fit ``result`` again."""
    if is_glmm(result):
        nagq = int(result.nagq)
        if nagq == 0:
            return "fast", {}
        return ("laplace" if nagq == 1 else "agq"), {"nagq": nagq}
    # As lme4's refit: start from the fitted theta moved off a zero bound (where the
    # criterion is flat), which saves most of the optimiser's iterations.
    lower = np.concatenate([s.bounds()[0] for s in result.model.structures])
    start = np.asarray(result.theta, dtype=np.float64).copy()
    start[(lower == 0) & (start < 0.05)] = 0.05
    return ("reml" if result.reml else "ml"), {"start": start, "check": False}


def _refit_without(result: Any, drop: np.ndarray, method: str, options: dict[str, Any]) -> Any:
    """``result``'s model fitted again without the used rows at positions ``drop``."""
    import mixedmodels as mm

    model = result.model
    used = model.data.loc[model.design.row_index]
    keep = np.ones(len(used), dtype=bool)
    keep[drop] = False
    extra: dict[str, Any] = {}
    if model.weights is not None:
        extra["weights"] = np.asarray(model.weights)[keep]
    if model.offset is not None:
        # model.offset adds the formula's offset() terms, which the new design rebuilds.
        formula_offset = model.design.offset
        rest = np.asarray(model.offset) - (0.0 if formula_offset is None else formula_offset)
        if np.any(rest != 0):
            extra["offset"] = rest[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        new = mm.Model(
            model.formula, used.iloc[keep], family=model.family, link=model.link, **extra
        )
        return new.fit(method=method, **options)


def refit_deleted(
    result: Any, rows: Sequence[np.ndarray], n_jobs: int | None, progress: Any
) -> tuple[FloatArray, list[FloatArray], FloatArray]:
    """Deleted-data fixed effects (k x p), their covariances and variance components."""
    from mixedmodels.extending import parallel_map

    p = len(result.fixef)
    nvc = len(varcomp(result))
    method, options = _refit_spec(result)
    width = p + p * p + nvc

    def one(i: int) -> FloatArray:
        try:
            fit = _refit_without(result, rows[i], method, options)
            return np.concatenate(
                [
                    fit.fixef.to_numpy(dtype=np.float64),
                    fit.vcov.to_numpy(dtype=np.float64).ravel(),
                    varcomp(fit).to_numpy(dtype=np.float64),
                ]
            )
        except (ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError):
            return np.full(width, np.nan)

    out = np.vstack(parallel_map(one, len(rows), n_jobs, progress, "influence"))
    fixef = out[:, :p]
    vcovs = [v.reshape(p, p) for v in out[:, p : p + p * p]]
    return fixef, vcovs, out[:, p + p * p :]


def case_measures(
    beta: FloatArray, V: FloatArray, fixef_del: FloatArray, vcov_del: Sequence[FloatArray]
) -> pd.DataFrame:
    """HLMdiag's case-deletion measures from refits (a loop over the k refits)."""
    p = beta.size
    Vinv = np.linalg.inv(V)
    logdet_V = np.linalg.slogdet(V)[1]
    d = beta[None, :] - fixef_del
    cooks = np.einsum("kp,pq,kq->k", d, Vinv, d) / p
    rows = []
    for di, Vd in zip(d, vcov_del, strict=True):
        if not np.all(np.isfinite(Vd)):
            rows.append((np.nan, np.nan, np.nan))
            continue
        sign, logdet = np.linalg.slogdet(Vd)
        rows.append(
            (
                float(di @ np.linalg.solve(Vd, di)) / p,
                float(sign * math.exp(logdet - logdet_V)),
                abs(float(np.trace(Vinv @ Vd)) - p),
            )
        )
    other = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return pd.DataFrame(
        {
            "cooks_distance": cooks,
            "mdffits": other[:, 0],
            "covratio": other[:, 1],
            "covtrace": other[:, 2],
        }
    )
