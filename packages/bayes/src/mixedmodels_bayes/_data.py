"""The numbers a Bayesian fit needs, taken from a :class:`mixedmodels.Model`.

Everything comes from the core's public model object (response, full-rank fixed-effect
matrix, random-effect terms with their level codes, offset, prior weights), so every
formula the core accepts is accepted here.  Like brms, the non-intercept fixed-effect
columns are centred when the model has an intercept: the ``Intercept`` prior is on the
intercept of the centred design and ``b_Intercept`` is recovered afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["FAMILIES", "LINKS", "BayesData", "TermData", "bayes_data", "unsupported_reason"]

FloatArray = NDArray[np.float64]

#: Families the samplers implement (core names).
FAMILIES = ("gaussian", "binomial", "poisson", "negative_binomial", "Gamma")
#: Links the samplers implement.
LINKS = ("identity", "log", "logit", "probit", "cloglog", "inverse", "sqrt", "1/mu^2")
#: Covariance structures: unstructured (LKJ on the correlations) and diagonal.
STRUCTURES = {"us": True, "diag": False}


@dataclass
class TermData:
    """One random-effect term.

    Attributes
    ----------
    group : str
        The grouping factor as brms names it in ``sd_<group>__<coef>`` (terms of one
        factor share it, as ``(1 | g) + (0 + x | g)`` in brms).
    key : str
        lme4's unique name of the term (``g``, ``g.1``), naming ``r_<key>``.
    columns : list of str
        brms's names of its columns (``Intercept`` for ``(Intercept)``).
    levels : list of str
        Level labels.
    codes : ndarray
        ``(n,)`` level index per observation.
    Z : ndarray
        ``(n, dim)`` columns.
    correlated : bool
        Whether the term has an LKJ-distributed correlation matrix.
    design_index : int
        Position of the term in ``model.design.terms`` (for new data).
    """

    group: str
    key: str
    columns: list[str]
    levels: list[str]
    codes: NDArray[np.int64]
    Z: FloatArray
    correlated: bool
    design_index: int

    @property
    def dim(self) -> int:
        return int(self.Z.shape[1])

    @property
    def n_levels(self) -> int:
        return len(self.levels)


@dataclass
class BayesData:
    """Response, design and options of one model, brms-style.

    Attributes
    ----------
    y : ndarray
        Response: the value for gaussian/poisson/negative binomial/Gamma, the number of
        successes for binomial.
    trials : ndarray or None
        Binomial trials.
    weights : ndarray or None
        Prior weights (gaussian: precision weights, as lme4; other families multiply
        the log-likelihood).
    offset : ndarray
        ``(n,)`` offset (zeros when none).
    Xc : ndarray
        ``(n, K)`` fixed-effect columns without the intercept, centred when the model
        has one.
    means_X : ndarray
        Column means subtracted from ``Xc``.
    coef_names : list of str
        Names of the columns of ``Xc`` (R's).
    has_intercept : bool
    terms : list of TermData
    family, link : str
    fixef_names : list of str
        The model's fixed-effect names (R's, ``(Intercept)`` first when present).
    """

    y: FloatArray
    trials: FloatArray | None
    weights: FloatArray | None
    offset: FloatArray
    Xc: FloatArray
    means_X: FloatArray
    coef_names: list[str]
    has_intercept: bool
    terms: list[TermData]
    family: str
    link: str
    fixef_names: list[str]
    response_name: str

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    def fixed_columns(self, X: FloatArray) -> FloatArray:
        """Full-model fixed columns (same names as :attr:`fixef_names`) to the centred
        non-intercept columns."""
        if self.has_intercept:
            return np.asarray(X[:, 1:] - self.means_X, dtype=float)
        return np.asarray(X, dtype=float)


def brms_name(column: str) -> str:
    """brms's name of a design column: ``(Intercept)`` is ``Intercept``."""
    return "Intercept" if column == "(Intercept)" else column


def unsupported_reason(model: Any) -> str | None:
    """Why the samplers cannot fit ``model`` (``None`` when they can)."""
    family = model.family.name
    if family not in FAMILIES:
        return f"family {family!r} is not implemented; choose one of {list(FAMILIES)}"
    if model.link.name not in LINKS:
        return f"link {model.link.name!r} is not implemented; choose one of {list(LINKS)}"
    for term, structure in zip(model.terms, model.structures, strict=True):
        if structure.name not in STRUCTURES:
            return (
                f"term ({term.expr}): covariance structure {structure.name!r} is not "
                f"implemented; use (x | g) (correlated, LKJ) or diag(x | g) / (x || g)"
            )
    if getattr(model, "extras", None):
        return f"options {sorted(model.extras)} are not understood by the Bayesian estimators"
    return None


def bayes_data(model: Any) -> BayesData:
    """The :class:`BayesData` of a :class:`mixedmodels.Model`."""
    X = np.asarray(model.X, dtype=float)
    names = list(model.fixef_names)
    has_intercept = "(Intercept)" in names
    if has_intercept:
        i = names.index("(Intercept)")
        if i != 0:  # pragma: no cover - R puts the intercept first
            raise ValueError("the intercept column must come first")
        rest = X[:, 1:]
        means = rest.mean(axis=0)
        Xc = rest - means
        coef_names = names[1:]
    else:
        means = np.zeros(X.shape[1])
        Xc = X
        coef_names = names
    n = X.shape[0]
    y = np.asarray(model.y, dtype=float)
    trials = None
    weights = None if model.weights is None else np.asarray(model.weights, dtype=float)
    if model.family.name == "binomial":
        trials = np.asarray(model.trials, dtype=float) if model.trials is not None else np.ones(n)
        if model.trials is None and weights is not None:
            # R's binomial convention: a proportion with weights = the trials.
            trials, weights = weights, None
        y = np.round(y * trials)
    design_terms = list(model.design.terms)
    terms = []
    for term, gname, structure in zip(
        model.terms, model.group_names, model.structures, strict=True
    ):
        terms.append(
            TermData(
                group=term.group_name,
                key=gname,
                columns=[brms_name(c) for c in term.column_names],
                levels=[str(v) for v in term.levels],
                codes=np.asarray(term.codes, dtype=np.int64),
                Z=np.asarray(term.Z, dtype=float),
                correlated=STRUCTURES.get(structure.name, False) and term.dim > 1,
                design_index=next(k for k, t in enumerate(design_terms) if t is term),
            )
        )
    offset = np.zeros(n) if model.offset is None else np.asarray(model.offset, dtype=float)
    return BayesData(
        y=y,
        trials=trials,
        weights=weights,
        offset=offset,
        Xc=np.ascontiguousarray(Xc),
        means_X=means,
        coef_names=coef_names,
        has_intercept=has_intercept,
        terms=terms,
        family=model.family.name,
        link=model.link.name,
        fixef_names=names,
        response_name=model.design.response_name,
    )
