"""The ``mixedmodels`` command line.

::

    mixedmodels fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy
    mixedmodels fit "y ~ x + (1 | g)" --data mydata.csv --ml --format json
    mixedmodels fit "cbind(incidence, size - incidence) ~ period + (1 | herd)" \
        --data cbpp --family binomial --check
    mixedmodels datasets
    mixedmodels plugins

Bad input (a missing file, an unknown data set or format, a formula or data error)
gives a one-line message on standard error and exit status 2, never a traceback
(``--debug`` shows it).  Other failures exit with status 1.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["CLIError", "main", "read_data"]

PROG = "mixedmodels"
_CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_COMPRESSION = {".gz", ".bz2", ".zip", ".xz", ".zst"}


class CLIError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


def _data_suffix(path: Path) -> str:
    """The data suffix of ``path``, looking through a compression suffix."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def read_data(source: str) -> Any:
    """Read a data file or load a registered data set.

    Parameters
    ----------
    source
        A path ending in ``.csv``/``.tsv``/``.txt`` (optionally compressed, e.g.
        ``.csv.gz``) or ``.parquet``/``.pq``, or the name of a registered data set
        (:func:`mixedmodels.datasets.load`).

    Returns
    -------
    pandas.DataFrame
        The data, with ``attrs["name"]`` set to the data set name or the file name (the
        summary's ``Data:`` line).

    Raises
    ------
    CLIError
        If the file is missing or unreadable, or no data set has that name.
    """
    path = Path(source)
    suffix = _data_suffix(path)
    looks_like_file = suffix in _CSV_SUFFIXES | _PARQUET_SUFFIXES or path.exists()
    if looks_like_file:
        if not path.is_file():
            raise CLIError(f"data file not found: {source}")
        import pandas as pd

        try:
            if suffix in _PARQUET_SUFFIXES:
                frame = pd.read_parquet(path)
            elif suffix == ".tsv":
                frame = pd.read_csv(path, sep="\t")
            elif suffix in _CSV_SUFFIXES:
                frame = pd.read_csv(path)
            else:
                raise CLIError(
                    f"cannot tell the format of {source}: use a .csv, .tsv or .parquet file"
                )
        except ImportError as err:
            raise CLIError(
                f"reading {source} needs an optional dependency: {err} "
                "(pip install 'mixedmodels[parquet]')"
            ) from err
        except (OSError, ValueError) as err:
            raise CLIError(f"could not read {source}: {err}") from err
        frame.attrs["name"] = path.name
        return frame

    from . import datasets
    from .plugin_manager.manager import UnknownNameError

    try:
        frame = datasets.load(source)
    except UnknownNameError as err:
        raise CLIError(
            f"{source!r} is neither a data file (.csv, .parquet) nor a registered data set\n"
            f"{_message(err)}\n(see '{PROG} datasets')"
        ) from err
    frame.attrs["name"] = source
    return frame


def _message(err: BaseException) -> str:
    """An exception's message without KeyError's quotes."""
    if isinstance(err, KeyError) and len(err.args) == 1 and type(err).__str__ is KeyError.__str__:
        return str(err.args[0])
    return str(err)


def _cmd_fit(args: argparse.Namespace, out: TextIO) -> int:
    from .api import glmm, lmm
    from .plugin_manager import manager as _plugins

    try:
        formatter = _plugins.get_formatter(args.format)
    except _plugins.UnknownNameError as err:
        raise CLIError(f"--format {args.format}: {_message(err)}") from err
    names = None
    if args.check is not None and not _plugins.registry("diagnostic"):
        # Fail before fitting and printing the fit: nothing could check it.
        raise CLIError(
            "--check: no diagnostics are registered; install mixedmodels-diagnostics "
            "(pip install mixedmodels-diagnostics) or a plugin that provides them"
        )
    if args.check not in (None, "all"):
        names = [c.strip() for c in args.check.split(",") if c.strip()]
        for name in names:  # unknown names fail before the fit
            try:
                _plugins.get_diagnostic(name)
            except _plugins.UnknownNameError as err:
                raise CLIError(f"--check: {_message(err)}") from err
    data = read_data(args.data)
    linear = args.family is None or (args.family == "gaussian" and args.link in (None, "identity"))
    fit: Any
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if linear:
                fit = lmm(args.formula, data, reml=not args.ml)
            else:
                fit = glmm(args.formula, data, family=args.family, link=args.link, nagq=args.nagq)
        except (ValueError, KeyError, TypeError, LookupError, SyntaxError) as err:
            raise CLIError(f"cannot fit {args.formula!r}: {_message(err)}") from err
    text = formatter(fit)
    out.write(text if text.endswith("\n") else text + "\n")
    if args.check is not None:
        from .checks import check, format_check_report

        try:
            report = check(fit, names, verbose=False, seed=args.seed)
        except (LookupError, TypeError) as err:
            raise CLIError(f"--check: {_message(err)}") from err
        out.write("\n" + format_check_report(report) + "\n")
    # Warnings raised while fitting (dropped rows or columns) go to stderr, once each.
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"{PROG}: warning: {message}", file=sys.stderr)
    return 0


