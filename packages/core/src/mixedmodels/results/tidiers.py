"""The core's tidier registrations: each result class bound to its broom verbs.

The verbs live in :mod:`mixedmodels.output` and read a result by its attributes; the
binding to the result classes is made here, above both, and registered through the
``mixedmodels_tidiers`` hook of the built-in plugin.
"""

from __future__ import annotations

from ..interfaces import Tidier
from ..output.glmm_summary import augment_glmm, glance_glmm, tidy_glmm
from ..output.tidiers import augment_lmm, glance_lmm, tidy_lmm
from ..output.tmb_summary import augment_tmb, glance_tmb, tidy_tmb
from .glmm import GLMMResult
from .gls import GLS_TIDIERS
from .lmm import LMMResult
from .tmb import TMBResult

__all__ = ["BUILTIN_TIDIERS", "GLMM_TIDIERS", "GLS_TIDIERS", "LMM_TIDIERS", "TMB_TIDIERS"]

LMM_TIDIERS = [Tidier(LMMResult, tidy_lmm, glance_lmm, augment_lmm)]
GLMM_TIDIERS = [Tidier(GLMMResult, tidy_glmm, glance_glmm, augment_glmm)]
#: All of the core's tidiers, in registration order.
TMB_TIDIERS = [Tidier(TMBResult, tidy_tmb, glance_tmb, augment_tmb)]
BUILTIN_TIDIERS = [*LMM_TIDIERS, *GLMM_TIDIERS, *GLS_TIDIERS, *TMB_TIDIERS]
