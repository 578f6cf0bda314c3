"""The library's exception and warning classes, which users can catch and filter.

Errors
    :class:`MixedModelsError` is the base of every error the library raises on purpose;
    :class:`ModelSpecificationError` (also a :class:`ValueError`) says that the formula,
    the data or an argument cannot give a model that can be fitted, and names the
    culprit; :class:`FitError` (also a :class:`RuntimeError`) says that a well-specified
    model could not be fitted numerically, and why.

Warnings
    :class:`MixedModelsWarning` (a :class:`UserWarning`) is the base of the library's
    warnings: :class:`ConvergenceWarning` (the convergence check at the optimum failed)
    and :class:`SingularFitWarning` (a variance on the boundary, lme4's
    ``boundary (singular) fit``) are raised once per fit, e.g.::

        import warnings
        import mixedmodels as mm

        warnings.simplefilter("ignore", mm.SingularFitWarning)
        warnings.simplefilter("error", mm.ConvergenceWarning)
"""

from __future__ import annotations

__all__ = [
    "ConvergenceWarning",
    "FitError",
    "MixedModelsError",
    "MixedModelsWarning",
    "ModelSpecificationError",
    "SingularFitWarning",
]


class MixedModelsError(Exception):
    """Base class of the errors raised by mixedmodels (and its plugins)."""


class ModelSpecificationError(MixedModelsError, ValueError):
    """The formula, data or arguments do not specify a model that can be fitted: an
    unknown column or name, a bad value, a model that is not identifiable."""


class FitError(MixedModelsError, RuntimeError):
    """A valid model could not be fitted numerically (e.g. the criterion is not finite
    at any parameter value the optimiser tried)."""


class MixedModelsWarning(UserWarning):
    """Base class of the warnings raised by mixedmodels (and its plugins)."""


class ConvergenceWarning(MixedModelsWarning):
    """The optimiser stopped where the convergence check does not confirm a minimum
    (lme4's ``Model failed to converge``); the message says why."""


class DroppedRowsWarning(MixedModelsWarning):
    """Rows of the data were left out of the fit: rows with missing values in the
    model's columns, or rows with zero prior weight (or zero binomial trials), which
    contribute nothing to the likelihood.  The message gives the counts."""


class SingularFitWarning(MixedModelsWarning):
    """A random-effect covariance is on the boundary of its space (a zero variance or a
    correlation of +-1): lme4's ``boundary (singular) fit: see help('isSingular')``."""
