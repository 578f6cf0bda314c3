"""broom.mixed-style tidiers for linear mixed models: ``tidy``, ``glance``, ``augment``.

Column names and term names follow broom.mixed (R) exactly, so that code and
expectations carry over: ``effect``, ``group``, ``term``, ``estimate``, ``std.error``,
``statistic``, ``conf.low``, ``conf.high``; random-effect parameters are named
``sd__(Intercept)``, ``cor__(Intercept).Days`` and ``sd__Observation`` for the residual.

The functions read a fitted result by its attributes (duck-typed); they are bound to
:class:`~mixedmodels.LMMResult` in :mod:`mixedmodels.results.tidiers` and registered
through the ``mixedmodels_tidiers`` hook; call them as :func:`mixedmodels.tidy`,
:func:`mixedmodels.glance` and :func:`mixedmodels.augment`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats

from ..interfaces import FloatArray

__all__ = ["augment_lmm", "exponentiate_fixed", "glance_lmm", "hat_values", "tidy_lmm"]

_EFFECTS = ("ran_pars", "fixed", "ran_vals", "ran_coefs")
# broom.mixed's column order (reorder_cols).
_COLUMN_ORDER = (
    "effect",
    "group",
    "level",
    "term",
    "estimate",
    "std.error",
    "statistic",
    "df",
    "p.value",
    "conf.low",
    "conf.high",
)
# Above this size of the penalised system the exact leverages are not computed by default
# (they need a dense (q + p) x (q + p) factor and a solve per observation).
_HAT_AUTO_MAX = 4000


def _scale_for(effects: Sequence[str], scales: Any, effect: str) -> Any:
    """The scale broom.mixed would use for ``effect`` (``scales`` aligned with effects)."""
    if scales is None:
        return None
    if isinstance(scales, str):
        scales = [scales]
    scales = list(scales)
    if len(scales) != len(effects):
        raise ValueError(
            "if scales are given there must be one (or None) for each effect: "
            f"effects={list(effects)}, scales={scales}"
        )
    return scales[list(effects).index(effect)]


def _ran_pars(result: Any, scale: str) -> pd.DataFrame:
    """Variance parameters in broom.mixed's ``lower.tri`` order."""
    prefixes = {"sdcor": ("sd", "cor"), "vcov": ("var", "cov")}[scale]
    rows: list[dict[str, Any]] = []
    for group, cov in result.covariance_matrices().items():
        c = cov.to_numpy()
        names = [str(n) for n in cov.columns]
        sd = np.sqrt(np.maximum(np.diag(c), 0.0))
        # Column-major lower triangle: (1,1), (2,1), (3,1), (2,2), (3,2), ...
        for j in range(len(names)):
            for i in range(j, len(names)):
                if i == j:
                    est = sd[i] if scale == "sdcor" else c[i, i]
                    term = f"{prefixes[0]}__{names[i]}"
                else:
                    if scale == "sdcor":
                        denom = sd[i] * sd[j]
                        est = c[i, j] / denom if denom > 0 else np.nan
                    else:
                        est = c[i, j]
                    term = f"{prefixes[1]}__{names[j]}.{names[i]}"
                rows.append({"group": group, "term": term, "estimate": float(est)})
    sigma = float(result.sigma)
    rows.append(
        {
            "group": "Residual",
            "term": f"{prefixes[0]}__Observation",
            "estimate": sigma if scale == "sdcor" else sigma**2,
        }
    )
    return pd.DataFrame(rows)


def exponentiate_fixed(frame: pd.DataFrame) -> pd.DataFrame:
    """broom.mixed's ``exponentiate = TRUE``: the fixed effects' estimates and interval
    limits exponentiated and their standard errors scaled by the exponentiated
    estimate (the delta method); statistics, p-values and other rows unchanged."""
    out = frame.copy()
    fixed = (out["effect"] == "fixed").to_numpy()
    est = out.loc[fixed, "estimate"].to_numpy(dtype=float, copy=True)
    out.loc[fixed, "estimate"] = np.exp(est)
    if "std.error" in out:
        out.loc[fixed, "std.error"] = np.exp(est) * out.loc[fixed, "std.error"].to_numpy(float)
    for col in ("conf.low", "conf.high"):
        if col in out:
            out.loc[fixed, col] = np.exp(out.loc[fixed, col].to_numpy(dtype=float))
    return out


