"""The plugin manager's warning and errors, and how its warnings are given."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from ..errors import MixedModelsError, MixedModelsWarning, ModelSpecificationError
from .environment import ENV_DISABLE, ENV_PLUGINS
from .kinds import label
from .records import Conflict, PluginInfo

__all__ = ["MixedModelsPluginWarning", "PluginConflictError", "UnknownNameError", "warn"]

_HERE = Path(__file__).parent


class MixedModelsPluginWarning(MixedModelsWarning):
    """A plugin could not be loaded and was skipped (or was asked for but not found)."""


class PluginConflictError(MixedModelsError, RuntimeError):
    """Two plugins registered one name in one registry.

    Attributes
    ----------
    conflicts : list of tuple
        ``(kind, name, first, second)`` for every clash, ``first`` and ``second`` being
        the :class:`~mixedmodels.plugin_manager.records.PluginInfo` of the two plugins
        (``kind`` is ``"plugin"`` when two distributions declare the same entry-point
        name).
    """

    def __init__(self, conflicts: Sequence[tuple[str, str, PluginInfo, PluginInfo]]) -> None:
        self.conflicts = [Conflict(*c) for c in conflicts]
        lines = []
        for kind, name, first, second in self.conflicts:
            if kind == "plugin":
                lines.append(
                    f"plugin name {name!r} is declared by two distributions: "
                    f"{first.describe()} and {second.describe()}"
                )
            elif first.name == second.name:
                lines.append(
                    f"{label(kind)} {name!r} is registered twice by plugin {first.describe()}"
                )
            else:
                lines.append(
                    f"{label(kind)} {name!r} is registered by two plugins: "
                    f"{first.describe()} and {second.describe()}"
                )
        hint = (
            f"Uninstall one of them, or choose what loads with {ENV_PLUGINS} or "
            f"{ENV_DISABLE} (comma-separated entry-point names)."
        )
        super().__init__("; ".join(lines) + ". " + hint)


class UnknownNameError(ModelSpecificationError, KeyError):
    """A name that no loaded plugin registered.

    A :class:`KeyError` (it is a failed registry look-up) and a :class:`ValueError`
    (it is usually a bad argument such as ``family="tweedie"``).

    Attributes
    ----------
    kind : str
        The registry, one of :data:`~mixedmodels.plugin_manager.kinds.KINDS`.
    name : str
        The name asked for.
    available : list of str
        The names registered in that registry.
    provider : str or None
        The distribution known to provide ``name``, if any.
    """

    def __init__(
        self,
        kind: str,
        name: str,
        available: list[str],
        message: str,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.available = available
        self.provider = provider
        self.message = message

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message, quotes and escaped newlines.
        return self.message


def warn(message: str) -> None:
    """Give a :class:`MixedModelsPluginWarning` pointing at the caller's line.

    The line is the first frame outside this package: the user's line that triggered
    discovery, not the manager's own code.
    """
    level = 1
    frame = sys._getframe(0)
    while frame.f_back is not None and Path(frame.f_code.co_filename).parent == _HERE:
        frame = frame.f_back
        level += 1
    warnings.warn(message, MixedModelsPluginWarning, stacklevel=level)
