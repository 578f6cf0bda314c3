"""glmmTMB's ``summary()`` and broom.mixed's ``tidy``/``glance`` of a model fitted by the
general Laplace engine (three blocks: conditional, zero-inflation, dispersion)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .rformat import _cat_fill, _print_coefmat, _print_matrix, _r_format
from .summary import _aic_table, _data_name

__all__ = ["augment_tmb", "family_label", "format_tmb_summary", "glance_tmb", "tidy_tmb"]

_TITLES = {"cond": "Conditional model", "zi": "Zero-inflation model", "disp": "Dispersion model"}


def family_label(family: Any) -> str:
    """The family's name as glmmTMB prints it (the engine's own ``tmb_`` copies of the
    core's families drop the prefix)."""
    name = str(family.name)
    return name[4:] if name.startswith("tmb_") else name


def _deparse_rhs(rhs: str) -> str:
    """R's ``deparse`` of a one-sided formula: ``~mined + x``."""
    return "~" + re.sub(r"\s+", " ", rhs.strip())


def _deparse(formula: str) -> str:
    lhs, rhs = formula.split("~", 1)
    rhs = re.sub(r"\s+", " ", rhs.strip())
    return f"{lhs.strip()} ~ {rhs}"


def _trivial_disp(result: Any) -> bool:
    comp = result.components.get("disp")
    return comp is not None and comp.fixef_names == ["(Intercept)"] and comp.offset is None


def _with_na(strs: list[str], values: list[float]) -> list[str]:
    """R's ``format`` of a vector with NA: ``NA`` right-justified to the common width."""
    width = max((len(x) for x, v in zip(strs, values, strict=True) if np.isfinite(v)), default=2)
    return [x if np.isfinite(v) else "NA".rjust(width) for x, v in zip(strs, values, strict=True)]


