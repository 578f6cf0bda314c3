"""The public API, pinned: a change to it must be deliberate (and change this test).

The lists below are literal on purpose; update them together with the changelog when a
name is added to or removed from the public API.
"""

from __future__ import annotations

import importlib

import pytest

import mixedmodels
import mixedmodels as mm
import mixedmodels.estimators

MIXEDMODELS_ALL = [
    "BootstrapResult",
    "ConvergenceWarning",
    "DroppedRowsWarning",
    "FitError",
    "GLMMResult",
    "GLSResult",
    "LMMResult",
    "MixedModelsError",
    "MixedModelsWarning",
    "Model",
    "ModelSpecificationError",
    "RLRTResult",
    "RefitMLWarning",
    "SingularFitWarning",
    "__version__",
    "anova",
    "augment",
    "bootstrap",
    "check",
    "coef_table",
    "contest",
    "contrasts",
    "datasets",
    "emmeans",
    "exact_rlrt",
    "extending",
    "glance",
    "glmm",
    "gls",
    "hookimpl",
    "lmm",
    "pb_modcomp",
    "plot_caterpillar",
    "plot_coefficients",
    "plugins",
    "residual",
    "table",
    "testing",
    "tidy",
    "vcov_kenward_roger",
]

# The public modules and their ``__all__``, sorted.
PUBLIC_MODULES: dict[str, list[str]] = {
    "mixedmodels.extending": [
        "ChunkedGLMMProblem",
        "ColumnMoments",
        "CrossProducts",
        "FixedTermAssignment",
        "GLMMProblem",
        "Section",
        "StandardizedGLMMProblem",
        "Summary",
        "Tabular",
        "TermData",
        "announce_fit",
        "combine_chunks",
        "criterion_from_cross_products",
        "data_source_for",
        "finite_difference_derivatives",
        "fit_glmm",
        "fit_glmm_dispersion",
        "fit_glmm_nb",
        "fit_lmm_criterion",
        "fixed_matrix",
        "fixed_term_assignment",
        "format_coefmat",
        "format_matrix",
        "lmm_cross_products",
        "parallel_map",
        "r_format",
        "r_round",
        "refit",
        "render_table",
        "standardize_from_moments",
        "uses_dense",
    ],
    "mixedmodels.testing": [
        "Check",
        "DEFAULT_SEED",
        "PUBLIC_MODULES",
        "check_covariance_structure",
        "check_diagnostic",
        "check_estimator",
        "check_family",
        "check_link",
        "check_public_imports",
        "checks_for",
        "covariance_structure_checks",
        "diagnostic_checks",
        "estimator_checks",
        "family_checks",
        "link_checks",
        "parametrize_with_checks",
    ],
    "mixedmodels.interfaces": [
        "ConditionalFamily",
        "CovarianceStructure",
        "Dataset",
        "Diagnostic",
        "Estimator",
        "Family",
        "FloatArray",
        "Link",
        "ResidualCorrelation",
        "Tidier",
    ],
    "mixedmodels.covariance": [
        "AR1",
        "ARMA",
        "BUILTIN_STRUCTURES",
        "CAR1",
        "CompoundSymmetry",
        "Diagonal",
        "GeneralSymmetric",
        "HomogeneousCompoundSymmetry",
        "HomogeneousDiagonal",
        "ScaledCorrelation",
        "Toeplitz",
        "Unstructured",
        "arma_acf",
        "pacf_to_ar",
    ],
    "mixedmodels.residual": [
        "BoundResidual",
        "Correlation",
        "ResidualSpecError",
        "VarComb",
        "VarConstPower",
        "VarExp",
        "VarFixed",
        "VarIdent",
        "VarPower",
        "VarianceFunction",
        "bind_residual",
        "parse_correlation",
        "parse_variance",
    ],
    "mixedmodels.links": [
        "BUILTIN_LINKS",
        "CauchitLink",
        "CloglogLink",
        "IdentityLink",
        "InverseLink",
        "InverseSquaredLink",
        "LogLink",
        "LogitLink",
        "ProbitLink",
        "SqrtLink",
    ],
    "mixedmodels.formula": [
        "BarTerm",
        "FormulaError",
        "ModelTerms",
        "ParsedFormula",
        "RandomSpec",
        "deparse",
        "expr_variables",
        "model_terms",
        "parse_formula",
        "to_python",
    ],
    "mixedmodels.families": [
        "BUILTIN_FAMILIES",
        "BUILTIN_LINKS",
        "Binomial",
        "CauchitLink",
        "CloglogLink",
        "Gamma",
        "Gaussian",
        "IdentityLink",
        "InverseGaussian",
        "InverseLink",
        "InverseSquaredLink",
        "LogLink",
        "LogitLink",
        "NegativeBinomial",
        "Poisson",
        "ProbitLink",
        "SqrtLink",
    ],
    "mixedmodels.results": ["GLMMResult", "GLSResult", "LMMResult", "TMBResult"],
    "mixedmodels.datasets": ["describe", "list", "load"],
    "mixedmodels.estimators": [
        "AGQEstimator",
        "BUILTIN_ESTIMATORS",
        "FastEstimator",
        "GLMM_ESTIMATORS",
        "GLSEstimator",
        "LaplaceEstimator",
        "MLEstimator",
        "REMLEstimator",
        "TMBEstimator",
        "fit_lmm",
    ],
    "mixedmodels.model": ["Model", "RankDeficiencyWarning"],
}

