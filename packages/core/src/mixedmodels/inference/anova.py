"""Likelihood-ratio tests between nested mixed models, as lme4's ``anova(m0, m1)``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import MixedModelsWarning
from ..linear.interface import is_linear_criterion

__all__ = ["RefitMLWarning", "anova", "term_tests"]


class RefitMLWarning(MixedModelsWarning):
    """REML fits were refitted by maximum likelihood before comparing them (lme4's
    "refitting model(s) with ML (instead of REML)")."""


def _refit_ml(result: Any) -> Any:
    """The ML refit of a REML fit (same model, same optimiser options)."""
    return result.refit_ml()


def _response_signature(result: Any) -> tuple[str | None, np.ndarray]:
    model = result.model
    name = getattr(getattr(model, "design", None), "response_name", None)
    return name, np.asarray(model.response, dtype=float)


def _check_comparable(fits: Sequence[Any], names: Sequence[str]) -> None:
    nobs = [int(f.nobs) for f in fits]
    if len(set(nobs)) > 1:
        detail = ", ".join(f"{n}: {k}" for n, k in zip(names, nobs, strict=True))
        raise ValueError(
            f"models were not all fitted to the same number of observations ({detail}); "
            "refit them to the same rows (e.g. drop rows with missing values first)"
        )
    ref_name, ref_y = _response_signature(fits[0])
    for name, fit in zip(names[1:], fits[1:], strict=True):
        other_name, y = _response_signature(fit)
        if (ref_name is not None and other_name is not None and ref_name != other_name) or (
            y.shape != ref_y.shape or not np.array_equal(y, ref_y, equal_nan=True)
        ):
            raise ValueError(
                f"models {names[0]!r} and {name!r} have different responses "
                f"({ref_name!r} and {other_name!r}, or different values); "
                "likelihood-ratio tests need the same response on the same rows"
            )
        rows0 = getattr(getattr(fits[0].model, "design", None), "row_index", None)
        rows = getattr(getattr(fit.model, "design", None), "row_index", None)
        if rows0 is not None and rows is not None and not rows0.equals(rows):
            raise ValueError(
                f"models {names[0]!r} and {name!r} were fitted to different rows of the data"
            )


def _in_span(A: np.ndarray, B: np.ndarray, tol: float = 1e-7) -> bool:
    """Whether every column of ``A`` lies in the column space of ``B``."""
    if A.shape[1] == 0:
        return True
    if B.shape[1] == 0:
        return False
    coef, *_ = np.linalg.lstsq(B, A, rcond=None)
    resid = np.linalg.norm(A - B @ coef, axis=0)
    return bool(np.all(resid <= tol * np.maximum(np.linalg.norm(A, axis=0), 1e-300)))


def _random_columns(model: Any) -> dict[tuple[int, ...], np.ndarray]:
    """Per grouping of the rows (the partition a grouping factor makes), the n-vectors
    of every random-effect column: column j of level l is Z[:, j] on the rows of l."""
    out: dict[tuple[int, ...], list[np.ndarray]] = {}
    for t in model.terms:
        codes = np.asarray(t.codes)
        # A canonical label of the partition: first-appearance order of the levels.
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        rank = np.argsort(np.argsort(first))
        key = tuple(rank[inverse.ravel()].tolist())
        Z = np.asarray(t.Z, dtype=np.float64)
        cols = [Z[:, j] for j in range(Z.shape[1])]
        out.setdefault(key, []).extend(cols)
    return {k: np.column_stack(v) for k, v in out.items()}


def _check_nested(small: Any, large: Any, name_s: str, name_l: str) -> None:
    """Raise if ``small`` is not nested in ``large`` (see :func:`anova`)."""
    ms: Any = getattr(small, "model", None)
    ml: Any = getattr(large, "model", None)
    if not all(hasattr(m, "X") and hasattr(m, "terms") for m in (ms, ml)):
        return
    msg = (
        f"models {name_s!r} and {name_l!r} are not nested ({{what}}); likelihood-ratio "
        "tests compare a model with a more general one; compare non-nested models by "
        "AIC or BIC (or pass check_nested=False)"
    )
    if not _in_span(np.asarray(ms.X, float), np.asarray(ml.X, float)):
        raise ValueError(
            msg.format(what=f"fixed effects of {name_s!r} not within those of {name_l!r}")
        )
    rs, rl = _random_columns(ms), _random_columns(ml)
    for key, cols in rs.items():
        big = rl.get(key)
        if big is None or not _in_span_by_level(np.asarray(key), cols, big):
            raise ValueError(
                msg.format(what=f"random effects of {name_s!r} not within those of {name_l!r}")
            )


def _in_span_by_level(groups: np.ndarray, A: np.ndarray, B: np.ndarray) -> bool:
    """Whether, on the rows of every level, the columns of ``A`` lie in the span of
    those of ``B`` (batched Gram matrices, no loop over levels)."""
    n_lev = int(groups.max()) + 1

    def gram(U: np.ndarray, V: np.ndarray) -> np.ndarray:
        out = np.empty((n_lev, U.shape[1], V.shape[1]))
        for i in range(U.shape[1]):
            for j in range(V.shape[1]):
                out[:, i, j] = np.bincount(groups, weights=U[:, i] * V[:, j], minlength=n_lev)
        return out

    Gbb, Gba, Gaa = gram(B, B), gram(B, A), gram(A, A)
    resid = Gaa - np.swapaxes(Gba, 1, 2) @ np.linalg.pinv(Gbb, rcond=1e-10) @ Gba
    scale = np.maximum(np.einsum("lii->l", Gaa), 1e-300)
    return bool(np.all(np.abs(np.einsum("lii->l", resid)) <= 1e-8 * scale))


def anova(
    *fits: Any,
    refit: bool = True,
    names: Sequence[str] | None = None,
    type: int | str = 3,
    ddf: str | None = "satterthwaite",
    test: str | None = None,
    check_nested: bool = True,
) -> pd.DataFrame:
    """Tests of fixed-effect terms of one model, or likelihood-ratio tests between models.

    With one model: a table of F tests by term with Satterthwaite or Kenward-Roger
    denominator df (lmerTest's ``anova(fit, type, ddf)``) for linear mixed models, or
    of Wald chi-square tests (car's ``Anova(fit, type, test.statistic = "Chisq")``)
    for generalized linear mixed models (and linear ones with ``test="Chisq"``).  With
    two or more: likelihood-ratio tests, as lme4's ``anova(m0, m1, ...)``.

    Parameters
    ----------
    *fits
        One fitted model, or two or more fitted models (e.g.
        :class:`~mixedmodels.LMMResult`) of the same response on the same observations,
        each nested in the next.
    refit
        Refit REML fits by maximum likelihood first (default, as lme4; a
        :class:`RefitMLWarning` says so).  REML likelihoods of models with different
        fixed effects are not comparable; ``refit=False`` compares the criteria as
        they are (sensible only for models that differ in random effects alone).
    names
        Row names, one per fit in the order given; default ``"m0"``, ``"m1"``, ...
    check_nested
        Several models: check that each model is nested in the next (fixed-effect
        columns in the span of the next model's, random-effect columns of each grouping
        factor in the span of the next model's for the same factor) and raise if not.
    type
        One model: 1, 2 or 3 (``"I"``, ``"II"``, ``"III"``; default 3).  The hypotheses
        are lmerTest's for F tests (type III as SAS, whatever the contrast coding) and
        car's for Wald chi-square tests (type II in the metric of the covariance of the
        estimates; type III with lmerTest's coding-free hypotheses, the intercept not
        tested).
    ddf
        One linear mixed model: ``"satterthwaite"`` (default), ``"kenward-roger"`` or
        ``"none"`` (F values without df or p-values, as lme4).
    test
        One model: ``"F"`` (default for linear mixed models) or ``"Chisq"`` (Wald
        chi-square; the only choice for other results, which need ``fixef`` and
        ``vcov``).

    Returns
    -------
    pandas.DataFrame
        One model, F tests: one row per term with ``Sum Sq``, ``Mean Sq``, ``NumDF``,
        ``DenDF``, ``F value``, ``Pr(>F)``; Wald tests: ``Chisq``, ``Df``,
        ``Pr(>Chisq)``.  ``attrs["heading"]`` says which.

        Several models: one row per model, sorted by number of parameters (``npar``), with columns
        ``npar``, ``AIC``, ``BIC``, ``logLik``, ``deviance`` (``-2 logLik``),
        ``Chisq`` (twice the increase in log-likelihood over the previous row, floored
        at 0), ``Df`` (difference in ``npar``) and ``Pr(>Chisq)`` (upper tail of the
        chi-squared distribution).  The first row's test columns are ``NaN``.
        ``attrs["heading"]`` holds lme4's heading lines (``Models:``, ``m0: formula``).

    Raises
    ------
    ValueError
        If the models differ in number of observations, rows or response, are not
        nested, or the names are not one per model.

    Examples
    --------
    >>> import mixedmodels as mm  # doctest: +SKIP
    >>> sleep = mm.datasets.load("sleepstudy")
    >>> m0 = mm.lmm("Reaction ~ Days + (1 | Subject)", sleep, reml=False)
    >>> m1 = mm.lmm("Reaction ~ Days + (Days | Subject)", sleep, reml=False)
    >>> mm.anova(m0, m1)["Chisq"].iloc[1]  # doctest: +SKIP
    42.139...
    """
    if len(fits) == 0:
        raise ValueError("anova() needs at least two fitted models to compare")
    if len(fits) == 1:
        return term_tests(fits[0], type=type, ddf=ddf, test=test)
    labels = [f"m{i}" for i in range(len(fits))] if names is None else [str(n) for n in names]
    if len(labels) != len(fits):
        raise ValueError(f"names has {len(labels)} entries for {len(fits)} models")
    if len(set(labels)) != len(labels):
        raise ValueError(f"model names must be unique, got {labels}")
    _check_comparable(fits, labels)

    models = list(fits)
    reml = [bool(getattr(f, "reml", False)) for f in models]
    if refit and any(reml):
        warnings.warn("refitting model(s) with ML (instead of REML)", RefitMLWarning, stacklevel=2)
        models = [_refit_ml(f) if r else f for f, r in zip(models, reml, strict=True)]
    elif any(reml) and not all(reml):
        warnings.warn("some models fit with REML, some not", UserWarning, stacklevel=2)

    npar = np.array([int(f.df) for f in models])
    order = np.argsort(npar, kind="stable")
    models = [models[i] for i in order]
    labels = [labels[i] for i in order]
    npar = npar[order]
    if check_nested:
        for i in range(1, len(models)):
            _check_nested(models[i - 1], models[i], labels[i - 1], labels[i])
    loglik = np.array([float(f.loglik) for f in models])
    chisq = np.concatenate([[np.nan], 2.0 * np.maximum(0.0, np.diff(loglik))])
    dfs = np.concatenate([[np.nan], np.diff(npar).astype(float)])
    with np.errstate(invalid="ignore"):
        pval = np.where(dfs == 0, np.nan, stats.chi2.sf(chisq, np.where(dfs > 0, dfs, np.nan)))
    table = pd.DataFrame(
        {
            "npar": npar,
            "AIC": [float(f.aic) for f in models],
            "BIC": [float(f.bic) for f in models],
            "logLik": loglik,
            "deviance": -2.0 * loglik,
            "Chisq": chisq,
            "Df": dfs,
            "Pr(>Chisq)": pval,
        },
        index=pd.Index(labels),
    )
    table.attrs["heading"] = ["Models:"] + [
        f"{label}: {f.model.formula}" for label, f in zip(labels, models, strict=True)
    ]
    return table


# --- tests of the terms of one model -------------------------------------------------------
_TYPE_NAMES = {1: "I", 2: "II", 3: "III"}


def _wald_chisq(beta: np.ndarray, V: np.ndarray, L: np.ndarray) -> tuple[float, int]:
    """Wald statistic of ``L beta = 0`` and its df (rank of ``L V L'``)."""
    if L.shape[0] == 0:
        return np.nan, 0
    VL = L @ V @ L.T
    d, P = np.linalg.eigh((VL + VL.T) / 2.0)
    keep = d > max(d.max(initial=0.0), 0.0) * 1.49e-8
    proj = P[:, keep].T @ (L @ beta)
    return float(np.sum(proj**2 / d[keep])), int(keep.sum())


def _conj_comp(X: np.ndarray, Z: np.ndarray, ip: np.ndarray) -> np.ndarray:
    """car's ``ConjComp``: the part of span(Z) orthogonal to span(X) in the inner
    product ``ip`` (columns)."""
    M = Z.T @ ip @ X
    if M.size == 0:
        return Z
    q, r = np.linalg.qr(M, mode="complete")
    rank = int(np.sum(np.abs(np.diag(r)) > 1e-7 * max(np.abs(r).max(initial=0.0), 1e-300)))
    if rank == 0:
        return Z
    return np.asarray(Z @ q[:, rank:])


def _wald_hypotheses(result: Any, kind: int) -> dict[str, np.ndarray]:
    """Hypotheses of Wald chi-square tests: car's type II (and a type I in the same
    metric), lmerTest's coding-free type III."""
    from ..design.terms import fixed_terms
    from .hypotheses import hypotheses

    model = result.model
    if kind == 3:
        return hypotheses(model, 3)
    ft = fixed_terms(model)
    V = result.vcov.to_numpy()
    p = V.shape[0]
    eye = np.eye(p)
    out = {}
    for i, label in enumerate(ft.labels):
        if kind == 2:
            # car's relatives: the terms that contain this one (any variables).
            others = [
                j
                for j, t in enumerate(ft.labels)
                if t != label and set(ft.variables[label]) < set(ft.variables[t])
            ]
        else:
            # Sequential: adjusted for the terms before, ignoring those after.
            others = list(range(i + 1, len(ft.labels)))
        base = eye[np.isin(ft.assign, others)]
        both = eye[np.isin(ft.assign, [*others, i])]
        hyp = both if base.shape[0] == 0 else _conj_comp(base.T, both.T, V).T
        out[label] = hyp[~np.all(np.abs(hyp) < 1e-12, axis=1)]
    return out


def term_tests(
    result: Any, type: int | str = 3, ddf: str | None = "satterthwaite", test: str | None = None
) -> pd.DataFrame:
    """F or Wald chi-square tests of each fixed-effect term of one model (see
    :func:`anova`)."""
    from .ddf import contest_md, normalize_ddf
    from .hypotheses import _normalize_type, hypotheses

    kind = _normalize_type(type)
    is_lmm = is_linear_criterion(getattr(result, "_problem", None))
    if test is None:
        test = "F" if is_lmm else "Chisq"
    test_key = str(test).strip().lower()
    if test_key in ("chisq", "chi2", "chisquare", "wald"):
        V = result.vcov.to_numpy()
        if not np.all(np.isfinite(V)):
            raise ValueError("Wald tests need the covariance of the fixed effects (vcov)")
        beta = result.fixef.to_numpy()
        rows = {}
        for label, L in _wald_hypotheses(result, kind).items():
            chisq, df = _wald_chisq(beta, V, L)
            p = float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan
            rows[label] = {"Chisq": chisq, "Df": df, "Pr(>Chisq)": p}
        table = pd.DataFrame.from_dict(rows, orient="index", columns=["Chisq", "Df", "Pr(>Chisq)"])
        table.attrs["heading"] = [
            "Analysis of Deviance Table (Type " + _TYPE_NAMES[kind] + " Wald chisquare tests)",
            f"Response: {getattr(result.model.design, 'response_name', '')}",
        ]
        return table
    if test_key != "f":
        raise ValueError(f"unknown test {test!r}; use 'F' or 'Chisq'")
    if not is_lmm:
        raise ValueError(
            f"F tests need a linear mixed model; for {result.__class__.__name__} use test='Chisq'"
        )
    method = normalize_ddf(ddf)
    rows = {
        label: contest_md(result, L, method) for label, L in hypotheses(result.model, kind).items()
    }
    table = pd.DataFrame.from_dict(
        rows,
        orient="index",
        columns=["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"],
    )
    if method == "none":
        table = table.drop(columns=["DenDF", "Pr(>F)"])
        heading = f"Type {_TYPE_NAMES[kind]} Analysis of Variance Table"
    else:
        name = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's"}[method]
        heading = f"Type {_TYPE_NAMES[kind]} Analysis of Variance Table with {name} method"
    table.attrs["heading"] = [heading]
    return table
