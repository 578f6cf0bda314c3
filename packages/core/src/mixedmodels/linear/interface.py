"""The one interface of the LMM criteria: :class:`ProfiledCriterion`.

:class:`~mixedmodels.linear.criterion.LMMProblem` (blocked cross-products),
:class:`~mixedmodels.linear.dense.DenseLMMProblem` (one dense matrix) and
:class:`~mixedmodels.linear.residual.ResidualLMMProblem` (a residual correlation or
variance structure, or a GLS) all satisfy it; the fitter, the results and inference use
only its members.  Where the kind of residual structure matters they test
``problem.residual is not None``, not the class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..interfaces import FloatArray
from .criterion import Evaluation, LMMProblem, TermData
from .dense import DenseLMMProblem
from .residual import ResidualLMMProblem
from .sparse import SparseLMMProblem
from .standardized import StandardizedCriterion

if TYPE_CHECKING:
    from ..structures.residual import BoundResidual

__all__ = ["LINEAR_CRITERIA", "ProfiledCriterion", "is_linear_criterion"]


class ProfiledCriterion(Protocol):
    """The profiled deviance / REML criterion of a linear mixed model (or a GLS).

    The parameter vector is theta (lme4's, the random-effect structures' in term order)
    then the residual structure's parameters, if any.
    """

    #: Number of observations and of fixed effects.
    n: int
    p: int
    #: Columns of the dense block factorised per evaluation (sizes the BLAS threads).
    m: int
    terms: list[TermData]

    @property
    def residual(self) -> BoundResidual | None:
        """The residual correlation/variance structure, ``None`` when there is none."""
        ...

    @property
    def theta_sizes(self) -> list[int]: ...

    def start(self) -> FloatArray:
        """Default start of the parameter vector."""
        ...

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """Lower and upper bounds of the parameter vector."""
        ...

    def split_theta(self, theta: FloatArray) -> list[FloatArray]: ...

    def lambdas(self, theta: FloatArray) -> list[FloatArray]: ...

    def evaluate(
        self, theta: FloatArray, reml: bool, need_factor: bool = True
    ) -> Evaluation | None: ...

    def objective(self, theta: FloatArray, reml: bool) -> float: ...

    def gradient(self, theta: FloatArray, reml: bool) -> tuple[float, FloatArray | None]: ...

    def solve(self, ev: Evaluation) -> tuple[FloatArray, list[FloatArray], FloatArray]: ...

    def vcov_unscaled(self, ev: Evaluation) -> FloatArray: ...

    def conditional_variances(self, ev: Evaluation) -> list[FloatArray]: ...


#: The classes that implement :class:`ProfiledCriterion`.
LINEAR_CRITERIA: tuple[type, ...] = (
    LMMProblem,
    DenseLMMProblem,
    ResidualLMMProblem,
    SparseLMMProblem,
    StandardizedCriterion,
)


def is_linear_criterion(problem: Any) -> bool:
    """Whether ``problem`` is a linear mixed model's criterion (a fit's ``_problem``
    tells an LMM or GLS fit from a GLMM fit without importing the result classes)."""
    return isinstance(problem, LINEAR_CRITERIA)
