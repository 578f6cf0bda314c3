"""Conformance checks of a :class:`~mixedmodels.interfaces.Diagnostic`."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..interfaces import Diagnostic
from ._core import Check, CheckTable, Context, bind, call, check_name, fmt, run_all

_JUNK = (None, object(), "not a result")
_COLUMNS = frozenset({"check", "statistic", "p_value"})


class DiagnosticContext(Context):
    """A diagnostic and the table it returns for the given result."""

    function = "check_diagnostic"

    def __init__(self, obj: Any, *, result: Any = None) -> None:
        super().__init__(obj, result=result)

    @cached_property
    def result(self) -> Any:
        """The given result, which the diagnostic must support."""
        result = self.option("result")
        reason = call(self.fail, "supports(result)", self.obj.supports, result)
        if reason is not None:
            raise self.fail("supports(result)", f"the given result is not supported: {reason}")
        return result

    @cached_property
    def table(self) -> pd.DataFrame:
        """``run(result)``, a DataFrame, for a result the diagnostic supports."""
        result = self.result
        table = call(self.fail, "run", self.obj.run, result)
        if not isinstance(table, pd.DataFrame):
            raise self.fail("run", f"must return a pandas DataFrame, got {type(table).__name__}")
        return table


def _interface(ctx: DiagnosticContext) -> None:
    if not isinstance(ctx.obj, Diagnostic):
        raise ctx.fail("interface", f"{type(ctx.obj).__name__} is not a mixedmodels Diagnostic")


def _supports(ctx: DiagnosticContext) -> None:
    for junk in _JUNK:
        try:
            reason = ctx.obj.supports(junk)
        except Exception as exc:
            raise ctx.fail(
                "supports", f"supports({junk!r}) raised {type(exc).__name__}: {exc}"
            ) from exc
        if reason is not None and not isinstance(reason, str):
            raise ctx.fail("supports", f"supports({junk!r}) returned {reason!r}, not None or a str")


def _supports_result(ctx: DiagnosticContext) -> None:
    _ = ctx.result


def _run(ctx: DiagnosticContext) -> None:
    _ = ctx.table


def _columns(ctx: DiagnosticContext) -> None:
    missing = _COLUMNS - set(ctx.table.columns)
    if missing:
        raise ctx.fail("run columns", f"the table lacks the columns {sorted(missing)}")


def _p_values(ctx: DiagnosticContext) -> None:
    if "p_value" not in ctx.table.columns:
        return  # the 'run columns' failure
    p = pd.to_numeric(ctx.table["p_value"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isnan(p) & ((p < 0) | (p > 1))
    if np.any(bad):
        raise ctx.fail("run p-values", f"p-values outside [0, 1]: {fmt(p[bad])}")


def diagnostic_checks(diagnostic: Diagnostic, result: Any = None) -> Iterator[tuple[str, Check]]:
    """Yield ``(name, check)`` for each check of :func:`check_diagnostic`, in its order.

    The checks that run the diagnostic are listed only with a ``result``.  Where the
    result exists only when the test runs (a pytest fixture), list the checks with
    ``result=...`` and call each as ``check(diagnostic, result=fit)``.

    Parameters
    ----------
    diagnostic, result
        As for :func:`check_diagnostic`.

    Yields
    ------
    tuple of (str, Check)
        The check's name and the check; ``check(diagnostic)`` runs it.
    """
    ctx = DiagnosticContext(diagnostic, result=result)
    run = result is not None
    table: CheckTable = [
        ("name", check_name, True),
        ("interface", _interface, True),
        ("supports", _supports, True),
        ("supports(result)", _supports_result, run),
        ("run", _run, run),
        ("run columns", _columns, run),
        ("run p-values", _p_values, run),
    ]
    yield from bind("diagnostic", ctx, table)


def check_diagnostic(diagnostic: Diagnostic, result: Any = None) -> None:
    """Check a :class:`~mixedmodels.interfaces.Diagnostic`.

    Runs every check of :func:`diagnostic_checks`: ``name`` is a non-empty string;
    ``supports`` returns ``None`` or a message without raising for objects that are not
    results; with ``result`` (one the diagnostic supports), ``run(result)`` returns a
    :class:`pandas.DataFrame` with at least the columns ``check``, ``statistic`` and
    ``p_value``, the p-values in ``[0, 1]`` or NaN.

    Parameters
    ----------
    diagnostic
        The diagnostic instance.
    result
        A fitted result to run it on.

    Raises
    ------
    AssertionError
        Naming the diagnostic and each failed check.
    """
    run_all(diagnostic, list(diagnostic_checks(diagnostic, result)))
