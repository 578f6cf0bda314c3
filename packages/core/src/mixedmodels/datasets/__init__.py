"""Example data sets: the classics of lme4, nlme and friends, with R's exact types.

The core ships (small, gzip-compressed) the data sets of the mixedmodels reference cases:
``sleepstudy``, ``Dyestuff``, ``Dyestuff2``, ``Penicillin``, ``Pastes``, ``cake``,
``InstEval``, ``cbpp``, ``grouseticks`` and ``VerbAgg`` (lme4), ``Orthodont`` and
``Ovary`` (nlme), ``Owls`` and ``Salamanders`` (glmmTMB), ``dietox``, ``ohio`` and
``respiratory`` (geepack) and the simulated ``beta_sim`` and ``spatial_sim``.  Plugins add
more through the ``mixedmodels_datasets`` hook; every function here looks names up in the
plugin registry, so their data sets work the same way.

Loaded data have R's column types: factors are :class:`pandas.Categorical` with R's level
order and ordered flag (levels are strings, also when they look numeric), R integers are
``int64`` and R doubles ``float64``.  Level order matters: it fixes the reference level of
treatment contrasts and the order of random-effect levels.

Examples
--------
>>> from mixedmodels import datasets
>>> sleep = datasets.load("sleepstudy")
>>> sleep.shape
(180, 3)
>>> list(sleep["Subject"].cat.categories[:3])
['308', '309', '310']
>>> datasets.list()["name"].head(3).tolist()  # doctest: +SKIP
['sleepstudy', 'Dyestuff', 'Dyestuff2']
"""

from __future__ import annotations

import builtins
import re
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from ..interfaces import Dataset

__all__ = ["describe", "list", "load"]

# ``list`` below shadows the builtin inside this module.
_list = builtins.list

_KIND = "dataset"
_WIDTH = 88
# Abbreviations whose trailing period does not end a sentence.
_ABBREVIATIONS = frozenset({"e.g", "i.e", "al", "cf", "vs", "approx", "ca", "resp", "no", "fig"})
_SENTENCE_END = re.compile(r"[.!?]\s+(?=[A-Z0-9(\"'])")


def _lookup(name: str) -> Dataset:
    """Return the registered data set called ``name``.

    The name is matched exactly first; failing that, case-insensitively when exactly one
    registered name matches that way (``"dyestuff"`` finds ``"Dyestuff"``).

    Raises
    ------
    mixedmodels.plugin_manager.manager.UnknownNameError
        A :class:`KeyError` listing the registered data sets, if nothing matches.
    """
    from ..plugin_manager import manager as _plugins

    try:
        return _plugins.get_dataset(name)
    except _plugins.UnknownNameError:
        folded = name.casefold()
        matches = [ds for key, ds in _plugins.registry(_KIND).items() if key.casefold() == folded]
        if len(matches) == 1:
            return matches[0]
        # None, or ambiguous ("x" and "X" both registered): the registry's error lists
        # the registered names and suggests the near misses.
        raise


def _providers() -> dict[str, str]:
    """Map each registered data set to the distribution (else plugin) providing it."""
    from ..plugin_manager import manager as _plugins

    table = _plugins.plugins()
    table = table[table["kind"].isin([_KIND, "datasets"])]
    providers: dict[str, str] = {}
    for plugin, distribution, name in zip(
        table["plugin"], table["distribution"], table["name"], strict=True
    ):
        # In-process plugins have no distribution; their plugin name is all there is.
        providers[name] = distribution if isinstance(distribution, str) else plugin
    return providers


def _first_sentence(text: str) -> str:
    """Return the first sentence of a paragraph (all of it if there is one sentence)."""
    text = " ".join(text.split())
    for match in _SENTENCE_END.finditer(text):
        words = text[: match.start()].split()
        last = words[-1].lower() if words else ""
        # "O. L. Davies", "e.g. ", "et al. " do not end a sentence.
        if len(last) == 1 or last in _ABBREVIATIONS:
            continue
        return text[: match.start() + 1]
    return text


