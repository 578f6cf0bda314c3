"""What a result is, for the ``performance``-style statistics and checks: an LMM, a
GLMM or something they cannot read, and the ``TypeError`` they raise for the latter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "COUNT_FAMILIES",
    "family_link",
    "is_bernoulli",
    "mixed_reason",
    "require",
    "result_kind",
    "type_name",
]

FloatArray = NDArray[np.float64]

COUNT_FAMILIES = ("poisson", "negative_binomial")


def result_kind(result: Any) -> str | None:
    """``"lmm"``, ``"glmm"`` or ``None`` (not a mixed-model result this module reads)."""
    try:
        from mixedmodels import GLMMResult, LMMResult
    except ImportError:  # pragma: no cover - the core always has both
        return None
    if isinstance(result, LMMResult | GLMMResult) and not getattr(result.model, "terms", None):
        return None  # a GLS fit (an LMMResult subclass) has no random effects
    if isinstance(result, LMMResult):
        return "lmm"
    if isinstance(result, GLMMResult):
        return "glmm"
    return None


def no_random_effects(result: Any) -> str:
    """`` (it has no random effects)`` for a result of a result class without them."""
    model = getattr(result, "model", None)
    if model is not None and hasattr(model, "terms") and not model.terms:
        return " (it has no random effects)"
    return ""


def type_name(result: Any) -> str:
    """The result's class, noting a result class without random effects (GLS)."""
    return type(result).__name__ + no_random_effects(result)


def family_link(result: Any) -> tuple[str, str]:
    if result_kind(result) == "lmm":
        return "gaussian", "identity"
    return str(result.family.name), str(result.link.name)


def is_bernoulli(result: Any) -> bool:
    """A binomial model with one trial per row (performance's ``is_bernoulli``)."""
    model = result.model
    w = model.prior_weights
    return w is None or bool(np.all(w == 1))


def require(result: Any, check: str, reason: str | None) -> None:
    if reason is not None:
        raise TypeError(f"{check}: cannot check a {type(result).__name__}: {reason}")


def mixed_reason(result: Any, check: str) -> str | None:
    if result_kind(result) is None:
        return f"{check} needs an LMMResult or GLMMResult, got {type_name(result)}"
    return None
