"""Hook implementations: the checks mixedmodels-diagnostics registers with mixedmodels.

Each module owns its :class:`~mixedmodels.interfaces.Diagnostic` classes and lists them
in a module-level ``DIAGNOSTICS``; this module only gathers them, so that ``mm.check``
finds every check through the same hook a third-party plugin would use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_diagnostics() -> Sequence[Any]:
    """Scaled-residual tests, summary statistics and influence checks."""
    from ._dharma_diagnostic import DIAGNOSTICS as residual_tests
    from ._influence import DIAGNOSTICS as influence
    from ._statistics import DIAGNOSTICS as statistics

    return [*residual_tests, *statistics, *influence]
