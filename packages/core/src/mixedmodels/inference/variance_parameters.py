"""The variance parameters of a fit on lme4's SD / correlation scale, and their names.

lme4's ``confint(fit, oldNames = FALSE)`` names: random-effect SDs
``sd_(Intercept)|Subject``, correlations ``cor_Days.(Intercept)|Subject``, the residual
SD ``sigma``; the map between theta and these parameters (:class:`_VarianceMap`) is
what profiles and bootstrap statistics are taken on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..generalized.criterion import GLMMProblem
from ..interfaces import FloatArray

__all__ = ["variance_parameter_names"]


# --- the variance parameters on the SD / correlation scale --------------------------------
@dataclass
class _Block:
    """Variance parameters of one random-effect term on the SD/correlation scale."""

    group: str
    columns: list[str]
    kind: str  # "us", "diag" or "scalar"
    pairs: list[tuple[int, int]]  # (row, col) of each parameter, lower triangle
    structure: Any


def _blocks(model: Any) -> list[_Block]:
    out = []
    # lme4's confint names use the grouping factor's name (also for the second term of
    # a `||` expansion), unless that would repeat a name.
    plain = [str(t.group_name) for t in model.terms]
    groups = (
        plain
        if len(set(plain)) == len(plain) or _distinct_columns(model)
        else list(model.group_names)
    )
    for t, s, group in zip(model.terms, model.structures, groups, strict=True):
        d = int(t.dim)
        name = getattr(s, "name", "")
        if d == 1:
            kind, pairs = "scalar", [(0, 0)]
        elif name == "us":
            cols, rows = np.triu_indices(d)
            kind = "us"
            pairs = [(int(r), int(c)) for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]
        elif name == "diag":
            kind, pairs = "diag", [(i, i) for i in range(d)]
        else:
            kind, pairs = name or "unknown", []
        out.append(_Block(str(group), [str(c) for c in t.column_names], kind, pairs, s))
    return out


def _distinct_columns(model: Any) -> bool:
    """Whether terms sharing a grouping factor have different columns (``||``)."""
    seen: set[tuple[str, str]] = set()
    for t in model.terms:
        for c in t.column_names:
            key = (str(t.group_name), str(c))
            if key in seen:
                return False
            seen.add(key)
    return True


def variance_parameter_names(result: Any, old: bool = False) -> list[str]:
    """Names of the random-effect SDs and correlations and of the residual SD.

    ``old=False``: lme4's ``oldNames = FALSE`` names (``sd_(Intercept)|Subject``,
    ``cor_Days.(Intercept)|Subject``, ``sigma``); ``old=True``: ``.sig01``, ...,
    ``.sigma``.
    """
    names = []
    for b in _blocks(result.model):
        if not b.pairs:
            cols, rows = np.triu_indices(len(b.columns))
            pairs = list(zip(rows.tolist(), cols.tolist(), strict=True))
        else:
            pairs = b.pairs
        for r, c in pairs:
            if r == c:
                names.append(f"sd_{b.columns[r]}|{b.group}")
            else:
                names.append(f"cor_{b.columns[r]}.{b.columns[c]}|{b.group}")
    sigma = _has_sigma(result)
    if old:
        width = max(2, len(str(len(names))))
        return [f".sig{i + 1:0{width}d}" for i in range(len(names))] + [".sigma"] * sigma
    return [*names, *["sigma"] * sigma]


def _has_sigma(result: Any) -> bool:
    """LMMs and GLMMs with a dispersion parameter report a residual SD (lme4's
    ``.sigma``); binomial, poisson and negative binomial GLMMs do not."""
    glmm = isinstance(getattr(result, "_problem", None), GLMMProblem)
    return not glmm or result.dispersion is not None


def _chol_psd(cov: FloatArray) -> FloatArray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots allowed)."""
    d = cov.shape[0]
    if d == 2:
        a, b, c = float(cov[0, 0]), float(cov[1, 0]), float(cov[1, 1])
        l11 = math.sqrt(a) if a > 0 else 0.0
        l21 = b / l11 if l11 > 0 else 0.0
        rest = c - l21 * l21
        return np.array([[l11, 0.0], [l21, math.sqrt(rest) if rest > 0 else 0.0]])
    L = np.zeros_like(cov)
    for j in range(d):
        s = cov[j, j] - L[j, :j] @ L[j, :j]
        if s <= 1e-14 * max(cov[j, j], 1e-300):
            L[j, j] = 0.0
            continue
        L[j, j] = math.sqrt(s)
        L[j + 1 :, j] = (cov[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return L


class _VarianceMap:
    """``psi`` (SDs, correlations, sigma) <-> ``(theta, sigma)`` for us/diag/scalar
    terms."""

    def __init__(self, model: Any) -> None:
        self.blocks = _blocks(model)
        bad = [b for b in self.blocks if not b.pairs]
        if bad:
            raise NotImplementedError(
                f"profile intervals on the SD/correlation scale need 'us' or 'diag' "
                f"covariance structures; term ({bad[0].group}) has {bad[0].kind!r}"
            )
        self.sizes = [len(b.pairs) for b in self.blocks]
        self.n = sum(self.sizes) + 1
        lower, upper = [], []
        for b in self.blocks:
            for r, c in b.pairs:
                lower.append(0.0 if r == c else -1.0)
                upper.append(np.inf if r == c else 1.0)
        self.lower = np.array([*lower, 0.0])
        self.upper = np.array([*upper, np.inf])
        # SDs (bounded below by 0) versus correlations; sigma counts as an SD here.
        self.sd_mask = np.isinf(self.upper)
        self.sd_mask[-1] = False
        self.cor_mask = ~self.sd_mask
        self.cor_mask[-1] = False

    def to_theta(self, psi: FloatArray) -> tuple[FloatArray, float]:
        sigma = float(psi[-1])
        thetas = []
        off = 0
        for b, k in zip(self.blocks, self.sizes, strict=True):
            vals = psi[off : off + k]
            off += k
            if b.kind in ("scalar", "diag"):
                thetas.append(np.asarray(vals) / sigma)
                continue
            d = len(b.columns)
            sd = np.zeros(d)
            corr = np.eye(d)
            for (r, c), v in zip(b.pairs, vals, strict=True):
                if r == c:
                    sd[r] = v
                else:
                    corr[r, c] = corr[c, r] = v
            cov = corr * np.outer(sd, sd) / sigma**2
            lam = _chol_psd(cov)
            thetas.append(np.array([lam[r, c] for r, c in b.pairs]))
        return np.concatenate(thetas), sigma

    def from_theta(self, theta: FloatArray, sigma: float) -> FloatArray:
        out = []
        off = 0
        for b, k in zip(self.blocks, self.sizes, strict=True):
            th = theta[off : off + k]
            off += k
            if b.kind in ("scalar", "diag"):
                out.extend((np.abs(th) * sigma).tolist())
                continue
            lam = np.asarray(b.structure.factor(th), dtype=np.float64)
            cov = lam @ lam.T * sigma**2
            sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
            for r, c in b.pairs:
                if r == c:
                    out.append(float(sd[r]))
                else:
                    den = sd[r] * sd[c]
                    out.append(float(cov[r, c] / den) if den > 0 else 0.0)
        return np.array([*out, sigma])


def _percent_labels(level: float) -> list[str]:
    """R's ``format.perc``: ``"2.5 %"``, ``"97.5 %"``."""
    a = (1.0 - level) / 2.0
    labels = []
    for p in (a, 1.0 - a):
        v = 100.0 * p
        text = f"{float(f'{v:.3g}'):f}".rstrip("0").rstrip(".")
        labels.append(f"{text} %")
    return labels
