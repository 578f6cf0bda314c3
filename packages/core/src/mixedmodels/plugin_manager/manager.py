"""The plugin manager: discovery, registries and look-up by name.

Plugins are found through the entry-point group ``mixedmodels`` (the core's own
built-ins come in the same way, as the ``builtin`` entry point) and registered with a
:class:`pluggy.PluginManager`.  Discovery is lazy: nothing is scanned or imported until
the first look-up, so ``import mixedmodels`` stays fast.

Rules (see ``DESIGN.md``, "Plugin manager rules"):

* a plugin that fails to import, whose hook raises, or whose hook returns something
  that is not what the hook specification asks for, is skipped as a whole with a
  :class:`MixedModelsPluginWarning` naming it, its distribution and the error; the rest
  keeps working;
* two registrations of one name in one registry raise :class:`PluginConflictError`
  naming both plugins;
* an unknown name raises :class:`UnknownNameError`, which lists what is registered and,
  for names that a known distribution provides, says what to install.

Environment variables, read at discovery (call :func:`reset_plugins` after changing
them in a running process):

``MIXEDMODELS_PLUGINS``
    Unset: load every installed plugin.  Set: a comma-separated list of entry-point
    names to load; the core's ``builtin`` is always loaded, so ``""`` or ``"builtin"``
    means built-ins only.
``MIXEDMODELS_DISABLE_PLUGINS``
    A comma-separated list of entry-point names not to load (wins over
    ``MIXEDMODELS_PLUGINS``; naming ``builtin`` here is the one way to drop the
    built-ins, e.g. to test a plugin in isolation).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from .. import hookspec

if TYPE_CHECKING:
    import pandas as pd

    from ..interfaces import (
        CovarianceStructure,
        Dataset,
        Diagnostic,
        Estimator,
        Family,
        Link,
        Tidier,
    )

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_DISABLE",
    "ENV_PLUGINS",
    "KINDS",
    "KNOWN_PROVIDERS",
    "MixedModelsPluginWarning",
    "PluginConflictError",
    "PluginInfo",
    "Registration",
    "UnknownNameError",
    "format_plugins",
    "get_covariance_structure",
    "get_dataset",
    "get_diagnostic",
    "get_estimator",
    "get_family",
    "get_formatter",
    "get_link",
    "get_registration",
    "get_tidier",
    "plugin_status",
    "plugins",
    "register_plugin",
    "registry",
    "reset_plugins",
    "unregister_plugin",
]

#: Entry-point group that plugins declare in ``[project.entry-points.mixedmodels]``.
ENTRY_POINT_GROUP = "mixedmodels"
#: Comma-separated entry-point names to load (unset: all).
ENV_PLUGINS = "MIXEDMODELS_PLUGINS"
#: Comma-separated entry-point names not to load.
ENV_DISABLE = "MIXEDMODELS_DISABLE_PLUGINS"

_BUILTIN = "builtin"
_BUILTIN_MODULE = "mixedmodels._builtin"
_CORE_DISTRIBUTION = "mixedmodels"

#: Registry kinds, in the order they are listed.
KINDS: tuple[str, ...] = (
    "link",
    "family",
    "covariance_structure",
    "estimator",
    "diagnostic",
    "dataset",
    "tidier",
    "formatter",
)

#: Names that known distributions provide, per kind: used to tell the user what to
#: install when a name is not registered.  Families are left out on purpose: which
#: distribution will ship beta/tweedie/zero-inflated families is not settled yet.
KNOWN_PROVIDERS: dict[str, dict[str, str]] = {
    "estimator": {
        "gee": "mixedmodels-gee",
        "nuts": "mixedmodels-bayes",
        "map": "mixedmodels-bayes",
        "advi": "mixedmodels-bayes",
    },
    "covariance_structure": {
        "exp": "mixedmodels-spatial",
        "gau": "mixedmodels-spatial",
        "matern": "mixedmodels-spatial",
        "spherical": "mixedmodels-spatial",
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


# --------------------------------------------------------------------------- errors


class MixedModelsPluginWarning(UserWarning):
    """A plugin could not be loaded and was skipped (or was asked for but not found)."""


class PluginConflictError(RuntimeError):
    """Two plugins registered one name in one registry.

    Attributes
    ----------
    conflicts : list of tuple
        ``(kind, name, first, second)`` for every clash, ``first`` and ``second`` being
        the :class:`PluginInfo` of the two plugins (``kind`` is ``"plugin"`` when two
        distributions declare the same entry-point name).
    """

    def __init__(self, conflicts: list[tuple[str, str, PluginInfo, PluginInfo]]) -> None:
        self.conflicts = conflicts
        lines = []
        for kind, name, first, second in conflicts:
            if kind == "plugin":
                lines.append(
                    f"plugin name {name!r} is declared by two distributions: "
                    f"{first.describe()} and {second.describe()}"
                )
            elif first.name == second.name:
                lines.append(
                    f"{_label(kind)} {name!r} is registered twice by plugin {first.describe()}"
                )
            else:
                lines.append(
                    f"{_label(kind)} {name!r} is registered by two plugins: "
                    f"{first.describe()} and {second.describe()}"
                )
        hint = (
            f"Uninstall one of them, or choose what loads with {ENV_PLUGINS} or "
            f"{ENV_DISABLE} (comma-separated entry-point names)."
        )
        super().__init__("; ".join(lines) + ". " + hint)


class UnknownNameError(KeyError, ValueError):
    """A name that no loaded plugin registered.

    A :class:`KeyError` (it is a failed registry look-up) and a :class:`ValueError`
    (it is usually a bad argument such as ``family="tweedie"``).

    Attributes
    ----------
    kind : str
        The registry, one of :data:`KINDS`.
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


