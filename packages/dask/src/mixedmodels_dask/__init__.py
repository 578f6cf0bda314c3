"""mixedmodels-dask: exact mixed models on Dask frames that outgrow one machine.

A linear mixed model's profiled criterion needs only cross-products of ``[Z X y]``,
sums over rows: computed per partition and added, they give the same criterion as an
in-memory fit of all rows, and the core's fitter optimises it.

>>> import dask.dataframe as dd
>>> import mixedmodels as mm
>>> ddf = dd.from_pandas(mm.datasets.load("sleepstudy"), npartitions=4)
>>> fit = mm.lmm("Reaction ~ Days + (Days | Subject)", ddf)  # doctest: +SKIP
>>> round(fit.fixef["Days"], 4)  # doctest: +SKIP
10.4673
"""

from __future__ import annotations

from typing import Any

from ._gee import gee
from ._glmm import glmm
from ._lmm import lmm
from ._reduce import local_client
from ._result import DaskGLMMResult, DaskLMMResult

__all__ = [
    "DaskGEEResult",
    "DaskGLMMResult",
    "DaskLMMResult",
    "__version__",
    "gee",
    "glmm",
    "lmm",
    "local_client",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The GEE result subclasses the gee plugin's, an optional dependency.
    if name == "DaskGEEResult":
        from ._gee_result import DaskGEEResult

        return DaskGEEResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
