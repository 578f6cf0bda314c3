"""Tests of the ``mixedmodels`` command line (:mod:`mixedmodels.cli`).

Most tests call :func:`mixedmodels.cli.main` in-process; a few run ``python -m
mixedmodels`` in a subprocess to check the entry point, the exit status and that
errors never show a traceback.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels import cli

FORMULA = "Reaction ~ Days + (Days | Subject)"
# lme4 1.1-31: fixef(lmer(FORMULA, sleepstudy)), REML criterion, ML deviance.
R_FIXEF = {"(Intercept)": 251.40510484848497, "Days": 10.467285959595987}
R_REMLCRIT = 1743.6282719599519
R_ML_DEVIANCE = 1751.9393444889909


@pytest.fixture(scope="module")
def reml_text(sleep: pd.DataFrame) -> str:
    data = sleep.copy()
    data.attrs["name"] = "sleepstudy"
    return str(mm.lmm(FORMULA, data).summary())


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_module(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mixedmodels", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


# --- fit ------------------------------------------------------------------------------
def test_fit_text_is_the_summary(capsys: pytest.CaptureFixture[str], reml_text: str) -> None:
    code, out, err = run_main(capsys, "fit", FORMULA, "--data", "sleepstudy")
    assert code == 0, err
    assert out == reml_text
    # lmerTest's title (Satterthwaite t tests by default) takes two lines.
    assert out.splitlines()[3] == "   Data: sleepstudy"
    assert "REML criterion at convergence: 1743.6" in out


def test_fit_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "fit", FORMULA, "--data", "sleepstudy", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    for key in (
        "fixef",
        "se",
        "varcorr",
        "sigma",
        "theta",
        "logLik",
        "AIC",
        "BIC",
        "deviance",
        "REMLcrit",
        "nobs",
        "ngrps",
        "converged",
        "singular",
        "messages",
    ):
        assert key in doc, key
    assert doc["method"] == "REML"
    assert doc["nobs"] == 180 and doc["ngrps"] == {"Subject": 18}
    np.testing.assert_allclose(
        [doc["fixef"]["(Intercept)"], doc["fixef"]["Days"]], list(R_FIXEF.values()), rtol=1e-6
    )
    np.testing.assert_allclose(doc["REMLcrit"], R_REMLCRIT, rtol=1e-6)
    assert doc["converged"] is True and doc["singular"] is False
    assert [r["grp"] for r in doc["varcorr"]] == ["Subject"] * 3 + ["Residual"]
    assert doc["varcorr"][-1]["var1"] is None
    assert len(doc["theta"]) == 3


def test_fit_ml_csv(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(
        capsys, "fit", FORMULA, "--data", "sleepstudy", "--ml", "--format", "csv"
    )
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    # broom.mixed's columns for an lmerTest fit (Satterthwaite df and p-values).
    assert list(table.columns) == [
        "effect",
        "group",
        "term",
        "estimate",
        "std.error",
        "statistic",
        "df",
        "p.value",
    ]
    assert table["term"].tolist()[:2] == ["(Intercept)", "Days"]
    assert table["group"].isna().tolist() == [True, True, False, False, False, False]
    np.testing.assert_allclose(table["estimate"][:2], list(R_FIXEF.values()), rtol=1e-6)


def test_fit_ml_json_deviance(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(
        capsys, "fit", FORMULA, "--data", "sleepstudy", "--ml", "--format", "json"
    )
    doc = json.loads(out)
    assert code == 0 and doc["method"] == "ML" and doc["REMLcrit"] is None
    np.testing.assert_allclose(doc["deviance"], R_ML_DEVIANCE, rtol=1e-6)


def test_fit_csv_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sleep: pd.DataFrame
) -> None:
    # A CSV gives Subject as integers: still a grouping factor.
    path = tmp_path / "sleep.csv"
    sleep.to_csv(path, index=False)
    code, out, err = run_main(capsys, "fit", FORMULA, "--data", str(path))
    assert code == 0, err
    assert "   Data: sleep.csv" in out
    assert "Number of obs: 180, groups:  Subject, 18" in out
    assert "REML criterion at convergence: 1743.6" in out


def test_fit_compressed_and_tsv_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sleep: pd.DataFrame
) -> None:
    gz = tmp_path / "sleep.csv.gz"
    sleep.to_csv(gz, index=False)
    tsv = tmp_path / "sleep.tsv"
    sleep.to_csv(tsv, index=False, sep="\t")
    for path in (gz, tsv):
        code, out, err = run_main(capsys, "fit", FORMULA, "--data", str(path), "--format", "json")
        assert code == 0, err
        np.testing.assert_allclose(json.loads(out)["REMLcrit"], R_REMLCRIT, rtol=1e-6)


def test_fit_parquet_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sleep: pd.DataFrame
) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "sleep.parquet"
    sleep.to_parquet(path)
    code, out, err = run_main(capsys, "fit", FORMULA, "--data", str(path), "--format", "json")
    assert code == 0, err
    np.testing.assert_allclose(json.loads(out)["REMLcrit"], R_REMLCRIT, rtol=1e-6)


def test_fit_warnings_go_to_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, sleep: pd.DataFrame
) -> None:
    data = sleep.copy()
    data.loc[[0, 5], "Reaction"] = np.nan
    path = tmp_path / "holes.csv"
    data.to_csv(path, index=False)
    code, out, err = run_main(capsys, "fit", FORMULA, "--data", str(path))
    assert code == 0
    assert "Number of obs: 178" in out
    assert err.startswith("mixedmodels: warning:") and "2 rows" in err


# --- bad input: exit status 2, one clear line, no traceback ------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "no_such_dataset"], "neither a data file"),
        (["--data", "missing.csv"], "data file not found: missing.csv"),
        (["--data", "sleepstudy", "--format", "xml"], "--format xml: unknown formatter 'xml'"),
    ],
)
def test_bad_input_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run_main(capsys, "fit", FORMULA, *args)
    assert code == 2
    assert out == ""
    assert err.startswith("mixedmodels: error:")
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("Reaction ~ Days + (Days | Subjct)", "Subjct"),
        ("Reaction ~ Days + (Days | Subject", "parenthes"),
        ("Reaction ~ Days", "random-effect term"),
        ("Reactio ~ Days + (1 | Subject)", "Reactio"),
    ],
)
def test_formula_errors_exit_2(
    capsys: pytest.CaptureFixture[str], formula: str, message: str
) -> None:
    code, out, err = run_main(capsys, "fit", formula, "--data", "sleepstudy")
    assert code == 2
    assert out == ""
    assert err.startswith(f"mixedmodels: error: cannot fit {formula!r}:")
    assert message in err


def test_unreadable_file_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, _, err = run_main(capsys, "fit", "a ~ (1 | b)", "--data", str(empty))
    assert code == 2 and "could not read" in err
    odd = tmp_path / "data.xlsx"
    odd.write_text("x")
    code, _, err = run_main(capsys, "fit", "a ~ (1 | b)", "--data", str(odd))
    assert code == 2 and "cannot tell the format" in err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys)
    assert code == 2 and "usage:" in err
    code, _, err = run_main(capsys, "fit", FORMULA)  # --data missing
    assert code == 2 and "--data" in err
    code, _, _ = run_main(capsys, "frobnicate")
    assert code == 2


def test_other_failures_exit_1(capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("optimizer exploded")

    monkeypatch.setattr("mixedmodels.api.lmm", boom)
    code, _, err = run_main(capsys, "fit", FORMULA, "--data", "sleepstudy")
    assert code == 1
    assert "RuntimeError: optimizer exploded" in err and "--debug" in err
    with pytest.raises(RuntimeError, match="exploded"):
        cli.main(["--debug", "fit", FORMULA, "--data", "sleepstudy"])


# --- datasets and plugins -----------------------------------------------------------------
def test_datasets_lists_registered_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "datasets")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "rows", "description"]
    names = [line.split()[0] for line in lines[1:] if line.strip()][:-1]
    assert names == mm.datasets.list()["name"].tolist()
    sleep_line = next(line for line in lines if line.startswith("sleepstudy "))
    assert sleep_line.split()[1] == "180"


def test_plugins_uses_format_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    from mixedmodels.plugin_manager import manager as _plugins

    code, out, _ = run_main(capsys, "plugins")
    assert code == 0
    expected = _plugins.format_plugins()
    assert out == (expected if expected.endswith("\n") else expected + "\n")
    assert "formatters" in out and "text" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--version")
    assert code == 0 and out.strip() == f"mixedmodels {mm.__version__}"


# --- the real entry point ---------------------------------------------------------------
def test_python_dash_m(reml_text: str) -> None:
    proc = run_module("fit", FORMULA, "--data", "sleepstudy")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == reml_text


def test_python_dash_m_errors_have_no_traceback(tmp_path: Path) -> None:
    for args in (
        ["fit", FORMULA, "--data", "nope.csv"],
        ["fit", FORMULA, "--data", "not_a_dataset"],
        ["fit", "Reaction ~ Days + (Days | Subject", "--data", "sleepstudy"],
    ):
        proc = run_module(*args, cwd=tmp_path)
        assert proc.returncode == 2, args
        assert proc.stdout == ""
        assert "Traceback" not in proc.stderr
        assert proc.stderr.startswith("mixedmodels: error:")


def test_datasets_through_a_closed_pipe() -> None:
    # `mixedmodels datasets | head -1`: no BrokenPipeError traceback.
    proc = subprocess.run(
        f"{sys.executable} -m mixedmodels datasets | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.stdout.startswith("name")
    assert "Traceback" not in proc.stderr


def test_fit_glmm_with_family(capsys: pytest.CaptureFixture[str]) -> None:
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    code, out, err = run_main(capsys, "fit", formula, "--data", "cbpp", "--family", "binomial")
    assert code == 0, err
    expected = mm.glmm(formula, mm.datasets.load("cbpp"), family="binomial").summary()
    assert out.strip() == expected.strip()
    assert out.startswith("Generalized linear mixed model fit by maximum likelihood")


def test_fit_with_checks(capsys: pytest.CaptureFixture[str]) -> None:
    import types

    import numpy as np

    from mixedmodels.hookspec import hookimpl
    from mixedmodels.interfaces import Diagnostic
    from mixedmodels.plugin_manager import manager as _plugins

    class MeanResidual(Diagnostic):
        name = "cli_mean_residual"

        def supports(self, result):  # type: ignore[no-untyped-def]
            return None

        def run(self, result, **options):  # type: ignore[no-untyped-def]
            stat = float(np.mean(result.residuals()))
            return pd.DataFrame(
                {
                    "check": ["mean residual"],
                    "statistic": [stat],
                    "p_value": [np.nan],
                    "verdict": ["ok"],
                }
            )

    plugin = types.SimpleNamespace(mixedmodels_diagnostics=hookimpl(lambda: [MeanResidual()]))
    _plugins.register_plugin(plugin, "cli_checks")
    try:
        code, out, err = run_main(
            capsys, "fit", FORMULA, "--data", "sleepstudy", "--check", "cli_mean_residual"
        )
        assert code == 0, err
        assert "Model checks" in out and "mean residual" in out
        # An unknown check fails before the fit, naming it.
        code, out, err = run_main(
            capsys, "fit", FORMULA, "--data", "sleepstudy", "--check", "no_such_check"
        )
        assert code == 2 and out == ""
        assert "no_such_check" in err
    finally:
        _plugins.unregister_plugin("cli_checks")


def test_check_without_diagnostics_fails_before_the_fit(
    capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """Issue 19 item 6: without a diagnostics plugin ``--check`` printed the whole fit
    before failing; now it fails first, printing nothing on standard output."""
    from mixedmodels.plugin_manager import manager as _plugins

    real = _plugins.registry
    monkeypatch.setattr(
        _plugins, "registry", lambda kind: {} if kind == "diagnostic" else real(kind)
    )

    def no_fit(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model was fitted before the check for diagnostics")

    monkeypatch.setattr("mixedmodels.api.lmm", no_fit)
    for extra in (["--check"], ["--check", "dharma"]):
        code, out, err = run_main(capsys, "fit", FORMULA, "--data", "sleepstudy", *extra)
        assert code == 2
        assert out == ""
        assert "no diagnostics are registered" in err and "mixedmodels-diagnostics" in err
