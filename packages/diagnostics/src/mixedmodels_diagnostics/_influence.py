"""Observation- and group-level influence (R's influence.ME and HLMdiag).

Two ways to get the fixed effects without an observation (or a level of a grouping
factor):

``method="exact"``
    Refit the model without it (influence.ME's ``influence()``, HLMdiag's
    ``case_delete``), starting from the full fit's variance parameters.  Gives every
    measure, including the relative change of the variance components (RVC).
``method="approx"``
    HLMdiag's closed-form one-step updates for ``lmerMod`` (Christensen, Pearson &
    Johnson 1992): the variance components are held at the full-data estimates, so the
    deleted-data estimates are the generalised-least-squares ones, exact for that fixed
    marginal covariance ``V``.  For a GLMM the same formulas are applied to the
    linearised model at the final PIRLS iteration (working response and weights), and
    the fixed-effect covariance is that model's ``(X' V^-1 X)^-1``.

Measures (``p`` fixed effects, ``V`` the full-data and ``V_(i)`` the deleted-data
covariance of the fixed effects):

* ``cooks_distance``: ``(b - b_(i))' V^-1 (b - b_(i)) / p`` (full-data ``V``, HLMdiag).
* ``mdffits``: the same with ``V_(i)``.  This is what influence.ME's
  ``cooks.distance()`` computes: its source uses the vcov of each deleted-data refit.
* ``covratio``: ``det(V_(i)) / det(V)``; ``covtrace``: ``|tr(V^-1 V_(i)) - p|``.
* ``rvc_*``: each variance component of the refit over the full-data one, minus 1
  (HLMdiag's ``rvc``; exact method only).
* ``leverage`` (``leverage_fixef`` + ``leverage_ranef``): the diagonal of Demidenko &
  Stukel's ``H1 = X (X'V^-1 X)^-1 X' V^-1`` and ``H2 = Z D Z' V^-1 (I - H1)``;
  ``leverage_ranef_uc`` is Nobre & Singer's ``diag(Z D Z') / sigma^2``.  At the group
  level, the trace of the group's diagonal block (HLMdiag reports the mean over the
  group's observations instead: divide by the group size).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from mixedmodels.interfaces import Diagnostic

from ._case_deletion import case_measures, refit_deleted
from ._influence_units import deletion_units, is_glmm, unsupported_reason, varcomp
from ._one_step import leverage, linearise, one_step, one_step_delta, pieces

__all__ = ["DIAGNOSTICS", "InfluenceDiagnostic", "InfluenceResult", "influence"]


@dataclass
class InfluenceResult:
    """Influence of each observation or group on a fitted mixed model.

    Attributes
    ----------
    table
        One row per observation (index: the data's row labels) or per level of the
        grouping factor, columns ``cooks_distance``, ``mdffits``, ``covratio``,
        ``covtrace``, ``rvc_<component>`` (exact method; ``NaN`` for the one-step one,
        which holds the variance components fixed), ``leverage``, ``leverage_fixef``,
        ``leverage_ranef``, ``leverage_ranef_uc`` and ``n_obs`` (rows deleted).
    level
        ``"observation"`` or the grouping factor's name.
    method
        ``"exact"`` or ``"approx"``.
    fixef, vcov
        The full-data fixed effects and their covariance used by the measures.
    deleted_fixef
        Fixed effects without each unit (rows as ``table``); for ``"approx"`` the
        one-step estimates.
    deleted_vcov
        Covariance of the fixed effects without each unit (exact method), else ``None``.
    n_failed
        Refits that failed (their rows are ``NaN``).
    """

    table: pd.DataFrame
    level: str
    method: str
    fixef: pd.Series
    vcov: pd.DataFrame
    deleted_fixef: pd.DataFrame
    deleted_vcov: list[pd.DataFrame] | None = None
    n_failed: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def n_units(self) -> int:
        """Number of observations or groups deleted in turn."""
        return len(self.table)

    def cutoff(self) -> float:
        """influence.ME's rule of thumb for Cook's distance: ``4 / n`` (``n`` units)."""
        return 4.0 / self.n_units

    def to_frame(self) -> pd.DataFrame:
        """The table with the unit as a column and the deleted fixed effects as
        ``fixef_<name>`` columns (one flat frame, e.g. for plotting or export)."""
        fixef = self.deleted_fixef.add_prefix("fixef_")
        return self.table.join(fixef).reset_index()

    def influential(
        self, threshold: float | None = None, measure: str = "cooks_distance"
    ) -> pd.DataFrame:
        """Rows of :attr:`table` whose ``measure`` exceeds ``threshold``.

        Parameters
        ----------
        threshold
            Cut-off; default ``4 / n`` (influence.ME's rule for Cook's distance, ``n``
            the number of observations or groups).
        measure
            A column of :attr:`table`.

        Returns
        -------
        pandas.DataFrame
            The rows above the cut-off, largest first.
        """
        if measure not in self.table.columns:
            raise ValueError(
                f"unknown measure {measure!r}; choose one of {list(self.table.columns)}"
            )
        cut = self.cutoff() if threshold is None else float(threshold)
        above = self.table[self.table[measure] > cut]
        return above.sort_values(measure, ascending=False)

    def __repr__(self) -> str:
        return (
            f"<InfluenceResult {self.method} deletion of {self.n_units} "
            f"{'observations' if self.level == 'observation' else self.level + ' levels'}, "
            f"{len(self.influential())} above 4/n>"
        )

    def _repr_html_(self) -> str:
        """Notebook view: the ten most influential units by Cook's distance."""
        from mixedmodels.extending import Section, Tabular, render_table

        cols = [c for c in ("cooks_distance", "mdffits", "covratio", "leverage") if c in self.table]
        top = self.table.sort_values("cooks_distance", ascending=False).head(10)
        rows = [
            [str(unit), *(f"{float(v):.4g}" for v in values)]
            for unit, values in zip(top.index, top[cols].to_numpy(), strict=True)
        ]
        tab = Tabular(
            [self.level, *cols],
            [Section(rows, "largest Cook's distances")],
            title=repr(self).strip("<>"),
            notes=[f"cut-off 4/n = {self.cutoff():.4g}"],
        )
        return render_table(tab, "html")


def influence(
    fit: Any,
    group: str | None = None,
    method: str = "exact",
    n_jobs: int | None = 1,
    progress: Any = False,
) -> InfluenceResult:
    """Influence of each observation or group on the fixed effects (influence.ME,
    HLMdiag).

    Parameters
    ----------
    fit
        A fitted :class:`~mixedmodels.LMMResult` or :class:`~mixedmodels.GLMMResult`.
    group
        ``None`` deletes one observation at a time; the name of a grouping factor
        deletes each of its levels in turn (influence.ME's ``group=``).
    method
        ``"exact"`` refits without each unit (from the full fit's variance parameters;
        same estimator, REML or ML, Laplace or quadrature); ``"approx"`` uses HLMdiag's
        one-step formulas with the variance components held fixed (for a GLMM, on the
        linearised model at the final PIRLS weights).
    n_jobs
        Worker processes for the refits (``-1``: one per CPU); the result does not
        depend on it.
    progress
        Progress bar on stderr for the refits (``True``, ``"always"`` or ``False``).

    Returns
    -------
    InfluenceResult
        ``.table`` of measures, ``.deleted_fixef``, ``.influential()``.

    Raises
    ------
    TypeError
        ``fit`` is not a supported result.
    ValueError
        Unknown ``group`` (the message lists the model's grouping factors) or ``method``.

    Notes
    -----
    ``cooks_distance`` uses the full-data covariance of the fixed effects (HLMdiag,
    the textbook definition); influence.ME's ``cooks.distance()`` uses each refit's
    covariance, which is ``mdffits`` here.

    Examples
    --------
    >>> import mixedmodels as mm  # doctest: +SKIP
    >>> from mixedmodels_diagnostics import influence
    >>> fit = mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    >>> infl = influence(fit, group="Subject")
    >>> infl.influential()
    """
    reason = unsupported_reason(fit)
    if reason is not None:
        raise TypeError(f"influence: {reason}")
    if method not in ("exact", "approx"):
        raise ValueError(f"method must be 'exact' or 'approx', got {method!r}")
    level, index, rows = deletion_units(fit, group)
    names = list(fit.fixef.index)
    p = len(names)
    beta = fit.fixef.to_numpy(dtype=np.float64)
    lin = linearise(fit)
    pc = pieces(lin)
    lev_obs = leverage(lin, pc)
    unit_of = np.empty(int(fit.nobs), dtype=np.int64)
    for k, r in enumerate(rows):  # a loop over units, assigning index arrays
        unit_of[r] = k
    lev = lev_obs.groupby(unit_of).sum() if level != "observation" else lev_obs
    lev.index = index
    vc_names = [f"rvc_{n}" for n in varcomp(fit).index]
    messages: list[str] = []
    n_failed = 0
    deleted_vcov: list[pd.DataFrame] | None = None
    if method == "exact":
        V = fit.vcov.to_numpy(dtype=np.float64)
        fixef_del, vcov_del, vc_del = refit_deleted(fit, rows, n_jobs, progress)
        table = case_measures(beta, V, fixef_del, vcov_del)
        base = varcomp(fit).to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            rvc = np.where(base != 0, vc_del / base - 1.0, np.nan)
        for j, name in enumerate(vc_names):
            table[name] = rvc[:, j]
        deleted_vcov = [pd.DataFrame(v, index=names, columns=names) for v in vcov_del]
        n_failed = int(np.isnan(fixef_del).all(axis=1).sum())
        if n_failed:
            messages.append(f"{n_failed} of {len(rows)} refits failed (rows of NaN)")
            warnings.warn(messages[-1], UserWarning, stacklevel=2)
    else:
        V = pc.XVXinv
        table = one_step(pc, rows, p)
        # The one-step update of b itself, for deleted_fixef.
        fixef_del = beta[None, :] - one_step_delta(pc, rows)
        for name in vc_names:
            table[name] = np.nan
        if is_glmm(fit):
            messages.append(
                "one-step approximation on the linearised model at the final PIRLS "
                "weights; the fixed-effect covariance is (X'V^-1X)^-1 of that model"
            )
    table.index = index
    table = table.join(lev)
    table["n_obs"] = np.array([len(r) for r in rows])
    return InfluenceResult(
        table=table,
        level=level,
        method=method,
        fixef=fit.fixef.astype(float),
        vcov=pd.DataFrame(V, index=names, columns=names),
        deleted_fixef=pd.DataFrame(fixef_del, index=index, columns=names),
        deleted_vcov=deleted_vcov,
        n_failed=n_failed,
        messages=messages,
    )


class InfluenceDiagnostic(Diagnostic):
    """Groups whose deletion moves the fixed effects most (Cook's distance > 4/n)."""

    name: ClassVar[str] = "influence"
    description: ClassVar[str] = (
        "influential groups: Cook's distance from refits without each level (influence.ME)"
    )

    def supports(self, result: Any) -> str | None:
        try:
            return unsupported_reason(result)
        except Exception as exc:  # supports must never raise
            return f"cannot inspect the result: {exc}"

    def run(
        self,
        result: Any,
        group: str | None = None,
        method: str = "exact",
        n_jobs: int | None = 1,
        **options: Any,
    ) -> pd.DataFrame:
        """One row per group whose Cook's distance exceeds ``4 / n_groups`` (verdict
        ``"warning"``), or one ``"ok"`` row; ``group`` defaults to the model's first
        grouping factor."""
        reason = unsupported_reason(result)
        if reason is not None:
            raise TypeError(f"check {self.name!r}: {reason}")
        if group is None:
            group = result.model.terms[0].group_name
        infl = influence(result, group=group, method=method, n_jobs=n_jobs, progress=False)
        cut = infl.cutoff()
        above = infl.influential(cut)
        columns = ["check", "statistic", "p_value", "verdict", "message", "level"]
        if above.empty:
            top = infl.table["cooks_distance"]
            worst = float(top.max()) if top.notna().any() else math.nan
            return pd.DataFrame(
                [
                    {
                        "check": f"influence ({group})",
                        "statistic": worst,
                        "p_value": math.nan,
                        "verdict": "ok",
                        "message": (
                            f"no level of {group!r} has Cook's distance above 4/n = {cut:.3g}"
                        ),
                        "level": None,
                    }
                ],
                columns=columns,
            )
        rows = [
            {
                "check": f"influence ({group} = {label})",
                "statistic": float(value),
                "p_value": math.nan,
                "verdict": "warning",
                "message": (
                    f"deleting {group} {label} moves the fixed effects by Cook's distance "
                    f"{float(value):.3g} > 4/n = {cut:.3g}"
                ),
                "level": label,
            }
            for label, value in above["cooks_distance"].items()
        ]
        return pd.DataFrame(rows, columns=columns)


DIAGNOSTICS: list[Diagnostic] = [InfluenceDiagnostic()]
