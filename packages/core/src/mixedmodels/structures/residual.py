"""Residual structures: correlation within groups and variance functions (nlme's
``correlation=`` and ``weights=``).

Both are arguments of :func:`mixedmodels.lmm` and :func:`mixedmodels.gls`, given as
strings in a small formula-like language or as the objects those strings name::

    mm.lmm("distance ~ age + Sex + (1 | Subject)", orthodont,
           correlation="ar1(age | Subject)", variance="ident(1 | Sex)")
    mm.gls("distance ~ age + Sex", orthodont, correlation="cs(1 | Subject)")
    mm.lmm(..., correlation=Correlation("arma", time="visit", group="id", p=1, q=1),
           variance=VarPower("age") * VarIdent("Sex"))

**Correlation** ``name(time | group, option = value, ...)``: ``name`` is any registered
covariance structure that has a residual use (:meth:`~mixedmodels.interfaces.
CovarianceStructure.residual_correlation`): built in, ``ar1`` (nlme's ``corAR1``), ``arma``
(``corARMA``; options ``p`` and ``q``), ``car1`` (``corCAR1``, continuous time), ``cs``
(``corCompSymm``), ``symm`` or ``us`` (``corSymm``), ``toep`` (one correlation per lag);
plugins add others (spatial ones with several coordinates: ``exp(x + y | site)``).
``time`` is a covariate (``1`` or left out: the order of the rows within the group);
``group`` one column or an interaction ``a:b`` / ``a/b`` (the innermost level).  Without
a group an LMM uses the grouping factor of its random-effect term with the most levels,
as nlme does, and a GLS treats all observations as one group.

**Variance** ``term * term ...``, each term one of (``v`` a numeric covariate or
``fitted``, ``g`` strata, a factor or an interaction):

==========================  ============================  =====================
string                      residual SD proportional to   nlme
==========================  ============================  =====================
``ident(1 | g)``            ``delta_g`` (first level 1)   ``varIdent``
``power(v)``/``power(v|g)`` ``|v|^delta``                 ``varPower``
``power()``                 ``|fitted|^delta``            ``varPower()``
``exp(v)``                  ``exp(delta v)``              ``varExp``
``constpower(v)``           ``c + |v|^delta``             ``varConstPower``
``fixed(v)``                ``sqrt(v)`` (no parameter)    ``varFixed``
==========================  ============================  =====================

and a product of terms is nlme's ``varComb``.  Prior weights multiply in as
``1 / sqrt(w)``.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..interfaces import CovarianceStructure, FloatArray, ResidualCorrelation

__all__ = [
    "BoundResidual",
    "Correlation",
    "ResidualSpecError",
    "VarComb",
    "VarConstPower",
    "VarExp",
    "VarFixed",
    "VarIdent",
    "VarPower",
    "VarianceFunction",
    "bind_residual",
    "parse_correlation",
    "parse_variance",
]

# Largest residual group whose correlation matrix is formed (k x k per group).
_MAX_GROUP_SIZE = 5000


class ResidualSpecError(ValueError):
    """A correlation or variance specification that cannot be used with the data."""


# ======================================================================================
# the small language


_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses and backticks."""
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "`":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if not quote and depth == 0 and text.startswith(sep, i):
            out.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _call_parts(text: str, what: str) -> tuple[str, str]:
    """``"name(args)"`` (or ``"name"``) -> ``(name, args)``."""
    text = text.strip()
    m = re.fullmatch(rf"({_NAME})\s*(?:\((.*)\))?", text, flags=re.S)
    if m is None:
        raise ResidualSpecError(
            f"{what} {text!r}: expected name(arguments), e.g. 'ar1(visit | id)'"
        )
    return m.group(1), (m.group(2) or "").strip()


def _parse_value(text: str) -> Any:
    text = text.strip()
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if text in ("TRUE", "True", "true"):
        return True
    if text in ("FALSE", "False", "false"):
        return False
    return text.strip("'\"")


