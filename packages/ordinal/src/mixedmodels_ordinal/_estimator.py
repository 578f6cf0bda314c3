"""``clmm()`` and the ``clmm`` estimator: ordinal's cumulative link mixed models."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mixedmodels import Model
from mixedmodels.interfaces import Estimator

from ._criterion import ClmmProblem, ReTerm, fit_fixed
from ._fit import fit_clmm
from ._links import LINKS, get_link
from ._response import ordinal_response, response_name
from ._results import ClmmResult, ClmmSpec
from ._thresholds import make_thresholds

__all__ = ["ClmmEstimator", "clmm", "fit_model"]

OPTIONS = ("link", "threshold", "nAGQ", "start", "data_name", "levels", "nominal")


def _start(
    y: np.ndarray, ncat: int, tjac: np.ndarray, n_beta: int, problem: ClmmProblem
) -> np.ndarray:
    cum = np.cumsum(np.bincount(y, minlength=ncat))[:-1] / y.size
    theta = np.log(cum / (1 - cum))  # logistic quantiles: a start for every link
    alpha = np.linalg.lstsq(tjac, theta, rcond=None)[0]
    # nominal effects start at zero
    alpha = np.concatenate([alpha, np.zeros(problem.n_alpha - alpha.size)])
    st = []
    for t in problem.terms:
        st.extend([0.0] * t.dim + [0.0] * (t.n_st - t.dim))
    return np.concatenate([alpha, np.zeros(n_beta), st])


def fit_model(model: Model, levels: list[str], **options: Any) -> ClmmResult:
    """Fit a :class:`mixedmodels.Model` whose response holds category codes ``0..K-1``.

    Parameters
    ----------
    model
        The model; its fixed intercept (if any) is replaced by the thresholds.
    levels
        The response's category labels, lowest first.
    **options
        ``link``, ``threshold``, ``nAGQ``, ``start``, ``data_name``, ``nominal``
        (see :func:`clmm`).
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"clmm: unknown option(s) {unknown}; known: {list(OPTIONS)}")
    link_name = str(options.get("link", "logit"))
    link = get_link(link_name)
    threshold = str(options.get("threshold", "flexible"))
    nagq = int(options.get("nAGQ", 1))
    tjac, alpha_names = make_thresholds(levels, threshold)
    y = np.asarray(model.y).astype(np.int64)
    counts = np.bincount(y, minlength=len(levels))
    empty = [levels[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        resp = model.design.response_name
        raise ValueError(
            f"response {resp!r}: level(s) {empty} never occur among the rows used, so their "
            f"thresholds are not identified; drop them with data[{resp!r}] = "
            f"data[{resp!r}].cat.remove_unused_categories() (or merge them with a neighbour)"
        )
    if not model.terms:
        raise ValueError(
            "clmm needs at least one random-effect term such as (1 | judge); "
            "without random effects the model is a plain cumulative link model (clm)"
        )
    for t in model.terms:
        if t.structure != "us":
            raise ValueError(
                f"clmm supports unstructured random-effect terms only, not {t.structure}({t.expr})"
            )
    if nagq < 1:
        raise ValueError(f"nAGQ must be 1 (Laplace) or more (adaptive quadrature), got {nagq}")
    if nagq > 1 and (len(model.terms) != 1 or model.terms[0].dim != 1):
        raise ValueError(
            "adaptive Gauss-Hermite quadrature (nAGQ > 1) needs a single scalar random-effect "
            "term such as (1 | judge); use nAGQ=1 (Laplace) for this model"
        )
    names = list(model.fixef_names)
    keep = [i for i, n in enumerate(names) if n != "(Intercept)"]
    X = np.asarray(model.X)[:, keep]
    beta_names = [names[i] for i in keep]
    n = X.shape[0]
    weights = np.ones(n) if model.weights is None else np.asarray(model.weights, float)
    offset = np.zeros(n) if model.offset is None else np.asarray(model.offset, float)
    terms = [
        ReTerm(t.group_name, t.codes, t.Z, list(t.levels), list(t.column_names))
        for t in model.terms
    ]
    nominal_model, W, alpha_names = _nominal(model, options.get("nominal"), alpha_names)
    if W is not None and threshold != "flexible":
        raise ValueError(
            f"nominal effects need flexible thresholds (one set per nominal column), "
            f"not {threshold!r}"
        )
    problem = ClmmProblem(y, X, terms, link, tjac, weights, offset, nominal=W)
    start = options.get("start")
    hess_inv0: Any = None
    if start is None:
        start = _start(y, len(levels), tjac, X.shape[1], problem)
        # as ordinal: start from the fit without random effects
        k = problem.n_alpha + problem.n_beta
        # one scalar term: BFGS starts from the exact curvature of the clmm criterion
        # (fit_clmm), so the clm fit is only a start and needs few digits
        start[:k], hinv = fit_fixed(problem, start, 1e-5 if problem.scalar_single else 1e-10)
        if hinv is not None:
            # its curvature starts BFGS (unit curvature for the log SDs and T)
            hess_inv0 = np.eye(problem.n_par)
            hess_inv0[:k, :k] = hinv
    else:
        start = np.asarray(start, dtype=np.float64).ravel()
        if start.size != problem.n_par:
            raise ValueError(
                f"start must have {problem.n_par} values (thresholds, coefficients, ST), "
                f"got {start.size}"
            )
    if nagq > 1:
        # near the Laplace optimum (exact gradient; quadrature starts from its own exact
        # curvature there, so two digits of the Laplace fit are enough) quadrature starts
        lap = fit_clmm(
            problem, start, nagq=1, gtol=1e-2, quiet=True, hess_inv0=hess_inv0, finish=False
        )
        start, hess_inv0 = lap.par, lap.hessian
    outcome = fit_clmm(problem, start, nagq=nagq, hess_inv0=hess_inv0)
    mode = outcome.mode if outcome.mode is not None else problem.mode(outcome.par)
    spec = ClmmSpec(
        formula=model.formula,
        data_name=str(options.get("data_name", "data")),
        response=model.design.response_name,
        levels=list(levels),
        link=link_name,
        threshold=threshold,
        nagq=nagq,
        alpha_names=alpha_names,
        beta_names=beta_names,
        row_index=model.design.row_index,
        model=model,
        nominal_model=nominal_model,
    )
    return ClmmResult(problem, outcome, mode, spec)


def _nominal(
    model: Model, nominal: Any, alpha_names: list[str]
) -> tuple[Model | None, np.ndarray | None, list[str]]:
    """The nominal-effects design (ordinal's ``nominal = ~ x``): its own model matrix,
    with an intercept, on the same rows; threshold names ``"1|2.(Intercept)"``,
    ``"1|2.x"``, ... as ordinal's."""
    if nominal is None:
        return None, None, alpha_names
    rhs = str(nominal).strip()
    rhs = rhs[1:].strip() if rhs.startswith("~") else rhs
    if not rhs:
        raise ValueError("nominal must be a formula such as '~ contact'")
    design = model.design
    g = model.terms[0].group_name
    try:
        nm = Model(f"{design.response_name} ~ {rhs} + (1 | {g})", model.data)
    except Exception as err:
        raise ValueError(f"nominal formula '~ {rhs}': {err}") from err
    if not nm.design.row_index.equals(design.row_index):
        raise ValueError(
            f"nominal formula '~ {rhs}' uses other rows than the location formula "
            "(missing values in its columns): drop those rows first"
        )
    names = list(nm.fixef_names)
    if "(Intercept)" not in names:
        raise ValueError(f"nominal formula '~ {rhs}' must keep the intercept")
    both = sorted(set(names) & set(model.fixef_names) - {"(Intercept)"})
    if both:
        raise ValueError(
            f"{both} appear in both the location and the nominal formula; keep each term "
            "in one of them"
        )
    W = np.asarray(nm.X, dtype=np.float64)
    pairs = [a for a in alpha_names]
    return nm, W, [f"{p}.{c}" for c in names for p in pairs]


class ClmmEstimator(Estimator):
    """Cumulative link mixed models (ordinal's ``clmm``): ``Model.fit(method="clmm")``.

    The response is an ordered ``pandas.Categorical`` (its categories in order; one
    that never occurs is an error), or numeric, whose sorted distinct values are then
    the ordered categories (``levels=`` in the options names them).
    """

    name: ClassVar[str] = "clmm"
    description: ClassVar[str] = (
        "cumulative link mixed models for ordered responses (ordinal::clmm: Laplace, AGQ)"
    )

    def supports(self, model: Any) -> str | None:
        try:
            for attr in ("design", "X", "fixef_names", "terms", "y"):
                if not hasattr(model, attr):
                    return "not a mixedmodels Model (needs a formula and data)"
            if not model.terms:
                return "clmm needs a random-effect term such as (1 | g)"
            extras = getattr(model, "extras", {}) or {}
            unknown = sorted(set(extras) - set(OPTIONS))
            if unknown:
                return f"unknown option(s) {unknown} for clmm; known: {list(OPTIONS)}"
            y = np.asarray(model.y)
            if y.ndim != 1:
                return "the response must be one column of ordered categories"
            if np.unique(y).size < 2:
                return "the response needs at least two categories"
        except Exception as exc:  # supports() must never raise
            return f"cannot inspect the model: {exc}"
        return None

    def fit(self, model: Any, **options: Any) -> ClmmResult:
        reason = self.supports(model)
        if reason is not None:
            raise ValueError(f"estimator 'clmm' cannot fit this model: {reason}")
        merged = {**(getattr(model, "extras", {}) or {}), **options}
        design: Any = getattr(model, "design", None)
        ordered = getattr(design, "response_levels", None)
        if ordered is not None and len(ordered) > 2:
            if merged.pop("levels", None) is not None:
                raise ValueError("levels= is for a numeric response; this one is a factor")
            resp = design.response_name
            counts = np.bincount(np.asarray(model.y, dtype=np.int64), minlength=len(ordered))
            empty = [ordered[i] for i in np.flatnonzero(counts == 0)]
            if empty:
                raise ValueError(
                    f"response {resp!r}: level(s) {empty} never occur, so their thresholds "
                    f"are not identified; drop them with data[{resp!r}] = "
                    f"data[{resp!r}].cat.remove_unused_categories()"
                )
            return fit_model(model, list(ordered), **merged)
        values = np.unique(np.asarray(model.y))
        levels = merged.pop("levels", None)
        labels = [str(v if not float(v).is_integer() else int(v)) for v in values]
        if levels is not None:
            levels = [str(v) for v in levels]
            if len(levels) != values.size:
                raise ValueError(
                    f"levels= names {len(levels)} categories but the response has "
                    f"{values.size} distinct values {labels}"
                )
            labels = levels
        frame = model.data.copy()
        resp = model.design.response_name
        codes = pd.Series(np.nan, index=frame.index)
        codes.loc[model.design.row_index] = np.searchsorted(values, np.asarray(model.y))
        frame[resp] = codes
        coded = Model(model.formula, frame, weights=None, offset=None)
        coded.weights, coded.offset = model.weights, model.offset
        return fit_model(coded, labels, **merged)


def clmm(
    formula: str,
    data: Any,
    link: str = "logit",
    threshold: str = "flexible",
    nAGQ: int = 1,
    weights: Any = None,
    offset: Any = None,
    start: Any = None,
    data_name: str | None = None,
    nominal: str | None = None,
) -> ClmmResult:
    """Fit a cumulative link mixed model (R's ``ordinal::clmm``).

    ``P(Y <= j | b) = F(theta_j - x'beta - z'b)``, ``b ~ N(0, Sigma)``.

    Parameters
    ----------
    formula
        ``"rating ~ temp + contact + (1 | judge)"``: lme4 syntax for the random terms
        (intercepts and slopes, nested ``(1 | a/b)`` and crossed terms).
    data
        DataFrame; the response column must be an *ordered* ``pandas.Categorical``
        whose category order is the order of the responses.
    link
        ``"logit"``, ``"probit"``, ``"cloglog"`` (``F(x) = 1 - exp(-exp(x))``),
        ``"loglog"`` (``F(x) = exp(-exp(-x))``) or ``"cauchit"``.
    threshold
        ``"flexible"``, ``"equidistant"`` or ``"symmetric"`` (ordinal's definitions).
    nAGQ
        1: Laplace approximation; k > 1: adaptive Gauss-Hermite quadrature with k
        nodes (one scalar random-effect term only).
    weights, offset
        Prior weights and a location offset (column names or arrays).
    start
        Starting values (threshold parameters, coefficients, ST parameters).
    data_name
        Name shown after ``data:`` in the summary.
    nominal
        Nominal effects, ``"~ contact"``: terms whose effect differs between the
        thresholds, ``theta_j(w) = alpha_j + w' gamma_j`` (ordinal's ``nominal``, as
        ``clmm2`` fits them; flexible thresholds only).  The threshold parameters are
        then named ``"1|2.(Intercept)"``, ..., ``"1|2.contact"``, ... and
        :attr:`ClmmResult.thresholds` holds the baseline thresholds.

    Returns
    -------
    ClmmResult

    Examples
    --------
    >>> fit = clmm("rating ~ temp + contact + (1 | judge)", wine)  # doctest: +SKIP
    >>> fit.thresholds, fit.beta, fit.varcorr()  # doctest: +SKIP
    """
    if link not in LINKS:
        raise ValueError(f"unknown link {link!r}; choose one of {sorted(LINKS)}")
    frame = data.to_pandas() if hasattr(data, "to_pandas") else pd.DataFrame(data)
    resp = response_name(formula)
    codes, levels = ordinal_response(frame, resp)
    work = frame.copy()
    work[resp] = codes
    model = Model(formula, work, weights=weights, offset=offset)
    options: dict[str, Any] = {
        "link": link,
        "threshold": threshold,
        "nAGQ": nAGQ,
        "data_name": data_name or "data",
    }
    if start is not None:
        options["start"] = start
    if nominal is not None:
        options["nominal"] = nominal
    return fit_model(model, levels, **options)