# ------------------------------------------------------------------------ records


@dataclass(frozen=True)
class PluginInfo:
    """One plugin: an entry point, or an object given to :func:`register_plugin`.

    Attributes
    ----------
    name : str
        Entry-point name (or the name given to :func:`register_plugin`).
    distribution : str or None
        Name of the distribution that declares it; ``None`` for in-process plugins.
    version : str or None
        That distribution's version.
    module : str
        The entry point's value, e.g. ``"mixedmodels_gee.plugin"``.
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


@dataclass(frozen=True)
class Registration:
    """One registered object and the plugin that registered it."""

    kind: str
    name: str
    obj: Any
    plugin: PluginInfo


@dataclass(frozen=True)
class _KindSpec:
    hook: str
    label: str
    plural: str


_KIND_SPECS: dict[str, _KindSpec] = {
    "link": _KindSpec("mixedmodels_links", "link", "links"),
    "family": _KindSpec("mixedmodels_families", "family", "families"),
    "covariance_structure": _KindSpec(
        "mixedmodels_covariance_structures", "covariance structure", "covariance structures"
    ),
    "estimator": _KindSpec("mixedmodels_estimators", "estimator", "estimators"),
    "diagnostic": _KindSpec("mixedmodels_diagnostics", "diagnostic", "diagnostics"),
    "dataset": _KindSpec("mixedmodels_datasets", "dataset", "datasets"),
    "tidier": _KindSpec("mixedmodels_tidiers", "tidier", "tidiers"),
    "formatter": _KindSpec("mixedmodels_formatters", "formatter", "formatters"),
}
_HOOK_TO_KIND = {spec.hook: kind for kind, spec in _KIND_SPECS.items()}


def _label(kind: str) -> str:
    spec = _KIND_SPECS.get(kind)
    return spec.label if spec else kind


def _normalize_kind(kind: str) -> str:
    """Accept ``"family"``, ``"families"``, ``"covariance-structure"`` and the like."""
    key = kind.strip().lower().replace("-", "_").replace(" ", "_")
    if key in _KIND_SPECS:
        return key
    for name, spec in _KIND_SPECS.items():
        if key == spec.plural.replace(" ", "_"):
            return name
    raise ValueError(f"unknown registry kind {kind!r}; kinds are: {', '.join(KINDS)}")


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# ------------------------------------------------------------ validating hook output


def _registered_name(obj: Any, what: str) -> str:
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} {obj!r} has no registered name (set its `name` attribute)")
    return name


def _check_instance(kind: str, obj: Any) -> str:
    from .. import interfaces  # numpy: only at discovery, never at import

    base: type = {
        "link": interfaces.Link,
        "family": interfaces.Family,
        "estimator": interfaces.Estimator,
        "diagnostic": interfaces.Diagnostic,
    }[kind]
    if not isinstance(obj, base):
        raise TypeError(f"{obj!r} is not an instance of {_qualified_name(base)}")
    return _registered_name(obj, _label(kind))


def _check_covariance(obj: Any) -> str:
    from ..interfaces import CovarianceStructure

    if not (isinstance(obj, type) and issubclass(obj, CovarianceStructure)):
        raise TypeError(
            f"{obj!r} is not a subclass of {_qualified_name(CovarianceStructure)} "
            "(register the class, not an instance)"
        )
    return _registered_name(obj, "covariance structure")


def _check_dataset(obj: Any) -> str:
    from ..interfaces import Dataset

    if not isinstance(obj, Dataset):
        raise TypeError(f"{obj!r} is not a {_qualified_name(Dataset)}")
    return _registered_name(obj, "dataset")


def _check_tidier(obj: Any) -> str:
    from ..interfaces import Tidier

    if not isinstance(obj, Tidier):
        raise TypeError(f"{obj!r} is not a {_qualified_name(Tidier)}")
    if not isinstance(obj.result_type, type):
        raise TypeError(f"tidier {obj!r}: result_type must be a class")
    return _qualified_name(obj.result_type)


def _validate(kind: str, value: Any) -> list[tuple[str, Any]]:
    """Turn one hook's return value into ``(name, object)`` pairs, or raise TypeError."""
    hook = _KIND_SPECS[kind].hook
    if value is None:
        return []
    if kind == "formatter":
        if not isinstance(value, Mapping):
            raise TypeError(f"{hook}() must return a mapping, got {type(value).__name__}")
        pairs = []
        for key, func in value.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"{hook}(): formatter names must be strings, got {key!r}")
            if not callable(func):
                raise TypeError(f"{hook}(): formatter {key!r} is not callable")
            pairs.append((key, func))
        return pairs
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"{hook}() must return a sequence, got {type(value).__name__}")
    check: Callable[[Any], str]
    if kind == "covariance_structure":
        check = _check_covariance
    elif kind == "dataset":
        check = _check_dataset
    elif kind == "tidier":
        check = _check_tidier
    else:

        def check(obj: Any) -> str:
            return _check_instance(kind, obj)

    return [(check(obj), obj) for obj in value]


