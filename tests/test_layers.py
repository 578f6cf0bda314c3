"""The packages' layering is enforced, not hoped for (decision 0013).

* The import-linter contracts in the repository's ``.importlinter`` (one ``layers``
  contract per package under ``packages/``) are kept.  import-linter reads every
  import statement, those inside functions included.
* No import circle among any package's modules, imports inside functions included
  (an ``ast`` walk; ``if TYPE_CHECKING:`` blocks excluded): a circle inside one layer
  is not something a ``layers`` contract sees.
* A deliberately added upward import breaks the contract (so the contract can fail).
"""

from __future__ import annotations

import ast
import graphlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"
# Every distribution's import package: packages/<name>/src/<module>/__init__.py.
SOURCES = {
    init.parent.name: init.parents[1]
    for init in sorted((ROOT / "packages").glob("*/src/*/__init__.py"))
}

pytest.importorskip("importlinter")


def _lint(config: Path, cwd: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True))"
    )
    env = {"PYTHONPATH": ":".join(str(p) for p in pythonpath), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_layer_contracts_are_kept() -> None:
    run = _lint(CONFIG, ROOT, list(SOURCES.values()))
    assert run.returncode == 0, run.stdout + run.stderr
    contracts = CONFIG.read_text().count("[importlinter:contract:")
    assert contracts == len(SOURCES)  # one layers contract per package
    assert f"Contracts: {contracts} kept, 0 broken." in run.stdout


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                lines.update(
                    sub.lineno
                    for stmt in node.body
                    for sub in ast.walk(stmt)
                    if hasattr(sub, "lineno")
                )
    return lines


def import_graph(package: str, src: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in the file)."""
    files = {}
    for path in (src / package).rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                prefix = ".".join(base + ([node.module] if node.module else []))
                names = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
            for name in names:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                # a package's own __init__ re-exporting is not a dependency on itself
                if name and name != module and not module.startswith(name + "."):
                    targets.add(name)
        graph[module] = targets
    return graph


@pytest.mark.parametrize("package", list(SOURCES))
def test_no_import_circles(package: str) -> None:
    graph = import_graph(package, SOURCES[package])
    assert len(graph) > 5  # the walk found the package's modules
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import circle in {package}: {' -> '.join(error.args[1])}")
    assert set(order) == set(graph)


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    """Copy the core, add one upward import inside a function, and lint the copy."""
    src = tmp_path / "src"
    shutil.copytree(SOURCES["mixedmodels"] / "mixedmodels", src / "mixedmodels")
    victim = src / "mixedmodels" / "linear" / "criterion.py"
    victim.write_text(
        victim.read_text() + "\n\ndef _upward():\n    from ..results import LMMResult\n\n"
        "    return LMMResult\n"
    )
    core_only = tmp_path / ".importlinter"
    text = CONFIG.read_text()
    _, _, rest = text.partition("[importlinter:contract:core-layers]")
    core_section = rest.split("\n[importlinter:contract:", 1)[0]
    core_only.write_text(
        "[importlinter]\nroot_packages =\n    mixedmodels\nexclude_type_checking_imports = True\n\n"
        "[importlinter:contract:core-layers]" + core_section
    )
    run = _lint(core_only, tmp_path, [src])
    assert run.returncode != 0
    assert "mixedmodels.linear is not allowed to import mixedmodels.results" in run.stdout
    assert "mixedmodels.linear.criterion -> mixedmodels.results" in run.stdout


def _contract_layers(container: str) -> set[str]:
    """The modules and packages named in the layers contract of ``container``."""
    import configparser

    config = configparser.ConfigParser()
    config.read(CONFIG)
    for section in config.sections():
        if config[section].get("containers", "").strip() == container:
            names = config[section]["layers"].replace("|", "\n").split()
            return {f"{container}.{name}" for name in names}
    raise AssertionError(f"no layers contract for {container}")


@pytest.mark.parametrize("package", list(SOURCES))
def test_every_module_is_in_a_layer(package: str) -> None:
    """A module no layer names is not constrained at all: each must sit in one."""
    named = _contract_layers(package)
    graph = import_graph(package, SOURCES[package])
    loose = [
        module
        for module, imports in graph.items()
        if module != package
        and not any(module == n or module.startswith(n + ".") for n in named)
        # a subpackage split over several layers: its __init__ must import nothing
        and not (not imports and any(n.startswith(module + ".") for n in named))
    ]
    assert not loose, f"modules of {package} in no layer of .importlinter: {loose}"