def _cmd_datasets(args: argparse.Namespace, out: TextIO) -> int:
    import shutil

    from . import datasets

    table = datasets.list()
    names = [str(n) for n in table["name"]]
    rows = ["" if r != r else str(int(r)) for r in table.get("rows", [""] * len(names))]
    descriptions = [" ".join(str(d).split()) for d in table.get("description", [""] * len(names))]
    nw = max([len("name"), *map(len, names)])
    rw = max([len("rows"), *map(len, rows)])
    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    dw = max(20, width - nw - rw - 4)
    out.write(f"{'name'.ljust(nw)}  {'rows'.rjust(rw)}  description\n")
    for name, nrow, desc in zip(names, rows, descriptions, strict=True):
        if len(desc) > dw:
            desc = desc[: dw - 3].rstrip() + "..."
        out.write(f"{name.ljust(nw)}  {nrow.rjust(rw)}  {desc}\n")
    out.write(f"\n{len(names)} data sets; use one with: {PROG} fit FORMULA --data NAME\n")
    return 0


def _cmd_plugins(args: argparse.Namespace, out: TextIO) -> int:
    from .plugin_manager import manager as _plugins

    text = _plugins.format_plugins()
    out.write(text if text.endswith("\n") else text + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fit mixed models (lme4 syntax), check them, and inspect the installed "
        "plugins.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks instead of one-line errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = sub.add_parser(
        "fit",
        help="fit a linear or generalized linear mixed model and print it",
        description="Fit a linear mixed model by REML (or ML with --ml), or a GLMM with "
        "--family, and print it.",
    )
    fit.add_argument("formula", metavar="FORMULA", help='e.g. "Reaction ~ Days + (Days | Subject)"')
    fit.add_argument(
        "--data",
        required=True,
        metavar="FILE_OR_DATASET",
        help="a .csv/.tsv/.parquet file or a registered data set name",
    )
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument(
        "--family",
        default=None,
        metavar="FAMILY",
        help="a GLMM family (binomial, poisson, negative_binomial, Gamma, ...)",
    )
    fit.add_argument("--link", default=None, metavar="LINK", help="the family's link")
    fit.add_argument(
        "--nagq", type=int, default=1, metavar="K", help="GLMM quadrature nodes (default 1)"
    )
    fit.add_argument(
        "--check",
        nargs="?",
        const="all",
        default=None,
        metavar="CHECKS",
        help="run model checks after the fit: all that apply, or comma-separated names "
        "(needs a diagnostics plugin, e.g. mixedmodels-diagnostics)",
    )
    fit.add_argument(
        "--seed",
        type=int,
        default=123,
        help="seed of simulation-based checks (default 123, as DHARMa)",
    )
    fit.add_argument(
        "--format",
        default="text",
        metavar="FORMAT",
        help="output format: text (default), json, csv, or one a plugin registers",
    )
    fit.set_defaults(handler=_cmd_fit)

    ds = sub.add_parser("datasets", help="list the registered data sets")
    ds.set_defaults(handler=_cmd_datasets)

    pl = sub.add_parser("plugins", help="list the installed plugins and what they register")
    pl.set_defaults(handler=_cmd_plugins)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 for bad input, 1 for other failures.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code) if isinstance(exc.code, int) else 2
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args, sys.stdout))
    except CLIError as err:
        if args.debug:
            raise
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `mixedmodels datasets | head`
        # Point stdout at devnull so that the flush at exit does not fail again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            pass
        return 0
    except Exception as err:
        if args.debug:
            raise
        print(
            f"{PROG}: error: {type(err).__name__}: {_message(err)} (rerun with --debug for "
            "the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