def _parse_args(args: str, what: str) -> tuple[str | None, str | None, dict[str, Any]]:
    """``"time | group, p = 1"`` -> ``(time, group, {"p": 1})``."""
    pieces = [a.strip() for a in _split_top(args, ",")] if args else []
    formula: str | None = None
    options: dict[str, Any] = {}
    for piece in pieces:
        if not piece:
            continue
        m = re.fullmatch(rf"({_NAME})\s*=(?!=)\s*(.+)", piece, flags=re.S)
        if m is not None and "|" not in piece:
            options[m.group(1)] = _parse_value(m.group(2))
        elif formula is None:
            formula = piece
        else:
            raise ResidualSpecError(f"{what}: unexpected argument {piece!r}")
    if formula is None:
        return None, None, options
    formula = formula.lstrip("~").strip()
    bars = _split_top(formula, "|")
    if len(bars) > 2:
        raise ResidualSpecError(f"{what}: more than one '|' in {formula!r}")
    lhs = bars[0].strip() or None
    group = bars[1].strip() if len(bars) == 2 else None
    if group == "":
        raise ResidualSpecError(f"{what}: empty grouping factor after '|'")
    if lhs in ("1", None):
        lhs = None
    return lhs, group, options


def _columns(expr: str | Sequence[str] | None) -> list[str]:
    """``"a/b"``, ``"a:b"``, ``"a*b"``, ``["a", "b"]`` -> ``["a", "b"]``."""
    if expr is None:
        return []
    if not isinstance(expr, str):
        return [str(e) for e in expr]
    parts = re.split(r"[/:*]", expr)
    return [p.strip().strip("`") for p in parts if p.strip()]


def _coord_columns(expr: str | Sequence[str] | None) -> list[str]:
    """``"x + y"`` or ``["x", "y"]`` -> ``["x", "y"]``; ``None`` -> ``[]``."""
    if expr is None:
        return []
    if not isinstance(expr, str):
        return [str(e) for e in expr]
    return [p.strip().strip("`") for p in _split_top(expr, "+") if p.strip()]


# ======================================================================================
# correlation specification


