"""The plugin manager: lazy discovery, look-up by name, in-process plugins, listings.

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

The parts live in sibling modules (:mod:`.environment`, :mod:`.records`, :mod:`.kinds`,
:mod:`.errors`, :mod:`.registry`, :mod:`.hooks`, :mod:`.discovery`); this module is the
public face and re-exports their public names.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .discovery import State, discover
from .environment import ENTRY_POINT_GROUP, ENV_DISABLE, ENV_PLUGINS
from .errors import MixedModelsPluginWarning, PluginConflictError, UnknownNameError
from .hooks import register
from .kinds import KINDS, get_kind, normalize_kind, qualified_name
from .records import PluginInfo, Registration
from .registry import KNOWN_PROVIDERS, merge

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
    "lookup",
    "plugin_status",
    "plugins",
    "register_plugin",
    "registry",
    "reset_plugins",
    "unregister_plugin",
]

# ------------------------------------------------------------------------ state

_lock = threading.RLock()
_state: State | None = None
_error: PluginConflictError | None = None  # a failed discovery, re-raised until reset
_discovering = False


def _ensure() -> State:
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
            _state = discover()
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
            name, distribution, version, getattr(obj, "__name__", type(obj).__qualname__)
        )
        staged = register(state.pm, obj, info)
        # Merge into copies so that a conflict leaves the registries untouched.
        registries = {kind: table.copy() for kind, table in state.registries.items()}
        conflicts = merge(registries, info, staged)
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
        state.registries = {kind: table.without(name) for kind, table in state.registries.items()}
        # Kept, not dropped, so that listings and hints say what happened to it.
        state.plugins[name] = info.with_status("disabled", "removed by unregister_plugin()")


# ------------------------------------------------------------------------ look-up


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
        If nothing of that name is registered; the message lists what is, and says
        which distribution provides well-known names such as ``"gee"``.
    """
    key = normalize_kind(kind)
    state = _ensure()
    return state.registries[key].lookup(name, state.plugins.values())


def lookup(kind: str, name: str) -> Any:
    """Return the object registered as ``name`` in registry ``kind``.

    The one look-up behind the ``get_*`` functions below (kept for their return types);
    see :func:`get_registration` for the arguments and errors.
    """
    return get_registration(kind, name).obj


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
    key = normalize_kind(kind)
    return _ensure().registries[key].objects()


def get_link(name: str) -> Link:
    """Return the registered :class:`~mixedmodels.interfaces.Link` ``name``."""
    return lookup("link", name)  # type: ignore[no-any-return]


def get_family(name: str) -> Family:
    """Return the registered :class:`~mixedmodels.interfaces.Family` ``name``."""
    return lookup("family", name)  # type: ignore[no-any-return]


def get_covariance_structure(name: str) -> type[CovarianceStructure]:
    """Return the registered covariance-structure *class* ``name``."""
    return lookup("covariance_structure", name)  # type: ignore[no-any-return]


def get_estimator(name: str) -> Estimator:
    """Return the registered :class:`~mixedmodels.interfaces.Estimator` ``name``."""
    return lookup("estimator", name)  # type: ignore[no-any-return]


def get_diagnostic(name: str) -> Diagnostic:
    """Return the registered :class:`~mixedmodels.interfaces.Diagnostic` ``name``."""
    return lookup("diagnostic", name)  # type: ignore[no-any-return]


def get_dataset(name: str) -> Dataset:
    """Return the registered :class:`~mixedmodels.interfaces.Dataset` ``name``."""
    return lookup("dataset", name)  # type: ignore[no-any-return]


def get_formatter(name: str) -> Callable[..., str]:
    """Return the output formatter ``callable(result) -> str`` called ``name``."""
    return lookup("formatter", name)  # type: ignore[no-any-return]


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
        reg = table.get(qualified_name(base))
        if reg is not None and reg.obj.result_type is base:
            return reg.obj  # type: ignore[no-any-return]
    lead = f"no tidier is registered for {qualified_name(cls)} or any of its bases"
    raise table.unknown(qualified_name(cls), state.plugins.values(), lead=lead)


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

    state = _ensure()
    rows = [
        (info.name, info.distribution, info.version, kind, name)
        for info in state.plugins.values()
        for kind in KINDS
        for name in state.registries[kind].registered_by(info.name)
    ]
    return pd.DataFrame(rows, columns=["plugin", "distribution", "version", "kind", "name"])


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
    lines = [
        f"{var}={os.environ[var]!r}" for var in (ENV_PLUGINS, ENV_DISABLE) if var in os.environ
    ]
    if lines:
        lines.append("")
    loaded = [p for p in state.plugins.values() if p.status == "loaded"]
    idle = [p for p in state.plugins.values() if p.status != "loaded"]
    width = max(len(get_kind(k).plural) for k in KINDS) + 2
    for info in loaded:
        lines.append(f"{info.describe()}  [{info.module}]")
        any_names = False
        for kind in KINDS:
            names = state.registries[kind].registered_by(info.name)
            if not names:
                continue
            any_names = True
            head = f"  {(get_kind(kind).plural + ':').ljust(width)}"
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
        lines.extend(f"  {info.describe()}: {info.status}, {info.reason}" for info in idle)
    return "\n".join(lines)
