"""Tests of the lme4-style summary (:mod:`mixedmodels.output.summary`).

Expected text was produced once with R 4.2.2 / lme4 1.1-31 (``print(summary(fit))``)
and is copied below as literals, as are R's ``format()`` and ``abbreviate()`` results;
the tests never run R.  Two kinds of test:

* the formatter alone, on stand-in results carrying R's own estimates (so every
  printed digit must agree with R's, whatever our optimiser does);
* a real fit (sleepstudy, REML) whose whole summary must equal R's text.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

# Private: R's formatting helpers are tested digit by digit; stub results carry the
# optimiser's typed summary.
from mixedmodels.numerics.optimize import OptimizerSummary
from mixedmodels.output.rformat import _abbreviate, _r_format, _zapsmall
from mixedmodels.output.summary import format_summary


class StubResult:
    """A stand-in for :class:`~mixedmodels.LMMResult` holding R's numbers.

    ``residuals()`` returns R's five residual quantiles (whose quantiles are themselves),
    enough for the summary's "Scaled residuals" line.
    """

    def __init__(self, case: dict[str, Any]) -> None:
        self.reml = case["reml"]
        self.method = "REML" if self.reml else "ML"
        names = case["fixef_names"]
        self.fixef = pd.Series(case["fixef"], index=names, dtype=float)
        self.fixef_se = pd.Series(case["se"], index=names, dtype=float)
        vcov = np.asarray(case["vcov"]) if "vcov" in case else np.diag(np.square(case["se"]))
        self.vcov = pd.DataFrame(vcov, index=names, columns=names)
        self._groups = case["groups"]
        self.sigma = case["sigma"]
        self.loglik = case["loglik"]
        self.df = case["df"]
        self.nobs = case["nobs"]
        self.aic = -2 * self.loglik + 2 * self.df
        self.bic = -2 * self.loglik + np.log(self.nobs) * self.df
        self.deviance = case["deviance"]
        self.reml_criterion = case["reml_criterion"]
        self.ngrps = case["ngrps"]
        self._quantiles = np.asarray(case["resid_quantiles"])
        self.converged = True
        self.singular = False
        self.messages: list[str] = []
        self.optimizer = OptimizerSummary("lbfgsb", 0)
        data = pd.DataFrame()
        data.attrs["name"] = case["data"]
        self.model = SimpleNamespace(formula=case["formula"], data=data, dropped_columns=[])

    def covariance_matrices(self) -> dict[str, pd.DataFrame]:
        return {
            g: pd.DataFrame(np.asarray(m), index=cols, columns=cols) for g, cols, m in self._groups
        }

    def residuals(self, type: str = "response", scaled: bool = False) -> pd.Series:
        return pd.Series(self._quantiles)


# --- R's output, copied once (R 4.2.2, lme4 1.1-31) ------------------------------------
# format(x, digits = d) for each (x, d); abbreviate(names, minlength).
R_FORMAT = [
    (
        [612.1001580247688, 35.071714450938849, 654.94000825996079],
        4,
        ["612.10", " 35.07", "654.94"],
    ),
    ([1e-10, 1], 4, ["1e-10", "1e+00"]),
    ([123456789, 0.10000000000000001], 7, ["123456789.0", "        0.1"]),
    ([0.00012339999999999999], 4, ["0.0001234"]),
    ([-1.5, 2.25, 3], 7, ["-1.50", " 2.25", " 3.00"]),
    ([9.9995999999999992, 1.5], 4, ["10.0", " 1.5"]),
    ([99999.699999999997], 4, ["1e+05"]),
    ([9996], 3, ["9996"]),
    ([100000, 1.0000000000000001e-05], 4, ["1e+05", "1e-05"]),
    ([1000000000000000, 2], 7, ["1e+15", "2e+00"]),
    ([-1.2345e-05, 0.5], 3, ["-1.23e-05", " 5.00e-01"]),
    ([0, 0], 4, ["0", "0"]),
    ([1234567.1000000001], 7, ["1234567"]),
    ([0.30000000000000004], 7, ["0.3"]),
    ([1e-300, 1], 4, ["1e-300", " 1e+00"]),
    ([2.5000000000000001e120, 1], 4, ["2.5e+120", " 1.0e+00"]),
    ([174], 7, ["174"]),
    (
        [1763.9393444889899, 1783.0970855943301, -876, 1751.9000000000001, 174],
        7,
        ["1763.939", "1783.097", "-876.000", "1751.900", " 174.000"],
    ),
    (
        [
            -3.9535999999999998,
            -0.46339999999999998,
            0.023099999999999999,
            0.46339999999999998,
            5.1792999999999996,
        ],
        4,
        ["-3.9536", "-0.4634", " 0.0231", " 0.4634", " 5.1793"],
    ),
    ([1764.05, 2451.25], 4, ["1764", "2451"]),
    ([0.00012345600000000001, 123456], 4, ["1.235e-04", "1.235e+05"]),
    ([-9.9999999999999995e-21], 2, ["-1e-20"]),
    ([3.1415899999999999, -2.71828, 100], 2, ["  3.1", " -2.7", "100.0"]),
]
R_ABBREV_6 = [
    "(Intr)",
    "Days",
    "recipB",
    "recipC",
    "tmpr.L",
    "rcB:.L",
    "rcC:.L",
    "SexFml",
    "ag:SxF",
    "age",
    "log(x)",
    "I(D^2)",
    "prdpr2",
    "prdpr3",
    "x1",
    "x2",
    "x1:x2",
    "p(,2)1",
    "p(,2)2",
    "trtmntp",
    "trtmntc",
    "HEIGHT",
    "YEAR97",
    "YEAR98",
    "gndrMl",
    "btypsc",
    "btypsh",
    "sitslf",
    "a b c",
    "AngrTr",
    "x",
    "xAB",
    "xAC",
]
R_ABBREV_11 = [
    "(Intercept)",
    "Days",
    "recipeB",
    "recipeC",
    "temperatr.L",
    "rcpB:tmpr.L",
    "rcpC:tmpr.L",
    "SexFemale",
    "age:SexFeml",
    "age",
    "log(x)",
    "I(Days^2)",
    "periodperd2",
    "periodperd3",
    "x1",
    "x2",
    "x1:x2",
    "poly(x, 2)1",
    "poly(x, 2)2",
    "tretmntplcb",
    "treatmntctv",
    "HEIGHT_s",
    "YEAR97",
    "YEAR98",
    "genderMale",
    "btypescold",
    "btypeshout",
    "situself",
    "a b c",
    "AngerTrait",
    "x",
    "xAB",
    "xAC",
]
ABBREV_NAMES = [
    "(Intercept)",
    "Days",
    "recipeB",
    "recipeC",
    "temperature.L",
    "recipeB:temperature.L",
    "recipeC:temperature.L",
    "SexFemale",
    "age:SexFemale",
    "age",
    "log(x)",
    "I(Days^2)",
    "periodperiod2",
    "periodperiod3",
    "x1",
    "x2",
    "x1:x2",
    "poly(x, 2)1",
    "poly(x, 2)2",
    "treatmentplacebo",
    "treatmentactive",
    "HEIGHT_s",
    "YEAR97",
    "YEAR98",
    "genderMale",
    "btypescold",
    "btypeshout",
    "situself",
    "a b c",
    "AngerTrait",
    "x",
    "xAB",
    "xAC",
]

# The numbers of each fit (fixef, vcov, VarCorr, sigma, criteria, residual quantiles)
# and print(summary(fit)).
R_SUMMARIES: dict[str, dict[str, Any]] = {
    "sleepstudy_reml": {
        "formula": "Reaction ~ Days + (Days | Subject)",
        "data": "sleepstudy",
        "reml": True,
        "fixef_names": ["(Intercept)", "Days"],
        "fixef": [251.40510484848497, 10.467285959595987],
        "se": [6.8245966949549057, 1.5457896439059811],
        "vcov": [
            [46.575120048789422, -1.4510884166325206],
            [-1.4510884166325206, 2.3894656232069797],
        ],
        "groups": [
            (
                "Subject",
                ["(Intercept)", "Days"],
                [[612.1001580247688, 9.6044089511577564], [9.6044089511577564, 35.071714450938849]],
            ),
        ],
        "sigma": 25.59179572167535,
        "loglik": -871.81413597997596,
        "df": 6,
        "deviance": 1751.9858664319975,
        "reml_criterion": 1743.6282719599519,
        "nobs": 180,
        "ngrps": {"Subject": 18},
        "resid_quantiles": [
            -3.9535673453670297,
            -0.46339768312706581,
            0.023117664779438673,
            0.46340207815026713,
            5.1792603734114504,
        ],
        "expected": (
            "Linear mixed model fit by REML ['lmerMod']\n"
            "Formula: Reaction ~ Days + (Days | Subject)\n"
            "   Data: sleepstudy\n"
            "\n"
            "REML criterion at convergence: 1743.6\n"
            "\n"
            "Scaled residuals: \n"
            "    Min      1Q  Median      3Q     Max \n"
            "-3.9536 -0.4634  0.0231  0.4634  5.1793 \n"
            "\n"
            "Random effects:\n"
            " Groups   Name        Variance Std.Dev. Corr\n"
            " Subject  (Intercept) 612.10   24.741       \n"
            "          Days         35.07    5.922   0.07\n"
            " Residual             654.94   25.592       \n"
            "Number of obs: 180, groups:  Subject, 18\n"
            "\n"
            "Fixed effects:\n"
            "            Estimate Std. Error t value\n"
            "(Intercept)  251.405      6.825  36.838\n"
            "Days          10.467      1.546   6.771\n"
            "\n"
            "Correlation of Fixed Effects:\n"
            "     (Intr)\n"
            "Days -0.138\n"
        ),
    },
    "sleepstudy_ml": {
        "formula": "Reaction ~ Days + (Days | Subject)",
        "data": "sleepstudy",
        "reml": False,
        "fixef_names": ["(Intercept)", "Days"],
        "fixef": [251.40510484848565, 10.467285959595767],
        "se": [6.6321227421902904, 1.5022302138320407],
        "vcov": [
            [43.98505206747766, -1.3705104906415944],
            [-1.3705104906415944, 2.2566956153498587],
        ],
        "groups": [
            (
                "Subject",
                ["(Intercept)", "Days"],
                [
                    [565.47696613241919, 11.055122391953331],
                    [11.055122391953331, 32.681785248852677],
                ],
            ),
        ],
        "sigma": 25.591907036486965,
        "loglik": -875.96967224449543,
        "df": 6,
        "deviance": 1751.9393444889909,
        "reml_criterion": None,
        "nobs": 180,
        "ngrps": {"Subject": 18},
        "resid_quantiles": [
            -3.9415524167215854,
            -0.46558937562800795,
            0.028944755265825697,
            0.463614465396744,
            5.1793234291929489,
        ],
        "expected": (
            "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
            "Formula: Reaction ~ Days + (Days | Subject)\n"
            "   Data: sleepstudy\n"
            "\n"
            "     AIC      BIC   logLik deviance df.resid \n"
            "  1763.9   1783.1   -876.0   1751.9      174 \n"
            "\n"
            "Scaled residuals: \n"
            "    Min      1Q  Median      3Q     Max \n"
            "-3.9416 -0.4656  0.0289  0.4636  5.1793 \n"
            "\n"
            "Random effects:\n"
            " Groups   Name        Variance Std.Dev. Corr\n"
            " Subject  (Intercept) 565.48   23.780       \n"
            "          Days         32.68    5.717   0.08\n"
            " Residual             654.95   25.592       \n"
            "Number of obs: 180, groups:  Subject, 18\n"
            "\n"
            "Fixed effects:\n"
            "            Estimate Std. Error t value\n"
            "(Intercept)  251.405      6.632  37.907\n"
            "Days          10.467      1.502   6.968\n"
            "\n"
            "Correlation of Fixed Effects:\n"
            "     (Intr)\n"
            "Days -0.138\n"
        ),
    },
    "sleepstudy_uncorr": {
        "formula": "Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))",
        "data": "sleepstudy",
        "reml": True,
        "fixef_names": ["(Intercept)", "Days"],
        "fixef": [251.40510484848289, 10.467285959596026],
        "se": [6.8853808172372117, 1.5595690980685653],
        "vcov": [
            [47.408468998378176, -1.9805560625884102],
            [-1.9805560625884102, 2.4322557716503983],
        ],
        "groups": [
            ("Subject", ["(Intercept)"], [[627.56905083573008]]),
            ("Subject.1", ["Days"], [[35.858379639353345]]),
        ],
        "sigma": 25.565279201569599,
        "loglik": -871.83464679074052,
        "df": 5,
        "deviance": 1752.0468635127784,
        "reml_criterion": 1743.669293581481,
        "nobs": 180,
        "ngrps": {"Subject": 18},
        "resid_quantiles": [
            -3.9625872972023459,
            -0.4625171475371595,
            0.020398337366472074,
            0.46525730033373175,
            5.1860207013466706,
        ],
        "expected": (
            "Linear mixed model fit by REML ['lmerMod']\n"
            "Formula: Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))\n"
            "   Data: sleepstudy\n"
            "\n"
            "REML criterion at convergence: 1743.7\n"
            "\n"
            "Scaled residuals: \n"
            "    Min      1Q  Median      3Q     Max \n"
            "-3.9626 -0.4625  0.0204  0.4653  5.1860 \n"
            "\n"
            "Random effects:\n"
            " Groups    Name        Variance Std.Dev.\n"
            " Subject   (Intercept) 627.57   25.051  \n"
            " Subject.1 Days         35.86    5.988  \n"
            " Residual              653.58   25.565  \n"
            "Number of obs: 180, groups:  Subject, 18\n"
            "\n"
            "Fixed effects:\n"
            "            Estimate Std. Error t value\n"
            "(Intercept)  251.405      6.885  36.513\n"
            "Days          10.467      1.560   6.712\n"
            "\n"
            "Correlation of Fixed Effects:\n"
            "     (Intr)\n"
            "Days -0.184\n"
        ),
    },
    "dyestuff": {
        "formula": "Yield ~ 1 + (1 | Batch)",
        "data": "Dyestuff",
        "reml": True,
        "fixef_names": ["(Intercept)"],
        "fixef": [1527.5000000000009],
        "se": [19.383412178752796],
        "vcov": [[375.71666769142223]],
        "groups": [
            ("Batch", ["(Intercept)"], [[1764.050006427103]]),
        ],
        "sigma": 49.510099965634744,
        "loglik": -159.82713842112869,
        "df": 3,
        "deviance": 327.40394267435585,
        "reml_criterion": 319.65427684225739,
        "nobs": 30,
        "ngrps": {"Batch": 6},
        "resid_quantiles": [
            -1.4116947588802109,
            -0.76337203605725445,
            0.14183596706443041,
            0.77917743188477229,
            1.8296173613398292,
        ],
        "expected": (
            "Linear mixed model fit by REML ['lmerMod']\n"
            "Formula: Yield ~ 1 + (1 | Batch)\n"
            "   Data: Dyestuff\n"
            "\n"
            "REML criterion at convergence: 319.7\n"
            "\n"
            "Scaled residuals: \n"
            "    Min      1Q  Median      3Q     Max \n"
            "-1.4117 -0.7634  0.1418  0.7792  1.8296 \n"
            "\n"
            "Random effects:\n"
            " Groups   Name        Variance Std.Dev.\n"
            " Batch    (Intercept) 1764     42.00   \n"
            " Residual             2451     49.51   \n"
            "Number of obs: 30, groups:  Batch, 6\n"
            "\n"
            "Fixed effects:\n"
            "            Estimate Std. Error t value\n"
            "(Intercept)  1527.50      19.38    78.8\n"
        ),
    },
    "penicillin": {
        "formula": "diameter ~ 1 + (1 | plate) + (1 | sample)",
        "data": "Penicillin",
        "reml": True,
        "fixef_names": ["(Intercept)"],
        "fixef": [22.972222222213748],
        "se": [0.80859536142065114],
        "vcov": [[0.65382645851099341]],
        "groups": [
            ("plate", ["(Intercept)"], [[0.71690514087671853]]),
            ("sample", ["(Intercept)"], [[3.7311318426727684]]),
        ],
        "sigma": 0.54992268207048345,
        "loglik": -165.4302944998029,
        "df": 4,
        "deviance": 332.27006436780141,
        "reml_criterion": 330.8605889996058,
        "nobs": 144,
        "ngrps": {"plate": 24, "sample": 6},
        "resid_quantiles": [
            -2.0792336654783306,
            -0.67139685101406366,
            0.062922163829273667,
            0.58377120507032432,
            2.9795858051653354,
        ],
        "expected": (
            "Linear mixed model fit by REML ['lmerMod']\n"
            "Formula: diameter ~ 1 + (1 | plate) + (1 | sample)\n"
            "   Data: Penicillin\n"
            "\n"
            "REML criterion at convergence: 330.9\n"
            "\n"
            "Scaled residuals: \n"
            "     Min       1Q   Median       3Q      Max \n"
            "-2.07923 -0.67140  0.06292  0.58377  2.97959 \n"
            "\n"
            "Random effects:\n"
            " Groups   Name        Variance Std.Dev.\n"
            " plate    (Intercept) 0.7169   0.8467  \n"
            " sample   (Intercept) 3.7311   1.9316  \n"
            " Residual             0.3024   0.5499  \n"
            "Number of obs: 144, groups:  plate, 24; sample, 6\n"
            "\n"
            "Fixed effects:\n"
            "            Estimate Std. Error t value\n"
            "(Intercept)  22.9722     0.8086   28.41\n"
        ),
    },
    "pastes": {
        "formula": "strength ~ 1 + (1 | batch/cask)",
        "data": "Pastes",
        "reml": True,
        "fixef_names": ["(Intercept)"],
        "fixef": [60.053333333335438],
        "se": [0.67687021507403133],
        "vcov": [[0.45815328805436545]],
        "groups": [
            ("cask:batch", ["(Intercept)"], [[8.433665931294847]]),
            ("batch", ["(Intercept)"], [[1.6573109118337646]]),
        ],
        "sigma": 0.82340752344677781,
        "loglik": -123.49537292674351,
        "df": 4,
        "deviance": 248.03964436012438,
        "reml_criterion": 246.99074585348703,
        "nobs": 60,
        "ngrps": {"cask:batch": 30, "batch": 10},
        "resid_quantiles": [
            -1.4797760310752814,
            -0.51557797636310909,
            0.0094980485206041278,
            0.47199663944161829,
            1.3896958440711051,
        ],
        "expected": (
            "Linear mixed model fit by REML ['lmerMod']\n"
            "Formula: strength ~ 1 + (1 | batch/cask)\n"
            "   Data: Pastes\n"
            "\n"
            "REML criterion at convergence: 247\n"
            "\n"
            "Scaled residuals: \n"
            "    Min      1Q  Median      3Q     Max \n"
            "-1.4798 -0.5156  0.0095  0.4720  1.3897 \n"
            "\n"
            "Random effects:\n"
            " Groups     Name        Variance Std.Dev.\n"
            " cask:batch (Intercept) 8.434    2.9041  \n"
            " batch      (Intercept) 1.657    1.2874  \n"
            " Residual               0.678    0.8234  \n"
            "Number of obs: 60, groups:  cask:batch, 30; batch, 10\n"
            "\n"
            "Fixed effects:\n"
            "            Estimate Std. Error t value\n"
            "(Intercept)  60.0533     0.6769   88.72\n"
        ),
    },
    "cake": {
        "formula": "angle ~ recipe * temperature + (1 | recipe:replicate)",
        "data": "cake",
        "reml": True,
        "fixef_names": [
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
        ],
        "fixef": [
            33.122222222223932,
            -1.477777777779405,
            -1.5222222222238815,
            6.4303299182190781,
            -0.71284510810424107,
            -2.3255106965997778,
            -3.3512849940151468,
            -0.15118578920369311,
            0.45418687154703019,
            0.087650098017817563,
            -0.23276574958506099,
            1.2147462556470219,
            2.6932196528997414,
            2.6385602134497481,
            3.0237157840738162,
            3.1371051259765843,
            -0.66353763039397506,
            -1.6252472339396757,
        ],
        "se": [
            1.7368333974217856,
            2.456253346216402,
            2.456253346216402,
            1.1682151473705336,
            1.1682151473705307,
            1.1682151473705307,
            1.1682151473705311,
            1.1682151473705331,
            1.6521057051810906,
            1.6521057051810906,
            1.6521057051810883,
            1.6521057051810883,
            1.6521057051810883,
            1.6521057051810883,
            1.6521057051810883,
            1.6521057051810883,
            1.6521057051810903,
            1.6521057051810903,
        ],
        "groups": [
            ("recipe:replicate", ["(Intercept)"], [[41.837037179628446]]),
        ],
        "sigma": 4.524477810553309,
        "loglik": -819.31072994000874,
        "df": 20,
        "deviance": 1679.0518652547662,
        "reml_criterion": 1638.6214598800175,
        "nobs": 270,
        "ngrps": {"recipe:replicate": 45},
        "resid_quantiles": [
            -2.6466070134644322,
            -0.61081813121636597,
            -0.052065267505936319,
            0.56984837160783519,
            2.7537369625340742,
        ],
        "expected": (
            "Linear mixed model fit by REML ['lmerMod']\n"
            "Formula: angle ~ recipe * temperature + (1 | recipe:replicate)\n"
            "   Data: cake\n"
            "\n"
            "REML criterion at convergence: 1638.6\n"
            "\n"
            "Scaled residuals: \n"
            "     Min       1Q   Median       3Q      Max \n"
            "-2.64661 -0.61082 -0.05207  0.56985  2.75374 \n"
            "\n"
            "Random effects:\n"
            " Groups           Name        Variance Std.Dev.\n"
            " recipe:replicate (Intercept) 41.84    6.468   \n"
            " Residual                     20.47    4.524   \n"
            "Number of obs: 270, groups:  recipe:replicate, 45\n"
            "\n"
            "Fixed effects:\n"
            "                      Estimate Std. Error t value\n"
            "(Intercept)           33.12222    1.73683  19.070\n"
            "recipeB               -1.47778    2.45625  -0.602\n"
            "recipeC               -1.52222    2.45625  -0.620\n"
            "temperature.L          6.43033    1.16822   5.504\n"
            "temperature.Q         -0.71285    1.16822  -0.610\n"
            "temperature.C         -2.32551    1.16822  -1.991\n"
            "temperature^4         -3.35128    1.16822  -2.869\n"
            "temperature^5         -0.15119    1.16822  -0.129\n"
            "recipeB:temperature.L  0.45419    1.65211   0.275\n"
            "recipeC:temperature.L  0.08765    1.65211   0.053\n"
            "recipeB:temperature.Q -0.23277    1.65211  -0.141\n"
            "recipeC:temperature.Q  1.21475    1.65211   0.735\n"
            "recipeB:temperature.C  2.69322    1.65211   1.630\n"
            "recipeC:temperature.C  2.63856    1.65211   1.597\n"
            "recipeB:temperature^4  3.02372    1.65211   1.830\n"
            "recipeC:temperature^4  3.13711    1.65211   1.899\n"
            "recipeB:temperature^5 -0.66354    1.65211  -0.402\n"
            "recipeC:temperature^5 -1.62525    1.65211  -0.984\n"
        ),
    },
    "sleepstudy_quadratic": {
        "formula": "Reaction ~ Days + Days2 + (Days + Days2 | Subject)",
        "data": "sleep2",
        "reml": True,
        "fixef_names": ["(Intercept)", "Days", "Days2"],
        "fixef": [255.44937277778263, 7.4340850126204696, 0.33702232744160665],
        "se": [7.8148661333594136, 4.075582596306675, 0.41542064214274543],
        "vcov": [
            [61.072132682327911, -16.644640406452144, 1.6732501719961066],
            [-16.644640406452144, 16.610373499317859, -1.566714402773715],
            [1.6732501719961066, -1.566714402773715, 0.17257430991829095],
        ],
        "groups": [
            (
                "Subject",
                ["(Intercept)", "Days", "Days2"],
                [
                    [777.97116111645755, -164.92961593058124, 18.305002097195505],
                    [-164.92961593058124, 212.94505738027428, -19.340733500876194],
                    [18.305002097195505, -19.340733500876194, 2.1218791619681037],
                ],
            ),
        ],
        "sigma": 22.798992169477881,
        "loglik": -864.63849121857152,
        "df": 10,
        "deviance": 1737.6617745193751,
        "reml_criterion": 1729.276982437143,
        "nobs": 180,
        "ngrps": {"Subject": 18},
        "resid_quantiles": [
            -4.4914323129218161,
            -0.44241504487291278,
            0.045365221475373516,
            0.45766926547707981,
            4.913601801522959,
        ],
        "expected": (
            "Linear mixed model fit by REML ['lmerMod']\n"
            "Formula: Reaction ~ Days + Days2 + (Days + Days2 | Subject)\n"
            "   Data: sleep2\n"
            "\n"
            "REML criterion at convergence: 1729.3\n"
            "\n"
            "Scaled residuals: \n"
            "    Min      1Q  Median      3Q     Max \n"
            "-4.4914 -0.4424  0.0454  0.4577  4.9136 \n"
            "\n"
            "Random effects:\n"
            " Groups   Name        Variance Std.Dev. Corr       \n"
            " Subject  (Intercept) 777.971  27.892              \n"
            "          Days        212.945  14.593   -0.41      \n"
            "          Days2         2.122   1.457    0.45 -0.91\n"
            " Residual             519.794  22.799              \n"
            "Number of obs: 180, groups:  Subject, 18\n"
            "\n"
            "Fixed effects:\n"
            "            Estimate Std. Error t value\n"
            "(Intercept) 255.4494     7.8149  32.688\n"
            "Days          7.4341     4.0756   1.824\n"
            "Days2         0.3370     0.4154   0.811\n"
            "\n"
            "Correlation of Fixed Effects:\n"
            "      (Intr) Days  \n"
            "Days  -0.523       \n"
            "Days2  0.515 -0.925\n"
            "optimizer (nloptwrap) convergence code: 0 (OK)\n"
            "Model failed to converge with max|grad| = 0.229147 (tol = 0.002, component 1)\n"
            "\n"
        ),
    },
    "orthodont_ml": {
        "formula": "distance ~ age * Sex + (age | Subject)",
        "data": "nlme::Orthodont",
        "reml": False,
        "fixef_names": ["(Intercept)", "age", "SexFemale", "age:SexFemale"],
        "fixef": [
            16.340625000000401,
            0.78437499999998017,
            1.0321022727267333,
            -0.30482954545452073,
        ],
        "se": [0.98009085936931661, 0.082753895331968766, 1.5355072748035548, 0.12965043708533147],
        "vcov": [
            [
                0.96057809261928551,
                -0.071387437000890563,
                -0.96057809261928429,
                0.071387437000890452,
            ],
            [
                -0.071387437000890563,
                0.006848207192614442,
                0.071387437000890466,
                -0.0068482071926144333,
            ],
            [-0.96057809261928429, 0.071387437000890466, 2.3577825909746397, -0.17522370900218867],
            [
                0.071387437000890452,
                -0.0068482071926144333,
                -0.17522370900218867,
                0.016809235836417493,
            ],
        ],
        "groups": [
            (
                "Subject",
                ["(Intercept)", "age"],
                [
                    [4.5569633690917088, -0.19826925200642809],
                    [-0.19826925200642809, 0.023759520535665282],
                ],
            ),
        ],
        "sigma": 1.3100518657379012,
        "loglik": -213.90297543333568,
        "df": 8,
        "deviance": 427.80595086667137,
        "reml_criterion": None,
        "nobs": 108,
        "ngrps": {"Subject": 27},
        "resid_quantiles": [
            -3.3359889868726107,
            -0.41538812766565719,
            0.010393387176292953,
            0.4916938850174904,
            3.8581585828559164,
        ],
        "expected": (
            "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
            "Formula: distance ~ age * Sex + (age | Subject)\n"
            "   Data: nlme::Orthodont\n"
            "\n"
            "     AIC      BIC   logLik deviance df.resid \n"
            "   443.8    465.3   -213.9    427.8      100 \n"
            "\n"
            "Scaled residuals: \n"
            "    Min      1Q  Median      3Q     Max \n"
            "-3.3360 -0.4154  0.0104  0.4917  3.8582 \n"
            "\n"
            "Random effects:\n"
            " Groups   Name        Variance Std.Dev. Corr \n"
            " Subject  (Intercept) 4.55696  2.1347        \n"
            "          age         0.02376  0.1541   -0.60\n"
            " Residual             1.71624  1.3101        \n"
            "Number of obs: 108, groups:  Subject, 27\n"
            "\n"
            "Fixed effects:\n"
            "              Estimate Std. Error t value\n"
            "(Intercept)   16.34063    0.98009  16.673\n"
            "age            0.78437    0.08275   9.478\n"
            "SexFemale      1.03210    1.53551   0.672\n"
            "age:SexFemale -0.30483    0.12965  -2.351\n"
            "\n"
            "Correlation of Fixed Effects:\n"
            "            (Intr) age    SexFml\n"
            "age         -0.880              \n"
            "SexFemale   -0.638  0.562       \n"
            "age:SexFeml  0.562 -0.638 -0.880\n"
        ),
    },
}


# print(summary(lmer(Yield ~ 1 + (1 | Batch), Dyestuff2)))
R_DYESTUFF2 = (
    "Linear mixed model fit by REML ['lmerMod']\n",
    "Formula: Yield ~ 1 + (1 | Batch)\n",
    "   Data: Dyestuff2\n",
    "\n",
    "REML criterion at convergence: 161.8\n",
    "\n",
    "Scaled residuals: \n",
    "    Min      1Q  Median      3Q     Max \n",
    "-1.7648 -0.7806 -0.0809  0.6689  2.0907 \n",
    "\n",
    "Random effects:\n",
    " Groups   Name        Variance Std.Dev.\n",
    " Batch    (Intercept)  0.00    0.000   \n",
    " Residual             13.81    3.716   \n",
    "Number of obs: 30, groups:  Batch, 6\n",
    "\n",
    "Fixed effects:\n",
    "            Estimate Std. Error t value\n",
    "(Intercept)   5.6656     0.6784   8.352\n",
    "optimizer (nloptwrap) convergence code: 0 (OK)\n",
    "boundary (singular) fit: see help('isSingular')\n",
    "\n",
)


# --- R's number formatting --------------------------------------------------------------
@pytest.mark.parametrize(("values", "digits", "expected"), R_FORMAT)
def test_r_format_matches_r(values: list[float], digits: int, expected: list[str]) -> None:
    assert _r_format(values, digits) == expected


def test_r_format_nsmall_and_non_finite() -> None:
    # R: format(round(c(1, -0.1382), 3), nsmall = 3) -> " 1.000" "-0.138"
    assert _r_format([1.0, -0.138], nsmall=3) == [" 1.000", "-0.138"]
    assert _r_format([1.5, float("nan")], 4) == ["1.5", "NaN"]
    assert _r_format([float("inf")], 4) == ["Inf"]


def test_zapsmall_as_r_4_2() -> None:
    # R 4.2: zapsmall(c(5.17926, 1e-9), 5) -> 5.1793 0.0000
    assert _zapsmall([5.17926037, 1e-9], 5) == [5.1793, 0.0]


@pytest.mark.parametrize("minlength", [6, 11])
def test_abbreviate_matches_r(minlength: int) -> None:
    expected = R_ABBREV_6 if minlength == 6 else R_ABBREV_11
    assert _abbreviate(ABBREV_NAMES, minlength) == expected


# --- the formatter on R's own numbers -----------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [
        "sleepstudy_reml",
        "sleepstudy_ml",
        "sleepstudy_uncorr",
        "dyestuff",
        "penicillin",
        "pastes",
        "orthodont_ml",
    ],
)
def test_summary_text_matches_lme4(key: str) -> None:
    case = R_SUMMARIES[key]
    assert format_summary(StubResult(case)) == "".join(case["expected"])


def test_summary_hides_large_correlation_matrix_with_a_note() -> None:
    case = R_SUMMARIES["cake"]
    text = format_summary(StubResult(case))
    # lme4 prints the note as a message (stderr); the summary text carries it.
    assert text == "".join(case["expected"]) + (
        "\nCorrelation matrix not shown by default, as p = 18 > 12.\n"
        "Use format_summary(fit, correlation=True) or fit.vcov if you need it\n"
    )
    forced = format_summary(StubResult(case), correlation=True)
    assert "Correlation of Fixed Effects:" in forced
    assert "Correlation of Fixed Effects:" not in format_summary(
        StubResult(R_SUMMARIES["sleepstudy_reml"]), correlation=False
    )


def test_summary_three_by_three_correlations_and_convergence_failure() -> None:
    case = R_SUMMARIES["sleepstudy_quadratic"]
    stub = StubResult(case)
    stub.converged = False
    stub.optimizer = OptimizerSummary("nloptwrap", 0)
    failure = "Model failed to converge with max|grad| = 0.229147 (tol = 0.002, component 1)"
    stub.messages = [failure]
    expected = "".join(case["expected"])
    lme4_tail = f"optimizer (nloptwrap) convergence code: 0 (OK)\n{failure}\n\n"
    assert expected.endswith(lme4_tail)
    ours = f"optimizer (nloptwrap) convergence failure:\n{failure}\n"
    assert format_summary(stub) == expected[: -len(lme4_tail)] + ours


def test_summary_reports_singular_fit_and_dropped_columns_last() -> None:
    stub = StubResult(R_SUMMARIES["sleepstudy_reml"])
    stub.singular = True
    stub.messages = ["boundary (singular) fit: a variance is (near) zero"]
    stub.model.dropped_columns = ["x3"]
    lines = format_summary(stub).splitlines()
    assert lines[-3:] == [
        "fit warnings:",
        "fixed-effect model matrix is rank deficient so dropping 1 column / coefficient: x3",
        "boundary (singular) fit: see help('isSingular')",
    ]
    # The result's own wording of the singular message is not repeated.
    assert sum("singular" in line for line in lines) == 1


def test_summary_without_data_name_has_no_data_line() -> None:
    stub = StubResult(R_SUMMARIES["dyestuff"])
    stub.model.data.attrs.clear()
    text = format_summary(stub)
    assert "Data:" not in text
    assert text.splitlines()[:3] == [
        "Linear mixed model fit by REML ['lmerMod']",
        "Formula: Yield ~ 1 + (1 | Batch)",
        "",
    ]


def test_summary_uses_model_data_name_attribute() -> None:
    stub = StubResult(R_SUMMARIES["dyestuff"])
    stub.model.data_name = "dyes"
    assert "   Data: dyes\n" in format_summary(stub)


# --- a real fit -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def sleep_fit() -> Any:
    import mixedmodels as mm

    sleep = mm.datasets.load("sleepstudy")
    sleep.attrs["name"] = "sleepstudy"
    return mm.lmm("Reaction ~ Days + (Days | Subject)", sleep)


def test_real_fit_summary_equals_lme4(sleep_fit: Any) -> None:
    expected = "".join(R_SUMMARIES["sleepstudy_reml"]["expected"])
    text = format_summary(sleep_fit)
    # lme4's layout is summary(ddf="none"); the default adds lmerTest's df and p-values.
    assert sleep_fit.summary(ddf="none") == text
    assert str(sleep_fit) == sleep_fit.summary() == format_summary(sleep_fit, ddf="satterthwaite")
    got_lines, exp_lines = text.splitlines(), expected.splitlines()
    assert len(got_lines) == len(exp_lines)
    # The REML criterion is flat near the optimum: lme4 stops at theta_1 = 0.966742, the
    # optimum (to 1e-7) is 0.966733, so the 5th digit of the intercept variance may
    # differ (612.10 in lme4, 612.09 at the optimum).  Those two rows are compared
    # number by number (1e-4 relative) with the same layout; all other lines exactly.
    varcorr_rows = {12, 13, 14}
    assert exp_lines[12].startswith(" Subject  (Intercept)")
    for k, (got, exp) in enumerate(zip(got_lines, exp_lines, strict=True)):
        if k in varcorr_rows:
            assert len(got) == len(exp)
            words, exp_words = got.split(), exp.split()
            numbers = [i for i, w in enumerate(exp_words) if w[0].isdigit()]
            assert [w for i, w in enumerate(words) if i not in numbers] == [
                w for i, w in enumerate(exp_words) if i not in numbers
            ]
            np.testing.assert_allclose(
                [float(words[i]) for i in numbers],
                [float(exp_words[i]) for i in numbers],
                rtol=1e-4,
            )
        else:
            assert got == exp, f"line {k}"


def test_real_singular_fit_summary() -> None:
    import mixedmodels as mm

    dye2 = mm.datasets.load("Dyestuff2")
    dye2.attrs["name"] = "Dyestuff2"
    fit = mm.lmm("Yield ~ 1 + (1 | Batch)", dye2)
    assert fit.singular
    # R: print(summary(lmer(Yield ~ 1 + (1 | Batch), Dyestuff2))); lme4 adds the
    # optimizer's "convergence code: 0 (OK)" line before the singular message.
    assert format_summary(fit) == "".join(R_DYESTUFF2).replace(
        "optimizer (nloptwrap) convergence code: 0 (OK)\n", ""
    ).removesuffix("\n")


def test_real_rank_deficient_fit_summary() -> None:
    import mixedmodels as mm

    sleep = mm.datasets.load("sleepstudy")
    sleep["Days2"] = 2 * sleep["Days"]
    with pytest.warns(UserWarning, match="rank deficient"):
        fit = mm.lmm("Reaction ~ Days + Days2 + (Days | Subject)", sleep)
    (dropped,) = fit.model.dropped_columns
    lines = format_summary(fit).splitlines()
    assert lines[-2:] == [
        "fit warnings:",
        "fixed-effect model matrix is rank deficient so dropping 1 column / coefficient: "
        + dropped,
    ]


def test_real_ml_fit_summary_layout() -> None:
    import mixedmodels as mm

    fit = mm.lmm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"), reml=False)
    lines = format_summary(fit).splitlines()
    assert lines[0] == "Linear mixed model fit by maximum likelihood  ['lmerMod']"
    # The ML criteria agree with lme4's to the printed digit; the variance components of
    # this flat likelihood are compared in the estimator's tests, not here.
    assert "   Data: sleepstudy" in lines  # data sets carry their name
    start = lines.index("     AIC      BIC   logLik deviance df.resid ")
    assert lines[start : start + 3] == [
        "     AIC      BIC   logLik deviance df.resid ",
        "  1763.9   1783.1   -876.0   1751.9      174 ",
        "",
    ]
    assert "Number of obs: 180, groups:  Subject, 18" in lines
