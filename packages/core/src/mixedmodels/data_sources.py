"""Data sources: plugins that take over the data path for data the core does not hold
in memory (a Dask frame, ...), decision 0022.

A source registers through the ``mixedmodels_data_sources`` hook; :func:`data_source_for`
finds the first that accepts the data.  Pandas frames never ask (the in-memory path).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["data_source_for"]


def data_source_for(data: Any) -> Any:
    """The registered data source that accepts ``data``, or ``None``."""
    if isinstance(data, pd.DataFrame):
        return None
    from .plugin_manager import manager as _plugins

    for source in _plugins.registry("data_source").values():
        if source.accepts(data):
            return source
    return None
