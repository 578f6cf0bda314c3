"""Built-in output formats for fitted models: ``text``, ``json`` and ``csv``.

Each formatter is a ``callable(result) -> str``.  The core registers them through the
``mixedmodels_formatters`` hook (see :mod:`mixedmodels._builtin`); the CLI's
``--format`` option looks them up by name, so a plugin can add more formats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["BUILTIN_FORMATTERS", "format_csv", "format_json", "format_text", "result_to_dict"]


def format_text(result: Any) -> str:
    """lme4-style text summary (``summary(fit)`` in R).

    Parameters
    ----------
    result
        A fitted result with a ``summary()`` method (e.g. :class:`~mixedmodels.LMMResult`).

    Returns
    -------
    str
        The summary, ending with a newline.
    """
    text = str(result.summary())
    return text if text.endswith("\n") else text + "\n"


def _clean(value: Any) -> Any:
    """Convert numpy/pandas scalars and arrays to JSON-ready Python values.

    Non-finite floats become ``None`` (JSON has no NaN or infinity).
    """
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def result_to_dict(result: Any) -> dict[str, Any]:
    """The numbers of a fitted linear mixed model as a plain dictionary.

    Parameters
    ----------
    result
        A fitted :class:`~mixedmodels.LMMResult`.

    Returns
    -------
    dict
        Keys ``formula``, ``method``, ``fixef``, ``se``, ``vcov``, ``varcorr`` (one
        record per variance or correlation, as lme4's ``as.data.frame(VarCorr(fit))``),
        ``sigma``, ``theta``, ``logLik``, ``AIC``, ``BIC``, ``deviance``,
        ``REMLcrit`` (``None`` for ML fits), ``df``, ``nobs``, ``ngrps``,
        ``converged``, ``singular``, ``messages`` and ``dropped_columns``.  Non-finite
        numbers are ``None``.
    """
    fixef = result.fixef
    se = result.fixef_se
    vcov = result.vcov
    varcorr = result.varcorr()
    records = []
    for row in varcorr.itertuples(index=False):
        records.append(
            {
                "grp": row.grp,
                "var1": None if row.var1 is None or row.var1 != row.var1 else row.var1,
                "var2": None if row.var2 is None or row.var2 != row.var2 else row.var2,
                "vcov": float(row.vcov),
                "sdcor": float(row.sdcor),
            }
        )
    model = result.model
    out = {
        "formula": str(model.formula),
        "method": str(result.method),
        "fixef": {str(k): float(v) for k, v in fixef.items()},
        "se": {str(k): float(v) for k, v in se.items()},
        "vcov": {
            "names": [str(c) for c in vcov.columns],
            "values": vcov.to_numpy().tolist(),
        },
        "varcorr": records,
        "sigma": float(result.sigma),
        "theta": np.asarray(result.theta, dtype=float).tolist(),
        "logLik": float(result.loglik),
        "AIC": float(result.aic),
        "BIC": float(result.bic),
        "deviance": float(result.deviance),
        "REMLcrit": None if result.reml_criterion is None else float(result.reml_criterion),
        "df": int(result.df),
        "nobs": int(result.nobs),
        "ngrps": {str(k): int(v) for k, v in result.ngrps.items()},
        "converged": bool(result.converged),
        "singular": bool(result.singular),
        "messages": [str(m) for m in result.messages],
        "dropped_columns": [str(c) for c in getattr(model, "dropped_columns", [])],
    }
    return dict(_clean(out))


def format_json(result: Any) -> str:
    """The fit as a JSON document (see :func:`result_to_dict` for the keys).

    Parameters
    ----------
    result
        A fitted :class:`~mixedmodels.LMMResult`.

    Returns
    -------
    str
        Indented JSON, ending with a newline.
    """
    return json.dumps(result_to_dict(result), indent=2, allow_nan=False) + "\n"


def format_csv(result: Any) -> str:
    """The tidy table (:func:`mixedmodels.tidy`) as CSV.

    Parameters
    ----------
    result
        Any result with a registered tidier.

    Returns
    -------
    str
        CSV text with a header row (broom.mixed's column names), missing values empty,
        numbers with 17 significant digits.
    """
    from .verbs import tidy

    table = tidy(result)
    return str(table.to_csv(index=False, float_format="%.17g", lineterminator="\n"))


BUILTIN_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "text": format_text,
    "json": format_json,
    "csv": format_csv,
}
