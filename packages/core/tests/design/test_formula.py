"""Parsing lme4 formulas: bar terms, expansion, R deparsing, R's term order."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixedmodels.formula import (
    BarTerm,
    FormulaError,
    RandomSpec,
    deparse,
    expr_variables,
    model_terms,
    parse_formula,
    to_python,
)

# --- the parts of a formula ---------------------------------------------------------


def exprs(formula: str) -> list[str]:
    return [b.expr for b in parse_formula(formula).random_terms]


def test_simple_formula_parts():
    p = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert p.response == "Reaction"
    assert p.response_parts == ("Reaction",)
    assert p.fixed == "Days"
    assert p.offsets == ()
    assert p.random_terms == (BarTerm("Days", "Subject", ("Subject",), "us"),)
    assert p.written == (RandomSpec("Days", "Subject", False, "us"),)
    assert p.random_terms[0].expr == "Days | Subject"


def test_only_random_terms_gives_intercept_fixed_part():
    assert parse_formula("y ~ (1 | g)").fixed == "1"
    assert parse_formula("y ~ 0 + (1 | g)").fixed == "0"
    assert parse_formula("y ~ -1 + x + (1 | g)").fixed == "-1 + x"
    assert parse_formula("y ~ x - 1 + (1 | g)").fixed == "x - 1"


def test_intercept_and_slope_forms():
    assert exprs("y ~ (1|g)") == ["1 | g"]
    assert exprs("y ~ (x|g)") == ["x | g"]
    assert exprs("y ~ (0+x|g)") == ["0 + x | g"]
    assert exprs("y ~ (x-1|g)") == ["x - 1 | g"]
    assert exprs("y ~ (1 + x | g)") == ["1 + x | g"]


def test_double_bar_expands_like_lme4():
    # lme4::expandDoubleVerts: intercept first, then one 0 + term per term of the lhs.
    assert exprs("y ~ (x || g)") == ["1 | g", "0 + x | g"]
    assert exprs("y ~ (0 + x || g)") == ["0 + x | g"]
    assert exprs("y ~ (x + z || g)") == ["1 | g", "0 + x | g", "0 + z | g"]
    assert exprs("y ~ (x*z || g)") == ["1 | g", "0 + x | g", "0 + z | g", "0 + x:z | g"]
    assert exprs("y ~ (log(x) - 1 || g)") == ["0 + log(x) | g"]
    assert parse_formula("y ~ (x || g)").written == (RandomSpec("x", "g", True),)


def test_nested_grouping_as_lme4_names_it():
    # lme4: (1 | batch/cask) -> groups "cask:batch" and "batch", in that order.
    p = parse_formula("strength ~ 1 + (1 | batch/cask)")
    assert [(b.group, b.factors) for b in p.random_terms] == [
        ("cask:batch", ("cask", "batch")),
        ("batch", ("batch",)),
    ]
    assert exprs("y ~ (1|a/b/c)") == ["1 | c:(b:a)", "1 | b:a", "1 | a"]
    assert parse_formula("y ~ (1|a/b/c)").random_terms[0].factors == ("c", "b", "a")
    assert exprs("y ~ (x||a/b)") == ["1 | b:a", "1 | a", "0 + x | b:a", "0 + x | a"]


def test_interaction_grouping_and_crossed_terms():
    p = parse_formula("y ~ 1 + (1 | a:b) + (1 | plate) + (1 | sample)")
    assert [b.group for b in p.random_terms] == ["a:b", "plate", "sample"]
    assert p.random_terms[0].factors == ("a", "b")


@pytest.mark.parametrize("name", ["us", "diag", "cs", "ar1", "toep", "my_struct"])
def test_structure_wrappers(name):
    p = parse_formula(f"y ~ x + {name}(0 + x | g) + (1 | h)")
    assert [b.structure for b in p.random_terms] == [name, "us"]
    assert p.random_terms[0].expr == "0 + x | g"
    assert p.written[0] == RandomSpec("0 + x", "g", False, name)
    assert p.fixed == "x"


def test_logical_or_inside_I_is_not_a_bar():
    p = parse_formula("y ~ I(a | b) + (1 | g)")
    assert p.fixed == "I(a | b)"
    assert len(p.random_terms) == 1


def test_offsets_are_collected():
    p = parse_formula("y ~ x + offset(log(n)) + (1|g) + offset(z)")
    assert p.offsets == ("log(n)", "z")
    assert p.fixed == "x"


def test_cbind_response():
    p = parse_formula("cbind(incidence, size - incidence) ~ period + (1 | herd)")
    assert p.response == "cbind(incidence, size - incidence)"
    assert p.response_parts == ("incidence", "size - incidence")
    assert parse_formula("log(y) ~ x").response_parts == ("log(y)",)
    assert parse_formula("~ x + (1|g)").response is None


def test_backticks_and_dotted_names():
    p = parse_formula("y ~ Days.x + (1 | `my g`)")
    assert p.random_terms[0].factors == ("my g",)
    assert p.random_terms[0].group == "`my g`"
    assert to_python("Days.x + I(Days.x^2)") == "`Days.x` + I(`Days.x` ** 2)"


# --- malformed formulas -----------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "fragment"),
    [
        ("y ~ (|g)", "(|g)"),
        ("y ~ x + (x|)", "(x|)"),
        ("y ~ (x|g", "never closed"),
        ("y ~ x) + (1|g)", "unexpected ')'"),
        ("y ~ x + (1|g|h)", "(1|g|h)"),
        ("y ~ x | g", "x | g"),
        ("y ~ x*(1|g)", "x*(1|g)"),
        ("y ~ (1|log(g))", "log(g)"),
        ("y ~ (1|a:)", "(1|a:)"),
        ("y ~ (1|a/)", "(1|a/)"),
        ("y ~ x - (1|g)", "(1|g)"),
        ("y ~ x +", "ends with an operator"),
        ("y + x", "no '~'"),
        ("y ~ x ~ z", "more than one"),
        ("cbind(a) ~ x", "cbind"),
        ("y ~ ((1|g) | h)", "(1|g)"),
        ("y ~ x + diag(|g)", "diag(|g)"),
        ("y ~ x # comment", "unexpected"),
    ],
)
def test_malformed_formulas_raise_naming_the_term(formula, fragment):
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_formula_must_be_a_string():
    with pytest.raises(FormulaError):
        parse_formula(42)  # type: ignore[arg-type]


# --- deparsing and translation ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [  # R 4.2.2 deparse(str2lang(text))
        ("a/b", "a/b"),
        ("a*b", "a * b"),
        ("a-b", "a - b"),
        ("-a", "-a"),
        ("a^b", "a^b"),
        ("a**b", "a^b"),
        ("a%in%b", "a %in% b"),
        ("a==b", "a == b"),
        ("f(a,b=1)", "f(a, b = 1)"),
        ("1.0", "1"),
        ("1e5", "1e+05"),
        ("0.50", "0.5"),
        ("2L", "2L"),
        ("'s'", '"s"'),
        ("!a", "!a"),
        ("a&b", "a & b"),
        ("a>=-1", "a >= -1"),
        ("(a+b)", "(a + b)"),
        ("a:b", "a:b"),
        ("log(Days+1)", "log(Days + 1)"),
        ("I(Days^2)", "I(Days^2)"),
        ("exp(- x)", "exp(-x)"),
        ("a%%b", "a%%b"),
        ("1e-3", "0.001"),
        ("x-1", "x - 1"),
        ("1/(1+exp(-x))", "1/(1 + exp(-x))"),
        ("I(x ** 2)", "I(x^2)"),
        ("I(x > True)", "I(x > TRUE)"),
    ],
)
def test_deparse_matches_r(text, expected):
    assert deparse(text) == expected


def test_to_python_power_only_inside_calls():
    assert to_python("I(x^2)") == "I(x ** 2)"
    assert to_python("(a + b)^2") == "(a + b) ^ 2"
    assert to_python("I((x + 1)^2) + (a + b)^2") == "I((x + 1) ** 2) + (a + b) ^ 2"
    assert to_python("x %in% a") == "x : a"
    assert to_python("I(x > TRUE)") == "I(x > True)"


def test_expr_variables():
    assert expr_variables("log(Days + 1) + I(Days^2)") == ["Days"]
    assert expr_variables("poly(x, degree = 2) + a:b") == ["x", "a", "b"]
    assert expr_variables("np.log(`my x`) + pi") == ["my x"]


# --- R's term order ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rhs", "intercept", "terms"),
    [
        (
            "a*b*c",
            True,
            [("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c")],
        ),
        ("(a + b + c)^2", True, [("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c")]),
        # R orders variables by first appearance, removed terms included.
        ("a*z - a", True, [("z",), ("a", "z")]),
        ("b:a + a", True, [("a",), ("b", "a")]),
        ("(b + c):a", True, [("b", "a"), ("c", "a")]),
        ("0 + x", False, [("x",)]),
        ("x - 1", False, [("x",)]),
        ("-1", False, []),
        ("1", True, []),
        ("a/b", True, [("a",), ("a", "b")]),
        ("x + I(x^2)", True, [("x",), ("I(x ** 2)",)]),
    ],
)
def test_model_terms_follow_r_order(rhs, intercept, terms):
    mt = model_terms(rhs)
    assert mt.intercept is intercept
    assert [tuple(t) for t in mt.terms] == terms


def test_model_terms_labels():
    mt = model_terms("a*log(x) + I(x^2)")
    assert [mt.label(t) for t in mt.terms] == ["a", "log(x)", "I(x^2)", "a:log(x)"]


# --- properties ---------------------------------------------------------------------

NAMES = ["g", "Subject", "batch", "cask", "h2", "site_id", "plate"]
LHS = ["1", "x", "0 + x", "1 + x", "x - 1", "x + z", "log(x)", "0 + x:z", "I(x^2)"]
FIXED = ["x", "z", "log(w)", "a*b", "I(x^2)", "a:b"]


@st.composite
def random_term(draw: st.DrawFn) -> RandomSpec:
    units = draw(
        st.lists(
            st.lists(st.sampled_from(NAMES), min_size=1, max_size=2, unique=True),
            min_size=1,
            max_size=3,
        )
    )
    group = "/".join(":".join(u) for u in units)
    lhs = draw(st.sampled_from(LHS))
    double = draw(st.booleans())
    structure = draw(st.sampled_from(["us", "us", "diag", "cs", "ar1"]))
    return RandomSpec(lhs, group, double, structure)


def render(spec: RandomSpec, space: st.DrawFn) -> str:
    """Write a term with random whitespace between its tokens."""
    sp = space
    group = spec.group.replace("/", f"{sp()}/{sp()}").replace(":", f"{sp()}:{sp()}")
    lhs = re.sub(r"\s*([+\-:])\s*", lambda m: f"{sp()}{m.group(1)}{sp()}", spec.lhs)
    bar = "||" if spec.double else "|"
    inner = f"{sp()}{lhs}{sp()}{bar}{sp()}{group}{sp()}"
    return f"({inner})" if spec.structure == "us" else f"{spec.structure}({inner})"


@settings(max_examples=200, deadline=None)
@given(
    terms=st.lists(random_term(), min_size=1, max_size=4),
    fixed=st.lists(st.sampled_from(FIXED), max_size=3, unique=True),
    offsets=st.lists(st.sampled_from(["log(n)", "z"]), max_size=2),
    order=st.randoms(use_true_random=False),
    spaces=st.data(),
)
def test_random_terms_round_trip(terms, fixed, offsets, order, spaces):
    def sp() -> str:
        return spaces.draw(st.sampled_from(["", " ", "  ", "\t", "\n "]))

    pieces = [("r", i, render(t, sp)) for i, t in enumerate(terms)]
    pieces += [("f", i, f) for i, f in enumerate(fixed)]
    pieces += [("o", i, f"offset({sp()}{o}{sp()})") for i, o in enumerate(offsets)]
    order.shuffle(pieces)
    formula = f"y{sp()}~{sp()}" + f"{sp()}+{sp()}".join(text for _, _, text in pieces)
    p = parse_formula(formula)

    written = [terms[i] for kind, i, _ in pieces if kind == "r"]
    assert list(p.written) == written
    # The fixed part keeps its terms; offsets are pulled out.
    expected_fixed = [deparse(fixed[i]) for kind, i, _ in pieces if kind == "f"]
    assert p.fixed == (" + ".join(expected_fixed) if expected_fixed else "1")
    assert list(p.offsets) == [offsets[i] for kind, i, _ in pieces if kind == "o"]
    # Expansion: one term per '/' level, times the pieces of a '||' lhs.
    n_expected = 0
    for t in written:
        levels = t.group.count("/") + 1
        pieces_lhs = 1
        if t.double:
            mt = model_terms(t.lhs)
            pieces_lhs = int(mt.intercept) + len(mt.terms)
        n_expected += levels * pieces_lhs
    assert len(p.random_terms) == n_expected
    for b in p.random_terms:
        assert set(b.factors) <= set(NAMES)
        assert b.structure in {"us", "diag", "cs", "ar1"}


@settings(max_examples=100, deadline=None)
@given(terms=st.lists(random_term(), min_size=1, max_size=3), data=st.data())
def test_whitespace_does_not_matter(terms, data):
    def tight() -> str:
        return ""

    def loose() -> str:
        return data.draw(st.sampled_from([" ", "   ", "\n"]))

    a = parse_formula("y ~ x + " + " + ".join(render(t, tight) for t in terms))
    b = parse_formula("y ~ x + " + " + ".join(render(t, loose) for t in terms))
    assert a.written == b.written
    assert a.random_terms == b.random_terms
    assert a.fixed == b.fixed
