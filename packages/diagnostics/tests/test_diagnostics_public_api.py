"""mixedmodels_diagnostics: its public API, pinned, and its imports of the core (public only)."""

from __future__ import annotations

import ast
from pathlib import Path

import mixedmodels_diagnostics

ALL = [
    "InfluenceResult",
    "ScaledResiduals",
    "__version__",
    "check_collinearity",
    "check_convergence",
    "check_overdispersion",
    "check_singularity",
    "check_zero_inflation",
    "icc",
    "icc_beta",
    "influence",
    "plot_caterpillar",
    "plot_influence",
    "plot_qq",
    "plot_residuals",
    "plot_residuals_vs_predicted",
    "r2_nakagawa",
    "simulate_residuals",
    "test_dispersion",
    "test_outliers",
    "test_quantiles",
    "test_spatial_autocorrelation",
    "test_temporal_autocorrelation",
    "test_uniformity",
    "test_zero_inflation",
    "variance_decomposition",
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

SOURCE = Path(mixedmodels_diagnostics.__file__).parent


def test_all_is_pinned() -> None:
    assert sorted(mixedmodels_diagnostics.__all__) == ALL
    for name in mixedmodels_diagnostics.__all__:
        assert getattr(mixedmodels_diagnostics, name) is not None or name == "__version__"
        assert name in dir(mixedmodels_diagnostics)


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
