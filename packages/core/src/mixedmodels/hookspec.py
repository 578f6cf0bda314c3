# mypy: disable-error-code="empty-body"
"""Hook specifications: what a mixedmodels plugin may provide.

A plugin is a module (or class, or object) exposed under the entry-point group
``mixedmodels``::

    [project.entry-points.mixedmodels]
    myplugin = "mixedmodels_myplugin.plugin"

and implementing any of the hooks below with :data:`hookimpl`::

    from mixedmodels.hookspec import hookimpl

    @hookimpl
    def mixedmodels_families():
        return [TweedieFamily()]

The contract common to every hook:

* it takes no arguments and returns the objects it registers: a sequence for every
  hook except :func:`mixedmodels_formatters` and :func:`mixedmodels_table_formats`,
  which return a mapping from name to formatter; returning ``None`` registers nothing;
* it is called once per discovery (lazily, at the first look-up), one plugin at a time,
  and must only build and return objects: using the plugin registry from inside a hook
  is an error;
* each object is registered under a name (its ``name`` attribute, or as each hook
  says); two plugins registering one name in one registry is an error naming both;
* if a hook raises, or returns something this contract does not allow, the whole
  plugin is skipped with a :class:`~mixedmodels.plugin_manager.errors.MixedModelsPluginWarning`
  and none of its hooks' objects are registered.

The core registers its own built-ins through these very hooks (the ``builtin`` entry
point, :mod:`mixedmodels._builtin`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .interfaces import (
        CovarianceStructure,
        Dataset,
        Diagnostic,
        Estimator,
        Family,
        Link,
        Tidier,
    )

PROJECT = "mixedmodels"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mixedmodels_links() -> Sequence[Link] | None:
    """Return the links to register.

    Returns
    -------
    sequence of Link
        Instances of :class:`~mixedmodels.interfaces.Link`, each registered under its
        ``name``, e.g. ``"logit"``.  Each must pass :func:`mixedmodels.testing.check_link`.
    """


@hookspec
def mixedmodels_families() -> Sequence[Family] | None:
    """Return the families to register.

    Returns
    -------
    sequence of Family
        Instances of :class:`~mixedmodels.interfaces.Family`, each registered under its
        ``name``.  Its ``default_link`` and every name in its ``links`` must be
        registered links (by this or another plugin) by the time the family is used.
        Each must pass :func:`mixedmodels.testing.check_family`.
    """


@hookspec
def mixedmodels_covariance_structures() -> Sequence[type[CovarianceStructure]] | None:
    """Return the covariance-structure *classes* to register.

    Returns
    -------
    sequence of type
        Subclasses (not instances) of
        :class:`~mixedmodels.interfaces.CovarianceStructure`, each registered under its
        ``name``: the formula wrapper users write, e.g. ``us(x | g)``.  A class is
        instantiated per random-effect term as ``cls(dim, column_names)``.  Each must
        pass :func:`mixedmodels.testing.check_covariance_structure`.
    """


@hookspec
def mixedmodels_estimators() -> Sequence[Estimator] | None:
    """Return the estimators to register.

    Returns
    -------
    sequence of Estimator
        Instances of :class:`~mixedmodels.interfaces.Estimator`, each registered under
        its ``name``, which users pass as ``Model.fit(method=name)``.  Its
        ``supports(model)`` must return ``None`` or a message saying why the model
        cannot be fitted, and must not raise.  Each must pass
        :func:`mixedmodels.testing.check_estimator`.
    """


@hookspec
def mixedmodels_diagnostics() -> Sequence[Diagnostic] | None:
    """Return the diagnostics to register.

    Returns
    -------
    sequence of Diagnostic
        Instances of :class:`~mixedmodels.interfaces.Diagnostic`, each registered under
        its ``name``; each runs over a fitted result and returns a tidy
        :class:`pandas.DataFrame`.
    """


@hookspec
def mixedmodels_datasets() -> Sequence[Dataset] | None:
    """Return the data sets to register.

    Returns
    -------
    sequence of Dataset
        :class:`~mixedmodels.interfaces.Dataset` records, each registered under its
        ``name``.  The loader must return a new DataFrame on each call; it runs only
        when the data set is loaded, never at registration.
    """


@hookspec
def mixedmodels_tidiers() -> Sequence[Tidier] | None:
    """Return the tidiers to register, one per result type.

    Returns
    -------
    sequence of Tidier
        :class:`~mixedmodels.interfaces.Tidier` records whose ``result_type`` is a
        class.  Each is registered under that class's qualified name
        (``module.QualName``), not a ``name`` attribute.  :func:`mixedmodels.tidy`,
        ``glance`` and ``augment`` dispatch on the result's type: the most specific
        registered base class wins.
    """


@hookspec
def mixedmodels_formatters() -> Mapping[str, Callable[..., str]] | None:
    """Return the output formatters to register: a *mapping*, unlike the other hooks.

    Returns
    -------
    mapping of str to callable
        ``{name: formatter}`` with non-empty string keys, each formatter a
        ``callable(result) -> str`` registered under its key.  The keys are what the
        CLI's ``--format`` option accepts, e.g. ``{"text": ..., "json": ...}``.
    """


@hookspec
def mixedmodels_table_formats() -> Mapping[str, Callable[..., Any]] | None:
    """Return renderers of regression tables, by format name (a *mapping*).

    Returns
    -------
    mapping of str to callable
        ``{name: render}``, each ``render(tab)`` taking a
        :class:`mixedmodels.extending.Tabular` (the side-by-side table
        :func:`mixedmodels.table` assembled from the tidiers) and returning what
        ``mm.table(models, format=name)`` returns (text, or an object such as a
        great_tables ``GT``).  The core registers ``text``, ``markdown``, ``html`` and
        ``latex``.
    """


@hookspec
def mixedmodels_data_sources() -> Sequence[Any] | None:
    """Return data sources: objects that fit models on data the core does not hold in
    memory (decision 0022).

    Returns
    -------
    sequence
        Objects with a ``name`` (str), ``accepts(data) -> bool`` and
        ``lmm(formula, data, **arguments)`` (the arguments of :func:`mixedmodels.lmm`)
        returning the fit.  :func:`mixedmodels.lmm` hands its call to the first source
        that accepts ``data`` when ``data`` is not a pandas frame.
    """


@hookspec
def mixedmodels_formula_rewriters() -> Sequence[Any] | None:
    """Return formula rewriters: objects that turn syntax of another package into the
    core's before the model is built (spaMM's ``Matern(1 | x + y)`` with
    mixedmodels-spatial).

    Returns
    -------
    sequence
        Objects with a ``name`` (str) and ``rewrite(formula, data) -> (formula, data)``
        or ``None`` when the formula has none of their syntax (``data`` a pandas frame;
        a rewriter returns a new frame, never changes the one it is given).
        :class:`mixedmodels.Model` applies every registered rewriter, in name order,
        before it reads the formula; a rewriter raises
        :class:`mixedmodels.ModelSpecificationError` naming the term it cannot read.
    """
