"""brms's priors: parsing, defaults, prior_summary, and refusals before compilation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from mixedmodels_bayes import PriorError, prior
from mixedmodels_bayes._data import bayes_data
from mixedmodels_bayes._estimator import _options
from mixedmodels_bayes._priors import build_prior_set, default_scale, parse_priors

import mixedmodels as mm


def _model(data, formula="Reaction ~ Days + (Days | Subject)", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.Model(formula, data, **kw)


def test_brms_default_priors_sleepstudy(sleepstudy):
    """brms 2.18's get_prior for sleepstudy: student_t(3, 288.7, 59.3) on the
    intercept, student_t(3, 0, 59.3) on sd and sigma, lkj(1), flat b."""
    _, _bd, ps, _ = _options(_model(sleepstudy), {})
    assert str(ps.intercept) == "student_t(3, 288.7, 59.3)"
    assert str(ps.sigma) == "student_t(3, 0, 59.3)"
    assert {str(p) for p in ps.sd.values()} == {"student_t(3, 0, 59.3)"}
    assert str(ps.cor["Subject"]) == "lkj(1)"
    assert ps.b["Days"].dist == "flat"
    table = ps.table
    assert list(table.columns) == ["prior", "class", "coef", "group", "lb", "source"]
    assert (table["source"] == "default").all()


def test_default_scale_follows_brms():
    y = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    loc, scale = default_scale(y, "identity")
    assert loc == 3.0 and scale == max(2.5, round(1.4826 * 1.0, 1))
    assert default_scale(y, "logit") == (0.0, 2.5)
    loc, _ = default_scale(np.array([0.0, 1.0, 2.0]), "log")  # brms: 0 -> 0.1 first
    assert loc == 0.0


def test_binomial_defaults(cbpp):
    m = _model(cbpp, "cbind(incidence, size - incidence) ~ period + (1 | herd)", family="binomial")
    _, bd, ps, _ = _options(m, {})
    assert str(ps.intercept) == "student_t(3, 0, 2.5)"
    assert ps.sigma is None
    assert bd.coef_names == ["period2", "period3", "period4"]
    np.testing.assert_allclose(bd.y, cbpp["incidence"].to_numpy())


def test_user_priors_by_class_coef_group(sleepstudy):
    user = parse_priors(
        [
            prior("normal(0, 5)", "b", coef="Days"),
            "prior(student_t(3, 0, 10), class = sd, group = Subject)",
            "prior(exponential(1), class = sd, coef = Days, group = Subject)",
            prior("lkj(2)", "cor"),
        ]
    )
    bd = bayes_data(_model(sleepstudy))
    ps = build_prior_set(
        user,
        coefs=bd.coef_names,
        has_intercept=True,
        terms=[(t.group, t.columns, t.correlated) for t in bd.terms],
        family="gaussian",
        link="identity",
        y_for_defaults=bd.y,
    )
    assert str(ps.b["Days"]) == "normal(0, 5)"
    assert str(ps.sd[("Subject", "Intercept")]) == "student_t(3, 0, 10)"
    assert str(ps.sd[("Subject", "Days")]) == "exponential(1)"
    assert ps.cor["Subject"].args == (2.0,)
    user_rows = ps.table[ps.table["source"] == "user"]
    assert len(user_rows) == 4


def test_brms_syntax_round_trip():
    (p,) = parse_priors("prior(student_t(3, 0, 2.5), class = Intercept)")
    assert (p.dist, p.args, p.cls) == ("student_t", (3.0, 0.0, 2.5), "Intercept")


@pytest.mark.parametrize(
    "bad, match",
    [
        ("prior(normal(0, 1), class = beta)", "unknown prior class 'beta'"),
        ("prior(lognormal(0, 1), class = b)", "unknown prior distribution 'lognormal'"),
        ("prior(normal(0, -1), class = b)", "must be positive"),
        ("prior(normal(0), class = b)", "takes 2 argument"),
        ("prior(lkj(2), class = b)", "lkj is the prior of class 'cor'"),
        ("prior(normal(0, 1), class = b, coef = Dayz)", r"coefficients are \['Days'\]"),
        ("prior(normal(0, 1), class = sd, group = Subj)", r"grouping factors are \['Subject'\]"),
        ("prior(normal(0, 1), class = sd, coef = x, group = Subject)", "no such term"),
        ("prior(flat, class = sd)", "improper"),
        ("prior(gamma(2, 1), class = shape)", "has no shape"),
    ],
)
def test_bad_priors_are_refused_before_compilation(sleepstudy, bad, match):
    with pytest.raises(PriorError, match=match):
        _options(_model(sleepstudy), {"priors": bad})


@pytest.mark.parametrize(
    "options, match",
    [
        ({"chains": 0}, "chains must be a positive integer"),
        ({"draws": -5}, "draws must be a positive integer"),
        ({"chains": 2.5}, "chains must be a positive integer"),
        ({"warmup": -1}, "warmup must be a non-negative integer"),
        ({"adapt_delta": 1.2}, "adapt_delta"),
        ({"sampler": "gibbs"}, "sampler must be"),
        ({"sample_prior": "maybe"}, "sample_prior"),
        ({"nonsense": 1}, "unknown option"),
    ],
)
def test_bad_options_are_refused(sleepstudy, options, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _options(_model(sleepstudy), options)


def test_prior_sampling_needs_proper_priors(sleepstudy):
    with pytest.raises(PriorError, match=r"flat priors on \['b Days'\]"):
        _options(_model(sleepstudy), {"sample_prior": "only"})


def test_collapsed_needs_gaussian(cbpp):
    m = _model(cbpp, "cbind(incidence, size - incidence) ~ period + (1 | herd)", family="binomial")
    with pytest.raises(ValueError, match="Gaussian model with the identity link"):
        _options(m, {"sampler": "collapsed"})


def test_collapsed_needs_random_effects(sleepstudy):
    with pytest.raises(ValueError, match="at least one random-effect term"):
        _options(_model(sleepstudy, "Reaction ~ Days"), {"sampler": "collapsed"})


def test_estimators_registered():
    from mixedmodels.plugin_manager import get_estimator
    from mixedmodels.testing import check_estimator

    for name in ("nuts", "map"):
        est = get_estimator(name)
        check_estimator(est)
