"""``mm.check``: run every registered diagnostic that applies to a fitted result.

The core ships no diagnostics of its own; plugins (``mixedmodels-diagnostics`` and
third parties) register them through the ``mixedmodels_diagnostics`` hook.  This module
only selects, runs and reports them, so that a diagnostic added by anyone shows up in
``mm.check`` without further wiring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .plugin_manager import manager as _plugins

__all__ = ["CHECK_COLUMNS", "DEFAULT_SEED", "check", "format_check_report"]

#: The seed simulation-based checks use unless told otherwise (DHARMa's
#: ``simulateResiduals(seed = 123)``), so that one fit always gets the same verdicts.
DEFAULT_SEED = 123

#: Columns of the table that :func:`check` returns, in this order.
CHECK_COLUMNS = ["check", "statistic", "p_value", "verdict", "message"]


def _normalise(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Give one diagnostic's table the report's columns (extra columns are kept)."""
    out = table.copy()
    if "check" not in out.columns:
        out["check"] = name
    for column in ("statistic", "p_value"):
        if column not in out.columns:
            out[column] = math.nan
    if "verdict" not in out.columns:
        out["verdict"] = ""
    if "message" not in out.columns:
        out["message"] = ""
    out.insert(0, "diagnostic", name)
    ordered = ["diagnostic", *CHECK_COLUMNS]
    return out[ordered + [c for c in out.columns if c not in ordered]]


def check(
    result: Any,
    checks: str | Sequence[str] | None = None,
    *,
    verbose: bool = True,
    seed: Any = DEFAULT_SEED,
    **options: Any,
) -> pd.DataFrame:
    """Run diagnostic checks on a fitted result and report them.

    Parameters
    ----------
    result
        A fitted result (e.g. :class:`~mixedmodels.LMMResult`, :class:`~mixedmodels.GLMMResult`).
    checks
        Names of registered diagnostics to run.  ``None`` runs every registered
        diagnostic whose ``supports(result)`` returns ``None``; a named check that does
        not support the result raises :class:`TypeError` naming the check and the reason.
    verbose
        Print the readable report (:func:`format_check_report`) as well.
    seed
        Seed of the simulation-based checks, passed to every diagnostic's ``run``:
        ``123`` by default (DHARMa's default), so that repeated calls on one fit give
        the same verdicts; an int or a ``numpy.random.Generator``, or ``None`` for
        fresh entropy on each call.
    **options
        Passed to every diagnostic's ``run`` (e.g. ``n=1000``); a diagnostic ignores
        options it does not know only if it accepts ``**options``.

    Returns
    -------
    pandas.DataFrame
        One row per test, columns ``diagnostic``, ``check``, ``statistic``, ``p_value``,
        ``verdict``, ``message`` (plus any a diagnostic adds).

    Raises
    ------
    mixedmodels.plugin_manager.UnknownNameError
        A named check nobody registered (naming the distribution that provides it).
    LookupError
        ``checks=None`` and no installed plugin registers a diagnostic.
    """
    if isinstance(checks, str):
        checks = [checks]
    if checks is None:
        available = _plugins.registry("diagnostic")
        if not available:
            raise LookupError(
                "no diagnostics are registered; install mixedmodels-diagnostics "
                "(pip install mixedmodels-diagnostics) or a plugin that provides them"
            )
        selected = [d for d in available.values() if d.supports(result) is None]
        if not selected:
            raise TypeError(
                f"no registered diagnostic supports a {type(result).__name__}; registered: "
                f"{sorted(available)}"
            )
    else:
        selected = []
        for name in checks:
            diagnostic = _plugins.get_diagnostic(name)
            reason = diagnostic.supports(result)
            if reason is not None:
                raise TypeError(f"check {name!r} does not apply to this result: {reason}")
            selected.append(diagnostic)
    tables = [_normalise(d.run(result, seed=seed, **options), d.name) for d in selected]
    report = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=CHECK_COLUMNS)
    if verbose:
        print(format_check_report(report))
    return report


def _fmt(value: Any) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "-"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.3g}"
    return f"{x:.4g}"


def _fmt_p(value: Any) -> str:
    try:
        p = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(p):
        return "-"
    return "< 0.001" if p < 1e-3 else f"{p:.3f}"


def format_check_report(report: pd.DataFrame) -> str:
    """Render the table from :func:`check` as a readable text report.

    One line per test, ``check  statistic  p  verdict`` aligned, followed by the
    message of every test whose verdict is not ``"ok"``.
    """
    if report.empty:
        return "No checks were run."
    rows = [
        (str(r.check), _fmt(r.statistic), _fmt_p(r.p_value), str(r.verdict or ""))
        for r in report.itertuples(index=False)
    ]
    head = ("check", "statistic", "p", "verdict")
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    lines = ["Model checks", ""]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for row in rows:
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:3], widths[1:3], strict=True)),
            row[3].ljust(widths[3]),
        ]
        lines.append("  ".join(cells).rstrip())
    notes = [
        f"- {check}: {message}"
        for check, message, verdict in zip(
            report["check"].astype(str),
            report["message"].fillna("").astype(str),
            report["verdict"].fillna("").astype(str),
            strict=True,
        )
        if message and verdict not in ("ok", "")
    ]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)
