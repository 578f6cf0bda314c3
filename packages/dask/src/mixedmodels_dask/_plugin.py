"""Hook implementations: what mixedmodels-dask registers with mixedmodels.

The data source ``dask``: :func:`mixedmodels.lmm` hands a Dask frame to
:func:`mixedmodels_dask.lmm` (decision 0022).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from mixedmodels.hookspec import hookimpl


class DaskDataSource:
    """Fits on ``dask.dataframe.DataFrame`` data."""

    name: ClassVar[str] = "dask"
    description: ClassVar[str] = "exact fits on Dask frames (sums over partitions)"

    def accepts(self, data: Any) -> bool:
        from ._result import is_dask_frame

        return is_dask_frame(data) and hasattr(data, "map_partitions")

    def lmm(self, formula: str, data: Any, **arguments: Any) -> Any:
        from ._lmm import lmm

        return lmm(formula, data, **arguments)

    def glmm(self, formula: str, data: Any, **arguments: Any) -> Any:
        from ._glmm import glmm

        return glmm(formula, data, **arguments)

    def gee(self, formula: str, data: Any, **arguments: Any) -> Any:
        from ._gee import gee

        return gee(formula, data, **arguments)


@hookimpl
def mixedmodels_data_sources() -> Sequence[Any]:
    """The ``dask`` data source."""
    return [DaskDataSource()]
