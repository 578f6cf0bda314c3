"""What every LMM criterion shares: a term's numbers (:class:`TermData`), one
evaluation's results (:class:`Evaluation`), and the data sizes and theta layout
(:class:`ThetaLayout`) that the blocked, dense, GLS and whitened criteria start from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..interfaces import CovarianceStructure, FloatArray

if TYPE_CHECKING:
    from ..model import Model
    from ..structures.residual import BoundResidual

__all__ = ["Evaluation", "TermData", "ThetaLayout", "model_term_data"]


@dataclass
class TermData:
    """Numeric content of one random-effect term."""

    codes: np.ndarray  # (n,) int level index
    n_levels: int
    Z: np.ndarray  # (n, p) raw model matrix
    structure: CovarianceStructure

    @property
    def dim(self) -> int:
        return int(self.Z.shape[1])

    @property
    def q(self) -> int:
        return self.n_levels * self.dim


def profiled_objective(
    logdet_L: float, logdet_RX: float, pwrss: float, n: int, p: int, reml: bool
) -> float:
    """The profiled deviance (ML) or REML criterion from the factor's log-determinants
    and the penalised residual sum of squares (lme4's ``devCrit``, before prior
    weights' log-determinant is subtracted)."""
    if reml:
        nmp = n - p
        return logdet_L + logdet_RX + nmp * (1.0 + np.log(2.0 * np.pi * pwrss / nmp))
    return logdet_L + n * (1.0 + np.log(2.0 * np.pi * pwrss / n))


@dataclass
class Evaluation:
    """Everything the criterion computes at one theta (kept for the optimum)."""

    theta: FloatArray
    objective: float
    logdet_L: float  # log |L_theta|^2
    logdet_RX: float  # log |R_X|^2
    pwrss: float  # penalised weighted residual sum of squares r^2
    L: FloatArray  # dense lower Cholesky factor of S
    class_T: FloatArray  # (ncls, p1, p1) l1' A11_c l1 + I
    lambdas: list[FloatArray]
    #: For problems with a residual structure: the evaluation of the whitened problem.
    inner: Evaluation | None = None


class ThetaLayout:
    """The data sizes every LMM criterion shares, where each term's parameters sit in
    theta, and the relative factors they give.

    Every problem class (blocked, dense, GLS, whitened) starts with
    :meth:`_set_data`, which sets ``n``, ``p``, ``terms``, the prior weights and
    ``_theta_index`` (the cumulative parameter counts).
    """

    n: int
    p: int
    terms: list[TermData]
    weights: FloatArray | None
    log_weights_sum: float
    _theta_index: list[int]
    n_theta: int
    #: No residual structure: the residuals are independent, with equal variances up to
    #: the prior weights (:class:`~mixedmodels.linear.residual.ResidualLMMProblem` has one).
    residual: BoundResidual | None = None

    def _set_data(
        self, X: FloatArray, terms: list[TermData], weights: FloatArray | None
    ) -> FloatArray:
        """Sizes, terms, prior weights and the theta layout; returns ``sqrt(weights)``
        (ones without weights), the row scaling of ``[Z X y]``."""
        log_weights_sum = 0.0 if weights is None else float(np.sum(np.log(weights)))
        self._set_sizes(X.shape[0], X.shape[1], terms, log_weights_sum)
        self.weights = weights
        return np.ones(self.n) if weights is None else np.sqrt(weights)

    def _set_sizes(self, n: int, p: int, terms: list[TermData], log_weights_sum: float) -> None:
        """Sizes, terms and the theta layout without the rows (criteria built from
        summed cross-products, :mod:`mixedmodels.linear.cross_products`)."""
        self.n, self.p = int(n), int(p)
        self.terms = terms
        self.weights = None
        self.log_weights_sum = float(log_weights_sum)
        self._theta_index = np.cumsum([0, *self.theta_sizes]).tolist()
        self.n_theta = int(self._theta_index[-1])

    @property
    def theta_sizes(self) -> list[int]:
        return [t.structure.n_params for t in self.terms]

    def start(self) -> FloatArray:
        """Each structure's default start, concatenated (lme4's theta)."""
        return np.concatenate([np.zeros(0), *[t.structure.start() for t in self.terms]])

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """Lower and upper bounds of theta."""
        lower = np.concatenate([np.zeros(0), *[t.structure.bounds()[0] for t in self.terms]])
        upper = np.concatenate([np.zeros(0), *[t.structure.bounds()[1] for t in self.terms]])
        return lower, upper

    def split_theta(self, theta: FloatArray) -> list[FloatArray]:
        idx = self._theta_index
        return [theta[idx[i] : idx[i + 1]] for i in range(len(self.terms))]

    def lambdas(self, theta: FloatArray) -> list[FloatArray]:
        return [
            t.structure.factor(th)
            for t, th in zip(self.terms, self.split_theta(theta), strict=True)
        ]


def model_term_data(model: Model) -> list[TermData]:
    """The numbers of each random-effect term of a :class:`~mixedmodels.model.Model`
    (codes, model matrix, covariance structure), in the model's term order."""
    return [
        TermData(t.codes, t.n_levels, t.Z, s)
        for t, s in zip(model.terms, model.structures, strict=True)
    ]
