"""The user-facing functions re-exported from :mod:`mixedmodels`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .data_sources import data_source_for
from .errors import ModelSpecificationError
from .estimators import check_flag
from .interfaces import ConditionalFamily
from .model import Model
from .output.verbs import augment, glance, tidy

if TYPE_CHECKING:  # the annotations only: IDEs complete the results' attributes
    from .results import GLMMResult, GLSResult, LMMResult
    from .results.tmb import TMBResult

__all__ = ["augment", "glance", "glmm", "gls", "lmm", "tidy"]

# glmmTMB's name for the negative binomial with quadratic variance.
_FAMILY_ALIASES = {"nbinom2": "negative_binomial"}
# With ziformula/dispformula: the general engine's families of the same names.
_TMB_ALIASES = {"gaussian": "tmb_gaussian", "poisson": "tmb_poisson"}


def lmm(
    formula: str,
    data: Any,
    reml: bool = True,
    weights: Any = None,
    offset: Any = None,
    correlation: Any = None,
    variance: Any = None,
    contrasts: dict[str, str] | None = None,
    **options: Any,
) -> LMMResult:
    """Fit a linear mixed model, as lme4's ``lmer`` (and nlme's ``lme``).

    Parameters
    ----------
    formula
        lme4-syntax formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data
        pandas DataFrame (polars DataFrame or pyarrow Table accepted); with a data-source
        plugin, other data too (mixedmodels-dask: a Dask frame, fitted exactly).
    reml
        Restricted maximum likelihood (default) or, if false, maximum likelihood.
    weights
        Prior weights (column name or array).
    offset
        Offset (column name or array), added to any ``offset()`` in the formula.
    correlation
        Residual correlation within groups, nlme's ``correlation=``: e.g.
        ``"ar1(visit | id)"``, ``"car1(Time | Rat)"``, ``"arma(p = 1, q = 1)"``,
        ``"cs(1 | Subject)"`` (see :mod:`mixedmodels.residual`).
    variance
        Variance function(s), nlme's ``weights=``: e.g. ``"ident(1 | Sex)"``,
        ``"power()"``, ``"power(age) * ident(1 | Sex)"``.
    contrasts
        Contrast coding of factor columns, R's ``contrasts=``: e.g. ``{"recipe":
        "contr.sum"}`` (``contr.treatment``, ``contr.sum``, ``contr.helmert``,
        ``contr.poly``, ``contr.SAS``; R's column names).  ``C(recipe, contr.sum)`` in
        the formula does the same for one term.
    **options
        Passed to the estimator: ``optimizer`` (``"auto"``, ``"lbfgsb"``,
        ``"cobyqa"``), ``start`` (theta, then any residual parameters), ``check``
        (convergence check).

    Returns
    -------
    LMMResult

    Examples
    --------
    >>> import mixedmodels as mm
    >>> fit = mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    >>> round(fit.fixef["Days"], 4)
    10.4673
    """
    check_flag("reml", reml)
    source = data_source_for(data)
    if source is not None:  # e.g. a Dask frame, with the mixedmodels-dask plugin
        return source.lmm(  # type: ignore[no-any-return]
            formula,
            data,
            reml=reml,
            weights=weights,
            offset=offset,
            correlation=correlation,
            variance=variance,
            contrasts=contrasts,
            **options,
        )
    extras = {}
    if correlation is not None:
        extras["correlation"] = correlation
    if variance is not None:
        extras["variance"] = variance
    model = Model(
        formula,
        data,
        family="gaussian",
        weights=weights,
        offset=offset,
        contrasts=contrasts,
        **extras,
    )
    return model.fit(method="reml" if reml else "ml", **options)  # type: ignore[no-any-return]


def glmm(
    formula: str,
    data: Any,
    family: Any = "binomial",
    link: Any = None,
    nagq: int = 1,
    weights: Any = None,
    offset: Any = None,
    contrasts: dict[str, str] | None = None,
    ziformula: str | None = None,
    dispformula: str | None = None,
    **options: Any,
) -> GLMMResult | TMBResult:
    """Fit a generalized linear mixed model, as lme4's ``glmer`` (and ``glmer.nb``), or
    glmmTMB's ``glmmTMB`` for a conditional-density family or with ``ziformula`` /
    ``dispformula``.

    Parameters
    ----------
    formula
        lme4-syntax formula; binomial responses as 0/1, booleans, a two-level factor,
        ``cbind(successes, failures)``, or proportions with ``weights=`` trials.
    data
        pandas DataFrame (polars DataFrame or pyarrow Table accepted).
    family
        Registered family name (``"binomial"``, ``"poisson"``, ``"negative_binomial"``
        or its alias ``"nbinom2"`` with the size estimated, ...) or a Family object.
    link
        Link name; the family's default if ``None``.
    nagq
        1: Laplace approximation (default); > 1: adaptive Gauss-Hermite quadrature
        with that many nodes (one scalar random-effect term only); 0: the fast mode
        (fixed effects inside PIRLS, lme4's ``nAGQ = 0``).
    weights, offset
        Prior weights and offset (column names or arrays).
    contrasts
        Contrast coding of factor columns, R's ``contrasts=``: e.g. ``{"recipe":
        "contr.sum"}`` (``contr.treatment``, ``contr.sum``, ``contr.helmert``,
        ``contr.poly``, ``contr.SAS``; R's column names).  ``C(recipe, contr.sum)`` in
        the formula does the same for one term.
    ziformula
        Zero-inflation (or, with a truncated family, hurdle) model, e.g. ``"~ mined"``,
        ``"~ 1"``, ``"~ ."`` (the conditional formula); random effects allowed.
    dispformula
        Dispersion model, e.g. ``"~ Sex"`` (fixed effects only).
    **options
        Passed to the estimator (``check``).

    Returns
    -------
    GLMMResult, or TMBResult for glmmTMB's families (plugin ``mixedmodels-families``)
    and for models with ``ziformula`` / ``dispformula``.
    """
    source = data_source_for(data)
    if source is not None:  # e.g. a Dask frame, with the mixedmodels-dask plugin
        if not hasattr(source, "glmm"):
            raise ModelSpecificationError(
                f"the data source {source.name!r} does not fit generalized linear mixed models"
            )
        return source.glmm(  # type: ignore[no-any-return]
            formula,
            data,
            family=_FAMILY_ALIASES.get(family, family) if isinstance(family, str) else family,
            link=link,
            nagq=nagq,
            weights=weights,
            offset=offset,
            contrasts=contrasts,
            ziformula=ziformula,
            dispformula=dispformula,
            **options,
        )
    extras = {}
    if ziformula is not None:
        extras["ziformula"] = ziformula
    if dispformula is not None:
        extras["dispformula"] = dispformula
    if isinstance(family, str):
        # with extras, glmmTMB's gaussian and poisson: the engine's own (plugin) copies
        aliases = _TMB_ALIASES if extras else _FAMILY_ALIASES
        family = aliases.get(family, family)
    model = Model(
        formula,
        data,
        family=family,
        link=link,
        weights=weights,
        offset=offset,
        contrasts=contrasts,
        **extras,
    )
    if isinstance(model.family, ConditionalFamily):
        return model.fit(method="tmb", **options)
    if extras:
        raise ModelSpecificationError(
            f"ziformula and dispformula need a conditional-density family; {model.family.name!r} "
            "is not one (install mixedmodels-families for glmmTMB's families)"
        )
    if nagq == 0:
        return model.fit(method="fast", **options)  # type: ignore[no-any-return]
    method = "laplace" if nagq == 1 else "agq"
    return model.fit(method=method, nagq=nagq, **options)  # type: ignore[no-any-return]


def gls(
    formula: str,
    data: Any,
    correlation: Any = None,
    variance: Any = None,
    reml: bool = True,
    weights: Any = None,
    offset: Any = None,
    contrasts: dict[str, str] | None = None,
    **options: Any,
) -> GLSResult:
    """Fit a linear model with correlated and/or heteroscedastic residuals, as nlme's
    ``gls``.

    Parameters
    ----------
    formula
        Fixed-effects formula, e.g. ``"distance ~ age + Sex"`` (no random-effect terms).
    data
        pandas DataFrame (polars DataFrame or pyarrow Table accepted).
    correlation
        Residual correlation within groups, e.g. ``"cs(1 | Subject)"``,
        ``"ar1(visit | id)"``, ``"car1(Time | Rat)"`` (see :mod:`mixedmodels.residual`);
        without a group all observations form one group.
    variance
        Variance function(s), e.g. ``"ident(1 | Sex)"``, ``"power(age)"``.
    reml
        Restricted maximum likelihood (default, as nlme) or maximum likelihood.
    weights, offset
        Prior weights and offset (column name or array).
    contrasts
        Contrast coding of factor columns, R's ``contrasts=``: e.g. ``{"recipe":
        "contr.sum"}`` (``contr.treatment``, ``contr.sum``, ``contr.helmert``,
        ``contr.poly``, ``contr.SAS``; R's column names).  ``C(recipe, contr.sum)`` in
        the formula does the same for one term.
    **options
        Passed to the estimator (``optimizer``, ``start``, ``check``).

    Examples
    --------
    >>> import mixedmodels as mm
    >>> fit = mm.gls("distance ~ age + Sex", mm.datasets.load("Orthodont"),
    ...              correlation="cs(1 | Subject)")
    >>> round(fit.loglik, 3)
    -218.756
    """
    extras = {}
    if correlation is not None:
        extras["correlation"] = correlation
    if variance is not None:
        extras["variance"] = variance
    check_flag("reml", reml)
    model = Model(
        formula,
        data,
        family="gaussian",
        weights=weights,
        offset=offset,
        contrasts=contrasts,
        **extras,
    )
    return model.fit(method="gls", reml=reml, **options)  # type: ignore[no-any-return]
