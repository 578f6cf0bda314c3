"""mm.check: selection, normalisation and reporting of registered diagnostics."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.hookspec import hookimpl
from mixedmodels.interfaces import Diagnostic
from mixedmodels.plugin_manager import UnknownNameError
from mixedmodels.plugin_manager import manager as _plugins


class _MeanResidual(Diagnostic):
    name = "mean_residual_test"
    description = "mean of the response residuals (test fixture)"

    def supports(self, result: Any) -> str | None:
        return None if isinstance(result, mm.LMMResult) else "needs an LMMResult"

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        r = result.residuals()
        stat = float(np.mean(r))
        return pd.DataFrame(
            {
                "check": ["mean residual"],
                "statistic": [stat],
                "p_value": [options.get("p", 0.5)],
                "verdict": ["ok" if abs(stat) < 1 else "problem"],
            }
        )


class _GLMMOnly(Diagnostic):
    name = "glmm_only_test"

    def supports(self, result: Any) -> str | None:
        return None if isinstance(result, mm.GLMMResult) else "needs a GLMMResult"

    def run(self, result: Any, **options: Any) -> pd.DataFrame:
        return pd.DataFrame({"check": ["x"], "statistic": [1.0], "p_value": [np.nan]})


@pytest.fixture()
def fixture_plugin():
    module = types.SimpleNamespace(
        mixedmodels_diagnostics=hookimpl(lambda: [_MeanResidual(), _GLMMOnly()])
    )
    _plugins.register_plugin(module, "check_fixture")
    yield
    _plugins.unregister_plugin("check_fixture")


@pytest.fixture(scope="module")
def sleep_fit():
    return mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


def test_check_runs_only_supported_checks(fixture_plugin, sleep_fit, capsys):
    report = mm.check(sleep_fit)
    assert "mean_residual_test" in set(report["diagnostic"])
    assert "glmm_only_test" not in set(report["diagnostic"])
    assert list(report.columns[:6]) == [
        "diagnostic",
        "check",
        "statistic",
        "p_value",
        "verdict",
        "message",
    ]
    row = report[report["diagnostic"] == "mean_residual_test"].iloc[0]
    assert row["statistic"] == pytest.approx(float(np.mean(sleep_fit.residuals())))
    assert row["message"] == ""
    printed = capsys.readouterr().out
    assert "Model checks" in printed and "mean residual" in printed


def test_check_named_and_options(fixture_plugin, sleep_fit, capsys):
    report = mm.check(sleep_fit, checks="mean_residual_test", p=0.0001, verbose=False)
    assert len(report) == 1 and report["p_value"].iloc[0] == 0.0001
    assert capsys.readouterr().out == ""
    assert "< 0.001" in mm.checks.format_check_report(report)


def test_check_unsupported_named_check_names_it(fixture_plugin, sleep_fit):
    with pytest.raises(TypeError, match=r"glmm_only_test.*needs a GLMMResult"):
        mm.check(sleep_fit, checks=["glmm_only_test"])


def test_check_unknown_name(fixture_plugin, sleep_fit):
    with pytest.raises(UnknownNameError, match="no_such_check"):
        mm.check(sleep_fit, checks=["no_such_check"])


def test_check_unsupported_result_type(fixture_plugin):
    with pytest.raises(TypeError, match="no registered diagnostic supports a str"):
        mm.check("not a fit")