# ------------------------------------------------------------------------ state


@dataclass
class _State:
    pm: pluggy.PluginManager
    #: Every plugin seen, loaded or not, in load order.
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    registries: dict[str, dict[str, Registration]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )


_lock = threading.RLock()
_state: _State | None = None
_error: PluginConflictError | None = None  # a failed discovery, re-raised until reset
_discovering = False


def _ensure() -> _State:
    """Return the discovered state, running discovery on first use."""
    global _state, _error, _discovering
    with _lock:
        if _error is not None:
            raise _error
        if _state is not None:
            return _state
        if _discovering:
            # A plugin's hook asked for a registry while the registries were built.
            raise RuntimeError(
                "a mixedmodels plugin hook used the plugin registry during discovery; "
                "hooks must only return objects"
            )
        _discovering = True
        try:
            _state = _discover()
        except PluginConflictError as exc:
            _error = exc
            raise
        finally:
            _discovering = False
        return _state


def reset_plugins() -> None:
    """Forget all discovered and in-process plugins.

    The next look-up discovers the entry points again, reading
    ``MIXEDMODELS_PLUGINS`` and ``MIXEDMODELS_DISABLE_PLUGINS`` anew.  Meant for tests
    and for interactive sessions that changed those variables or installed a plugin.
    """
    global _state, _error
    with _lock:
        _state = None
        _error = None


def _warn(message: str) -> None:
    # Point the warning at the user's line that triggered discovery, not at our code.
    level = 1
    frame = sys._getframe(0)
    while frame.f_back is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
        level += 1
    warnings.warn(message, MixedModelsPluginWarning, stacklevel=level)