@dataclass
class Correlation:
    """A residual correlation: structure, time/position covariate(s), group.

    Parameters
    ----------
    structure
        A registered structure name (``"ar1"``, ``"car1"``, ``"arma"``, ``"cs"``,
        ``"symm"``, a plugin's) or a :class:`~mixedmodels.interfaces.
        CovarianceStructure` class.
    time
        Column(s) with the time or position of each observation; ``None``: the order
        of the rows within the group.
    group
        Grouping column, or several (their interaction); ``None``: the default group.
    **options
        Passed to the structure (``p``, ``q`` for ``arma``).
    """

    structure: str | type[CovarianceStructure]
    time: str | Sequence[str] | None = None
    group: str | Sequence[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        structure: str | type[CovarianceStructure],
        time: str | Sequence[str] | None = None,
        group: str | Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        self.structure = structure
        self.time = time
        self.group = group
        self.options = dict(options)

    @property
    def name(self) -> str:
        s = self.structure
        return s if isinstance(s, str) else str(s.name)

    def __str__(self) -> str:
        t = " + ".join(_coord_columns(self.time)) or "1"
        g = ":".join(_columns(self.group))
        inner = f"{t} | {g}" if g else ("" if t == "1" else t)
        opts = "".join(f", {k} = {v}" for k, v in self.options.items())
        return f"{self.name}({inner}{opts})"


def parse_correlation(spec: Any) -> Correlation:
    """A :class:`Correlation` from a string, a structure class or a Correlation."""
    if isinstance(spec, Correlation):
        return spec
    if isinstance(spec, type) and issubclass(spec, CovarianceStructure):
        return Correlation(spec)
    if not isinstance(spec, str):
        raise TypeError(
            "correlation must be a string such as 'ar1(visit | id)', a Correlation or a "
            f"CovarianceStructure class, not {type(spec).__name__}"
        )
    name, args = _call_parts(spec, "correlation")
    time, group, options = _parse_args(args, f"correlation {spec!r}")
    return Correlation(name, time=_coord_columns(time) or None, group=group, **options)


# ======================================================================================
# variance functions


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


def _column(frame: pd.DataFrame, rows: pd.Index, col: str, what: str) -> pd.Series:
    if col not in frame.columns:
        raise ResidualSpecError(f"{what}: column {col!r} not found in data")
    values = frame.loc[rows, col]
    if values.isna().any():
        raise ResidualSpecError(
            f"{what}: column {col!r} has {int(values.isna().sum())} missing values among "
            "the rows used"
        )
    return values


def _numeric(frame: pd.DataFrame, rows: pd.Index, col: str, what: str) -> FloatArray:
    values = _column(frame, rows, col, what)
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ResidualSpecError(f"{what}: column {col!r} must be numeric") from err
    if not np.all(np.isfinite(out)):
        raise ResidualSpecError(f"{what}: column {col!r} has infinite values")
    return out


def _label(value: Any) -> str:
    """A level label as R prints it (``10``, not ``10.0``)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _strata(
    frame: pd.DataFrame, rows: pd.Index, cols: list[str], what: str
) -> tuple[NDArray[np.int64], list[str]]:
    """Codes and labels of the interaction of ``cols`` (levels in factor order)."""
    if not cols:
        return np.zeros(len(rows), dtype=np.int64), ["all"]
    series = [_column(frame, rows, c, what) for c in cols]
    keys = pd.DataFrame({c: s.reset_index(drop=True) for c, s in zip(cols, series, strict=True)})
    grouped = keys.groupby(cols, sort=True, observed=True)
    codes = grouped.ngroup().to_numpy().astype(np.int64)
    labels = [
        ":".join(_label(v) for v in key) if isinstance(key, tuple) else _label(key)
        for key in grouped.size().index
    ]
    return codes, labels


class VarIdent(VarianceFunction):
    """Different residual SD per stratum (nlme's ``varIdent(form = ~1 | g)``): the
    first level is the reference (ratio 1); parameters are log ratios."""

    name = "ident"

    def __init__(self, group: str | Sequence[str]) -> None:
        self.group = group

    def bind(self, frame: pd.DataFrame, rows: pd.Index) -> BoundVariance:
        what = f"variance ident(1 | {':'.join(_columns(self.group))})"
        codes, labels = _strata(frame, rows, _columns(self.group), what)
        if len(labels) < 2:
            raise ResidualSpecError(f"{what}: the grouping has a single level")
        return _BoundIdent(codes, labels, what)

    def __str__(self) -> str:
        return f"ident(1 | {':'.join(_columns(self.group))})"


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
        g = ":".join(_columns(self.group))
        return f"{self.name}({v} | {g})" if g else f"{self.name}({v})"

    def __str__(self) -> str:
        return self._describe()

    def _bind_parts(
        self, frame: pd.DataFrame, rows: pd.Index
    ) -> tuple[FloatArray | None, NDArray[np.int64], list[str], str]:
        what = f"variance {self._describe()}"
        v = None if self.covariate is None else _numeric(frame, rows, self.covariate, what)
        codes, labels = _strata(frame, rows, _columns(self.group), what)
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
        v = _numeric(frame, rows, self.covariate, what)
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
    name, args = _call_parts(text, "variance")
    key = _NLME_NAMES.get(name.lower(), name.lower())
    if key not in VARIANCE_FUNCTIONS:
        raise ResidualSpecError(
            f"variance function {name!r} is not known; known: "
            f"{', '.join(sorted(VARIANCE_FUNCTIONS))} (products with '*')"
        )
    lhs, group, options = _parse_args(args, f"variance {text.strip()!r}")
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
    return [_variance_term(t) for t in _split_top(spec, "*") if t.strip()]


# ======================================================================================
# bound residual structure and whitening


@dataclass
class _Batch:
    """Residual groups of one size ``k``: row indices and distinct coordinate patterns."""

    rows: NDArray[np.int64]  # (G, k)
    pattern: NDArray[np.int64]  # (G,) index into patterns
    patterns: FloatArray  # (P, k, d)
    counts: FloatArray  # (P,) groups per pattern


class BoundResidual:
    """Correlation and variance functions bound to the rows of a model.

    The parameter vector is the correlation's parameters then each variance function's.
    :meth:`whiten` maps columns ``M`` to ``R^-1/2 M`` (``R`` the residual covariance
    divided by sigma^2) and returns ``log |R|``.
    """

    def __init__(
        self,
        n: int,
        correlation: ResidualCorrelation | None,
        corr_label: str,
        groups: NDArray[np.int64] | None,
        coords: FloatArray | None,
        variances: list[BoundVariance],
        weights: FloatArray | None,
        group_labels: list[str] | None = None,
    ) -> None:
        self.n = n
        self.correlation = correlation
        self.corr_label = corr_label
        self.variances = variances
        self.groups = groups
        self.group_labels = group_labels
        self.coords = coords
        self.log_prior = None if weights is None else -0.5 * np.log(weights)
        self.uses_fitted = any(v.uses_fitted for v in variances)
        sizes = [0 if correlation is None else correlation.n_params]
        sizes += [v.n_params for v in variances]
        self._index = np.cumsum([0, *sizes]).tolist()
        self.batches: list[_Batch] = []
        if correlation is not None and groups is not None and coords is not None:
            self.batches = _make_batches(groups, coords)

    # --- parameters ---------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return int(self._index[-1])

    def param_names(self) -> list[str]:
        names = []
        if self.correlation is not None:
            names += [f"cor:{p}" for p in self.correlation.param_names()]
        for v in self.variances:
            names += [f"var:{p}" for p in v.param_names()]
        return names

    def start(self) -> FloatArray:
        parts = [np.zeros(0)]
        if self.correlation is not None:
            parts.append(np.asarray(self.correlation.start(), dtype=np.float64))
        parts += [np.asarray(v.start(), dtype=np.float64) for v in self.variances]
        return np.concatenate(parts)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        lo, hi = [np.zeros(0)], [np.zeros(0)]
        if self.correlation is not None:
            a, b = self.correlation.bounds()
            lo.append(np.asarray(a, float))
            hi.append(np.asarray(b, float))
        for v in self.variances:
            a, b = v.bounds()
            lo.append(np.asarray(a, float))
            hi.append(np.asarray(b, float))
        return np.concatenate(lo), np.concatenate(hi)

    def split(self, phi: FloatArray) -> tuple[FloatArray, list[FloatArray]]:
        idx = self._index
        corr = phi[idx[0] : idx[1]]
        var = [phi[idx[i + 1] : idx[i + 2]] for i in range(len(self.variances))]
        return corr, var

    def natural_parameters(self, phi: FloatArray) -> list[tuple[str, str, float]]:
        """``(component, name, value)``: the correlation's and variance functions'
        parameters on their natural scale (nlme's ``coef(..., unconstrained = FALSE)``)."""
        corr, var = self.split(np.asarray(phi, dtype=np.float64))
        out = []
        if self.correlation is not None:
            out += [
                (self.corr_label, n, float(v)) for n, v in self.correlation.natural_parameters(corr)
            ]
        for f, p in zip(self.variances, var, strict=True):
            out += [(f.label, n, float(v)) for n, v in f.natural_parameters(p)]
        return out

    # --- evaluation ----------------------------------------------------------------
    def log_sd(self, phi: FloatArray, fitted: FloatArray | None = None) -> FloatArray | None:
        """Log SD multiplier of each observation (``None`` if there is none)."""
        _, var = self.split(phi)
        out = None if self.log_prior is None else self.log_prior.copy()
        for f, p in zip(self.variances, var, strict=True):
            ls = f.log_sd(p, fitted)
            out = ls.copy() if out is None else out + ls
        return out

    def correlation_factors(self, corr: FloatArray) -> list[tuple[FloatArray, FloatArray]] | None:
        """Per batch, the Cholesky factors of the patterns' correlation matrices and
        their log-determinants; ``None`` if one is not positive definite."""
        assert self.correlation is not None
        out = []
        for b in self.batches:
            C = np.asarray(self.correlation.correlations(corr, b.patterns), dtype=np.float64)
            try:
                Lc = np.linalg.cholesky(C)
            except np.linalg.LinAlgError:
                return None
            diag = np.diagonal(Lc, axis1=1, axis2=2)
            if not np.all(np.isfinite(diag)) or np.any(diag <= 0):
                return None
            logdet = 2.0 * np.log(diag).sum(axis=1)
            out.append((np.asarray(Lc, dtype=np.float64), np.asarray(logdet, dtype=np.float64)))
        return out

    def whiten(
        self, phi: FloatArray, M: FloatArray, fitted: FloatArray | None = None
    ) -> tuple[FloatArray, float] | None:
        """``(R^-1/2 M, log |R|)``; ``None`` where the structure is not positive definite."""
        corr, _ = self.split(phi)
        logdet = 0.0
        ls = self.log_sd(phi, fitted)
        if ls is not None:
            if not np.all(np.isfinite(ls)):
                return None
            out = M * np.exp(-ls)[:, None]
            logdet += 2.0 * float(ls.sum())
        else:
            out = M.copy()
        if self.correlation is not None and self.batches:
            factors = self.correlation_factors(corr)
            if factors is None:
                return None
            for b, (Lc, ld) in zip(self.batches, factors, strict=True):
                out[b.rows] = solve_lower(Lc, b.pattern, out[b.rows])
                logdet += float(b.counts @ ld)
        return out, logdet

    def covariance_blocks(
        self, phi: FloatArray, fitted: FloatArray | None = None
    ) -> list[tuple[NDArray[np.int64], FloatArray]]:
        """``(rows, R_g)`` per residual group with two or more observations, and the
        singletons as one entry of diagonal variances (rows ``(G, 1)``): the relative
        residual covariance, for simulation and normalised residuals."""
        corr, _ = self.split(phi)
        ls = self.log_sd(phi, fitted)
        sd = np.ones(self.n) if ls is None else np.exp(ls)
        out: list[tuple[NDArray[np.int64], FloatArray]] = []
        covered = np.zeros(self.n, dtype=bool)
        if self.correlation is not None:
            for b in self.batches:
                C = np.asarray(self.correlation.correlations(corr, b.patterns), dtype=np.float64)
                Cg = C[b.pattern]
                s = sd[b.rows]
                out.append((b.rows, Cg * s[:, :, None] * s[:, None, :]))
                covered[b.rows.ravel()] = True
        rest = np.flatnonzero(~covered)
        if rest.size:
            out.append((rest[:, None], (sd[rest] ** 2)[:, None, None]))
        return out


def solve_lower(L: FloatArray, pattern: NDArray[np.int64], block: FloatArray) -> FloatArray:
    """``L[pattern[g]]^-1 block[g]`` for every group ``g``.

    ``L`` is ``(P, k, k)`` lower triangular (one per coordinate pattern), ``block``
    ``(G, k, c)``.  Few patterns (balanced data): one inverse each and a batched
    product.  Many (unequal spacing): forward substitution vectorised over the groups,
    ``k`` steps, instead of ``G`` small LAPACK calls.
    """
    P, k = L.shape[0], L.shape[1]
    if P == 1:
        return np.asarray(np.matmul(np.linalg.inv(L[0]), block), dtype=np.float64)
    if block.shape[0] >= 4 * P:
        return np.asarray(np.matmul(np.linalg.inv(L)[pattern], block), dtype=np.float64)
    Lg = L[pattern]
    out = np.empty_like(block)
    for i in range(k):
        r = block[:, i, :]
        if i:
            r = r - np.einsum("gj,gjc->gc", Lg[:, i, :i], out[:, :i, :])
        out[:, i, :] = r / Lg[:, i, i, None]
    return out


def _make_batches(groups: NDArray[np.int64], coords: FloatArray) -> list[_Batch]:
    """Group the residual groups by size, and within a size by identical coordinates."""
    order = np.lexsort((*coords.T[::-1], groups))
    g_sorted = groups[order]
    sizes = np.bincount(groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out = []
    for k in np.unique(sizes).tolist():
        if k < 2:
            continue
        if k > _MAX_GROUP_SIZE:
            raise ResidualSpecError(
                f"a residual group has {k} observations; correlation structures are "
                f"limited to groups of {_MAX_GROUP_SIZE} (name a grouping factor)"
            )
        gs = np.flatnonzero(sizes == k)
        rows = order[starts[gs][:, None] + np.arange(k)[None, :]]
        assert np.all(g_sorted[starts[gs]] == gs)
        pat_coords = coords[rows]  # (G, k, d)
        flat = pat_coords.reshape(len(gs), -1)
        uniq, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
        out.append(
            _Batch(
                rows=rows,
                pattern=inverse.ravel().astype(np.int64),
                patterns=uniq.reshape(-1, k, coords.shape[1]),
                counts=counts.astype(np.float64),
            )
        )
    return out


def _check_ties(
    groups: NDArray[np.int64],
    coords: FloatArray,
    labels: list[str],
    what: str,
    coord_names: list[str],
    group_names: list[str],
) -> None:
    order = np.lexsort((*coords.T[::-1], groups))
    g = groups[order]
    c = coords[order]
    same = (g[1:] == g[:-1]) & np.all(c[1:] == c[:-1], axis=1)
    if np.any(same):
        i = int(np.flatnonzero(same)[0])
        n_bad = int(np.unique(g[1:][same]).size)
        value = ", ".join(f"{v:g}" for v in c[i + 1])
        raise ResidualSpecError(
            f"{what}: the time covariate {' + '.join(coord_names)!r} has duplicate values "
            f"within groups of {':'.join(group_names) or 'the data'!r} ({n_bad} groups; "
            f"first: group {labels[int(g[i])]!r} has two observations at {value}); each "
            "observation of a group needs its own time"
        )


def bind_residual(
    correlation: Any,
    variance: Any,
    frame: pd.DataFrame,
    rows: pd.Index,
    default_group: list[str] | None,
    weights: FloatArray | None = None,
) -> BoundResidual:
    """Resolve the ``correlation`` and ``variance`` specifications on the rows used.

    ``default_group``: the grouping columns used when the correlation names none
    (``None``: all observations form one group).  Structure names are looked up in
    the covariance-structure registry (a name nobody registered is a clear error that
    lists the registered ones).
    """
    from ..plugin_manager import manager as _plugins

    n = len(rows)
    corr_obj: ResidualCorrelation | None = None
    groups = coords = None
    corr_label = ""
    group_labels: list[str] | None = None
    if correlation is not None:
        spec = parse_correlation(correlation)
        corr_label = f"correlation {spec}"
        cls = (
            _plugins.get_covariance_structure(spec.structure)
            if isinstance(spec.structure, str)
            else spec.structure
        )
        gcols = _columns(spec.group) if spec.group is not None else list(default_group or [])
        groups, group_labels = _strata(frame, rows, gcols, corr_label)
        tcols = _coord_columns(spec.time)
        if tcols:
            cols = []
            for c in tcols:
                values = _column(frame, rows, c, corr_label)
                if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
                    cols.append(pd.Categorical(values).codes.astype(np.float64))
                else:
                    cols.append(_numeric(frame, rows, c, corr_label))
            coords = np.column_stack(cols)
            coord_names = tcols
        else:
            # Position of each row within its group, in data order (nlme's ~1 | g).
            order = np.argsort(groups, kind="stable")
            sizes = np.bincount(groups)
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            pos = np.empty(n)
            pos[order] = np.arange(n) - np.repeat(starts, sizes)
            coords = (pos + 1.0)[:, None]
            coord_names = ["<row order>"]
        try:
            corr_obj = cls.residual_correlation(coords, groups, coord_names, **spec.options)
        except TypeError as err:
            raise ResidualSpecError(f"{corr_label}: {err}") from err
        except ValueError as err:
            raise ResidualSpecError(f"{corr_label}: {err}") from err
        if not getattr(corr_obj, "name", ""):
            corr_obj.name = spec.name
        if not corr_obj.allows_ties:
            _check_ties(groups, coords, group_labels, corr_label, coord_names, gcols)
    variances = []
    if variance is not None:
        variances = [f.bind(frame, rows) for f in parse_variance(variance)]
    return BoundResidual(n, corr_obj, corr_label, groups, coords, variances, weights, group_labels)