def _varcorr_block(result: Any, component: str, digits: int) -> str:
    rows = []
    for group, cov in result.covariance_matrices(component).items():
        c = cov.to_numpy()
        sd = np.sqrt(np.maximum(np.diag(c), 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = c / np.outer(sd, sd)
        for i, col in enumerate(cov.columns):
            cells = [_r_format([round(float(corr[i, j]), 2)], nsmall=2)[0] for j in range(i)]
            rows.append([str(group) if i == 0 else "", str(col), c[i, i], sd[i], cells])
    residual = component == "cond" and family_label(result.family) == "gaussian"
    if residual:
        s = result.sigma
        rows.append(["Residual", "", s * s, s, []])
    variances = _r_format([r[2] for r in rows], digits)
    sds = _r_format([r[3] for r in rows], digits)
    variances = _with_na(variances, [r[2] for r in rows])
    sds = _with_na(sds, [r[3] for r in rows])
    width = max((len(r[4]) for r in rows), default=0)
    corr_cols = (["Corr"] + [""] * (width - 1))[:width]
    body = [
        [r[0], r[1], v, s, *(r[4] + [""] * (width - len(r[4])))]
        for r, v, s in zip(rows, variances, sds, strict=True)
    ]
    table = _print_matrix(
        [""] * len(body), ["Groups", "Name", "Variance", "Std.Dev.", *corr_cols], body, right=False
    )
    comp = result.components[component]
    ngrps = "; ".join(
        f"{g}, {t.n_levels}" for g, t in zip(comp.group_names, comp.terms, strict=True)
    )
    groups = _cat_fill(f"Number of obs: {result.nobs}, groups: ", ngrps)
    return f"{_TITLES[component]}:\n{table}{groups}"


def format_tmb_summary(result: Any, digits: int = 4) -> str:
    """glmmTMB's ``summary()`` text."""
    family = family_label(result.family)
    parts = [f" Family: {family}  ( {result.link.name} )\n"]
    parts.append(f"Formula:          {_deparse(result.model.formula)}\n")
    if "zi" in result.components:
        zi = _deparse_rhs(result.model.extras["ziformula"].split("~", 1)[-1])
        parts.append(f"Zero inflation:         {zi}\n")
    if "disp" in result.components and not _trivial_disp(result):
        parts.append(
            f"Dispersion:                {_deparse_rhs(result.components['disp'].formula)}\n"
        )
    name = _data_name(result)
    if name is not None:
        parts.append(f"Data: {name}\n")
    parts.append("\n" + _aic_table(result))
    re_names = result._problem.re_names
    if re_names:
        parts.append("\nRandom effects:\n")
        for k in re_names:
            parts.append("\n" + _varcorr_block(result, k, digits))
    if _trivial_disp(result):
        s = result.sigma
        if family == "gaussian":
            parts.append(f"\nDispersion estimate for {family} family (sigma^2): {s * s:.3g} \n")
        else:
            parts.append(f"\nDispersion parameter for {family} family (): {s:.3g} \n")
    for k in ("cond", "zi", "disp"):
        if k not in result.components or (k == "disp" and _trivial_disp(result)):
            continue
        tab = result.coef_table(k)
        if len(tab):
            parts.append(f"\n{_TITLES[k]}:\n")
            parts.append(
                _print_coefmat(
                    [str(n) for n in tab.index], list(tab.columns), tab.to_numpy(), digits
                )
            )
    if result.messages:
        parts.append("\n" + "\n".join(f"Warning: {m}" for m in result.messages) + "\n")
    return "".join(parts)


def tidy_tmb(
    result: Any,
    effects: Any = ("fixed", "ran_pars"),
    conf_int: bool = False,
    conf_level: float = 0.95,
    **_: Any,
) -> pd.DataFrame:
    """broom.mixed's ``tidy`` of a glmmTMB fit: ``effect``, ``component`` (``cond``,
    ``zi``, ``disp``), ``group``, ``term``, ``estimate``, ``std.error``, ``statistic``,
    ``p.value`` (and ``conf.low``/``conf.high``)."""
    from scipy import stats

    effects = [effects] if isinstance(effects, str) else list(effects)
    rows: list[dict[str, Any]] = []
    z = stats.norm.ppf(0.5 + conf_level / 2.0)
    if "fixed" in effects:
        for k in ("cond", "zi", "disp"):
            if k not in result.components:
                continue
            tab = result.coef_table(k)
            for term, r in tab.iterrows():
                row = {
                    "effect": "fixed",
                    "component": k,
                    "group": None,
                    "term": str(term),
                    "estimate": r["Estimate"],
                    "std.error": r["Std. Error"],
                    "statistic": r["z value"],
                    "p.value": r["Pr(>|z|)"],
                }
                if conf_int:
                    row["conf.low"] = r["Estimate"] - z * r["Std. Error"]
                    row["conf.high"] = r["Estimate"] + z * r["Std. Error"]
                rows.append(row)
    if "ran_pars" in effects:
        for k in result._problem.re_names:
            for g, cov in result.covariance_matrices(k).items():
                c = cov.to_numpy()
                sd = np.sqrt(np.diag(c))
                names = list(cov.index)
                for i, n in enumerate(names):
                    rows.append(
                        {
                            "effect": "ran_pars",
                            "component": k,
                            "group": g,
                            "term": f"sd__{n}",
                            "estimate": sd[i],
                        }
                    )
                for i in range(len(names)):
                    for j in range(i + 1, len(names)):
                        rows.append(
                            {
                                "effect": "ran_pars",
                                "component": k,
                                "group": g,
                                "term": f"cor__{names[i]}.{names[j]}",
                                "estimate": c[i, j] / (sd[i] * sd[j]),
                            }
                        )
        if family_label(result.family) == "gaussian" and _trivial_disp(result):
            rows.append(
                {
                    "effect": "ran_pars",
                    "component": "cond",
                    "group": "Residual",
                    "term": "sd__Observation",
                    "estimate": result.sigma,
                }
            )
    cols = ["effect", "component", "group", "term", "estimate", "std.error", "statistic", "p.value"]
    if conf_int:
        cols += ["conf.low", "conf.high"]
    return pd.DataFrame(rows, columns=cols)


def glance_tmb(result: Any) -> pd.DataFrame:
    """broom.mixed's ``glance``: ``nobs``, ``sigma``, ``logLik``, ``AIC``, ``BIC``,
    ``deviance`` (NA, as broom.mixed for glmmTMB), ``df.residual``."""
    return pd.DataFrame(
        [
            {
                "nobs": result.nobs,
                "sigma": result.sigma,
                "logLik": result.loglik,
                "AIC": result.aic,
                "BIC": result.bic,
                "deviance": np.nan,
                "df.residual": result.df_residual,
            }
        ]
    )


def augment_tmb(result: Any, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """The data used with ``.fitted`` (response scale) and ``.resid`` (response)."""
    frame = result.model.data.loc[result.model.design.row_index] if data is None else data.copy()
    frame = frame.copy()
    frame[".fitted"] = result.fitted.to_numpy()
    frame[".resid"] = result.residuals("response").to_numpy()
    return frame