def tidy_lmm(
    result: Any,
    effects: str | Sequence[str] = ("ran_pars", "fixed"),
    scales: str | Sequence[str | None] | None = None,
    conf_int: bool = False,
    conf_level: float = 0.95,
    ddf: str | None = "satterthwaite",
    conf_method: str = "Wald",
    exponentiate: bool = False,
    **confint_options: Any,
) -> pd.DataFrame:
    """One row per parameter, as broom.mixed's ``tidy(fit)`` (of an lmerTest fit).

    Parameters
    ----------
    result
        A fitted :class:`~mixedmodels.LMMResult`.
    effects
        Any of ``"fixed"`` (fixed effects: estimate, standard error, t statistic),
        ``"ran_pars"`` (standard deviations and correlations of the random effects and
        the residual SD), ``"ran_vals"`` (conditional modes with their conditional SDs,
        one row per level and term) and ``"ran_coefs"`` (fixed plus random effects per
        level, lme4's ``coef``).  Rows come in broom.mixed's order: fixed, ran_pars,
        ran_vals, ran_coefs.
    scales
        ``None`` (SDs and correlations) or one entry per element of ``effects``:
        ``"sdcor"`` or ``"vcov"`` (variances and covariances, terms ``var__``/``cov__``)
        for ``"ran_pars"``, ``None`` for the others.
    conf_int
        Add ``conf.low`` and ``conf.high``: for fixed effects and variance parameters
        by ``conf_method``, for conditional modes Wald intervals; ran_coefs get
        ``NaN``.
    conf_level
        Coverage of the intervals.
    ddf
        Denominator degrees of freedom of the fixed effects' t tests:
        ``"satterthwaite"`` (default, as lmerTest), ``"kenward-roger"`` (adjusted
        standard errors too) or ``"none"`` (lme4: no ``df`` and ``p.value`` columns).
    conf_method
        ``"Wald"`` (default, as broom.mixed: normal quantiles for fixed effects,
        ``NaN`` for variance parameters), ``"profile"`` or ``"boot"`` (intervals of
        :meth:`~mixedmodels.LMMResult.confint` for fixed effects and variance
        parameters).
    exponentiate
        Exponentiate the fixed effects' estimates and limits, scaling their standard
        errors by the exponentiated estimate, as broom.mixed's ``exponentiate``
        (for log or logit links; an LMM's identity scale rarely wants it).
    **confint_options
        Passed to :meth:`~mixedmodels.LMMResult.confint` (e.g. ``nsim``, ``seed``,
        ``progress``) for ``conf_method="profile"`` or ``"boot"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``effect``, ``group`` (``None`` for fixed effects), ``level``
        (ran_vals/ran_coefs only), ``term``, ``estimate``, ``std.error``,
        ``statistic``, ``df`` and ``p.value`` (fixed effects; unless ``ddf="none"``)
        and, if ``conf_int``, ``conf.low`` and ``conf.high``.

    Examples
    --------
    >>> import mixedmodels as mm  # doctest: +SKIP
    >>> fit = mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    >>> mm.tidy(fit)["term"].tolist()  # doctest: +SKIP
    ['(Intercept)', 'Days', 'sd__(Intercept)', 'cor__(Intercept).Days', 'sd__Days',
     'sd__Observation']
    """
    effects = [effects] if isinstance(effects, str) else list(effects)
    unknown = [e for e in effects if e not in _EFFECTS]
    if unknown:
        raise ValueError(f"unknown effect type {unknown}; choose from {list(_EFFECTS)}")
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must lie strictly between 0 and 1, got {conf_level}")
    from ..inference.ddf import coef_table, normalize_ddf

    ddf = normalize_ddf(ddf)
    method = str(conf_method).lower()
    if method not in ("wald", "profile", "boot"):
        raise ValueError(f"unknown conf_method {conf_method!r}; use 'Wald', 'profile' or 'boot'")
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
    parts: list[pd.DataFrame] = []
    intervals: pd.DataFrame | None = None
    if conf_int and method != "wald":
        intervals = result.confint(level=conf_level, method=method, **confint_options)

    if "fixed" in effects:
        table = coef_table(result, ddf)
        est = table["Estimate"].to_numpy()
        se = table["Std. Error"].to_numpy()
        frame = pd.DataFrame(
            {
                "effect": "fixed",
                "group": None,
                "term": list(result.fixef.index),
                "estimate": est,
                "std.error": se,
                "statistic": table["t value"].to_numpy(),
            }
        )
        if ddf != "none":
            frame["df"] = table["df"].to_numpy()
            frame["p.value"] = table["Pr(>|t|)"].to_numpy()
        if conf_int:
            if intervals is None:
                frame["conf.low"] = est - z * se
                frame["conf.high"] = est + z * se
            else:
                frame["conf.low"] = intervals.iloc[:, 0].reindex(frame["term"]).to_numpy()
                frame["conf.high"] = intervals.iloc[:, 1].reindex(frame["term"]).to_numpy()
        parts.append(frame)

    if "ran_pars" in effects:
        scale = _scale_for(effects, scales, "ran_pars") or "sdcor"
        if scale not in ("sdcor", "vcov"):
            raise ValueError(f"unrecognised ran_pars scale {scale!r}; use 'sdcor' or 'vcov'")
        frame = _ran_pars(result, scale)
        frame.insert(0, "effect", "ran_pars")
        frame["std.error"] = np.nan
        frame["statistic"] = np.nan
        if conf_int:
            if intervals is None or scale != "sdcor":
                # broom.mixed: no Wald intervals for variance parameters.
                frame["conf.low"] = np.nan
                frame["conf.high"] = np.nan
            else:
                from ..inference.confint import variance_parameter_names

                names = variance_parameter_names(result)
                frame["conf.low"] = intervals.iloc[:, 0].reindex(names).to_numpy()
                frame["conf.high"] = intervals.iloc[:, 1].reindex(names).to_numpy()
        parts.append(frame)
        from ..inference.parameters import tidy_structure_rows  # residual correlation/variance

        extra = tidy_structure_rows(result)
        if len(extra):
            parts.append(extra.reindex(columns=frame.columns))

    if "ran_vals" in effects:
        parts.append(ran_vals_rows(result, z if conf_int else None))

    if "ran_coefs" in effects:
        frame = ran_coefs_rows(result)
        if conf_int:
            frame["conf.low"] = np.nan
            frame["conf.high"] = np.nan
        parts.append(frame)

    out = pd.concat(parts, ignore_index=True)
    # Missing group for fixed effects is None (not NaN), as broom's NA character.
    out["group"] = out["group"].astype(object).where(out["group"].notna(), None)
    out = out[[c for c in _COLUMN_ORDER if c in out.columns]]
    return exponentiate_fixed(out) if exponentiate else out


