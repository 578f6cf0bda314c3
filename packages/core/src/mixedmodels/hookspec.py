# mypy: disable-error-code="empty-body"
"""Hook specifications: what a mixedmodels plugin may provide.

A plugin is a module (or object) exposed under the entry-point group ``mixedmodels``::

    [project.entry-points.mixedmodels]
    myplugin = "mixedmodels_myplugin.plugin"

and implementing any of the hooks below with :data:`hookimpl`::

    from mixedmodels.hookspec import hookimpl

    @hookimpl
    def mixedmodels_families():
        return [TweedieFamily()]

Every hook takes no arguments and returns a sequence of objects.  Each object carries
its own registered ``name``; two plugins registering one name in the same registry is
an error naming both.  The core registers its own built-ins through these very hooks
(the ``builtin`` entry point, :mod:`mixedmodels._builtin`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
def mixedmodels_links() -> Sequence[Link]:
    """Return link instances to register.

    Each is a :class:`~mixedmodels.interfaces.Link` whose ``name`` is its key, e.g.
    ``"logit"``.  It must pass :func:`mixedmodels.testing.check_link`.
    """


@hookspec
def mixedmodels_families() -> Sequence[Family]:
    """Return family instances to register.

    Each is a :class:`~mixedmodels.interfaces.Family`; its ``default_link`` and every
    name in ``links`` must be registered links (by this or another plugin) by the time
    the family is used.  It must pass :func:`mixedmodels.testing.check_family`.
    """


@hookspec
def mixedmodels_covariance_structures() -> Sequence[type[CovarianceStructure]]:
    """Return covariance-structure *classes* to register.

    Each is a subclass of :class:`~mixedmodels.interfaces.CovarianceStructure`,
    instantiated per random-effect term as ``cls(dim, column_names)``.  The ``name`` is
    the formula wrapper users write, e.g. ``us(x | g)``.  Each must pass
    :func:`mixedmodels.testing.check_covariance_structure`.
    """


@hookspec
def mixedmodels_estimators() -> Sequence[Estimator]:
    """Return estimator instances to register.

    Each :class:`~mixedmodels.interfaces.Estimator` is selected by name in
    ``Model.fit(method=name)``.  ``supports(model)`` must return ``None`` or a message
    saying why the model cannot be fitted, and must not raise.  It must pass
    :func:`mixedmodels.testing.check_estimator`.
    """


@hookspec
def mixedmodels_diagnostics() -> Sequence[Diagnostic]:
    """Return diagnostic instances to register.

    Each :class:`~mixedmodels.interfaces.Diagnostic` runs over a fitted result and
    returns a tidy :class:`pandas.DataFrame`.
    """


@hookspec
def mixedmodels_datasets() -> Sequence[Dataset]:
    """Return :class:`~mixedmodels.interfaces.Dataset` records to register.

    The loader must return a new DataFrame on each call; it runs only when the data set
    is loaded, never at registration.
    """


@hookspec
def mixedmodels_tidiers() -> Sequence[Tidier]:
    """Return :class:`~mixedmodels.interfaces.Tidier` records, one per result type.

    :func:`mixedmodels.tidy`, ``glance`` and ``augment`` dispatch on the result's type
    (the most specific registered base class wins).  The registry key is the result
    type's qualified name.
    """


@hookspec
def mixedmodels_formatters() -> Mapping[str, Any]:
    """Return a mapping of output-format name to ``callable(result) -> str``.

    Used by the CLI's ``--format`` option, e.g. ``{"text": ..., "json": ...}``.
    """
