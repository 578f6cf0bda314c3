"""mixedmodels-bayes: Bayesian linear and generalized linear mixed models.

brms's priors and output, NUTS on NumPyro/JAX for the full joint posterior, an exact
collapsed sampler for Gaussian linear mixed models, and blme's posterior modes::

    import mixedmodels as mm
    from mixedmodels_bayes import brm, prior

    fit = brm("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"),
              priors=[prior("normal(0, 20)", "b")], seed=1)
    print(fit.summary())

or ``mm.Model(formula, data).fit(method="nuts", priors=...)`` and
``fit(method="map")`` for blme's ``blmer``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "brm": "._estimator",
    "fit_nuts": "._estimator",
    "prior": "._priors",
    "Prior": "._priors",
    "PriorError": "._priors",
    "BayesResult": "._results",
    "BayesSummary": "._summary",
    "SamplingWarning": "._warnings",
    "blmer": "._map",
    "MAPResult": "._map",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not import JAX.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