def ran_vals_rows(result: Any, z: float | None = None) -> pd.DataFrame:
    """broom.mixed's ``ran_vals`` rows: conditional modes and conditional SDs, one row
    per level and term; with ``z``, Wald intervals ``estimate -/+ z * std.error``."""
    re = result.ranef(condvar=True)
    frame = pd.DataFrame(
        {
            "effect": "ran_vals",
            "group": re["grpvar"].astype(str).to_numpy(),
            "level": re["grp"].astype(str).to_numpy(),
            "term": re["term"].astype(str).to_numpy(),
            "estimate": re["condval"].to_numpy(dtype=float),
            "std.error": re["condsd"].to_numpy(dtype=float),
        }
    )
    if z is not None:
        frame["conf.low"] = frame["estimate"] - z * frame["std.error"]
        frame["conf.high"] = frame["estimate"] + z * frame["std.error"]
    return frame


def ran_coefs_rows(result: Any) -> pd.DataFrame:
    """broom.mixed's ``ran_coefs`` rows: lme4's ``coef`` (fixed plus random effects per
    level), one row per level and term."""
    rows = [
        pd.DataFrame(
            {
                "effect": "ran_coefs",
                "group": str(group),
                "level": [str(v) for v in table.index],
                "term": str(term),
                "estimate": table[term].to_numpy(dtype=float),
            }
        )
        for group, table in result.coef().items()
        for term in table.columns
    ]
    return pd.concat(rows, ignore_index=True)


