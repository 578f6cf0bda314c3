"""What every part of the conformance kit shares: messages, checks, contexts and the runner.

A *context* holds one object under test with its options and caches what several checks
need (simulated responses, fitted results), so that the checks of one object share that
work.  A :class:`Check` is one named property; calling it runs it on an object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from ..interfaces import FloatArray

#: Seed used by every check when no generator is given, so that tests are reproducible.
DEFAULT_SEED: int = 20240611

RngLike = np.random.Generator | int | None


def seed_of(rng: RngLike) -> int:
    """One integer seed from ``rng``, from which each check derives its own stream.

    Deriving a stream per check (rather than sharing one generator) keeps every check's
    draws the same whichever other checks run before it.
    """
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    return DEFAULT_SEED if rng is None else int(rng)


def stream(seed: int, *tags: int) -> np.random.Generator:
    """The generator of the random piece ``tags`` of a context seeded with ``seed``."""
    return np.random.default_rng([seed, *tags])


def label(obj: Any) -> str:
    """``Kind(name='...')``, the way messages and test ids name an object."""
    name = getattr(obj, "name", None)
    kind = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    return f"{kind}(name={name!r})"


class Fail:
    """Builds the AssertionError messages of one check function for one object."""

    def __init__(self, func: str, obj: Any) -> None:
        self.prefix = f"{func}({label(obj)})"

    def __call__(self, check: str, message: str) -> AssertionError:
        return AssertionError(f"{self.prefix} failed check {check!r}: {message}")


def fmt(x: Any) -> str:
    """Short text of a number or an array for messages."""
    arr = np.asarray(x)
    if arr.ndim == 0:
        return f"{float(arr):.10g}" if np.issubdtype(arr.dtype, np.number) else repr(x)
    return np.array2string(arr, precision=6, threshold=12)


def call(fail: Fail, check: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` and turn an unexpected exception into a failure of ``check``."""
    try:
        return func(*args, **kwargs)
    except AssertionError:
        raise
    except Exception as exc:  # any exception is a contract violation here
        raise fail(check, f"raised {type(exc).__name__}: {exc}") from exc


def as_array(fail: Fail, check: str, value: Any, shape: tuple[int, ...]) -> FloatArray:
    """``value`` as a float array of ``shape``, or a failure of ``check``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise fail(check, f"returned {type(value).__name__}, not a float array") from exc
    if arr.shape != shape:
        raise fail(check, f"returned shape {arr.shape}, expected {shape}")
    return arr


def check_name(ctx: Context) -> None:
    """``name`` is a non-empty string."""
    name = getattr(ctx.obj, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise ctx.fail("name", f"`name` must be a non-empty str, got {name!r}")


class MissingOption(ValueError):
    """An option listed as ``...`` was needed but not given when the check was called."""


class Context:
    """One object under test, its options, and the values its checks share.

    Subclasses set :attr:`function` (the aggregate ``check_*`` function whose name
    prefixes the messages) and validate their options in ``__init__``, raising
    :class:`ValueError` for a bad argument before any check runs.
    """

    function: ClassVar[str] = "check"

    def __init__(self, obj: Any, **options: Any) -> None:
        self.given = obj
        self.obj = obj
        self.options = options
        self.fail = Fail(self.function, obj)

    def derived(self, obj: Any, options: dict[str, Any]) -> Context:
        """The context of ``obj`` with ``options`` replacing this one's.

        This context itself for its own object and no new options; otherwise one built
        once per (object, option values), so that the checks of one listing called with
        the same fixture value still share their work.
        """
        if obj is self.given and not options:
            return self
        key = (id(obj), *sorted((k, id(v)) for k, v in options.items()))
        cache: dict[Any, tuple[Any, dict[str, Any], Context]] = self.__dict__.setdefault(
            "_derived", {}
        )
        if key not in cache:
            # The values are kept with the context so that their ids stay theirs.
            cache[key] = (obj, options, type(self)(obj, **{**self.options, **options}))
        return cache[key][2]

    def option(self, name: str) -> Any:
        """The option ``name``; ``...`` (a placeholder) must be replaced at call time."""
        value = self.options.get(name)
        if value is Ellipsis:
            raise MissingOption(
                f"{self.function}: the option {name!r} was listed as `...`; pass its value "
                f"when calling the check: check(obj, {name}=...)"
            )
        return value

    def run(self, name: str, func: Callable[[Any], None]) -> None:
        """Run the check ``name``; an unexpected exception is a failure of that check."""
        try:
            func(self)
        except (AssertionError, MissingOption):
            raise
        except Exception as exc:  # any exception is a contract violation here
            raise self.fail(name, f"raised {type(exc).__name__}: {exc}") from exc


class Check:
    """One named check of the conformance kit, bound to an object's options.

    Call it with the object to check, as ``check(obj)``; keyword arguments replace
    options given when the checks were listed (for values that exist only when the test
    runs, such as a fitted result from a pytest fixture).  It returns ``None`` when the
    property holds and raises :class:`AssertionError` naming the check otherwise.

    Attributes
    ----------
    name
        The name of the check, as it appears in messages and test ids.
    kind
        ``"link"``, ``"family"``, ``"covariance_structure"``, ``"estimator"`` or
        ``"diagnostic"``.
    """

    def __init__(self, name: str, kind: str, func: Callable[[Any], None], context: Context) -> None:
        self.name = name
        self.kind = kind
        self._func = func
        self._context = context

    def __call__(self, obj: Any, **options: Any) -> None:
        self._context.derived(obj, options).run(self.name, self._func)

    def __repr__(self) -> str:
        return f"<check {self.name!r} of {self._context.function}>"


CheckTable = Sequence[tuple[str, Callable[[Any], None], bool]]


def bind(kind: str, ctx: Context, table: CheckTable) -> Iterator[tuple[str, Check]]:
    """Yield ``(name, Check)`` for the applicable rows ``(name, func, applies)``."""
    for name, func, applies in table:
        if applies:
            yield name, Check(name, kind, func, ctx)


def run_all(obj: Any, checks: Sequence[tuple[str, Check]]) -> None:
    """Run every check on ``obj`` and raise one AssertionError listing each failure.

    With one failure its own AssertionError is raised unchanged; with several, their
    messages one a line (the first line reads as the single-failure message would),
    then a count.  A failure that several checks share (a prerequisite, such as
    ``simulate`` raising) is listed once.
    """
    failures: list[AssertionError] = []
    seen: set[str] = set()
    for _, check in checks:
        try:
            check(obj)
        except AssertionError as exc:
            if str(exc) not in seen:
                seen.add(str(exc))
                failures.append(exc)
    if not failures:
        return
    if len(failures) == 1:
        raise failures[0]
    lines = [str(exc) for exc in failures]
    lines.append(f"({len(failures)} distinct failures among {len(checks)} checks)")
    raise AssertionError("\n".join(lines)) from failures[0]
