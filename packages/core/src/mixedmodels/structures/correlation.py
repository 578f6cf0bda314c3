"""The specification of a residual correlation (nlme's ``correlation=``): structure,
time or position covariate(s) and group, from a string or given directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..interfaces import CovarianceStructure
from .residual_syntax import call_parts, coord_columns, group_columns, parse_args

__all__ = ["Correlation", "parse_correlation"]


@dataclass
class Correlation:
    """A residual correlation: structure, time/position covariate(s), group.

    Parameters
    ----------
    structure
        A registered structure name (``"ar1"``, ``"car1"``, ``"arma"``, ``"cs"``,
        ``"symm"``, a plugin's) or a :class:`~mixedmodels.interfaces.
        CovarianceStructure` class.
    time
        Column(s) with the time or position of each observation; ``None``: the order
        of the rows within the group.
    group
        Grouping column, or several (their interaction); ``None``: the default group.
    **options
        Passed to the structure (``p``, ``q`` for ``arma``).
    """

    structure: str | type[CovarianceStructure]
    time: str | Sequence[str] | None = None
    group: str | Sequence[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        structure: str | type[CovarianceStructure],
        time: str | Sequence[str] | None = None,
        group: str | Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        self.structure = structure
        self.time = time
        self.group = group
        self.options = dict(options)

    @property
    def name(self) -> str:
        s = self.structure
        return s if isinstance(s, str) else str(s.name)

    def __str__(self) -> str:
        t = " + ".join(coord_columns(self.time)) or "1"
        g = ":".join(group_columns(self.group))
        inner = f"{t} | {g}" if g else ("" if t == "1" else t)
        opts = "".join(f", {k} = {v}" for k, v in self.options.items())
        return f"{self.name}({inner}{opts})"


def parse_correlation(spec: Any) -> Correlation:
    """A :class:`Correlation` from a string, a structure class or a Correlation."""
    if isinstance(spec, Correlation):
        return spec
    if isinstance(spec, type) and issubclass(spec, CovarianceStructure):
        return Correlation(spec)
    if not isinstance(spec, str):
        raise TypeError(
            "correlation must be a string such as 'ar1(visit | id)', a Correlation or a "
            f"CovarianceStructure class, not {type(spec).__name__}"
        )
    name, args = call_parts(spec, "correlation")
    time, group, options = parse_args(args, f"correlation {spec!r}")
    return Correlation(name, time=coord_columns(time) or None, group=group, **options)