def _env_names(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


@dataclass
class _Candidate:
    info: PluginInfo
    load: Callable[[], Any]


def _candidates() -> tuple[list[_Candidate], list[tuple[str, str, PluginInfo, PluginInfo]]]:
    """The entry points of the group, builtin first then by name, and name clashes."""
    found: dict[str, _Candidate] = {}
    clashes: list[tuple[str, str, PluginInfo, PluginInfo]] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            name=ep.name,
            distribution=dist.metadata["Name"] if dist is not None else None,
            version=dist.version if dist is not None else None,
            module=ep.value,
        )
        previous = found.get(ep.name)
        if previous is not None:
            # The same distribution seen twice on sys.path: the first one wins, as
            # for imports.  Two distributions declaring one name: ambiguous.
            if previous.info.distribution != info.distribution:
                clashes.append(("plugin", ep.name, previous.info, info))
            continue
        found[ep.name] = _Candidate(info, ep.load)
    if _BUILTIN not in found:
        # Run from a source tree without installed metadata: the built-ins still load.
        try:
            version: str | None = metadata.version(_CORE_DISTRIBUTION)
        except metadata.PackageNotFoundError:
            version = None
        info = PluginInfo(_BUILTIN, _CORE_DISTRIBUTION, version, _BUILTIN_MODULE)

        def load_builtin() -> Any:
            from .. import _builtin

            return _builtin

        found[_BUILTIN] = _Candidate(info, load_builtin)
    ordered = sorted(found.values(), key=lambda c: (c.info.name != _BUILTIN, c.info.name))
    return ordered, clashes


def _collect(pm: pluggy.PluginManager, plugin: object) -> dict[str, list[tuple[str, Any]]]:
    """Call each hook of one plugin and validate what it returns.

    The hooks are called one plugin at a time (not through ``pm.hook``) so that a
    failure is pinned on the plugin that caused it and every object on its plugin.
    """
    staged: dict[str, list[tuple[str, Any]]] = {}
    for caller in pm.get_hookcallers(plugin) or []:
        kind = _HOOK_TO_KIND.get(caller.name)
        if kind is None:  # a hook this core does not know (newer plugin): ignore it
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin or impl.hookwrapper or impl.wrapper:
                continue
            value = impl.function()
            staged.setdefault(kind, []).extend(_validate(kind, value))
    return staged


def _register(
    pm: pluggy.PluginManager, plugin: object, info: PluginInfo
) -> dict[str, list[tuple[str, Any]]]:
    """Register ``plugin`` with pluggy and collect its objects; unregister on failure."""
    pm.register(plugin, name=info.name)
    try:
        callers = pm.get_hookcallers(plugin) or []
        unknown = [c.name for c in callers if c.name not in _HOOK_TO_KIND]
        if unknown:
            _warn(
                f"mixedmodels plugin {info.describe()} implements unknown hooks "
                f"{', '.join(sorted(unknown))}; they are ignored (a typo, or a plugin "
                "for a newer mixedmodels?)"
            )
        if not callers:
            _warn(
                f"mixedmodels plugin {info.describe()} implements no hooks "
                "(did you forget the @hookimpl decorator?)"
            )
        return _collect(pm, plugin)
    except BaseException:
        pm.unregister(plugin, name=info.name)
        raise


def _merge(
    registries: dict[str, dict[str, Registration]],
    info: PluginInfo,
    staged: dict[str, list[tuple[str, Any]]],
    conflicts: list[tuple[str, str, PluginInfo, PluginInfo]],
) -> None:
    for kind in KINDS:
        table = registries[kind]
        for name, obj in staged.get(kind, []):
            existing = table.get(name)
            if existing is not None:
                conflicts.append((kind, name, existing.plugin, info))
                continue
            table[name] = Registration(kind, name, obj, info)