def load(name: str) -> pd.DataFrame:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        The registered name, e.g. ``"sleepstudy"``; matched exactly, or else
        case-insensitively (``"dyestuff"`` gives ``"Dyestuff"``).

    Returns
    -------
    pandas.DataFrame
        A new frame on every call (changing it does not change later loads).  Factor
        columns are categorical with R's level order and ordered flag.

    Raises
    ------
    KeyError
        (:class:`~mixedmodels.plugin_manager.manager.UnknownNameError`, also a
        :class:`ValueError`) if no data set of that name is registered; the message
        lists the registered names.

    Examples
    --------
    >>> from mixedmodels import datasets
    >>> datasets.load("Dyestuff")["Batch"].cat.categories.tolist()
    ['A', 'B', 'C', 'D', 'E', 'F']
    """
    import pandas as pd

    dataset = _lookup(name)
    frame = dataset.load()
    if not isinstance(frame, pd.DataFrame):
        # A plugin's loader broke the Dataset contract; say whose.
        raise TypeError(
            f"the loader of data set {dataset.name!r} ({_providers().get(dataset.name, '?')}) "
            f"returned {type(frame).__name__}, not a pandas DataFrame"
        )
    # Summaries print lme4's "Data:" line from this name.
    frame.attrs["name"] = dataset.name
    return frame


def list() -> pd.DataFrame:  # shadows the builtin on purpose: datasets.list(), like R's data()
    """List the registered data sets, built-in and from plugins.

    Returns
    -------
    pandas.DataFrame
        One row per data set, in registration order (built-ins first), with columns
        ``name``, ``rows`` (nullable integer: a plugin may not say), ``description``
        (its first sentence), ``source`` and ``provided_by`` (the distribution that
        registers it, e.g. ``"mixedmodels"`` for the built-ins).  Nothing is loaded.

    Examples
    --------
    >>> from mixedmodels import datasets
    >>> table = datasets.list()
    >>> "sleepstudy" in set(table["name"])
    True
    """
    import pandas as pd

    from ..plugin_manager import manager as _plugins

    registered = _plugins.registry(_KIND)
    providers = _providers()
    records = [
        {
            "name": name,
            "rows": ds.n_rows,
            "description": _first_sentence(ds.description),
            "source": ds.source,
            "provided_by": providers.get(name),
        }
        for name, ds in registered.items()
    ]
    frame = pd.DataFrame.from_records(
        records, columns=["name", "rows", "description", "source", "provided_by"]
    )
    frame["rows"] = frame["rows"].astype("Int64")
    return frame


def describe(name: str) -> str:
    """Describe a data set: what the rows and columns are, its size and its source.

    Parameters
    ----------
    name : str
        The registered name (looked up as in :func:`load`).

    Returns
    -------
    str
        A few wrapped paragraphs.  For the core's data sets it also lists the columns
        with their R types and factor levels; for others it says only what the
        :class:`~mixedmodels.interfaces.Dataset` record holds.  Nothing is loaded.

    Raises
    ------
    KeyError
        If no data set of that name is registered (see :func:`load`).

    Examples
    --------
    >>> from mixedmodels import datasets
    >>> print(datasets.describe("Dyestuff"))  # doctest: +SKIP
    """
    from ._registry import spec_for

    dataset = _lookup(name)
    spec = spec_for(dataset)
    wrap = textwrap.TextWrapper(width=_WIDTH, break_on_hyphens=False)
    head = dataset.name if spec is None else f"{dataset.name}: {spec.title}"
    lines = [head, "=" * min(len(head), _WIDTH), ""]
    lines += wrap.wrap(" ".join(dataset.description.split()))
    lines.append("")
    if dataset.n_rows is not None:
        lines.append(f"Rows: {dataset.n_rows}")
    if spec is not None:
        lines.append("Columns:")
        column_wrap = textwrap.TextWrapper(
            width=_WIDTH, initial_indent="  ", subsequent_indent="      ", break_on_hyphens=False
        )
        for col in spec.columns:
            text = f"{col.name} ({col.type.replace('_', ' ')})"
            if col.levels is not None:
                sep = " < " if col.ordered else ", "
                shown = _list(col.levels[:8])
                more = f"{sep}... ({len(col.levels)} levels)" if len(col.levels) > 8 else ""
                text += ": " + sep.join(shown) + more
            lines += column_wrap.wrap(text)
    lines.append("")
    lines += wrap.wrap("Source: " + " ".join(dataset.source.split()))
    provider = _providers().get(dataset.name)
    if provider is not None:
        lines.append(f"Provided by: {provider}")
    return "\n".join(lines)
