"""The kinds of registry, their hooks, and the checks on what each hook returns.

Every kind is filled by one hook of :mod:`mixedmodels.hookspec`.  A hook's return value
is turned into ``(name, object)`` pairs by :func:`validate`, which raises
:class:`TypeError` for anything the hook's contract does not allow; the manager then
skips the plugin as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KINDS",
    "KIND_BY_HOOK",
    "Kind",
    "get_kind",
    "label",
    "normalize_kind",
    "qualified_name",
    "validate",
]


def qualified_name(cls: type) -> str:
    """Return ``module.QualName`` of a class: the tidier registry's key."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _registered_name(obj: Any, what: str) -> str:
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} {obj!r} has no registered name (set its `name` attribute)")
    return name


def _instance_of(interface: str, what: str) -> Callable[[Any], str]:
    """A check that ``obj`` is an instance of ``mixedmodels.interfaces.<interface>``."""

    def check(obj: Any) -> str:
        # numpy comes with the interfaces: imported at discovery, never at import.
        from .. import interfaces

        base: type = getattr(interfaces, interface)
        if not isinstance(obj, base):
            raise TypeError(f"{obj!r} is not an instance of {qualified_name(base)}")
        return _registered_name(obj, what)

    return check


def _check_covariance(obj: Any) -> str:
    from ..interfaces import CovarianceStructure

    if not (isinstance(obj, type) and issubclass(obj, CovarianceStructure)):
        raise TypeError(
            f"{obj!r} is not a subclass of {qualified_name(CovarianceStructure)} "
            "(register the class, not an instance)"
        )
    return _registered_name(obj, "covariance structure")


def _check_dataset(obj: Any) -> str:
    from ..interfaces import Dataset

    if not isinstance(obj, Dataset):
        raise TypeError(f"{obj!r} is not a {qualified_name(Dataset)}")
    return _registered_name(obj, "dataset")


def _check_tidier(obj: Any) -> str:
    from ..interfaces import Tidier

    if not isinstance(obj, Tidier):
        raise TypeError(f"{obj!r} is not a {qualified_name(Tidier)}")
    if not isinstance(obj.result_type, type):
        raise TypeError(f"tidier {obj!r}: result_type must be a class")
    return qualified_name(obj.result_type)


def _check_formatter(obj: Any) -> str:
    # A formatter's name is its key in the mapping; only the value is checked here.
    if not callable(obj):
        raise TypeError(f"{obj!r} is not callable")
    return ""


@dataclass(frozen=True)
class Kind:
    """One registry kind.

    Attributes
    ----------
    name : str
        The key, e.g. ``"covariance_structure"``.
    hook : str
        The hook that fills it, e.g. ``"mixedmodels_covariance_structures"``.
    label, plural : str
        Words for messages, e.g. ``"covariance structure"``.
    check : callable
        ``check(obj) -> name``: the name ``obj`` registers under; raises
        :class:`TypeError` if ``obj`` is not what the hook may return.
    mapping : bool
        Whether the hook returns a mapping ``{name: object}`` instead of a sequence.
    """

    name: str
    hook: str
    label: str
    plural: str
    check: Callable[[Any], str]
    mapping: bool = False


def _check_data_source(obj: Any) -> str:
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"a data source needs a non-empty string name, got {obj!r}")
    for method in ("accepts", "lmm"):
        if not callable(getattr(obj, method, None)):
            raise TypeError(f"data source {name!r} has no method {method}()")
    return name


def _check_formula_rewriter(obj: Any) -> str:
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"a formula rewriter needs a non-empty string name, got {obj!r}")
    if not callable(getattr(obj, "rewrite", None)):
        raise TypeError(f"formula rewriter {name!r} has no method rewrite()")
    return name


_ALL = (
    Kind("link", "mixedmodels_links", "link", "links", _instance_of("Link", "link")),
    Kind("family", "mixedmodels_families", "family", "families", _instance_of("Family", "family")),
    Kind(
        "covariance_structure",
        "mixedmodels_covariance_structures",
        "covariance structure",
        "covariance structures",
        _check_covariance,
    ),
    Kind(
        "estimator",
        "mixedmodels_estimators",
        "estimator",
        "estimators",
        _instance_of("Estimator", "estimator"),
    ),
    Kind(
        "diagnostic",
        "mixedmodels_diagnostics",
        "diagnostic",
        "diagnostics",
        _instance_of("Diagnostic", "diagnostic"),
    ),
    Kind("dataset", "mixedmodels_datasets", "dataset", "datasets", _check_dataset),
    Kind("tidier", "mixedmodels_tidiers", "tidier", "tidiers", _check_tidier),
    Kind(
        "formatter",
        "mixedmodels_formatters",
        "formatter",
        "formatters",
        _check_formatter,
        mapping=True,
    ),
    Kind(
        "table_format",
        "mixedmodels_table_formats",
        "table format",
        "table formats",
        _check_formatter,
        mapping=True,
    ),
    Kind(
        "data_source", "mixedmodels_data_sources", "data source", "data sources", _check_data_source
    ),
    Kind(
        "formula_rewriter",
        "mixedmodels_formula_rewriters",
        "formula rewriter",
        "formula rewriters",
        _check_formula_rewriter,
    ),
)
_BY_NAME: dict[str, Kind] = {kind.name: kind for kind in _ALL}

#: Registry kinds, in the order they are listed.
KINDS: tuple[str, ...] = tuple(_BY_NAME)
#: The kind each hook fills, by hook name.
KIND_BY_HOOK: dict[str, Kind] = {kind.hook: kind for kind in _ALL}


def get_kind(name: str) -> Kind:
    """Return the :class:`Kind` called ``name`` (one of :data:`KINDS`)."""
    return _BY_NAME[name]


def label(kind: str) -> str:
    """Return the word for ``kind`` in messages (the kind itself if it is not a registry)."""
    spec = _BY_NAME.get(kind)
    return spec.label if spec else kind


def normalize_kind(kind: str) -> str:
    """Accept ``"family"``, ``"families"``, ``"covariance-structure"`` and the like."""
    key = kind.strip().lower().replace("-", "_").replace(" ", "_")
    if key in _BY_NAME:
        return key
    for spec in _ALL:
        if key == spec.plural.replace(" ", "_"):
            return spec.name
    raise ValueError(f"unknown registry kind {kind!r}; kinds are: {', '.join(KINDS)}")


def validate(kind: Kind, value: Any) -> list[tuple[str, Any]]:
    """Turn one hook's return value into ``(name, object)`` pairs, or raise TypeError.

    ``None`` (pluggy drops it, a plugin may return it) registers nothing.
    """
    if value is None:
        return []
    if kind.mapping:
        if not isinstance(value, Mapping):
            raise TypeError(f"{kind.hook}() must return a mapping, got {type(value).__name__}")
        pairs = []
        for key, obj in value.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"{kind.hook}(): {kind.label} names must be strings, got {key!r}")
            try:
                kind.check(obj)
            except TypeError as exc:
                raise TypeError(f"{kind.hook}(): {kind.label} {key!r}: {exc}") from None
            pairs.append((key, obj))
        return pairs
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"{kind.hook}() must return a sequence, got {type(value).__name__}")
    return [(kind.check(obj), obj) for obj in value]