def _discover() -> _State:
    pm = pluggy.PluginManager(hookspec.PROJECT)
    pm.add_hookspecs(hookspec)
    state = _State(pm)
    only = _env_names(ENV_PLUGINS)
    disabled = set(_env_names(ENV_DISABLE) or [])
    candidates, conflicts = _candidates()
    names = {c.info.name for c in candidates}
    for var, asked in ((ENV_PLUGINS, only or []), (ENV_DISABLE, sorted(disabled))):
        for name in asked:
            if name not in names:
                _warn(
                    f"{var} names plugin {name!r}, but no installed entry point has that "
                    f"name; installed: {', '.join(sorted(names))}"
                )
    for cand in candidates:
        info = cand.info
        if info.name in disabled:
            state.plugins[info.name] = _with(info, "disabled", f"disabled by {ENV_DISABLE}")
            continue
        if only is not None and info.name != _BUILTIN and info.name not in only:
            state.plugins[info.name] = _with(info, "disabled", f"not listed in {ENV_PLUGINS}")
            continue
        try:
            plugin = cand.load()
            staged = _register(pm, plugin, info)
        except Exception as exc:  # any failure of third-party code: isolate the plugin
            error = f"{type(exc).__name__}: {exc}"
            state.plugins[info.name] = _with(info, "failed", error)
            _warn(
                f"mixedmodels plugin {info.describe()} from {info.module!r} failed to load "
                f"and was skipped, all of its registrations with it: {error}"
            )
            continue
        state.plugins[info.name] = info
        _merge(state.registries, info, staged, conflicts)
    if conflicts:
        raise PluginConflictError(conflicts)
    return state


def _with(info: PluginInfo, status: Literal["failed", "disabled"], reason: str) -> PluginInfo:
    return PluginInfo(info.name, info.distribution, info.version, info.module, status, reason)


# ----------------------------------------------------------------- in-process plugins


def register_plugin(
    obj: object,
    name: str,
    *,
    distribution: str | None = None,
    version: str | None = None,
) -> PluginInfo:
    """Register an in-process plugin: a module, class or object with hook implementations.

    Unlike an entry point, an in-process plugin that fails raises at once (you asked for
    it), and nothing of it is registered.

    Parameters
    ----------
    obj : object
        Anything whose attributes are ``@hookimpl`` functions, e.g. a module.
    name : str
        Plugin name shown by :func:`plugins`; must not be in use.
    distribution, version : str, optional
        Shown in listings; ``None`` reads as "registered in-process".

    Returns
    -------
    PluginInfo
        The record of the registered plugin.

    Raises
    ------
    ValueError
        If a plugin with that name is already registered.
    PluginConflictError
        If it registers a name already registered in the same registry.
    """
    with _lock:
        state = _ensure()
        existing = state.plugins.get(name)
        if existing is not None and existing.status == "loaded":
            raise ValueError(f"a mixedmodels plugin named {name!r} is already registered")
        info = PluginInfo(
            name,
            distribution,
            version,
            getattr(obj, "__name__", type(obj).__qualname__),
        )
        staged = _register(state.pm, obj, info)
        conflicts: list[tuple[str, str, PluginInfo, PluginInfo]] = []
        # Merge into copies so that a conflict leaves the registries untouched.
        registries = {kind: dict(table) for kind, table in state.registries.items()}
        _merge(registries, info, staged, conflicts)
        if conflicts:
            state.pm.unregister(obj, name=name)
            raise PluginConflictError(conflicts)
        state.registries = registries
        state.plugins[name] = info
        return info


def unregister_plugin(name: str) -> None:
    """Remove a loaded plugin and everything it registered.

    Parameters
    ----------
    name : str
        The entry-point name or the name given to :func:`register_plugin`.

    Raises
    ------
    KeyError
        If no loaded plugin has that name.
    """
    with _lock:
        state = _ensure()
        info = state.plugins.get(name)
        if info is None or info.status != "loaded":
            raise KeyError(f"no loaded mixedmodels plugin is named {name!r}")
        state.pm.unregister(name=name)
        # Copy-on-write, as in register_plugin: readers never see a half-removed plugin.
        state.registries = {
            kind: {k: reg for k, reg in table.items() if reg.plugin.name != name}
            for kind, table in state.registries.items()
        }
        # Kept, not dropped, so that listings and hints say what happened to it.
        state.plugins[name] = _with(info, "disabled", "removed by unregister_plugin()")


# ------------------------------------------------------------------------ look-up


