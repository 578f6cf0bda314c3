"""Automation for the mixedmodels monorepo: tests, lint, benchmarks, demo.

nox -s tests        each package alone, then all packages together with tests/
nox -s lint         ruff, mypy and the import-linter layer contracts (.importlinter)
nox -s bench        timings against lme4 (Rscript) when it is installed
nox -s demo         fit sleepstudy, InstEval and VerbAgg, print summaries and checks
nox -s crosscheck   simulated fits against lme4 (Rscript with lme4 needed)
nox -s docs         build the documentation site (strict; the tutorials run)
nox -s template     generate a plugin from templates/plugin and run its tests
"""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
# Every distribution in packages/, core first; a plugin's tests run with the core only.
PLUGINS = sorted(
    p.name
    for p in (ROOT / "packages").iterdir()
    if (p / "pyproject.toml").exists() and p.name != "core"
)
PACKAGES = ["core", *PLUGINS]
TEST_DEPS = ["pytest>=7", "hypothesis>=6", "pyarrow>=12", "import-linter>=2.1", "copier>=9"]

# Local packages a plugin's tests also need (its optional extras that name another
# package of this repository: pip would look for them on PyPI).
LOCAL_TEST_PACKAGES: dict[str, list[str]] = {"dask": ["gee"]}

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True


def _spec(package: str) -> str:
    """Editable install of a package, with its ``test`` extra when it declares one."""
    path = ROOT / "packages" / package
    has_test_extra = "\ntest = [" in (path / "pyproject.toml").read_text()
    return f"-e{path}[test]" if has_test_extra else f"-e{path}"


def _install(session: nox.Session, *packages: str) -> None:
    session.install(*TEST_DEPS)
    session.install(*[_spec(p) for p in packages])


@nox.session
@nox.parametrize("target", [*PACKAGES, "all"])
def tests(session: nox.Session, target: str) -> None:
    """Run one package's tests with only the core installed, or everything together."""
    env = {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if target == "all":
        _install(session, *PACKAGES)
        paths = [str(ROOT / "packages" / p / "tests") for p in PACKAGES]
        if any((ROOT / "tests").glob("test_*.py")):
            paths.append(str(ROOT / "tests"))
        session.run("pytest", "-q", *paths, *session.posargs, env=env)
    else:
        _install(session, *dict.fromkeys(["core", *LOCAL_TEST_PACKAGES.get(target, []), target]))
        session.run(
            "pytest", "-q", str(ROOT / "packages" / target / "tests"), *session.posargs, env=env
        )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check), the layer contracts and mypy over every package."""
    session.install("ruff", "mypy", "pandas-stubs", "scipy-stubs")
    _install(session, *PACKAGES)
    session.run("lint-imports", "--no-cache")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    for p in PACKAGES:
        session.run("mypy", str(ROOT / "packages" / p / "src"))


@nox.session
def bench(session: nox.Session) -> None:
    """Time mixedmodels, mixedlm and (when Rscript is installed) lme4 on the same data."""
    session.install("threadpoolctl", "mixedlm")  # mixedlm: the Rust-backed peer (issue 18)
    _install(session, *PACKAGES)
    session.run("python", str(ROOT / "benchmarks" / "run.py"), *session.posargs)
    if not session.posargs:  # the plugin and inference benchmarks, each against R
        for script in sorted((ROOT / "benchmarks").glob("*_bench.py")):
            session.run("python", str(script))


@nox.session
def crosscheck(session: nox.Session) -> None:
    """Fit simulated data sets with lme4 (Rscript) and mixedmodels; list worse fits."""
    _install(session, "core")
    session.run("python", str(ROOT / "tools" / "crosscheck" / "crosscheck.py"), *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Random formulas x data for 10 minutes (``-- --seconds N --seed S``); prints counts
    by outcome and fails on any exception that is not the library's own, a numpy
    RuntimeWarning or a fit over 30 s."""
    _install(session, "core")
    args = session.posargs or ["--seconds", "600", "--seed", "1000"]
    session.run("python", "-m", "mixedmodels.testing.fuzz", *args)


@nox.session
def demo(session: nox.Session) -> None:
    """Fit sleepstudy and InstEval and print lme4-style summaries."""
    session.install(*[f"-e{ROOT / 'packages' / p}" for p in PACKAGES])
    session.run("python", str(ROOT / "examples" / "demo.py"))


DOCS_DEPS = [
    "mkdocs>=1.6,<2",
    "mkdocs-material>=9.5",
    "mkdocstrings-python>=1.10",
    "markdown-exec>=1.9",
    "matplotlib>=3.7",
]


@nox.session
def docs(session: nox.Session) -> None:
    """Build the site into build/site: API reference from the numpydoc docstrings,
    tutorials executed while building; warnings are errors (mkdocs --strict)."""
    session.install(*DOCS_DEPS)
    session.install(*[f"-e{ROOT / 'packages' / p}" for p in PACKAGES])
    env = {"MIXEDMODELS_PROGRESS": "0", "NO_MKDOCS_2_WARNING": "1", "OPENBLAS_NUM_THREADS": "1"}
    session.run("mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"), env=env)


@nox.session
def template(session: nox.Session) -> None:
    """Generate a plugin from templates/plugin, pip install it and run its tests."""
    session.install("copier>=9")
    session.install(f"-e{ROOT / 'packages' / 'core'}")
    dest = Path(session.create_tmp()) / "mixedmodels-example"
    session.run(
        "copier", "copy", "--defaults", "--overwrite", str(ROOT / "templates" / "plugin"), str(dest)
    )
    session.install(f"-e{dest}[test]")
    session.chdir(dest)
    session.run("pytest", "-q", env={"OPENBLAS_NUM_THREADS": "1"})


@nox.session
def bayes_reference(session: nox.Session) -> None:
    """mixedmodels-bayes against brms with 25,000 draws per chain.  These posterior
    checks are too slow for ``nox -s tests`` on 2 cores, which skips them."""
    _install(session, "core", "bayes")
    env = {
        "OPENBLAS_NUM_THREADS": "1",
        "MIXEDMODELS_BAYES_REFERENCE_DRAWS": "25000",
        "MIXEDMODELS_BAYES_SLOW": "1",
    }
    tests = ROOT / "packages" / "bayes" / "tests"
    session.run("pytest", "-q", str(tests), *session.posargs, env=env)


@nox.session
def sbc(session: nox.Session) -> None:
    """Simulation-based calibration of mixedmodels-bayes (200 replicates per model)."""
    _install(session, "core", "bayes")
    script = ROOT / "packages" / "bayes" / "tests" / "bayes_sbc.py"
    session.run("python", str(script), "--replicates", "200", *session.posargs)
