"""build_design: R's model matrices, lme4's random terms, missing values, new data."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mixedmodels.design.contrasts import contr_poly

# Private: this file tests the design layer itself (R's factor coding, model matrices).
from mixedmodels.design.data import as_pandas, factorize, format_levels, r_format_number
from mixedmodels.design.matrices import Design, build_design
from mixedmodels.formula import FormulaError

# Copies of the shared reference cases (the tests never read ../shared).
REFERENCE = Path(__file__).parents[1] / "reference"


def small_data() -> pd.DataFrame:
    """The data frame the R values below were computed on (same values, same types)."""
    d = pd.DataFrame(
        {
            "y": [3.1, 2.2, 5.3, 4.4, 6.5, 1.6, 2.7, 8.8, 3.9, 4.1, 5.2, 2.3],
            "x": [0.5, 1, 1.5, 2, 2.5, 3, 0.25, 4, 1.2, 2.2, 3.3, 0.7],
            "a": list("bacbacabcabc"),
            "b": ["u", "v"] * 6,
            "z": [True, False, False, True, True, False, True, False, True, True, False, False],
            "s": [1.5, 2, 10, 2, 1.5, 10, 1.5, 2, 10, 2, 1.5, 10],
            "g": ["g1"] * 4 + ["g2"] * 4 + ["g3"] * 4,
        }
    )
    d["o"] = pd.Categorical(
        ["lo", "mid", "hi", "top"] * 3, categories=["lo", "mid", "hi", "top"], ordered=True
    )
    return d


def matrix(text: str) -> np.ndarray:
    return np.array([[float(v) for v in row.split()] for row in text.split(";")])


# R 4.2.2: colnames(model.matrix(f, d)) for the data frame built by small_data().
R_COLNAMES = {
    "~ x:a": ["(Intercept)", "x:aa", "x:ab", "x:ac"],
    "~ 0 + a + z": ["aa", "ab", "ac", "zTRUE"],
    "~ a*z - a": ["(Intercept)", "zTRUE", "ab:zFALSE", "ac:zFALSE", "ab:zTRUE", "ac:zTRUE"],
    "~ z + a + a:z": ["(Intercept)", "zTRUE", "ab", "ac", "zTRUE:ab", "zTRUE:ac"],
    "~ a:z": [
        "(Intercept)",
        "aa:zFALSE",
        "ab:zFALSE",
        "ac:zFALSE",
        "aa:zTRUE",
        "ab:zTRUE",
        "ac:zTRUE",
    ],
    "~ 0 + a:z": ["aa:zFALSE", "ab:zFALSE", "ac:zFALSE", "aa:zTRUE", "ab:zTRUE", "ac:zTRUE"],
    "~ I(x^2):a + x": ["(Intercept)", "x", "I(x^2):aa", "I(x^2):ab", "I(x^2):ac"],
    "~ (a + b + z)^2": [
        "(Intercept)",
        "ab",
        "ac",
        "bv",
        "zTRUE",
        "ab:bv",
        "ac:bv",
        "ab:zTRUE",
        "ac:zTRUE",
        "bv:zTRUE",
    ],
    "~ a/x": ["(Intercept)", "ab", "ac", "aa:x", "ab:x", "ac:x"],
    "~ log(x + 1) + exp(-x) + I(x >= 2)": ["(Intercept)", "log(x + 1)", "exp(-x)", "I(x >= 2)TRUE"],
    "~ factor(s)": ["(Intercept)", "factor(s)2", "factor(s)10"],
    "~ o": ["(Intercept)", "o.L", "o.Q", "o.C"],
    "~ 0 + o": ["olo", "omid", "ohi", "otop"],
    "~ o:a": [
        "(Intercept)",
        "olo:aa",
        "omid:aa",
        "ohi:aa",
        "otop:aa",
        "olo:ab",
        "omid:ab",
        "ohi:ab",
        "otop:ab",
        "olo:ac",
        "omid:ac",
        "ohi:ac",
        "otop:ac",
    ],
    "~ x*o": ["(Intercept)", "x", "o.L", "o.Q", "o.C", "x:o.L", "x:o.Q", "x:o.C"],
    "~ scale(x)": ["(Intercept)", "scale(x)"],
    "~ a*b*z": [
        "(Intercept)",
        "ab",
        "ac",
        "bv",
        "zTRUE",
        "ab:bv",
        "ac:bv",
        "ab:zTRUE",
        "ac:zTRUE",
        "bv:zTRUE",
        "ab:bv:zTRUE",
        "ac:bv:zTRUE",
    ],
    "~ b:a + a": ["(Intercept)", "ab", "ac", "bv:aa", "bv:ab", "bv:ac"],
    "~ 0 + x + a": ["x", "aa", "ab", "ac"],
    "~ a + x %in% a": ["(Intercept)", "ab", "ac", "aa:x", "ab:x", "ac:x"],
    "~ poly(x, 2)": ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2"],
    "~ x + sqrt(x) + abs(x - 2)": ["(Intercept)", "x", "sqrt(x)", "abs(x - 2)"],
    "~ a*o": [
        "(Intercept)",
        "ab",
        "ac",
        "o.L",
        "o.Q",
        "o.C",
        "ab:o.L",
        "ac:o.L",
        "ab:o.Q",
        "ac:o.Q",
        "ab:o.C",
        "ac:o.C",
    ],
}

# R 4.2.2: model.matrix(f, d) for some of them; rows separated by ';'.
R_VALUES = {
    "~ a*z - a": """
    1 1 0 0 1 0 ; 1 0 0 0 0 0 ; 1 0 0 1 0 0 ; 1 1 0 0 1 0 ; 1 1 0 0 0 0 ; 1 0 0 1 0 0 ; 1 1
    0 0 0 0 ; 1 0 1 0 0 0 ; 1 1 0 0 0 1 ; 1 1 0 0 0 0 ; 1 0 1 0 0 0 ; 1 0 0 1 0 0
    """,
    "~ I(x^2):a + x": """
    1 0.5 0 0.25 0 ; 1 1 1 0 0 ; 1 1.5 0 0 2.25 ; 1 2.0 0 4.0 0 ; 1 2.5 6.25 0 0 ; 1 3.0 0 0
    9.0 ; 1 0.25 0.0625 0 0 ; 1 4.0 0 16.0 0 ; 1 1.2 0 0 1.44 ; 1 2.2 4.84 0 0 ; 1 3.3 0
    10.89 0 ; 1 0.7 0 0 0.49
    """,
    "~ log(x + 1) + exp(-x) + I(x >= 2)": """
    1 0.405465108108164 0.606530659712633 0 ; 1 0.693147180559945 0.367879441171442 0 ; 1
    0.916290731874155 0.22313016014843 0 ; 1 1.09861228866811 0.135335283236613 1 ; 1
    1.25276296849537 0.0820849986238988 1 ; 1 1.38629436111989 0.0497870683678639 1 ; 1
    0.22314355131421 0.778800783071405 0 ; 1 1.6094379124341 0.0183156388887342 1 ; 1
    0.78845736036427 0.301194211912202 0 ; 1 1.16315080980568 0.110803158362334 1 ; 1
    1.45861502269952 0.03688316740124 1 ; 1 0.53062825106217 0.49658530379141 0
    """,
    "~ x*o": """
    1 0.5 -0.670820393249937 0.5 -0.223606797749979 -0.335410196624968 0.25
    -0.111803398874989 ; 1 1 -0.223606797749979 -0.5 0.670820393249937 -0.223606797749979
    -0.5 0.670820393249937 ; 1 1.5 0.223606797749979 -0.5 -0.670820393249937
    0.335410196624968 -0.75 -1.00623058987491 ; 1 2.0 0.670820393249937 0.5
    0.223606797749979 1.34164078649987 1 0.447213595499958 ; 1 2.5 -0.670820393249937 0.5
    -0.223606797749979 -1.67705098312484 1.25 -0.559016994374947 ; 1 3.0 -0.223606797749979
    -0.5 0.670820393249937 -0.670820393249937 -1.5 2.01246117974981 ; 1 0.25
    0.223606797749979 -0.5 -0.670820393249937 0.0559016994374947 -0.125 -0.167705098312484 ;
    1 4.0 0.670820393249937 0.5 0.223606797749979 2.68328157299975 2.0 0.894427190999916 ; 1
    1.2 -0.670820393249937 0.5 -0.223606797749979 -0.804984471899924 0.6 -0.268328157299975
    ; 1 2.2 -0.223606797749979 -0.5 0.670820393249937 -0.491934955049954 -1.1
    1.47580486514986 ; 1 3.3 0.223606797749979 -0.5 -0.670820393249937 0.73790243257493
    -1.65 -2.21370729772479 ; 1 0.7 0.670820393249937 0.5 0.223606797749979
    0.469574275274956 0.35 0.156524758424985
    """,
    "~ scale(x)": """
    1 -1.13058258693537 ; 1 -0.710551904482603 ; 1 -0.290521222029833 ; 1 0.129509460422938
    ; 1 0.549540142875708 ; 1 0.969570825328479 ; 1 -1.34059792816176 ; 1 1.80963219023402 ;
    1 -0.542539631501495 ; 1 0.297521733404046 ; 1 1.22158923480014 ; 1 -0.962570313954266
    """,
    "~ poly(x, 2)": """
    1 -0.340883475943091 0.245899492483966 ; 1 -0.214239460112841 -0.0612867533742371 ; 1
    -0.0875954442825899 -0.249294918517638 ; 1 0.0390485715476606 -0.318125002946236 ; 1
    0.165692587377911 -0.267777006660032 ; 1 0.292336603208162 -0.0982509296590253 ; 1
    -0.404205483858216 0.444184395681119 ; 1 0.545624634868663 0.598335466487396 ; 1
    -0.16358185378074 -0.150791389117374 ; 1 0.0897061778797609 -0.312287174117531 ; 1
    0.368323012706312 0.060670195284684 ; 1 -0.290225869610991 0.108723624454909
    """,
    "~ o:a": """
    1 0 0 0 0 1 0 0 0 0 0 0 0 ; 1 0 1 0 0 0 0 0 0 0 0 0 0 ; 1 0 0 0 0 0 0 0 0 0 0 1 0 ; 1 0
    0 0 0 0 0 0 1 0 0 0 0 ; 1 1 0 0 0 0 0 0 0 0 0 0 0 ; 1 0 0 0 0 0 0 0 0 0 1 0 0 ; 1 0 0 1
    0 0 0 0 0 0 0 0 0 ; 1 0 0 0 0 0 0 0 1 0 0 0 0 ; 1 0 0 0 0 0 0 0 0 1 0 0 0 ; 1 0 1 0 0 0
    0 0 0 0 0 0 0 ; 1 0 0 0 0 0 0 1 0 0 0 0 0 ; 1 0 0 0 0 0 0 0 0 0 0 0 1
    """,
    "~ 0 + a:z": """
    0 0 0 0 1 0 ; 1 0 0 0 0 0 ; 0 0 1 0 0 0 ; 0 0 0 0 1 0 ; 0 0 0 1 0 0 ; 0 0 1 0 0 0 ; 0 0
    0 1 0 0 ; 0 1 0 0 0 0 ; 0 0 0 0 0 1 ; 0 0 0 1 0 0 ; 0 1 0 0 0 0 ; 0 0 1 0 0 0
    """,
    "~ factor(s)": """
    1 0 0 ; 1 1 0 ; 1 0 1 ; 1 1 0 ; 1 0 0 ; 1 0 1 ; 1 0 0 ; 1 1 0 ; 1 0 1 ; 1 1 0 ; 1 0 0 ;
    1 0 1
    """,
    "~ x + sqrt(x) + abs(x - 2)": """
    1 0.5 0.707106781186548 1.5 ; 1 1 1 1 ; 1 1.5 1.22474487139159 0.5 ; 1 2.0
    1.4142135623731 0 ; 1 2.5 1.58113883008419 0.5 ; 1 3.0 1.73205080756888 1 ; 1 0.25 0.5
    1.75 ; 1 4.0 2.0 2.0 ; 1 1.2 1.09544511501033 0.8 ; 1 2.2 1.48323969741913 0.2 ; 1 3.3
    1.81659021245849 1.3 ; 1 0.7 0.836660026534076 1.3
    """,
}

# lme4 1.1-31 lFormula(f, d): grouping factors (names, levels, 1-based codes), cnms.
R_RANDOM = {
    "y ~ 1 + (x + a || g)": {
        "names": ["g"],
        "cnms": [["(Intercept)"], ["x"], ["aa", "ab", "ac"]],
        "levels": [["g1", "g2", "g3"]],
        "codes": [[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]],
    },
    "y ~ (0 + a | g)": {
        "names": ["g"],
        "cnms": [["aa", "ab", "ac"]],
        "levels": [["g1", "g2", "g3"]],
        "codes": [[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]],
    },
    "y ~ (a | g)": {
        "names": ["g"],
        "cnms": [["(Intercept)", "ab", "ac"]],
        "levels": [["g1", "g2", "g3"]],
        "codes": [[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]],
    },
    "y ~ (o | g)": {
        "names": ["g"],
        "cnms": [["(Intercept)", "o.L", "o.Q", "o.C"]],
        "levels": [["g1", "g2", "g3"]],
        "codes": [[1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]],
    },
    "y ~ (1 | a:b)": {
        "names": ["a:b"],
        "cnms": [["(Intercept)"]],
        "levels": [["a:u", "a:v", "b:u", "b:v", "c:u", "c:v"]],
        "codes": [[3, 2, 5, 4, 1, 6, 1, 4, 5, 2, 3, 6]],
    },
    "y ~ (1 | g/a)": {
        "names": ["a:g", "g"],
        "cnms": [["(Intercept)"], ["(Intercept)"]],
        "levels": [
            ["a:g1", "a:g2", "a:g3", "b:g1", "b:g2", "b:g3", "c:g1", "c:g2", "c:g3"],
            ["g1", "g2", "g3"],
        ],
        "codes": [[4, 1, 7, 4, 2, 8, 2, 5, 9, 3, 6, 9], [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]],
    },
    "y ~ (1 | s)": {
        "names": ["s"],
        "cnms": [["(Intercept)"]],
        "levels": [["1.5", "2", "10"]],
        "codes": [[1, 2, 3, 2, 1, 3, 1, 2, 3, 2, 1, 3]],
    },
    "y ~ (1|z)": {
        "names": ["z"],
        "cnms": [["(Intercept)"]],
        "levels": [["FALSE", "TRUE"]],
        "codes": [[2, 1, 1, 2, 2, 1, 2, 1, 2, 2, 1, 1]],
    },
    "y ~ (1 | s:a)": {
        "names": ["s:a"],
        "cnms": [["(Intercept)"]],
        "levels": [["1.5:a", "1.5:b", "2:a", "2:b", "10:c"]],
        "codes": [[2, 3, 5, 4, 1, 5, 1, 4, 5, 3, 2, 5]],
    },
}

R_CAKE_NAMES = [
    "(Intercept)",
    "recipeB",
    "recipeC",
    "temperature.L",
    "temperature.Q",
    "temperature.C",
    "temperature^4",
    "temperature^5",
    "recipeB:temperature.L",
    "recipeC:temperature.L",
    "recipeB:temperature.Q",
    "recipeC:temperature.Q",
    "recipeB:temperature.C",
    "recipeC:temperature.C",
    "recipeB:temperature^4",
    "recipeC:temperature^4",
    "recipeB:temperature^5",
    "recipeC:temperature^5",
]
R_CAKE = """
1 0 0 -0.597614304667197 0.545544725589981 -0.372677996249965 0.188982236504614
-0.0629940788348711 0 0 0 0 0 0 0 0 0 0 ; 1 1 0 -0.597614304667197 0.545544725589981
-0.372677996249965 0.188982236504614 -0.0629940788348711 -0.597614304667197 0 0.545544725589981
0 -0.372677996249965 0 0.188982236504614 0 -0.0629940788348711 0 ; 1 0 1 -0.597614304667197
0.545544725589981 -0.372677996249965 0.188982236504614 -0.0629940788348711 0 -0.597614304667197
0 0.545544725589981 0 -0.372677996249965 0 0.188982236504614 0 -0.0629940788348711 ; 1 0 0
-0.358568582800318 -0.109108945117996 0.521749194749951 -0.566946709513841 0.314970394174355 0 0
0 0 0 0 0 0 0 0 ; 1 1 0 -0.358568582800318 -0.109108945117996 0.521749194749951
-0.566946709513841 0.314970394174355 -0.358568582800318 0 -0.109108945117996 0 0.521749194749951
0 -0.566946709513841 0 0.314970394174355 0 ; 1 0 1 -0.358568582800318 -0.109108945117996
0.521749194749951 -0.566946709513841 0.314970394174355 0 -0.358568582800318 0 -0.109108945117996
0 0.521749194749951 0 -0.566946709513841 0 0.314970394174355 ; 1 0 0 -0.119522860933439
-0.436435780471985 0.298142396999972 0.377964473009228 -0.629940788348712 0 0 0 0 0 0 0 0 0 0 ;
1 1 0 -0.119522860933439 -0.436435780471985 0.298142396999972 0.377964473009228
-0.629940788348712 -0.119522860933439 0 -0.436435780471985 0 0.298142396999972 0
0.377964473009228 0 -0.629940788348712 0 ; 1 0 1 -0.119522860933439 -0.436435780471985
0.298142396999972 0.377964473009228 -0.629940788348712 0 -0.119522860933439 0 -0.436435780471985
0 0.298142396999972 0 0.377964473009228 0 -0.629940788348712 ; 1 0 0 0.119522860933439
-0.436435780471985 -0.298142396999972 0.377964473009227 0.629940788348712 0 0 0 0 0 0 0 0 0 0 ;
1 1 0 0.119522860933439 -0.436435780471985 -0.298142396999972 0.377964473009227
0.629940788348712 0.119522860933439 0 -0.436435780471985 0 -0.298142396999972 0
0.377964473009227 0 0.629940788348712 0 ; 1 0 1 0.119522860933439 -0.436435780471985
-0.298142396999972 0.377964473009227 0.629940788348712 0 0.119522860933439 0 -0.436435780471985
0 -0.298142396999972 0 0.377964473009227 0 0.629940788348712 ; 1 0 0 0.358568582800318
-0.109108945117996 -0.521749194749951 -0.566946709513841 -0.314970394174356 0 0 0 0 0 0 0 0 0 0
; 1 1 0 0.358568582800318 -0.109108945117996 -0.521749194749951 -0.566946709513841
-0.314970394174356 0.358568582800318 0 -0.109108945117996 0 -0.521749194749951 0
-0.566946709513841 0 -0.314970394174356 0 ; 1 0 1 0.358568582800318 -0.109108945117996
-0.521749194749951 -0.566946709513841 -0.314970394174356 0 0.358568582800318 0
-0.109108945117996 0 -0.521749194749951 0 -0.566946709513841 0 -0.314970394174356 ; 1 0 0
0.597614304667197 0.545544725589981 0.372677996249965 0.188982236504614 0.0629940788348713 0 0 0
0 0 0 0 0 0 0 ; 1 1 0 0.597614304667197 0.545544725589981 0.372677996249965 0.188982236504614
0.0629940788348713 0.597614304667197 0 0.545544725589981 0 0.372677996249965 0 0.188982236504614
0 0.0629940788348713 0 ; 1 0 1 0.597614304667197 0.545544725589981 0.372677996249965
0.188982236504614 0.0629940788348713 0 0.597614304667197 0 0.545544725589981 0 0.372677996249965
0 0.188982236504614 0 0.0629940788348713
"""

R_SLEEP_NAMES = ["(Intercept)", "Days", "I(Days^2)", "log(Days + 1)"]
R_SLEEP = """
1 0 0 0 ; 1 1 1 0.693147180559945 ; 1 2.0 4.0 1.09861228866811 ; 1 3.0 9.0 1.38629436111989 ; 1
4.0 16.0 1.6094379124341 ; 1 5.0 25.0 1.79175946922805 ; 1 6.0 36.0 1.94591014905531 ; 1 7.0
49.0 2.07944154167984 ; 1 8.0 64.0 2.19722457733622 ; 1 9.0 81.0 2.30258509299405
"""


# --- fixed effects: R's model.matrix -------------------------------------------------


@pytest.mark.parametrize("rhs", list(R_COLNAMES))
def test_fixed_column_names_match_r(rhs):
    design = build_design("y " + rhs, small_data())
    assert design.fixef_names == R_COLNAMES[rhs]
    assert design.X.shape == (12, len(R_COLNAMES[rhs]))


@pytest.mark.parametrize("rhs", list(R_VALUES))
def test_fixed_values_match_r(rhs):
    design = build_design("y " + rhs, small_data())
    np.testing.assert_allclose(design.X, matrix(R_VALUES[rhs]), rtol=1e-12, atol=1e-13)


def cake_grid() -> pd.DataFrame:
    temps = ["175", "185", "195", "205", "215", "225"]
    rows = [(r, t) for t in temps for r in "ABC"]  # R's expand.grid order
    d = pd.DataFrame(rows, columns=["recipe", "temperature"])
    d["temperature"] = pd.Categorical(d["temperature"], categories=temps, ordered=True)
    d["angle"] = 1.0
    return d


def test_cake_matches_r_model_matrix():
    design = build_design("angle ~ recipe * temperature", cake_grid())
    assert design.fixef_names == R_CAKE_NAMES
    np.testing.assert_allclose(design.X, matrix(R_CAKE), rtol=1e-12, atol=1e-14)


def test_sleepstudy_transforms_match_r_model_matrix():
    data = pd.DataFrame({"Days": np.arange(10), "Reaction": 1.0})
    design = build_design("Reaction ~ Days + I(Days^2) + log(Days+1)", data)
    assert design.fixef_names == R_SLEEP_NAMES
    np.testing.assert_allclose(design.X, matrix(R_SLEEP), rtol=1e-13)


def test_contr_poly_is_orthonormal_and_matches_r():
    for k in range(2, 9):
        c = contr_poly(k)
        np.testing.assert_allclose(c.T @ c, np.eye(k - 1), atol=1e-13)
        np.testing.assert_allclose(c.sum(axis=0), 0, atol=1e-13)
    # R: contr.poly(3)
    np.testing.assert_allclose(
        contr_poly(3),
        [[-7.071068e-01, 0.4082483], [0, -0.8164966], [7.071068e-01, 0.4082483]],
        atol=1e-7,
    )


def test_level_order_rules():
    data = pd.DataFrame(
        {
            "y": np.arange(6.0),
            "s": ["10", "2", "b", "B", "a", "10"],  # strings: code-point sort, as R in C locale
            "n": [10, 2, 1, 2, 10, 1],  # numbers: numeric sort
            "c": pd.Categorical(list("xyzxyz"), categories=["z", "y", "x", "w"]),
        }
    )
    d = build_design("y ~ 0 + s + (1 | n) + (1 | c)", data)
    assert d.fixef_names == ["s10", "s2", "sB", "sa", "sb"]
    assert d.terms[0].levels == ["1", "2", "10"]
    # Categorical order is kept; the unused level "w" is dropped.
    assert d.terms[1].levels == ["z", "y", "x"]
    assert d.terms[1].codes.tolist() == [2, 1, 0, 2, 1, 0]


def test_logical_columns_are_factors():
    d = build_design("y ~ z + (1 | z)", small_data())
    assert d.fixef_names == ["(Intercept)", "zTRUE"]
    assert d.terms[0].levels == ["FALSE", "TRUE"]


def test_single_level_factor_needing_contrasts_is_an_error():
    data = pd.DataFrame({"y": [1.0, 2, 3], "a": ["p", "p", "p"], "g": list("abc")})
    with pytest.raises(ValueError, match="single level"):
        build_design("y ~ a + (1 | g)", data)
    # Full dummy coding of a one-level factor is fine.
    assert build_design("y ~ 0 + a + (1 | g)", data).fixef_names == ["ap"]


def test_no_fixed_effects():
    d = build_design("y ~ 0 + (1 | g)", small_data())
    assert d.X.shape == (12, 0)
    assert d.fixef_names == []


# --- random terms: lme4's grouping factors and columns -----------------------------


@pytest.mark.parametrize("formula", list(R_RANDOM))
def test_random_terms_match_lme4(formula):
    ref = R_RANDOM[formula]
    design = build_design(formula, small_data())
    by_name = dict(zip(ref["names"], zip(ref["levels"], ref["codes"], strict=True), strict=True))
    assert sorted({t.group_name for t in design.terms}) == sorted(ref["names"])
    # lme4 sorts terms by number of levels; the design keeps formula order.
    assert sorted(map(tuple, (t.column_names for t in design.terms))) == sorted(
        map(tuple, ref["cnms"])
    )
    for term in design.terms:
        levels, codes = by_name[term.group_name]
        assert term.levels == levels
        assert (term.codes + 1).tolist() == codes
        assert term.codes.dtype == np.int64
        assert term.Z.dtype == np.float64
        assert term.Z.shape == (12, term.dim)


def test_random_term_matrices():
    d = build_design("y ~ x + (x | g) + (0 + a | b) + diag(o | g)", small_data())
    t0, t1, t2 = d.terms
    assert (t0.expr, t0.column_names, t0.structure) == ("x | g", ["(Intercept)", "x"], "us")
    np.testing.assert_array_equal(t0.Z, np.column_stack([np.ones(12), small_data()["x"]]))
    assert t1.column_names == ["aa", "ab", "ac"]
    np.testing.assert_array_equal(t1.Z.sum(axis=1), np.ones(12))
    assert (t2.structure, t2.column_names) == ("diag", ["(Intercept)", "o.L", "o.Q", "o.C"])
    np.testing.assert_allclose(t2.Z[:4, 1:], contr_poly(4))


def test_double_bar_terms_share_the_grouping():
    d = build_design("y ~ x + (x || g)", small_data())
    assert [t.expr for t in d.terms] == ["1 | g", "0 + x | g"]
    assert d.terms[0].levels == d.terms[1].levels
    assert d.terms[1].column_names == ["x"]


def read_reference(case: dict) -> pd.DataFrame:
    import mixedmodels as mm

    return mm.datasets.load(case["dataset"])


def lme4_cases() -> list[str]:
    out = []
    for path in sorted(REFERENCE.glob("*.json")):
        case = json.loads(path.read_text())
        engine = case.get("engine", "")
        lme4_like = any(k in engine for k in ("lme4", "blme", "lmerTest"))
        if lme4_like and "fixef" in case.get("results", {}):
            out.append(path.name)
    return out


def test_reference_cases_are_present():
    assert len(lme4_cases()) >= 15


@pytest.mark.parametrize("name", lme4_cases())
def test_reference_cases(name):
    case = json.loads((REFERENCE / name).read_text())
    res = case["results"]
    design = build_design(case["formula"], read_reference(case))
    assert design.fixef_names == list(res["fixef"])
    if res.get("nobs") is not None:
        assert design.n_obs == res["nobs"]
    for term in design.terms:
        ranef = res.get("ranef", {}).get(term.group_name)
        if ranef is not None:
            assert term.n_levels == ranef["n_levels"]
            assert term.levels[:10] == ranef["levels"]
            assert set(term.column_names) <= set(ranef["terms"])


# --- response and offsets ------------------------------------------------------------


def test_response_forms():
    data = small_data().assign(n=10.0)
    d = build_design("log(y) ~ x + (1|g)", data)
    assert d.response_name == "log(y)"
    np.testing.assert_allclose(d.y, np.log(data["y"]))
    d = build_design("cbind(s, n - s) ~ x + (1|g)", data)
    assert d.response_name == "cbind(s, n - s)"
    assert d.y.shape == (12, 2)
    np.testing.assert_allclose(d.y[:, 1], 10 - data["s"])


def test_non_numeric_response_is_an_error_naming_it():
    with pytest.raises(ValueError, match="response 'a' is not numeric"):
        build_design("a ~ x + (1|g)", small_data())


def test_two_level_factor_response_is_coded_like_glmer():
    d = build_design("b ~ x + (1|g)", small_data())
    assert d.response_levels == ["u", "v"]
    assert d.y.tolist() == [0.0, 1.0] * 6
    assert build_design("y ~ x + (1|g)", small_data()).response_levels is None


def test_offsets_are_summed_and_not_columns():
    data = small_data().assign(n=np.arange(1.0, 13.0))
    d = build_design("y ~ x + offset(log(n)) + offset(x) + (1|g)", data)
    assert d.fixef_names == ["(Intercept)", "x"]
    np.testing.assert_allclose(d.offset, np.log(data["n"]) + data["x"])
    assert build_design("y ~ x + (1|g)", data).offset is None
    np.testing.assert_allclose(d.offset_for(data.iloc[:3]), d.offset[:3])
    assert build_design("y ~ x + (1|g)", data).offset_for(data) is None


# --- missing values and bad columns --------------------------------------------------


def test_missing_values_are_dropped_and_counted():
    data = small_data()
    data.loc[1, "y"] = np.nan
    data.loc[3, "x"] = np.nan
    data.loc[5, "g"] = None
    data.loc[7, "n"] = np.nan  # an unused column does not matter
    data.index = [f"r{i}" for i in range(12)]
    d = build_design("y ~ x + (1 | g)", data)
    assert d.n_dropped == 3
    assert d.n_obs == 9
    assert list(d.row_index) == [f"r{i}" for i in (0, 2, 4, 6, 7, 8, 9, 10, 11)]
    assert d.y.shape == (9,)
    assert d.terms[0].codes.shape == (9,)


def test_missing_in_offset_and_random_lhs_columns_are_dropped():
    data = small_data().assign(n=1.0, w=1.0)
    data.loc[0, "n"] = np.nan
    data.loc[1, "w"] = np.nan
    d = build_design("y ~ 1 + offset(n) + (w | g)", data)
    assert d.n_dropped == 2


def test_values_that_cannot_be_evaluated_are_missing_too():
    data = small_data()
    data.loc[0, "x"] = -1.0  # log(-1) is NaN: R's na.omit drops the row
    d = build_design("y ~ log(x) + (1|g)", data)
    assert d.n_dropped == 1
    assert d.row_index[0] == 1


def test_levels_absent_after_dropping_rows_are_dropped():
    data = small_data()
    data.loc[data["g"] == "g2", "y"] = np.nan
    data.loc[data["a"] == "c", "x"] = np.nan
    d = build_design("y ~ x + a + (1 | g) + (1 | a:b)", data)
    assert d.terms[0].levels == ["g1", "g3"]
    assert d.fixef_names == ["(Intercept)", "x", "ab"]
    assert all(":" in lev and not lev.startswith("c") for lev in d.terms[1].levels)


def test_empty_after_dropping_says_why():
    data = small_data()
    data["y"] = np.nan
    with pytest.raises(ValueError, match=r"all 12 rows were dropped.*'y': 12"):
        build_design("y ~ x + (1|g)", data)
    with pytest.raises(ValueError, match="no rows"):
        build_design("y ~ x + (1|g)", small_data().iloc[:0])


def test_unknown_column_is_named():
    with pytest.raises(FormulaError, match=r"column 'Dayz' .*not found in data; available: y, x"):
        build_design("y ~ Dayz + (1|g)", small_data())
    with pytest.raises(FormulaError, match="'gg'"):
        build_design("y ~ x + (1|gg)", small_data())
    with pytest.raises(FormulaError, match="'w'"):
        build_design("y ~ x + (w|g)", small_data())
    with pytest.raises(FormulaError, match="'n'"):
        build_design("y ~ x + offset(log(n)) + (1|g)", small_data())


def test_dot_is_not_supported():
    with pytest.raises(FormulaError, match=r"'\.' \(all other columns\)"):
        build_design("y ~ . + (1|g)", small_data())


def test_formula_without_response_is_an_error():
    with pytest.raises(FormulaError, match="no response"):
        build_design("~ x + (1|g)", small_data())


# --- new data ------------------------------------------------------------------------

FORMULA = "y ~ a * x + scale(x) + I(x^2) + o + (x | g) + (1 | a:b) + (0 + a || g)"


def test_new_data_reproduces_the_fitted_matrices():
    data = small_data()
    d = build_design(FORMULA, data)
    np.testing.assert_allclose(d.fixed_matrix(data), d.X)
    for (Z, codes), term in zip(d.random_matrices(data), d.terms, strict=True):
        np.testing.assert_allclose(Z, term.Z)
        np.testing.assert_array_equal(codes, term.codes)
    # A subset in another order: same rows of X (scale() keeps the fitted centre).
    sub = data.iloc[[5, 2, 9]]
    np.testing.assert_allclose(d.fixed_matrix(sub), d.X[[5, 2, 9]])
    pairs = d.random_matrices(sub)
    np.testing.assert_array_equal(pairs[1][1], d.terms[1].codes[[5, 2, 9]])


def test_new_data_unknown_levels():
    data = small_data()
    d = build_design(FORMULA, data)
    new = data.iloc[:2].copy()
    new["g"] = ["g9", "g1"]
    new["b"] = ["w", "u"]
    pairs = d.random_matrices(new)
    assert pairs[0][1].tolist() == [-1, 0]
    assert pairs[1][1][0] == -1 and pairs[1][1][1] >= 0
    bad = data.iloc[:2].assign(a=["zz", "a"])
    with pytest.raises(ValueError, match=r"column 'a' has level 'zz'"):
        d.fixed_matrix(bad)
    with pytest.raises(ValueError, match="'nope'"):
        d.fixed_matrix(data.iloc[:2].assign(o=["nope", "lo"]))


def test_new_data_with_missing_values_gives_nan_rows():
    data = small_data()
    d = build_design("y ~ a + x + (1 | g)", data)
    new = data.iloc[:3].copy()
    new.loc[new.index[0], "x"] = np.nan
    new.loc[new.index[1], "a"] = None
    new.loc[new.index[2], "g"] = None
    X = d.fixed_matrix(new)
    assert np.isnan(X[0]).any() and np.isnan(X[1]).any()
    np.testing.assert_allclose(X[2], d.X[2])
    assert d.random_matrices(new)[0][1].tolist() == [0, 0, -1]


def test_new_data_needs_only_the_columns_it_uses():
    data = small_data()
    d = build_design("y ~ x + (1 | g)", data)
    X = d.fixed_matrix({"x": [1.0, 2.0]})
    np.testing.assert_allclose(X, [[1, 1], [1, 2]])
    with pytest.raises(FormulaError, match="'x'"):
        d.fixed_matrix({"g": ["g1"]})


def test_new_data_numeric_group_and_string_types():
    data = pd.DataFrame({"y": np.arange(4.0), "id": [308, 309, 308, 310]})
    d = build_design("y ~ 1 + (1 | id)", data)
    assert d.terms[0].levels == ["308", "309", "310"]
    new = pd.DataFrame({"id": ["309", "311"]})
    assert d.random_matrices(new)[0][1].tolist() == [1, -1]


def test_design_survives_pickling():
    data = small_data()
    d = build_design(FORMULA, data)
    again = pickle.loads(pickle.dumps(d))
    np.testing.assert_allclose(again.fixed_matrix(data), d.X)
    np.testing.assert_array_equal(again.random_matrices(data)[1][1], d.terms[1].codes)


def test_design_fields():
    d = build_design("y ~ x + (1 | g)", small_data())
    assert isinstance(d, Design)
    assert d.formula == "y ~ x + (1 | g)"
    assert d.X.dtype == np.float64 and d.X.flags.c_contiguous
    assert d.y.dtype == np.float64
    assert d.n_obs == 12 and d.n_dropped == 0
    assert d.terms[0].n_levels == 3 and d.terms[0].dim == 1


# --- data conversion -----------------------------------------------------------------


def test_as_pandas_returns_pandas_unchanged():
    data = small_data()
    assert as_pandas(data) is data


def test_as_pandas_dict_and_errors():
    frame = as_pandas({"y": np.arange(3.0), "g": ["a", "b", "c"]})
    assert list(frame.columns) == ["y", "g"]
    with pytest.raises(TypeError, match="list"):
        as_pandas([1, 2, 3])
    with pytest.raises(TypeError, match=r"numpy\.ndarray"):
        as_pandas(np.zeros((3, 2)))


def test_as_pandas_pyarrow():
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"y": [1.0, 2.0, 3.0, 4.0], "g": ["a", "b", "a", "b"]})
    frame = as_pandas(table)
    assert isinstance(frame, pd.DataFrame)
    d = build_design("y ~ 1 + (1 | g)", table)
    assert d.terms[0].levels == ["a", "b"]


class _FakePolars:
    """Stands in for a polars DataFrame (duck typing on the module name)."""

    __module__ = "polars.dataframe.frame"

    def __init__(self, data: dict) -> None:
        self._data = data
        self.calls = 0

    def to_pandas(self) -> pd.DataFrame:
        self.calls += 1
        return pd.DataFrame(self._data)


def test_as_pandas_polars_by_duck_typing():
    fake = _FakePolars({"y": [1.0, 2.0, 3.0], "g": ["a", "b", "a"]})
    frame = as_pandas(fake)
    assert isinstance(frame, pd.DataFrame) and fake.calls == 1
    assert build_design("y ~ 1 + (1|g)", fake).n_obs == 3


def test_r_formatting_of_numbers():
    # R 4.2.2: as.character(x)
    cases = {
        1e5: "1e+05",
        2.0: "2",
        20.5: "20.5",
        1e-20: "1e-20",
        0.0001: "1e-04",
        0.001: "0.001",
        123456.0: "123456",
        0.1 + 0.2: "0.3",
        1 / 3: "0.333333333333333",
        -3.25: "-3.25",
        0.0: "0",
    }
    for value, text in cases.items():
        assert r_format_number(value) == text
    assert format_levels(np.array([2.0, 1e5, 1e6, 120000.0])) == ["2", "1e+05", "1e+06", "120000"]
    assert format_levels(np.array([100000, 2])) == ["100000", "2"]  # integers: no e-notation


def test_factorize():
    codes, levels, ordered = factorize(pd.Series(["b", None, "a"]))
    assert codes.tolist() == [1, -1, 0] and levels == ["a", "b"] and not ordered
    codes, levels, _ = factorize(pd.Series(pd.array([True, None, False], dtype="boolean")))
    assert codes.tolist() == [1, -1, 0] and levels == ["FALSE", "TRUE"]


# --- size (the time it takes is measured in benchmarks/design_bench.py) --------------


def test_build_design_on_a_million_rows():
    rng = np.random.default_rng(0)
    n = 1_000_000
    data = pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "f1": np.char.add("s", rng.integers(0, 20_000, n).astype(str)).astype(object),
            "f2": rng.integers(0, 1_000, n),
        }
    )
    d = build_design("y ~ x + (1|f1) + (1|f2)", data)
    assert d.terms[0].n_levels == 20_000 and d.terms[1].n_levels == 1_000
    assert d.n_obs == n and d.X.shape == (n, 2)
