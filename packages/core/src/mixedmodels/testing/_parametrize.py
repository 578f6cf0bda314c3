"""Listing the checks of any object, and one pytest test per (object, check)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..interfaces import CovarianceStructure, Diagnostic, Estimator, Family, Link
from ._core import Check, label
from ._covariance import covariance_structure_checks
from ._diagnostics import diagnostic_checks
from ._estimators import estimator_checks
from ._families import family_checks
from ._links import link_checks

_KINDS: dict[str, Callable[..., Iterator[tuple[str, Check]]]] = {
    "link": link_checks,
    "family": family_checks,
    "covariance_structure": covariance_structure_checks,
    "estimator": estimator_checks,
    "diagnostic": diagnostic_checks,
}


def _kind_of(obj: Any) -> str:
    if isinstance(obj, type):
        if issubclass(obj, CovarianceStructure):
            return "covariance_structure"
        if issubclass(obj, Family):
            return "family"
    for kind, cls in (
        ("link", Link),
        ("family", Family),
        ("estimator", Estimator),
        ("diagnostic", Diagnostic),
    ):
        if isinstance(obj, cls):
            return kind
    raise TypeError(
        f"checks_for: cannot tell which interface {obj!r} implements; pass kind= (one of "
        f"{sorted(_KINDS)})"
    )


def checks_for(obj: Any, *, kind: str | None = None, **options: Any) -> Iterator[tuple[str, Check]]:
    """Yield ``(name, check)`` for each conformance check of ``obj``.

    Parameters
    ----------
    obj
        A link or family instance (or a family class), a covariance structure class, an
        estimator or a diagnostic instance.
    kind
        Which interface ``obj`` is checked against (``"link"``, ``"family"``,
        ``"covariance_structure"``, ``"estimator"``, ``"diagnostic"``); by default the
        interface it subclasses.
    **options
        The keyword arguments of the matching ``check_*`` function (``link``, ``mu``,
        ``rng``, ``dims``, ``model_factory``, ``has_likelihood``, ``result``).

    Yields
    ------
    tuple of (str, Check)
        The check's name and the check; ``check(obj)`` runs it and raises
        :class:`AssertionError` if the property does not hold.

    Raises
    ------
    TypeError
        If ``kind`` is not given and ``obj`` implements none of the interfaces.
    """
    kind = _kind_of(obj) if kind is None else kind
    if kind not in _KINDS:
        raise ValueError(f"checks_for: unknown kind {kind!r}; one of {sorted(_KINDS)}")
    yield from _KINDS[kind](obj, **options)


def _describe(options: Mapping[str, Any]) -> str:
    """A short text of the options for a test id."""
    parts = []
    for key, value in options.items():
        if key == "kind" or value is None:
            continue
        shown = getattr(value, "name", None) or getattr(value, "__name__", None)
        if isinstance(value, str):
            shown = value
        elif shown is None:
            shown = "..." if value is Ellipsis else repr(value)
            if len(shown) > 20:
                shown = type(value).__name__
        parts.append(f"{key}={shown}")
    return ", ".join(parts)


def parametrize_with_checks(objects: Iterable[Any]) -> Any:
    """A ``pytest.mark.parametrize`` decorator with one test per (object, check).

    Like scikit-learn's ``parametrize_with_checks``: every check of every object runs as
    its own test, so that a report shows each failing check, not only the first::

        from mixedmodels.testing import parametrize_with_checks

        @parametrize_with_checks([TweedieLink(), (TweedieFamily(), {"link": "log"})])
        def test_conforms(obj, check):
            check(obj)

    Parameters
    ----------
    objects
        Objects to check (as :func:`checks_for` accepts), or ``(object, options)`` pairs
        whose mapping holds the keyword arguments of the matching ``check_*`` function.

    Returns
    -------
    pytest.MarkDecorator
        Parametrizes the arguments ``obj`` and ``check``; test ids read
        ``Kind(name='...')-check name``.
    """
    import pytest  # only plugin test suites need pytest

    params = []
    for entry in objects:
        obj, options = entry if isinstance(entry, tuple) else (entry, {})
        described = _describe(options)
        obj_id = label(obj) if not described else f"{label(obj)}[{described}]"
        for name, check in checks_for(obj, **options):
            params.append(pytest.param(obj, check, id=f"{obj_id}-{name}"))
    return pytest.mark.parametrize(("obj", "check"), params)
