"""The public API of mixedmodels_gee, pinned, and its imports of the core: public modules only."""

from __future__ import annotations

import ast
from pathlib import Path

import mixedmodels_gee

ALL = [
    "AR1",
    "Exchangeable",
    "Fixed",
    "GEEConvergenceWarning",
    "GEEError",
    "GEEEstimator",
    "GEEResult",
    "Independence",
    "MDependent",
    "Unstructured",
    "VCOV_TYPES",
    "WorkingCorrelation",
    "__version__",
    "anova",
    "gee",
    "glance_gee",
    "qic",
    "tidy_gee",
]

# The modules of the core a plugin may import: the package and its public modules.
PUBLIC_CORE_MODULES = frozenset(
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
        "mixedmodels.residual",
        "mixedmodels.results",
        "mixedmodels.testing",
    }
)
# Imports of non-public core modules the plugin makes today (none): list any here, with
# a comment, until the core exposes what they need publicly.
KNOWN_EXCEPTIONS: frozenset[str] = frozenset()

SOURCE = Path(mixedmodels_gee.__file__).parent


def test_all_is_pinned() -> None:
    assert sorted(mixedmodels_gee.__all__) == ALL
    for name in mixedmodels_gee.__all__:
        assert getattr(mixedmodels_gee, name) is not None or name == "__version__"
        assert name in dir(mixedmodels_gee)


def _core_imports() -> list[tuple[str, str]]:
    """``(where, module)`` of every import of the core in the plugin, in functions too."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                found += [(where, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((where, node.module))
                if node.module == "mixedmodels":
                    # ``from mixedmodels import x``: x is a public name or module.
                    found += [(where, f"mixedmodels.{a.name}") for a in node.names]
    return [(w, m) for w, m in found if m == "mixedmodels" or m.startswith("mixedmodels.")]


def test_plugin_imports_only_public_core_modules() -> None:
    imports = _core_imports()
    assert imports, "expected the plugin to import the core"
    public_names = {f"mixedmodels.{n}" for n in __import__("mixedmodels").__all__}
    allowed = PUBLIC_CORE_MODULES | public_names | KNOWN_EXCEPTIONS
    private = sorted((m, w) for w, m in imports if m not in allowed)
    assert not private, f"imports of non-public core modules: {private}"
