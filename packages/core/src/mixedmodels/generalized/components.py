"""The linear predictors of a multi-predictor model: conditional, zero-inflation and
dispersion, each with its own formula (glmmTMB's ``formula``, ``ziformula``,
``dispformula``)."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..interfaces import ConditionalFamily, FloatArray, Link
from ..linear.layout import TermData, model_term_data

if TYPE_CHECKING:
    from ..model import Model

__all__ = ["Component", "build_components", "rhs_of"]

_RESPONSE = "mm_component_response_"


@dataclass
class Component:
    """One linear predictor ``X beta + offset + Z Lambda u``."""

    name: str  # "cond", "zi" or "disp"
    formula: str  # the right-hand side as given
    X: FloatArray
    fixef_names: list[str]
    offset: FloatArray | None
    link: Link
    terms: list[TermData] = field(default_factory=list)
    group_names: list[str] = field(default_factory=list)
    term_exprs: list[str] = field(default_factory=list)
    column_names: list[list[str]] = field(default_factory=list)
    level_names: list[list[str]] = field(default_factory=list)
    model: Any = None  # the sub-model (for new data)

    @property
    def p(self) -> int:
        return int(self.X.shape[1])

    def fixed_part(self, beta: FloatArray) -> FloatArray:
        eta = self.X @ beta
        return eta if self.offset is None else eta + self.offset


def rhs_of(formula: str) -> str:
    """The right-hand side of ``"y ~ a + b"`` or ``"~ a + b"``."""
    if "~" not in formula:
        return formula.strip()
    return formula.split("~", 1)[1].strip()


def _is_empty(rhs: str) -> bool:
    return re.sub(r"\s+", "", rhs) in ("0", "-1", "")


def _component(name: str, model: Model, rhs: str, link: Link, from_model: bool) -> Component:
    if from_model:
        sub = model
    else:
        from ..model import Model as _Model

        frame = model.data.loc[model.design.row_index].copy()
        frame[_RESPONSE] = 0.0
        label = {"zi": "ziformula", "disp": "dispformula"}[name]
        try:
            with warnings.catch_warnings():
                # dropped rows are an error below, naming the formula
                warnings.filterwarnings("ignore", message=".*rows with missing values")
                sub = _Model(f"{_RESPONSE} ~ {rhs}", frame, family="gaussian")
        except ValueError as err:
            raise ValueError(f"{label} '~ {rhs}': {err}") from err
        if sub.n_obs != model.n_obs:
            raise ValueError(
                f"{label} '~ {rhs}' has missing values in {model.n_obs - sub.n_obs} rows "
                "that the conditional formula uses; remove those rows from the data first"
            )
    terms = model_term_data(sub)
    return Component(
        name=name,
        formula=rhs,
        X=sub.X,
        fixef_names=list(sub.fixef_names),
        offset=sub.offset,
        link=link,
        terms=terms,
        group_names=list(sub.group_names),
        term_exprs=[t.expr for t in sub.terms],
        column_names=[list(t.column_names) for t in sub.terms],
        level_names=[list(t.levels) for t in sub.terms],
        model=sub,
    )


def build_components(model: Model) -> dict[str, Component]:
    """The components of ``model``: ``cond`` always, ``zi`` when ``ziformula`` is given
    and not ``~ 0``, ``disp`` when the family has a dispersion predictor.

    Raises
    ------
    ValueError
        For a ``dispformula`` with a random-effect term, a zero-inflation model of a
        response without zeros, or a truncated family with zeros and no ``ziformula``.
    """
    from ..plugin_manager import manager as _plugins

    family = model.family
    if not isinstance(family, ConditionalFamily):
        raise ValueError(f"family {family.name!r} is not a conditional-density family")
    out = {"cond": _component("cond", model, rhs_of(model.formula), model.link, True)}
    y = model.y
    zi = model.extras.get("ziformula")
    if zi is not None:
        rhs = rhs_of(zi)
        if rhs == ".":
            rhs = rhs_of(model.formula)
        if not _is_empty(rhs):
            if not np.any(y == 0):
                raise ValueError(
                    f"ziformula '~ {rhs}': response {model.design.response_name!r} has no "
                    "zeros, so a zero-inflation (or hurdle) probability cannot be estimated; "
                    "drop ziformula"
                )
            out["zi"] = _component("zi", model, rhs, _plugins.get_link("logit"), False)
    if family.truncated and "zi" not in out and np.any(y == 0):
        what = "has zero density at 0" if family.support == "positive" else "is zero-truncated"
        raise ValueError(
            f"family {family.name!r} {what} but response "
            f"{model.design.response_name!r} has {int(np.sum(y == 0))} zeros; give a "
            "ziformula for the zeros (a hurdle model) or use the untruncated family"
        )
    disp = model.extras.get("dispformula")
    if family.has_dispersion_predictor:
        rhs = "1" if disp is None else rhs_of(disp)
        comp = _component("disp", model, rhs, _plugins.get_link("log"), False)
        if comp.terms:
            raise ValueError(
                f"dispformula '~ {rhs}': random-effect terms "
                f"({', '.join(comp.term_exprs)}) in the dispersion model are not supported"
            )
        out["disp"] = comp
    elif disp is not None and not _is_empty(rhs_of(disp)):
        raise ValueError(f"family {family.name!r} has no dispersion parameter: drop dispformula")
    return out
