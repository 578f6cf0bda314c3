"""Evaluating formula expressions with formulaic: R's function names in the evaluation
context, logical values treated as factors (as R's ``model.matrix`` does), unseen levels
of new data as errors, and the check that the data has the columns a part uses.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import ModelSpecificationError
from ..formula.deparse import deparse
from ..formula.tokens import FormulaError

__all__ = ["formulaic_matrix", "known_names", "require_columns"]

_CONTEXT: dict[str, Any] | None = None
_MATERIALIZER: type | None = None


def _r_log(x: Any, base: float | None = None) -> Any:
    """R's ``log(x, base)``."""
    return np.log(x) if base is None else np.log(x) / np.log(base)


def _context() -> dict[str, Any]:
    """Names available in formula expressions, beyond formulaic's own transforms."""
    global _CONTEXT
    if _CONTEXT is None:
        from formulaic.transforms import TRANSFORMS

        _CONTEXT = {
            "log": _r_log,
            "sqrt": np.sqrt,
            "abs": np.abs,
            "log1p": np.log1p,
            "expm1": np.expm1,
            "sin": np.sin,
            "cos": np.cos,
            "tan": np.tan,
            "floor": np.floor,
            "ceiling": np.ceil,
            "trunc": np.trunc,
            "round": np.round,
            "sign": np.sign,
            "pmin": np.minimum,
            "pmax": np.maximum,
            "ifelse": np.where,
            "pi": np.pi,
            "factor": TRANSFORMS["C"],
        }
    return _CONTEXT


def known_names() -> set[str]:
    """Names an expression may use without being a data column."""
    from formulaic.transforms import TRANSFORMS

    return set(_context()) | set(TRANSFORMS) | {"np", "contr"}


def _materializer() -> type:
    """formulaic's pandas materializer, with booleans encoded as factors."""
    global _MATERIALIZER
    if _MATERIALIZER is None:
        from formulaic.materializers import PandasMaterializer
        from interface_meta import override

        class _RMaterializer(PandasMaterializer):  # type: ignore[misc]
            REGISTER_NAME = "mixedmodels_r"
            REGISTER_INPUTS = ()
            REGISTER_OUTPUTS = ("pandas", "numpy")

            @override
            def _is_categorical(self, values: Any) -> bool:
                dtype = getattr(values, "dtype", None)
                if dtype is not None and pd.api.types.is_bool_dtype(dtype):
                    return True
                return bool(super()._is_categorical(values))

        _MATERIALIZER = _RMaterializer
    return _MATERIALIZER


def formulaic_matrix(
    keys: Sequence[str], frame: pd.DataFrame, spec: Any, what: str
) -> tuple[NDArray[np.float64], Any]:
    """Evaluate factor expressions with formulaic (fit: ``spec`` None; new data: reuse)."""
    from formulaic import Formula

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # NaN from log(-1) and the like is a missing value (dropped), as in R.
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            # An unseen level would silently become a row of zeros: make it an error.
            warnings.filterwarnings("error", message=".*categories outside of the nominated")
            if spec is None:
                mm = Formula("0 + " + " + ".join(keys)).get_model_matrix(
                    frame,
                    context=_context(),
                    materializer=_materializer(),
                    na_action="ignore",
                    ensure_full_rank=False,
                    output="numpy",
                )
                spec = mm.model_spec
            else:
                _materializer()  # registers the materializer by name (e.g. after unpickling)
                mm = spec.get_model_matrix(frame, context=_context(), na_action="ignore")
    except Warning as exc:
        found = re.search(r"\{.*\}", str(exc))
        levels = found.group(0) if found else str(exc)
        raise ModelSpecificationError(
            f"{what}: {', '.join(deparse(k) for k in keys)} has level(s) {levels} that were "
            "not present in the data used for fitting"
        ) from exc
    except FormulaError:
        raise
    except Exception as exc:
        raise FormulaError(f"{what}: cannot evaluate {', '.join(keys)}: {exc}") from exc
    return np.asarray(mm, dtype=np.float64), spec


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        avail = ", ".join(map(str, list(frame.columns)[:40]))
        raise FormulaError(f"column {missing[0]!r} ({what}) not found in data; available: {avail}")
