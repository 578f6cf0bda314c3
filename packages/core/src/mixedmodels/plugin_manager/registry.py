"""One registry type for every kind: objects by name, with the plugin that registered each.

A :class:`Registry` is filled at discovery and read at look-up.  It detects a second
registration of a name (a :class:`~.records.Conflict`, never silently overwritten) and
builds the :class:`~.errors.UnknownNameError` for a name nobody registered, with the
close matches and, for well-known names, the distribution to install.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from typing import Any

from .environment import BUILTIN
from .errors import UnknownNameError
from .kinds import Kind
from .records import Conflict, PluginInfo, Registration

__all__ = ["KNOWN_PROVIDERS", "Registry", "merge"]

#: Names that known distributions provide, per kind: used to tell the user what to
#: install when a name is not registered.  Families are left out on purpose: which
#: distribution will ship beta/tweedie/zero-inflated families is not settled yet.
KNOWN_PROVIDERS: dict[str, dict[str, str]] = {
    "estimator": {
        "gee": "mixedmodels-gee",
        "nuts": "mixedmodels-bayes",
        "map": "mixedmodels-bayes",
        "advi": "mixedmodels-bayes",
        "clmm": "mixedmodels-ordinal",
        "pql": "mixedmodels-pql",
    },
    "covariance_structure": {
        "exp": "mixedmodels-spatial",
        "gau": "mixedmodels-spatial",
        "gaus": "mixedmodels-spatial",
        "spher": "mixedmodels-spatial",
        "ratio": "mixedmodels-spatial",
        "lin": "mixedmodels-spatial",
        "mat": "mixedmodels-spatial",
        "matern": "mixedmodels-spatial",
        "matern32": "mixedmodels-spatial",
        "matern52": "mixedmodels-spatial",
    },
    "diagnostic": {
        "dharma": "mixedmodels-diagnostics",
        "influence": "mixedmodels-diagnostics",
        "icc": "mixedmodels-diagnostics",
        "r2": "mixedmodels-diagnostics",
        "check_overdispersion": "mixedmodels-diagnostics",
        "check_zero_inflation": "mixedmodels-diagnostics",
        "check_singularity": "mixedmodels-diagnostics",
    },
}


class Registry:
    """The objects of one kind, by registered name, in registration order.

    Parameters
    ----------
    kind : Kind
        What it holds.
    entries : iterable of Registration, optional
        Initial content.
    """

    def __init__(self, kind: Kind, entries: Iterable[Registration] = ()) -> None:
        self.kind = kind
        self._entries: dict[str, Registration] = {reg.name: reg for reg in entries}

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Registration]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Return the registered names, in registration order."""
        return list(self._entries)

    def objects(self) -> dict[str, Any]:
        """Return ``{name: object}``, a copy in registration order."""
        return {name: reg.obj for name, reg in self._entries.items()}

    def registered_by(self, plugin: str) -> list[str]:
        """Return the names that the plugin called ``plugin`` registered."""
        return [name for name, reg in self._entries.items() if reg.plugin.name == plugin]

    def get(self, name: str) -> Registration | None:
        """Return the registration of ``name``, or ``None``."""
        return self._entries.get(name)

    def register(self, name: str, obj: Any, plugin: PluginInfo) -> Conflict | None:
        """Register ``obj`` as ``name``; a name already taken is a conflict, not replaced.

        Returns
        -------
        Conflict or None
            The clash with the earlier registration, if any (nothing is registered then).
        """
        existing = self._entries.get(name)
        if existing is not None:
            return Conflict(self.kind.name, name, existing.plugin, plugin)
        self._entries[name] = Registration(self.kind.name, name, obj, plugin)
        return None

    def copy(self) -> Registry:
        """Return a copy, to change without touching registries in use."""
        return Registry(self.kind, self._entries.values())

    def without(self, plugin: str) -> Registry:
        """Return a copy without what the plugin called ``plugin`` registered."""
        return Registry(self.kind, (r for r in self if r.plugin.name != plugin))

    def lookup(self, name: str, plugins: Iterable[PluginInfo] = ()) -> Registration:
        """Return the registration of ``name``.

        Parameters
        ----------
        name : str
            The registered name, matched exactly.
        plugins : iterable of PluginInfo
            Every plugin seen, for the hints of :meth:`unknown`.

        Raises
        ------
        TypeError
            If ``name`` is not a string.
        UnknownNameError
            If nothing of that name is registered.
        """
        if not isinstance(name, str):
            raise TypeError(f"{self.kind.label} name must be a string, got {type(name).__name__}")
        reg = self._entries.get(name)
        if reg is None:
            raise self.unknown(name, plugins)
        return reg

    def unknown(
        self, name: str, plugins: Iterable[PluginInfo] = (), lead: str | None = None
    ) -> UnknownNameError:
        """Return the error for ``name``, which is not registered.

        The message says which distribution provides a well-known name (and, when it is
        installed but not loaded, why), or suggests close matches, then lists what is
        registered.  ``lead`` replaces the opening ``unknown <kind> <name>``.
        """
        plugins = list(plugins)
        label, plural = self.kind.label, self.kind.plural
        available = self.names()
        provider = KNOWN_PROVIDERS.get(self.kind.name, {}).get(name)
        if provider is not None:
            message = _provider_hint(plugins, label, name, provider)
        else:
            message = lead or f"unknown {label} {name!r}"
            # Names match exactly; a case slip is the likeliest mistake, then a typo.
            folded = [n for n in available if n.lower() == name.lower()]
            close = folded or difflib.get_close_matches(name, available, n=3)
            if close:
                message += "; did you mean " + " or ".join(repr(n) for n in close) + "?"
        if available:
            message += f"\nRegistered {plural}: {', '.join(sorted(available))}."
        else:
            message += f"\nNo {plural} are registered."
        builtin = next((p for p in plugins if p.name == BUILTIN), None)
        if builtin is not None and builtin.status != "loaded":
            message += f"\nNote: the built-in plugin is not loaded ({builtin.reason})."
        return UnknownNameError(self.kind.name, name, available, message, provider)


def merge(
    registries: Mapping[str, Registry],
    plugin: PluginInfo,
    staged: Mapping[str, list[tuple[str, Any]]],
) -> list[Conflict]:
    """Register one plugin's ``staged`` objects, kind by kind; return the conflicts."""
    conflicts = []
    for kind, pairs in staged.items():
        for name, obj in pairs:
            conflict = registries[kind].register(name, obj, plugin)
            if conflict is not None:
                conflicts.append(conflict)
    return conflicts


def _provider_hint(plugins: list[PluginInfo], label: str, name: str, provider: str) -> str:
    # Installed but not loaded (disabled or broken) needs another fix than installing.
    idle = [p for p in plugins if p.status != "loaded" and _same_dist(p.distribution, provider)]
    if idle:
        p = idle[0]
        return (
            f"{label} {name!r} is provided by {provider}, which is installed, but its "
            f"plugin {p.name!r} is not loaded: {p.reason}"
        )
    try:
        version = metadata.version(provider)
    except metadata.PackageNotFoundError:
        return f"{label} {name!r} is provided by {provider}: pip install {provider}"
    return (
        f"{label} {name!r} is provided by {provider}, but the installed {provider} "
        f"{version} does not register it: pip install --upgrade {provider}"
    )


def _same_dist(a: str | None, b: str) -> bool:
    def norm(s: str) -> str:
        return s.lower().replace("_", "-").replace(".", "-")

    return a is not None and norm(a) == norm(b)
