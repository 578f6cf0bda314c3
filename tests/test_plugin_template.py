"""The plugin template generates a package whose own tests pass (issue 19 item 9).

copier renders ``templates/plugin`` into a temporary folder and the generated tests
run against the generated ``src/`` on ``PYTHONPATH`` (no pip install: fast, and the
same core as the rest of this run).  ``nox -s template`` does the full round trip with
``pip install``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "plugin"


def test_template_generates_a_plugin_that_passes_its_tests(tmp_path: Path) -> None:
    copier = pytest.importorskip("copier")
    import mixedmodels

    dest = tmp_path / "mixedmodels-tplcheck"
    copier.run_copy(
        str(TEMPLATE),
        str(dest),
        data={"plugin_name": "tplcheck", "structure_name": "tplexp"},
        defaults=True,
        quiet=True,
    )
    source = dest / "src" / "mixedmodels_tplcheck" / "_structure.py"
    assert 'name: ClassVar[str] = "tplexp"' in source.read_text()
    pyproject = (dest / "pyproject.toml").read_text()
    assert 'tplcheck = "mixedmodels_tplcheck._plugin"' in pyproject
    assert {"LICENSE", "CHANGELOG.md", "noxfile.py", "README.md"} <= {
        p.name for p in dest.iterdir()
    }
    core_src = Path(mixedmodels.__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(dest / "src"), str(core_src)]),
        "OPENBLAS_NUM_THREADS": "1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "8 passed" in run.stdout


def test_template_rejects_a_bad_plugin_name(tmp_path: Path) -> None:
    copier = pytest.importorskip("copier")
    with pytest.raises(Exception, match="lower-case letters"):
        copier.run_copy(
            str(TEMPLATE),
            str(tmp_path / "bad"),
            data={"plugin_name": "Bad-Name"},
            defaults=True,
            quiet=True,
        )
