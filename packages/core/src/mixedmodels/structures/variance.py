"""Variance functions (nlme's ``varFunc``, the ``weights=`` of ``lme``/``gls``): the
residual SD of each observation is sigma times a multiplier of covariates, strata or the
fitted values.  :class:`VarianceFunction` is the specification, :class:`BoundVariance`
the function bound to the rows of a model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..interfaces import FloatArray
from .residual_columns import numeric_column, strata_codes
from .residual_syntax import ResidualSpecError, call_parts, group_columns, parse_args, split_top

__all__ = [
    "VARIANCE_FUNCTIONS",
    "BoundVariance",
    "VarComb",
    "VarConstPower",
    "VarExp",
    "VarFixed",
    "VarIdent",
    "VarPower",
    "VarianceFunction",
    "parse_variance",
]


class VarianceFunction(ABC):
    """A variance function (nlme's ``varFunc``): the residual SD of each observation is
    sigma times a multiplier depending on parameters and covariates.

    Subclasses bind to the data with :meth:`bind`, returning a :class:`BoundVariance`.
    ``f * g`` combines two functions (their multipliers multiply, nlme's ``varComb``).
    """

    #: Name in the string language (``"power"``).
    name: str = ""

    @abstractmethod
    def bind(self, frame: pd.DataFrame, rows: pd.Index) -> BoundVariance:
        """This function bound to the rows used of ``frame``."""

    def parts(self) -> list[VarianceFunction]:
        return [self]

    def __mul__(self, other: VarianceFunction) -> VarComb:
        return VarComb([*self.parts(), *other.parts()])


class BoundVariance(ABC):
    """A variance function bound to the data."""

    #: Whether the multipliers depend on the fitted values (``power()``).
    uses_fitted: bool = False
    label: str = ""

    @property
    @abstractmethod
    def n_params(self) -> int: ...

    @abstractmethod
    def param_names(self) -> list[str]: ...

    @abstractmethod
    def start(self) -> FloatArray: ...

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return np.full(self.n_params, -np.inf), np.full(self.n_params, np.inf)

    @abstractmethod
    def log_sd(self, params: FloatArray, fitted: FloatArray | None) -> FloatArray:
        """Log of each observation's SD multiplier."""

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        return list(zip(self.param_names(), np.asarray(params, float).tolist(), strict=True))


class VarIdent(VarianceFunction):
    """Different residual SD per stratum (nlme's ``varIdent(form = ~1 | g)``): the
    first level is the reference (ratio 1); parameters are log ratios."""

    name = "ident"

    def __init__(self, group: str | Sequence[str]) -> None:
        self.group = group

    def bind(self, frame: pd.DataFrame, rows: pd.Index) -> BoundVariance:
        what = f"variance ident(1 | {':'.join(group_columns(self.group))})"
        codes, labels = strata_codes(frame, rows, group_columns(self.group), what)
        if len(labels) < 2:
            raise ResidualSpecError(f"{what}: the grouping has a single level")
        return _BoundIdent(codes, labels, what)

    def __str__(self) -> str:
        return f"ident(1 | {':'.join(group_columns(self.group))})"


class _BoundIdent(BoundVariance):
    def __init__(self, codes: NDArray[np.int64], labels: list[str], label: str) -> None:
        self.codes, self.labels, self.label = codes, labels, label

    @property
    def n_params(self) -> int:
        return len(self.labels) - 1

    def param_names(self) -> list[str]:
        return self.labels[1:]

    def start(self) -> FloatArray:
        return np.zeros(self.n_params)

    def log_sd(self, params: FloatArray, fitted: FloatArray | None) -> FloatArray:
        return np.asarray(np.concatenate([[0.0], params])[self.codes], dtype=np.float64)

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        return list(zip(self.labels[1:], np.exp(params).tolist(), strict=True))


class _CovariateFunction(VarianceFunction):
    """Functions of a covariate (or the fitted values), optionally per stratum."""

    def __init__(
        self, covariate: str | None = None, group: str | Sequence[str] | None = None
    ) -> None:
        self.covariate = None if covariate in (None, "fitted", "fitted(.)") else covariate
        self.group = group

    def _describe(self) -> str:
        v = self.covariate or "fitted"
        g = ":".join(group_columns(self.group))
        return f"{self.name}({v} | {g})" if g else f"{self.name}({v})"

    def __str__(self) -> str:
        return self._describe()

    def _bind_parts(
        self, frame: pd.DataFrame, rows: pd.Index
    ) -> tuple[FloatArray | None, NDArray[np.int64], list[str], str]:
        what = f"variance {self._describe()}"
        v = None if self.covariate is None else numeric_column(frame, rows, self.covariate, what)
        codes, labels = strata_codes(frame, rows, group_columns(self.group), what)
        return v, codes, labels, what


class _BoundCovariate(BoundVariance):
    kind = ""

    def __init__(
        self,
        v: FloatArray | None,
        codes: NDArray[np.int64],
        labels: list[str],
        label: str,
    ) -> None:
        self.v, self.codes, self.labels, self.label = v, codes, labels, label
        self.uses_fitted = v is None
        self.n_strata = len(labels)

    def _values(self, fitted: FloatArray | None) -> FloatArray:
        if self.v is not None:
            return self.v
        if fitted is None:
            raise RuntimeError("this variance function needs the fitted values")
        return fitted

    def _names(self, base: str) -> list[str]:
        if self.n_strata == 1:
            return [base]
        return [f"{base}.{lab}" for lab in self.labels]


class VarPower(_CovariateFunction):
    """Residual SD proportional to ``|v|^delta`` (nlme's ``varPower``); ``v`` the
    fitted values when no covariate is named (nlme's default)."""

    name = "power"

    def bind(self, frame: pd.DataFrame, rows: pd.Index) -> BoundVariance:
        v, codes, labels, what = self._bind_parts(frame, rows)
        if v is not None and np.any(v == 0):
            raise ResidualSpecError(
                f"{what}: the covariate has {int(np.sum(v == 0))} zero values (a zero SD); "
                "use constpower() instead"
            )
        return _BoundPower(v, codes, labels, what)


class _BoundPower(_BoundCovariate):
    @property
    def n_params(self) -> int:
        return self.n_strata

    def param_names(self) -> list[str]:
        return self._names("power")

    def start(self) -> FloatArray:
        return np.zeros(self.n_strata)

    def log_sd(self, params: FloatArray, fitted: FloatArray | None) -> FloatArray:
        v = np.abs(self._values(fitted))
        with np.errstate(divide="ignore"):
            return np.asarray(params[self.codes] * np.log(v), dtype=np.float64)


class VarExp(_CovariateFunction):
    """Residual SD proportional to ``exp(delta v)`` (nlme's ``varExp``)."""

    name = "exp"

    def bind(self, frame: pd.DataFrame, rows: pd.Index) -> BoundVariance:
        v, codes, labels, what = self._bind_parts(frame, rows)
        return _BoundExp(v, codes, labels, what)


class _BoundExp(_BoundCovariate):
    @property
    def n_params(self) -> int:
        return self.n_strata

    def param_names(self) -> list[str]:
        return self._names("expon")

    def start(self) -> FloatArray:
        return np.zeros(self.n_strata)

    def log_sd(self, params: FloatArray, fitted: FloatArray | None) -> FloatArray:
        return np.asarray(params[self.codes] * self._values(fitted), dtype=np.float64)


class VarConstPower(_CovariateFunction):
    """Residual SD proportional to ``c + |v|^delta``, ``c > 0`` (nlme's
    ``varConstPower``); parameters ``log c`` and ``delta``."""

    name = "constpower"

    def bind(self, frame: pd.DataFrame, rows: pd.Index) -> BoundVariance:
        v, codes, labels, what = self._bind_parts(frame, rows)
        return _BoundConstPower(v, codes, labels, what)


class _BoundConstPower(_BoundCovariate):
    @property
    def n_params(self) -> int:
        return 2 * self.n_strata

    def param_names(self) -> list[str]:
        return [f"log.{n}" for n in self._names("const")] + self._names("power")

    def start(self) -> FloatArray:
        return np.zeros(2 * self.n_strata)

    def log_sd(self, params: FloatArray, fitted: FloatArray | None) -> FloatArray:
        k = self.n_strata
        c = np.exp(params[:k])[self.codes]
        delta = params[k:][self.codes]
        v = np.abs(self._values(fitted))
        with np.errstate(divide="ignore"):
            powv = np.exp(delta * np.log(v))
        return np.asarray(np.log(c + powv), dtype=np.float64)

    def natural_parameters(self, params: FloatArray) -> list[tuple[str, float]]:
        k = self.n_strata
        return list(
            zip(
                self._names("const") + self._names("power"),
                [*np.exp(params[:k]).tolist(), *params[k:].tolist()],
                strict=True,
            )
        )


class VarFixed(VarianceFunction):
    """Residual variance proportional to a positive covariate (nlme's ``varFixed``);
    no parameter."""

    name = "fixed"

    def __init__(self, covariate: str) -> None:
        self.covariate = covariate

    def bind(self, frame: pd.DataFrame, rows: pd.Index) -> BoundVariance:
        what = f"variance fixed({self.covariate})"
        v = numeric_column(frame, rows, self.covariate, what)
        if np.any(v <= 0):
            raise ResidualSpecError(f"{what}: the covariate must be positive")
        return _BoundFixed(0.5 * np.log(v), what)

    def __str__(self) -> str:
        return f"fixed({self.covariate})"


class _BoundFixed(BoundVariance):
    def __init__(self, log_sd: FloatArray, label: str) -> None:
        self._log_sd, self.label = log_sd, label

    @property
    def n_params(self) -> int:
        return 0

    def param_names(self) -> list[str]:
        return []

    def start(self) -> FloatArray:
        return np.zeros(0)

    def log_sd(self, params: FloatArray, fitted: FloatArray | None) -> FloatArray:
        return self._log_sd


class VarComb(VarianceFunction):
    """Product of variance functions (nlme's ``varComb``)."""

    name = "comb"

    def __init__(self, functions: Sequence[VarianceFunction]) -> None:
        self.functions = [p for f in functions for p in f.parts()]

    def parts(self) -> list[VarianceFunction]:
        return list(self.functions)

    def bind(self, frame: pd.DataFrame, rows: pd.Index) -> BoundVariance:
        raise TypeError("bind the parts of a VarComb one by one")

    def __str__(self) -> str:
        return " * ".join(str(f) for f in self.functions)


#: Variance functions of the string language, by name (nlme's names accepted too).
VARIANCE_FUNCTIONS: dict[str, type[VarianceFunction]] = {
    "ident": VarIdent,
    "power": VarPower,
    "exp": VarExp,
    "constpower": VarConstPower,
    "fixed": VarFixed,
}
_NLME_NAMES = {
    "varident": "ident",
    "varpower": "power",
    "varexp": "exp",
    "varconstpower": "constpower",
    "varfixed": "fixed",
}


def _variance_term(text: str) -> VarianceFunction:
    name, args = call_parts(text, "variance")
    key = _NLME_NAMES.get(name.lower(), name.lower())
    if key not in VARIANCE_FUNCTIONS:
        raise ResidualSpecError(
            f"variance function {name!r} is not known; known: "
            f"{', '.join(sorted(VARIANCE_FUNCTIONS))} (products with '*')"
        )
    lhs, group, options = parse_args(args, f"variance {text.strip()!r}")
    if options:
        raise ResidualSpecError(f"variance {text.strip()!r}: unknown options {sorted(options)}")
    if key == "ident":
        grp = group if group is not None else lhs
        if grp is None:
            raise ResidualSpecError(f"variance {text.strip()!r}: ident needs strata, ident(1 | g)")
        return VarIdent(grp)
    if key == "fixed":
        if lhs is None:
            raise ResidualSpecError(f"variance {text.strip()!r}: fixed needs a covariate")
        return VarFixed(lhs)
    cls = VARIANCE_FUNCTIONS[key]
    return cls(lhs, group)  # type: ignore[call-arg]


def parse_variance(spec: Any) -> list[VarianceFunction]:
    """The variance functions of a string, a function, a list of them or a VarComb."""
    if isinstance(spec, VarianceFunction):
        return spec.parts()
    if isinstance(spec, (list, tuple)):
        return [p for s in spec for p in parse_variance(s)]
    if not isinstance(spec, str):
        raise TypeError(
            "variance must be a string such as 'power(age)', a VarianceFunction or a "
            f"list of them, not {type(spec).__name__}"
        )
    return [_variance_term(t) for t in split_top(spec, "*") if t.strip()]