def _unknown(state: _State, kind: str, name: str, lead: str | None = None) -> UnknownNameError:
    import difflib

    spec = _KIND_SPECS[kind]
    available = list(state.registries[kind])
    provider = KNOWN_PROVIDERS.get(kind, {}).get(name)
    if provider is not None:
        message = _provider_hint(state, spec.label, name, provider)
    else:
        message = lead or f"unknown {spec.label} {name!r}"
        # Names match exactly; a case slip is the likeliest mistake, then a typo.
        folded = [n for n in available if n.lower() == name.lower()]
        close = folded or difflib.get_close_matches(name, available, n=3)
        if close:
            message += "; did you mean " + " or ".join(repr(n) for n in close) + "?"
    if available:
        message += f"\nRegistered {spec.plural}: {', '.join(sorted(available))}."
    else:
        message += f"\nNo {spec.plural} are registered."
    builtin = state.plugins.get(_BUILTIN)
    if builtin is not None and builtin.status != "loaded":
        message += f"\nNote: the built-in plugin is not loaded ({builtin.reason})."
    return UnknownNameError(kind, name, available, message, provider)


def _provider_hint(state: _State, label: str, name: str, provider: str) -> str:
    # Installed but not loaded (disabled or broken) needs another fix than installing.
    idle = [
        p
        for p in state.plugins.values()
        if p.status != "loaded" and _same_dist(p.distribution, provider)
    ]
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


def get_registration(kind: str, name: str) -> Registration:
    """Return the registration of ``name`` in registry ``kind``, with its plugin.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS` (plurals such as ``"families"`` are accepted).
    name : str
        The registered name, matched exactly.

    Raises
    ------
    UnknownNameError
        If nothing of that name is registered.
    """
    key = _normalize_kind(kind)
    if not isinstance(name, str):
        raise TypeError(f"{_label(key)} name must be a string, got {type(name).__name__}")
    state = _ensure()
    reg = state.registries[key].get(name)
    if reg is None:
        raise _unknown(state, key, name)
    return reg


def registry(kind: str) -> dict[str, Any]:
    """Return ``{name: object}`` for everything registered in registry ``kind``.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`; plurals (``"families"``, ``"covariance_structures"``)
        are accepted.

    Returns
    -------
    dict
        A copy, in registration order (built-ins first).
    """
    key = _normalize_kind(kind)
    return {name: reg.obj for name, reg in _ensure().registries[key].items()}


def get_link(name: str) -> Link:
    """Return the registered :class:`~mixedmodels.interfaces.Link` called ``name``.

    Raises
    ------
    UnknownNameError
        If no loaded plugin registered it.
    """
    return get_registration("link", name).obj  # type: ignore[no-any-return]


def get_family(name: str) -> Family:
    """Return the registered :class:`~mixedmodels.interfaces.Family` called ``name``.

    Raises
    ------
    UnknownNameError
        If no loaded plugin registered it.
    """
    return get_registration("family", name).obj  # type: ignore[no-any-return]


def get_covariance_structure(name: str) -> type[CovarianceStructure]:
    """Return the registered covariance-structure *class* called ``name``.

    Raises
    ------
    UnknownNameError
        If no loaded plugin registered it; the message says which distribution
        provides well-known names such as ``"matern"``.
    """
    return get_registration("covariance_structure", name).obj  # type: ignore[no-any-return]


def get_estimator(name: str) -> Estimator:
    """Return the registered :class:`~mixedmodels.interfaces.Estimator` called ``name``.

    Raises
    ------
    UnknownNameError
        If no loaded plugin registered it; the message says which distribution
        provides well-known names such as ``"gee"``.
    """
    return get_registration("estimator", name).obj  # type: ignore[no-any-return]


def get_diagnostic(name: str) -> Diagnostic:
    """Return the registered :class:`~mixedmodels.interfaces.Diagnostic` called ``name``.

    Raises
    ------
    UnknownNameError
        If no loaded plugin registered it.
    """
    return get_registration("diagnostic", name).obj  # type: ignore[no-any-return]


def get_dataset(name: str) -> Dataset:
    """Return the registered :class:`~mixedmodels.interfaces.Dataset` called ``name``.

    Raises
    ------
    UnknownNameError
        If no loaded plugin registered it.
    """
    return get_registration("dataset", name).obj  # type: ignore[no-any-return]


