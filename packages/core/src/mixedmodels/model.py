"""Model specification: formula, data, family, weights and offset, before any fitting.

A :class:`Model` knows nothing about how it will be fitted; ``Model.fit(method=...)``
looks the method up among the registered estimators (built-in or from a plugin).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla

from .design.data import as_pandas
from .design.matrices import Design, RandomTerm, build_design
from .errors import DroppedRowsWarning, MixedModelsWarning, ModelSpecificationError
from .formula.rewrite import rewrite_formula
from .interfaces import ConditionalFamily, CovarianceStructure, Family, FloatArray, Link

__all__ = ["Model", "RankDeficiencyWarning"]

# lme4's default tolerance for rank deficiency of X (chkRank.drop.cols).
_RANK_TOL = 1e-7
# Largest magnitude of a response or predictor value: sums of squares of n such values
# must stay far from overflow (1.8e308).
_MAX_MAGNITUDE = 1e150


class RankDeficiencyWarning(MixedModelsWarning):
    """Fixed-effect columns were dropped because X is rank deficient."""


def _vector_option(value: Any, name: str, data: pd.DataFrame, design: Design) -> FloatArray | None:
    """Weights/offset given as a column name or an array aligned with ``data``."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in data.columns:
            raise ModelSpecificationError(f"{name}: column {value!r} not found in data")
        series = data[value]
    else:
        arr = np.asarray(value)
        if arr.ndim != 1 or len(arr) != len(data):
            raise ModelSpecificationError(
                f"{name} must have one value per row of data ({len(data)}), got shape {arr.shape}"
            )
        series = pd.Series(arr, index=data.index)
    try:
        out = np.asarray(series.loc[design.row_index], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ModelSpecificationError(f"{name} must be numeric") from err
    if np.any(~np.isfinite(out)):
        bad = int(np.sum(~np.isfinite(out)))
        raise ModelSpecificationError(
            f"{name} has {bad} missing or non-finite values among the used rows"
        )
    return out


class Model:
    """A mixed model: formula, data and family, ready to be fitted.

    Parameters
    ----------
    formula
        lme4-syntax formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data
        pandas DataFrame (or polars DataFrame / pyarrow Table, converted once).
    family
        Family name (any registered family) or :class:`~mixedmodels.interfaces.Family`.
    link
        Link name or :class:`~mixedmodels.interfaces.Link`; the family's default if
        ``None``.
    weights
        Prior weights: a column name or an array with one value per row of ``data``.
    offset
        Offset added to the linear predictor: a column name or an array; adds to any
        ``offset()`` term in the formula.
    contrasts
        R's ``contrasts=``: the coding of factor columns, e.g. ``{"recipe":
        "contr.sum"}``; ``contr.treatment`` (R's default for unordered factors),
        ``contr.sum``, ``contr.helmert``, ``contr.poly`` (R's default for ordered
        factors), ``contr.SAS``, with R's column names (``recipe1``, ``recipe2`` for
        ``contr.sum``; ``temp.L``, ``temp.Q`` for ``contr.poly``).  In a formula,
        ``C(recipe, contr.sum)`` codes one factor so (columns named as R's,
        ``C(recipe, contr.sum)1``).
    **extras
        Further specification for estimators that need it (e.g. ``groups=`` and
        ``time=`` for a plugin's GEE), kept in :attr:`extras`; an estimator that gets
        extras it does not understand refuses the model, naming them.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> sleep = mm.datasets.load("sleepstudy")
    >>> fit = mm.Model("Reaction ~ Days + (Days | Subject)", sleep).fit(method="reml")
    """

    def __init__(
        self,
        formula: str,
        data: Any,
        family: str | Family = "gaussian",
        link: str | Link | None = None,
        weights: Any = None,
        offset: Any = None,
        contrasts: dict[str, str] | None = None,
        **extras: Any,
    ) -> None:
        from .plugin_manager import manager as _plugins

        if not isinstance(formula, str):
            raise ModelSpecificationError(
                f"formula must be a string such as 'y ~ x + (1 | g)', got {type(formula).__name__}"
            )
        self.extras: dict[str, Any] = dict(extras)
        frame = as_pandas(data)
        # Plugins' syntax (spaMM's Matern(1 | x + y), ...) in the core's terms.
        formula, frame = rewrite_formula(formula, frame)
        self.formula = formula
        if isinstance(family, str):
            self.family: Family = _plugins.get_family(family)
        elif isinstance(family, Family):
            self.family = family
        else:
            raise ModelSpecificationError(
                f"family must be a registered family name such as 'binomial' or 'poisson' "
                f"(see mixedmodels.plugins()) or a Family object, got {family!r}"
            )
        if link is None:
            link = self.family.default_link
        if isinstance(link, str):
            if link not in self.family.links:
                raise ModelSpecificationError(
                    f"link {link!r} is not available for family {self.family.name!r}; "
                    f"choose one of {list(self.family.links)}"
                )
            link = _plugins.get_link(link)
        self.link: Link = link
        design = build_design(formula, frame, contrasts)
        n_missing = design.n_dropped
        prior = _vector_option(weights, "weights", frame, design)
        if prior is not None and np.any(prior < 0):
            raise ModelSpecificationError(
                f"weights must be non-negative; {int(np.sum(prior < 0))} are negative"
            )
        # As lme4: rows with zero prior weight (or binomial rows with zero trials)
        # contribute nothing to the likelihood; they are left out of the fit.
        empty = np.zeros(design.n_obs, dtype=bool) if prior is None else prior == 0
        if design.y.ndim == 2:
            empty |= np.all(design.y == 0, axis=1)
        if np.all(empty):
            raise ModelSpecificationError(
                "every row has zero prior weight (or zero binomial trials): nothing to fit"
            )
        if np.any(empty):
            design = build_design(formula, frame.loc[design.row_index[~empty]], contrasts)
            prior = _vector_option(weights, "weights", frame, design)
        self.n_zero_weight = int(np.sum(empty))
        if self.n_zero_weight:
            warnings.warn(
                f"{self.n_zero_weight} rows with zero prior weight (or zero binomial "
                f"trials) contribute nothing to the likelihood and were left out of the "
                f"fit ({design.n_obs} used)",
                DroppedRowsWarning,
                stacklevel=2,
            )
        self.data = frame
        self.design = design
        self.weights = prior
        extra_offset = _vector_option(offset, "offset", frame, design)
        total = design.offset
        if extra_offset is not None:
            total = extra_offset if total is None else total + extra_offset
        self.offset: FloatArray | None = total
        if n_missing:
            warnings.warn(
                f"{n_missing} rows with missing values in the model's columns were "
                f"dropped ({design.n_obs} used)",
                DroppedRowsWarning,
                stacklevel=2,
            )
        self._check_finite(design)
        self._check_magnitude(design)
        self.y, self.trials = self._prepare_response(design)
        try:
            self.family.validate_response(self.y, self.prior_weights)
        except ValueError as err:
            raise ModelSpecificationError(f"response {design.response_name!r}: {err}") from err
        self.X, self.fixef_names, self.dropped_columns = self._full_rank_X(design)
        # lme4 orders terms by number of levels, largest first (stable for ties).
        order = sorted(range(len(design.terms)), key=lambda i: -design.terms[i].n_levels)
        self.terms: list[RandomTerm] = [design.terms[i] for i in order]
        self.group_names = _unique_group_names(self.terms)
        self.structures: list[CovarianceStructure] = [
            _plugins.get_covariance_structure(t.structure)(t.dim, t.column_names)
            for t in self.terms
        ]
        self._check_terms()

    # ------------------------------------------------------------------------------
    @staticmethod
    def _full_rank_X(design: Design) -> tuple[FloatArray, list[str], list[str]]:
        X = design.X
        names = list(design.fixef_names)
        if X.shape[1] == 0:
            return X, names, []
        # As R's qr() (LINPACK dqrdc2, limited pivoting): a column is dropped when its
        # part orthogonal to the columns before it is negligible, so the *later* of
        # two collinear columns goes, as in lme4.
        R = sla.qr(X, mode="r")[0]
        norms = np.linalg.norm(X, axis=0)
        # With more columns than rows, R has only n diagonal entries: the columns past
        # the n-th are dependent on those before them (rank <= n), as R's qr() finds.
        diag = np.zeros(X.shape[1])
        k = min(R.shape)
        diag[:k] = np.abs(np.diag(R))[:k]
        dependent = diag <= _RANK_TOL * np.where(norms > 0, norms, 1.0)
        if not np.any(dependent):
            return X, names, []
        keep = np.flatnonzero(~dependent)
        dropped = [names[i] for i in np.flatnonzero(dependent)]
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
            RankDeficiencyWarning,
            stacklevel=3,
        )
        return X[:, keep], [names[i] for i in keep], dropped

    def _prepare_response(self, design: Design) -> tuple[FloatArray, FloatArray | None]:
        """The response as the family sees it, and binomial trials from ``cbind``.

        ``cbind(successes, failures)`` becomes the proportion of successes with the
        number of trials as weights (R's binomial convention); other families take the
        response as it is.
        """
        y = design.y
        if y.ndim == 1:
            return y, None
        if self.family.name != "binomial" and not getattr(self.family, "uses_trials", False):
            raise ModelSpecificationError(
                f"response {design.response_name!r}: a two-column cbind() response is for "
                f"the binomial family (and betabinomial), not {self.family.name!r}"
            )
        successes, failures = y[:, 0], y[:, 1]
        if np.any(successes < 0) or np.any(failures < 0):
            raise ModelSpecificationError(
                f"response {design.response_name!r}: successes and failures must be "
                "non-negative (successes exceed trials in some rows)"
            )
        trials = successes + failures
        if np.any(trials == 0):
            raise ModelSpecificationError(
                f"response {design.response_name!r}: {int(np.sum(trials == 0))} rows have "
                "zero trials"
            )
        return successes / trials, trials

    @property
    def prior_weights(self) -> FloatArray | None:
        """The family's prior weights: binomial trials (from ``cbind``) times ``weights``."""
        if self.trials is None:
            return self.weights
        return self.trials if self.weights is None else self.trials * self.weights

    @staticmethod
    def _check_finite(design: Design) -> None:
        """Infinite values are not missing values: they are an error, named."""
        bad = np.flatnonzero(~np.isfinite(design.X).all(axis=0))
        if bad.size:
            names = [design.fixef_names[i] for i in bad]
            raise ModelSpecificationError(
                f"fixed-effect columns with infinite values: {', '.join(names)}"
            )
        for term in design.terms:
            if not np.isfinite(term.Z).all():
                raise ModelSpecificationError(
                    f"random-effect term ({term.expr}) has infinite values"
                )
        if design.offset is not None and not np.isfinite(design.offset).all():
            raise ModelSpecificationError("the offset has infinite values")

    @staticmethod
    def _check_magnitude(design: Design) -> None:
        """Values whose squares overflow double precision cannot be fitted (every
        criterion sums squares): say so before the optimiser fails at the optimum."""
        y_max = float(np.max(np.abs(design.y), initial=0.0))
        if _MAX_MAGNITUDE < y_max < np.inf:  # (infinite values: the family's check)
            raise ModelSpecificationError(
                f"response {design.response_name!r} has values as large as {y_max:.3g}: "
                "their squares overflow double precision; rescale the response (e.g. "
                f"divide it by 1e{int(np.log10(y_max))})"
            )
        x_max = np.max(np.abs(design.X), axis=0, initial=0.0)
        big = np.flatnonzero(x_max > _MAX_MAGNITUDE)
        if big.size:
            names = ", ".join(design.fixef_names[i] for i in big)
            raise ModelSpecificationError(
                f"fixed-effect columns {names} have values as large as {x_max.max():.3g}: "
                "their squares overflow double precision; rescale them"
            )

    def _check_terms(self) -> None:
        n = self.design.n_obs
        for term, name, structure in zip(
            self.terms, self.group_names, self.structures, strict=True
        ):
            if getattr(structure, "time_ordered", False) and term.dim < 2:
                raise ModelSpecificationError(
                    f"term ({term.expr}): {structure.name}() correlates the random effects "
                    "of successive times, so its left side must be a factor of times with "
                    "two or more levels, e.g. "
                    f"{structure.name}(0 + factor(time) | {term.group_name}); this term has "
                    f"one column ({', '.join(term.column_names)})"
                )
            # One level is enough for a structured term (a spatial field over many
            # locations, glmmTMB's exp(pos + 0 | group): its few parameters are
            # identified by the correlation between columns; homdiag pools the columns
            # of a penalised smooth's basis, as gamm4 writes a smooth).
            if term.n_levels < 2 and (term.dim < 2 or structure.n_params >= term.dim):
                raise ModelSpecificationError(
                    f"grouping factor {term.group_name!r} of term ({term.expr}) has "
                    f"{term.n_levels} level; a random effect needs at least 2 levels"
                )
            # lme4's check; a structure with fewer parameters than columns (ar1, homcs,
            # ...) is identified even with one observation per level and column.
            if (
                term.n_levels * term.dim >= n
                and self.family.has_dispersion
                and structure.n_params >= term.dim
            ):
                raise ModelSpecificationError(
                    f"term ({term.expr}): {term.n_levels} levels x {term.dim} "
                    f"coefficients >= {n} observations; the random effects of "
                    f"{name!r} and the residual variance cannot both be identified"
                )
        self._check_shared_factors()

    def _check_shared_factors(self) -> None:
        """More random effects on one grouping factor than observations, from several
        terms on the same factor, e.g. ``toep(0 + t | g) + (x | g)`` with one row per
        level of ``g``.  The likelihood is then flat in directions the data cannot tell
        apart, and the optimiser wanders (minutes for a few hundred rows) instead of
        converging."""
        if self.family.has_dispersion:
            return  # (linear models: lme4's check above; they fit fast regardless)
        n = self.design.n_obs
        by_group: dict[str, list[int]] = {}
        for i, term in enumerate(self.terms):
            by_group.setdefault(term.group_name, []).append(i)
        for group, idx in by_group.items():
            terms = [self.terms[i] for i in idx]
            coefficients = sum(t.dim for t in terms)
            levels = max(t.n_levels for t in terms)
            # (One term alone is left to fit, as lme4 and glmmTMB do: e.g. cs(0 + f | g)
            # with 4 columns on 15 levels of 3-4 rows is identified by its structure.)
            if len(terms) < 2 or levels * coefficients <= n:
                continue
            listed = " + ".join(f"({t.expr})" for t in terms)
            raise ModelSpecificationError(
                f"{listed}: {coefficients} random coefficients per level of {group!r} "
                f"x {levels} levels > {n} observations ({n / levels:.2g} rows per level); "
                "the variances of these random effects are not identifiable. Use fewer "
                f"random-effect terms on {group!r} (e.g. one of them), or a grouping "
                "factor with several rows per level"
            )

    # ------------------------------------------------------------------------------
    @property
    def n_obs(self) -> int:
        """Number of observations used."""
        return self.design.n_obs

    @property
    def response(self) -> FloatArray:
        """The response used in fitting."""
        return self.design.y

    @property
    def is_linear(self) -> bool:
        """Whether the model is a linear mixed model (gaussian family, identity link)."""
        return self.family.name == "gaussian" and self.link.name == "identity"

    def fit(self, method: str | None = None, **options: Any) -> Any:
        """Fit with a registered estimator.

        Parameters
        ----------
        method
            Estimator name: ``"reml"`` (default for linear mixed models) or ``"ml"``
            from the core, or any name a plugin registers.
        **options
            Passed to the estimator.

        Returns
        -------
        result
            The estimator's result object (e.g. :class:`~mixedmodels.LMMResult`).
        """
        from .plugin_manager import manager as _plugins

        if method is None:
            method = "reml" if self.is_linear else "laplace"
            if isinstance(self.family, ConditionalFamily):
                method = "tmb"
        estimator = _plugins.get_estimator(method)
        _check_options(method, getattr(estimator, "options", None), options)
        reason = estimator.supports(self)
        if reason is not None:
            raise ModelSpecificationError(f"estimator {method!r} cannot fit this model: {reason}")
        return estimator.fit(self, **options)

    def __repr__(self) -> str:
        return (
            f"Model({self.formula!r}, family={self.family.name!r}, link={self.link.name!r}, "
            f"n_obs={self.n_obs})"
        )


# Keyword arguments of the user functions, offered as suggestions for a misspelt option.
_USER_ARGUMENTS = ("reml", "weights", "offset", "family", "link", "nagq", "correlation", "variance")


def _check_options(method: str, accepted: Sequence[str] | None, options: dict[str, Any]) -> None:
    """Refuse an option the estimator does not take, suggesting the closest name."""
    if accepted is None:
        return
    for name in options:
        if name in accepted:
            continue
        close = difflib.get_close_matches(
            name.lower(), [*accepted, *_USER_ARGUMENTS], n=1, cutoff=0.6
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ModelSpecificationError(
            f"unknown option {name!r} for estimator {method!r}{hint} "
            f"(its options: {', '.join(accepted) or 'none'})"
        )


def _unique_group_names(terms: Sequence[RandomTerm]) -> list[str]:
    """lme4's names for terms in VarCorr: a repeated group gets ``.1``, ``.2``..."""
    seen: dict[str, int] = {}
    out = []
    for t in terms:
        k = seen.get(t.group_name, 0)
        out.append(t.group_name if k == 0 else f"{t.group_name}.{k}")
        seen[t.group_name] = k + 1
    return out
