"""A plugin imports only the core's public modules (:func:`check_public_imports`)."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PUBLIC_MODULES", "check_public_imports", "core_imports"]

#: The core's public modules: what a plugin may import (besides the names in
#: ``mixedmodels.__all__``).  Everything else is private and may move between releases.
PUBLIC_MODULES: frozenset[str] = frozenset(
    {
        "mixedmodels",
        "mixedmodels.covariance",
        "mixedmodels.datasets",
        "mixedmodels.estimators",
        "mixedmodels.extending",
        "mixedmodels.families",
        "mixedmodels.formula",
        "mixedmodels.hookspec",
        "mixedmodels.interfaces",
        "mixedmodels.links",
        "mixedmodels.model",
        "mixedmodels.plugin_manager",
        "mixedmodels.residual",
        "mixedmodels.results",
        "mixedmodels.testing",
    }
)


def core_imports(package: str) -> list[tuple[str, str]]:
    """``(file:line, module)`` of every import of ``mixedmodels`` in ``package``'s
    source, imports inside functions included; ``from mixedmodels import x`` counts as
    ``mixedmodels.x``."""
    source = Path(importlib.import_module(package).__file__ or "").parent
    found: list[tuple[str, str]] = []
    for path in sorted(source.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                found += [(where, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((where, node.module))
                if node.module == "mixedmodels":
                    found += [(where, f"mixedmodels.{a.name}") for a in node.names]
    return [(w, m) for w, m in found if m == "mixedmodels" or m.startswith("mixedmodels.")]


def check_public_imports(package: str, allowed: Iterable[str] = ()) -> None:
    """Raise :class:`AssertionError` listing every import of a non-public core module in
    the source of ``package`` (a plugin's top-level module name).

    Public are :data:`PUBLIC_MODULES` and the names in ``mixedmodels.__all__``;
    ``allowed`` adds known exceptions (say why next to them).
    """
    imports = core_imports(package)
    if not imports:
        raise AssertionError(f"{package} imports nothing from mixedmodels")
    core = importlib.import_module("mixedmodels")
    public = PUBLIC_MODULES | {f"mixedmodels.{n}" for n in core.__all__} | set(allowed)
    private = sorted((m, w) for w, m in imports if m not in public)
    if private:
        lines = "\n".join(f"  {m} ({w})" for m, w in private)
        raise AssertionError(f"{package} imports non-public core modules:\n{lines}")
