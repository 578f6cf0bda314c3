"""A well-behaved plugin registering one object in every registry."""

from mmfix_common import (
    FIXTURE_DATASET,
    FIXTURE_TIDIER,
    FixtureCovariance,
    FixtureDiagnostic,
    FixtureLink,
    format_text,
    make_estimator,
    make_family,
)

from mixedmodels.hookspec import hookimpl


@hookimpl
def mixedmodels_links():
    return [FixtureLink()]


@hookimpl
def mixedmodels_families():
    return [make_family("fixture_family")]


@hookimpl
def mixedmodels_covariance_structures():
    return [FixtureCovariance]


@hookimpl
def mixedmodels_estimators():
    return [make_estimator("fixture_estimator")]


@hookimpl
def mixedmodels_diagnostics():
    return [FixtureDiagnostic()]


@hookimpl
def mixedmodels_datasets():
    return [FIXTURE_DATASET]


@hookimpl
def mixedmodels_tidiers():
    return [FIXTURE_TIDIER]


@hookimpl
def mixedmodels_formatters():
    return {"fixture_text": format_text}
