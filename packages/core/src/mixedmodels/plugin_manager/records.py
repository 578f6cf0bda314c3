"""Records of plugins and of what they registered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

__all__ = ["Conflict", "PluginInfo", "Registration"]


@dataclass(frozen=True)
class PluginInfo:
    """One plugin: an entry point, or an object given to ``register_plugin``.

    Attributes
    ----------
    name : str
        Entry-point name (or the name given to ``register_plugin``).
    distribution : str or None
        Name of the distribution that declares it; ``None`` for in-process plugins.
    version : str or None
        That distribution's version.
    module : str
        The entry point's value, e.g. ``"mixedmodels_gee._plugin"``.
    status : {"loaded", "failed", "disabled"}
        Whether its registrations are in effect.
    reason : str or None
        Why it failed or was not loaded.
    """

    name: str
    distribution: str | None
    version: str | None
    module: str
    status: Literal["loaded", "failed", "disabled"] = "loaded"
    reason: str | None = None

    def describe(self) -> str:
        """Return ``'name' (distribution version)`` for messages."""
        if self.distribution is None:
            return f"{self.name!r} (registered in-process)"
        version = f" {self.version}" if self.version else ""
        return f"{self.name!r} ({self.distribution}{version})"

    def with_status(self, status: Literal["failed", "disabled"], reason: str) -> PluginInfo:
        """Return this record marked as not loaded, and why."""
        return PluginInfo(self.name, self.distribution, self.version, self.module, status, reason)


@dataclass(frozen=True)
class Registration:
    """One registered object and the plugin that registered it."""

    kind: str
    name: str
    obj: Any
    plugin: PluginInfo


class Conflict(NamedTuple):
    """One name claimed twice: ``(kind, name, first, second)``.

    ``kind`` is ``"plugin"`` when two distributions declare one entry-point name.
    """

    kind: str
    name: str
    first: PluginInfo
    second: PluginInfo
