"""Each distribution has a LICENSE, a CHANGELOG that lists its version, and one place
for the version: ``pyproject.toml`` reads the package's ``__version__`` (issue 19)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())


def _module(package: Path) -> str:
    return next(p.name for p in (package / "src").iterdir() if (p / "__init__.py").exists())


@pytest.mark.parametrize("package", PACKAGES, ids=[p.name for p in PACKAGES])
def test_license_changelog_and_one_version(package: Path) -> None:
    assert "MIT License" in (package / "LICENSE").read_text()
    pyproject = (package / "pyproject.toml").read_text()
    assert re.search(r"^version\s*=\s*\"", pyproject, re.M) is None, "version is written twice"
    assert 'dynamic = ["version"]' in pyproject
    module = _module(package)
    assert f'version = {{ attr = "{module}.__version__" }}' in pyproject
    version = importlib.import_module(module).__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert f"\n## {version}\n" in (package / "CHANGELOG.md").read_text()


def test_plugins_pin_a_range_that_holds_the_core_version() -> None:
    import mixedmodels

    major, minor, _ = (int(x) for x in mixedmodels.__version__.split("."))
    for package in PACKAGES:
        pins = re.findall(
            r'"mixedmodels>=(\d+)\.(\d+),<(\d+)\.(\d+)"', (package / "pyproject.toml").read_text()
        )
        for lo_major, lo_minor, hi_major, hi_minor in pins:
            assert (
                (int(lo_major), int(lo_minor)) <= (major, minor) < (int(hi_major), int(hi_minor))
            ), package.name