def glance_lmm(result: Any) -> pd.DataFrame:
    """One-row model summary, as broom.mixed's ``glance(fit)``.

    Parameters
    ----------
    result
        A fitted :class:`~mixedmodels.LMMResult`.

    Returns
    -------
    pandas.DataFrame
        Columns ``nobs``, ``sigma``, ``logLik``, ``AIC``, ``BIC``, then ``REMLcrit``
        (REML fits) or ``deviance`` (ML fits), and ``df.residual`` (observations minus
        estimated parameters).  For REML fits ``logLik``, ``AIC`` and ``BIC`` use the
        restricted log-likelihood, as lme4.
    """
    row: dict[str, Any] = {
        "nobs": int(result.nobs),
        "sigma": float(result.sigma),
        "logLik": float(result.loglik),
        "AIC": float(result.aic),
        "BIC": float(result.bic),
    }
    if result.reml:
        row["REMLcrit"] = float(result.reml_criterion)  # type: ignore[arg-type]
    else:
        row["deviance"] = float(result.deviance)
    row["df.residual"] = int(result.nobs - result.df)
    return pd.DataFrame([row])


def _theta_blocks(result: Any) -> list[FloatArray]:
    """Relative covariance factors Lambda_i of each term, from theta."""
    model = result.model
    out = []
    start = 0
    for s in model.structures:
        k = int(s.n_params)
        out.append(np.asarray(s.factor(np.asarray(result.theta[start : start + k])), float))
        start += k
    return out


def hat_values(result: Any, chunk: int = 2048) -> FloatArray:
    """Diagonal of the hat matrix (``fitted = H y``), as lme4's ``hatvalues``.

    With ``A = W^(1/2) [Z Lambda, X]`` (``W`` the prior weights) and the penalised
    cross-product ``M = A'A + diag(I_q, 0_p)``, the leverages are the diagonal of
    ``A M^-1 A'``.

    Parameters
    ----------
    result
        A fitted :class:`~mixedmodels.LMMResult`.
    chunk
        Observations processed at a time (bounds the memory of the triangular solve).

    Returns
    -------
    numpy.ndarray
        One leverage per observation used in fitting.
    """
    model = result.model
    n = int(result.nobs)
    X = np.asarray(model.X, dtype=float)
    blocks = []
    for term, lam in zip(model.terms, _theta_blocks(result), strict=True):
        zl = np.asarray(term.Z, dtype=float) @ lam  # (n, dim)
        dim = zl.shape[1]
        cols = (np.asarray(term.codes)[:, None] * dim + np.arange(dim)[None, :]).ravel()
        rows = np.repeat(np.arange(n), dim)
        blocks.append(sp.csr_matrix((zl.ravel(), (rows, cols)), shape=(n, term.n_levels * dim)))
    zlam = sp.hstack(blocks, format="csr") if blocks else sp.csr_matrix((n, 0))
    q = zlam.shape[1]
    sqrtw = np.ones(n) if model.weights is None else np.sqrt(np.asarray(model.weights))
    zlam = sp.diags(sqrtw) @ zlam
    Xw = X * sqrtw[:, None]
    # Penalised cross-product, assembled blockwise.
    M = np.empty((q + X.shape[1], q + X.shape[1]))
    M[:q, :q] = (zlam.T @ zlam).toarray() + np.eye(q)
    M[:q, q:] = np.asarray(zlam.T @ Xw)
    M[q:, :q] = M[:q, q:].T
    M[q:, q:] = Xw.T @ Xw
    L = sla.cholesky(M, lower=True)
    zlam_csc = zlam.tocsc()
    hat = np.empty(n)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        At = np.vstack([zlam_csc[lo:hi].toarray().T, Xw[lo:hi].T])
        C = sla.solve_triangular(L, At, lower=True)
        hat[lo:hi] = np.einsum("ij,ij->j", C, C)
    return hat


_NAME_RE = re.compile(r"`([^`]+)`|([A-Za-z_.][A-Za-z0-9_.]*)")


def _formula_columns(formula: str, data: pd.DataFrame) -> list[str]:
    """Columns of ``data`` named in ``formula`` (the variables of R's model frame)."""
    names = {a or b for a, b in _NAME_RE.findall(str(formula))}
    return [c for c in data.columns if str(c) in names]