def get_formatter(name: str) -> Callable[..., str]:
    """Return the output formatter ``callable(result) -> str`` called ``name``.

    Raises
    ------
    UnknownNameError
        If no loaded plugin registered it.
    """
    return get_registration("formatter", name).obj  # type: ignore[no-any-return]


def get_tidier(result: object) -> Tidier:
    """Return the :class:`~mixedmodels.interfaces.Tidier` for a result (or result type).

    The result type's method resolution order is walked and the first class with a
    registered tidier wins, so a tidier for a subclass overrides one for its base.

    Parameters
    ----------
    result : object
        A fitted result, or its class.

    Raises
    ------
    UnknownNameError
        If no tidier is registered for the type or any of its bases.
    """
    cls = result if isinstance(result, type) else type(result)
    state = _ensure()
    table = state.registries["tidier"]
    for base in cls.__mro__:
        reg = table.get(_qualified_name(base))
        if reg is not None and reg.obj.result_type is base:
            return reg.obj  # type: ignore[no-any-return]
    lead = f"no tidier is registered for {_qualified_name(cls)} or any of its bases"
    raise _unknown(state, "tidier", _qualified_name(cls), lead=lead)


# ----------------------------------------------------------------------- listings


def plugin_status() -> list[PluginInfo]:
    """Return every plugin seen: loaded, failed (with the error) or disabled (why).

    Returns
    -------
    list of PluginInfo
        In load order: ``builtin`` first, then entry points by name, then in-process
        plugins.
    """
    return list(_ensure().plugins.values())


def _rows() -> list[tuple[str, str | None, str | None, str, str]]:
    state = _ensure()
    rows = []
    for info in state.plugins.values():
        for kind in KINDS:
            for name, reg in state.registries[kind].items():
                if reg.plugin.name == info.name:
                    rows.append((info.name, info.distribution, info.version, kind, name))
    return rows


def plugins() -> pd.DataFrame:
    """List what the installed plugins registered, one row per registered object.

    Returns
    -------
    pandas.DataFrame
        Columns ``plugin`` (entry-point name), ``distribution``, ``version``, ``kind``
        (one of :data:`KINDS`) and ``name``.  Plugins that failed or were disabled
        register nothing; see :func:`plugin_status` or :func:`format_plugins`.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> mm.plugins().query("kind == 'estimator'")  # doctest: +SKIP
    """
    import pandas as pd

    return pd.DataFrame(_rows(), columns=["plugin", "distribution", "version", "kind", "name"])


def format_plugins() -> str:
    """Return a readable listing of plugins and their registrations (``mixedmodels plugins``).

    Returns
    -------
    str
        One block per loaded plugin with its distribution and the names it registered
        per kind, then the plugins that were not loaded and why.
    """
    import textwrap

    state = _ensure()
    lines: list[str] = []
    for var in (ENV_PLUGINS, ENV_DISABLE):
        if var in os.environ:
            lines.append(f"{var}={os.environ[var]!r}")
    if lines:
        lines.append("")
    loaded = [p for p in state.plugins.values() if p.status == "loaded"]
    idle = [p for p in state.plugins.values() if p.status != "loaded"]
    width = max((len(_KIND_SPECS[k].plural) for k in KINDS), default=0) + 2
    for info in loaded:
        lines.append(f"{info.describe()}  [{info.module}]")
        any_names = False
        for kind in KINDS:
            names = [n for n, r in state.registries[kind].items() if r.plugin.name == info.name]
            if not names:
                continue
            any_names = True
            head = f"  {(_KIND_SPECS[kind].plural + ':').ljust(width)}"
            lines.extend(
                textwrap.wrap(
                    ", ".join(names),
                    width=88,
                    initial_indent=head,
                    subsequent_indent=" " * len(head),
                    break_on_hyphens=False,
                )
            )
        if not any_names:
            lines.append("  (registers nothing)")
    if not loaded:
        lines.append("no plugins loaded")
    if idle:
        lines.append("")
        lines.append("not loaded:")
        for info in idle:
            lines.append(f"  {info.describe()}: {info.status}, {info.reason}")
    return "\n".join(lines)