# The hooks a plugin implements (``mixedmodels.hookspec`` has no ``__all__``).
HOOKS = [
    "mixedmodels_covariance_structures",
    "mixedmodels_data_sources",
    "mixedmodels_datasets",
    "mixedmodels_diagnostics",
    "mixedmodels_estimators",
    "mixedmodels_families",
    "mixedmodels_formatters",
    "mixedmodels_formula_rewriters",
    "mixedmodels_links",
    "mixedmodels_table_formats",
    "mixedmodels_tidiers",
]


def test_mixedmodels_all_is_pinned() -> None:
    assert sorted(mixedmodels.__all__) == MIXEDMODELS_ALL
    assert len(set(mixedmodels.__all__)) == len(mixedmodels.__all__)


@pytest.mark.parametrize("name", MIXEDMODELS_ALL)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(mixedmodels, name) is not None or name == "__version__"
    assert name in dir(mixedmodels)


@pytest.mark.parametrize("module", sorted(PUBLIC_MODULES))
def test_public_module_all_is_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == PUBLIC_MODULES[module]
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name} is in __all__ but missing"


def test_hookspec_exposes_the_hooks() -> None:
    hookspec = importlib.import_module("mixedmodels.hookspec")
    assert sorted(n for n in dir(hookspec) if n.startswith("mixedmodels_")) == HOOKS
    assert callable(hookspec.hookimpl) and callable(hookspec.hookspec)
    assert mixedmodels.hookimpl is hookspec.hookimpl


def test_estimators_fit_lmm_still_returns_a_result() -> None:
    """``mixedmodels.estimators.fit_lmm`` kept its contract when the algorithm moved to
    :mod:`mixedmodels.linear.fit` (which returns the fit's state)."""
    sleep = mm.datasets.load("sleepstudy")
    model = mm.Model("Reaction ~ Days + (Days | Subject)", sleep)
    fit = mixedmodels.estimators.fit_lmm(model)
    assert isinstance(fit, mm.LMMResult)
    assert fit.loglik == mm.lmm("Reaction ~ Days + (Days | Subject)", sleep).loglik


def test_the_kit_lists_the_public_modules() -> None:
    """The modules pinned here are those the kit lets plugins import."""
    from mixedmodels.testing import PUBLIC_MODULES as KIT_MODULES

    assert set(PUBLIC_MODULES) <= KIT_MODULES
    assert {"mixedmodels", "mixedmodels.hookspec", "mixedmodels.plugin_manager"} <= KIT_MODULES
