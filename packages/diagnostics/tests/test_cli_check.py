"""`mixedmodels fit ... --check` runs this plugin's checks from the command line."""

from __future__ import annotations

import pytest

from mixedmodels import cli


def test_fit_with_all_applicable_checks(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "fit",
            "cbind(incidence, size - incidence) ~ period + (1 | herd)",
            "--data",
            "cbpp",
            "--family",
            "binomial",
            "--check",
            "--seed",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    report = out.split("Model checks", 1)[1]
    for row in ("uniformity", "ICC (adjusted)", "R2 (marginal)", "overdispersion"):
        assert row in report


def test_named_check_that_does_not_apply(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "fit",
            "Reaction ~ Days + (Days | Subject)",
            "--data",
            "sleepstudy",
            "--check",
            "check_overdispersion",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "check_overdispersion" in err
