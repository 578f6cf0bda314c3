"""``glmmPQL()`` and the ``pql`` estimator (MASS's ``glmmPQL``)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mixedmodels import Model
from mixedmodels.interfaces import Estimator, Family, Link

from ._fit import pql_iterate
from ._glm import glm_fit
from ._random import random_terms
from ._results import PQLResult

__all__ = ["PQLEstimator", "check_variance_function", "fit_model", "glmmPQL"]

OPTIONS = ("correlation", "niter", "data_name")


def check_variance_function(family: Family) -> None:
    """Raise a clear error if ``family`` has no usable variance function.

    PQL's working weights are ``w mu_eta^2 / V(mu)``: a family whose ``variance``
    raises, or returns non-finite or non-positive values on its own starting means,
    cannot be fitted by PQL.
    """
    probe = np.array([0.2, 0.5, 0.8])
    try:
        v = np.asarray(family.variance(probe), dtype=np.float64)
    except NotImplementedError as err:
        raise ValueError(
            f"family {family.name!r} has no variance function, which PQL needs for its "
            f"working weights (w * mu_eta^2 / V(mu)); give a family with variance(mu)"
        ) from err
    except Exception as err:
        raise ValueError(
            f"family {family.name!r}: its variance function failed ({err}); PQL needs "
            f"variance(mu) for its working weights"
        ) from err
    if v.shape != probe.shape or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(
            f"family {family.name!r}: variance(mu) must return positive finite values, "
            f"one per mean (got {v!r}); PQL needs it for its working weights"
        )


def fit_model(model: Model, **options: Any) -> PQLResult:
    """Fit a :class:`mixedmodels.Model` (with random-effect terms) by PQL."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"glmmPQL: unknown option(s) {unknown}; known: {list(OPTIONS)}")
    family: Family = model.family
    link: Link = model.link
    check_variance_function(family)
    if not model.terms:
        raise ValueError("glmmPQL needs random effects: give random='~ 1 | group'")
    X = np.asarray(model.X, dtype=np.float64)
    y = np.asarray(model.y, dtype=np.float64)
    n = y.shape[0]
    prior = model.prior_weights
    prior = np.ones(n) if prior is None else np.asarray(prior, dtype=np.float64)
    offset = np.zeros(n) if model.offset is None else np.asarray(model.offset, dtype=np.float64)
    start = glm_fit(X, y, prior, offset, family, link)
    rhs = model.formula.split("~", 1)[1]

    # the rows used, for working models built from data (needed only when a working
    # weight is not positive; otherwise the model's design is reused)
    def frame() -> Any:
        return model.data.loc[model.design.row_index]

    niter = int(options.get("niter", 10))
    if niter < 1:
        raise ValueError(f"niter must be at least 1, got {niter}")
    it = pql_iterate(
        frame,
        rhs,
        y,
        prior,
        offset,
        family,
        link,
        start,
        correlation=options.get("correlation"),
        niter=niter,
        base=model,
    )
    return PQLResult(model, it, start, data_name=str(options.get("data_name", "data")))


class PQLEstimator(Estimator):
    """Penalized quasi-likelihood (MASS's ``glmmPQL``): ``Model.fit(method="pql")``."""

    name: ClassVar[str] = "pql"
    description: ClassVar[str] = (
        "penalized quasi-likelihood (MASS::glmmPQL): iterated weighted ML LMMs, "
        "residual correlation structures"
    )

    def supports(self, model: Any) -> str | None:
        try:
            for attr in ("design", "X", "family", "link", "terms"):
                if not hasattr(model, attr):
                    return "not a mixedmodels Model (needs a formula, data and family)"
            if not model.terms:
                return "PQL needs random-effect terms such as (1 | g)"
            extras = getattr(model, "extras", {}) or {}
            unknown = sorted(set(extras) - set(OPTIONS))
            if unknown:
                return f"unknown option(s) {unknown} for PQL; known: {list(OPTIONS)}"
        except Exception as exc:  # supports() must never raise
            return f"cannot inspect the model: {exc}"
        return None

    def fit(self, model: Any, **options: Any) -> PQLResult:
        reason = self.supports(model)
        if reason is not None:
            raise ValueError(f"estimator 'pql' cannot fit this model: {reason}")
        merged = {**(getattr(model, "extras", {}) or {}), **options}
        return fit_model(model, **merged)


def glmmPQL(
    fixed: str,
    random: str | list[str],
    family: str | Family,
    data: Any,
    correlation: Any = None,
    weights: Any = None,
    offset: Any = None,
    link: str | Link | None = None,
    niter: int = 10,
    data_name: str | None = None,
) -> PQLResult:
    """Fit a GLMM by penalized quasi-likelihood (R's ``MASS::glmmPQL``).

    Parameters
    ----------
    fixed
        Fixed part, ``"cbind(incidence, size - incidence) ~ period"``.
    random
        nlme's one-sided formula ``"~ 1 | herd"`` (or lme4 terms ``"(1 | herd)"``).
    family
        Any registered family with a variance function (``"binomial"``,
        ``"poisson"``, ``"Gamma"``, ...) or a Family instance.
    data
        DataFrame.
    correlation
        Residual correlation within groups, as the core's ``lmm(correlation=)``:
        ``"ar1(1 | ID)"`` (nlme's ``corAR1()``), ``"car1(week | ID)"``,
        ``"cs(1 | ID)"``, ``"arma(p = 1, q = 1)"``, ...
    weights, offset
        Prior weights and offset (column names or arrays).
    link
        Link (default: the family's).
    niter
        Maximum number of PQL iterations (MASS's default 10).
    data_name
        Name shown in the summary.

    Returns
    -------
    PQLResult
        A quasi-likelihood fit: no log-likelihood (as in R, ``logLik`` is not
        available).
    """
    if "~" not in fixed:
        raise ValueError(f"fixed={fixed!r} needs a response and '~'")
    formula = f"{fixed} + {random_terms(random)}"
    model = Model(formula, data, family=family, link=link, weights=weights, offset=offset)
    return fit_model(model, correlation=correlation, niter=niter, data_name=data_name or "data")