def augment_lmm(
    result: Any,
    data: pd.DataFrame | None = None,
    newdata: pd.DataFrame | None = None,
    hat: bool | None = None,
) -> pd.DataFrame:
    """The data with fitted values and residuals, as broom.mixed's ``augment(fit)``.

    Parameters
    ----------
    result
        A fitted :class:`~mixedmodels.LMMResult`.
    data
        The data to augment.  Default: the rows used in fitting and the columns the
        formula names (R's model frame).  A DataFrame whose index contains the fitted
        rows' labels keeps all its rows and columns, with ``NaN`` in the added columns
        of rows not used in fitting (e.g. dropped for missing values); otherwise it
        must have one row per observation used.
    newdata
        If given, return ``newdata`` with ``.fitted`` (conditional on the random
        effects) and ``.fixed`` (population level) predictions only.
    hat
        Add the leverages ``.hat`` and Cook's distances ``.cooksd`` (lme4's
        ``hatvalues`` and ``cooks.distance``).  ``None`` (default) computes them when
        the penalised system has at most 4000 columns (random effects plus fixed
        effects) and leaves them out with a warning otherwise; ``True`` forces them.

    Returns
    -------
    pandas.DataFrame
        The data with ``.fitted``, ``.resid``, ``.hat``, ``.cooksd``, ``.fixed``
        (prediction without random effects, offset included), ``.mu`` (fitted mean),
        ``.offset``, ``.sqrtXwt`` and ``.sqrtrwt`` (square roots of the prior weights,
        lme4's ``lmerResp`` fields), ``.weights`` (prior weights) and ``.wtres``
        (weighted residuals).
    """
    if newdata is not None:
        out = newdata.copy()
        out[".fitted"] = result.predict(newdata).to_numpy()
        out[".fixed"] = result.predict(newdata, re_form="~0").to_numpy()
        return out.reset_index(drop=True)

    model = result.model
    n = int(result.nobs)
    row_index = model.design.row_index
    fitted = result.fitted().to_numpy()
    resid = result.residuals().to_numpy()
    weights = np.ones(n) if model.weights is None else np.asarray(model.weights, float)
    offset = np.zeros(n) if model.offset is None else np.asarray(model.offset, float)
    cols: dict[str, FloatArray] = {".fitted": fitted, ".resid": resid}

    q_plus_p = sum(t.n_levels * t.dim for t in model.terms) + len(model.fixef_names)
    if hat is None:
        hat = q_plus_p <= _HAT_AUTO_MAX
        if not hat:
            warnings.warn(
                f"augment: .hat and .cooksd left out ({q_plus_p} random and fixed "
                "effects make the exact leverages expensive); pass hat=True to compute "
                "them",
                UserWarning,
                stacklevel=2,
            )
    if hat:
        h = hat_values(result)
        pearson = resid * np.sqrt(weights)
        p = len(model.fixef_names)
        with np.errstate(divide="ignore", invalid="ignore"):
            cook = (pearson / (1.0 - h)) ** 2 * h / (result.sigma**2 * p)
        cook[np.isinf(cook)] = np.nan
        cols[".hat"] = h
        cols[".cooksd"] = cook
    cols[".fixed"] = result.predict(re_form="~0").to_numpy()
    cols[".mu"] = fitted
    cols[".offset"] = offset
    cols[".sqrtXwt"] = np.sqrt(weights)
    cols[".sqrtrwt"] = np.sqrt(weights)
    cols[".weights"] = weights
    cols[".wtres"] = np.sqrt(weights) * resid
    added = pd.DataFrame(cols, index=row_index)

    if data is None:
        frame = model.data
        base = frame.loc[row_index, _formula_columns(model.formula, frame)]
        out = pd.concat([base, added], axis=1)
    elif (
        isinstance(data, pd.DataFrame) and data.index.is_unique and row_index.isin(data.index).all()
    ):
        out = pd.concat([data, added.reindex(data.index)], axis=1)
    elif len(data) == n:
        out = pd.concat([data.reset_index(drop=True), added.reset_index(drop=True)], axis=1)
    else:
        raise ValueError(
            f"data has {len(data)} rows and its index does not contain the labels of the "
            f"{n} rows used in fitting; pass the data the model was fitted to"
        )
    return out.reset_index(drop=True)
