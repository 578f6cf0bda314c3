"""lme4-style text summary of a fitted linear mixed model.

:func:`format_summary` reproduces the layout of R's ``print(summary(lmer(...)))``
(lme4 1.1): the numbers are formatted with R's rules (``format()``'s common number of
significant digits, ``printCoefmat``'s rounding, ``abbreviate()``'s short names), so
that the text agrees with R's in every printed digit.  The helpers that emulate R's
formatting are private but tested.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["format_summary"]

# R's getOption("width") and getOption("lme4.summary.cor.max").
_WIDTH = 80
_COR_MAX = 12


# --- R's number formatting ----------------------------------------------------------
def _sci(x: float, digits: int) -> tuple[int, int, int, bool]:
    """R's ``scientific()``: sign, decimal exponent, significant digits, widening.

    ``|x| = alpha * 10^kpower`` with ``alpha`` rounded to ``digits`` significant digits;
    ``nsig`` drops trailing zeros; ``roundingwidens`` is true when rounding to
    ``digits`` significant digits carries into a new leading digit that fixed notation
    would not show (e.g. 9996 with 3 digits).
    """
    if x == 0.0:
        return 0, 0, 1, False
    neg = 1 if x < 0 else 0
    r = abs(x)
    mantissa, exponent = f"{r:.{digits - 1}e}".split("e")
    kpower = int(exponent)
    sig = mantissa.replace(".", "").rstrip("0")
    nsig = max(1, len(sig))
    rgt = min(max(digits - kpower, 0), 22)
    fuzz = 0.5 / 10.0**rgt
    widens = 0 < kpower <= 22 and r < 10.0**kpower - fuzz
    return neg, kpower, nsig, widens


def _r_format(values: Sequence[float], digits: int = 7, nsmall: int = 0) -> list[str]:
    """R's ``format(x, digits = digits, nsmall = nsmall)`` for a numeric vector.

    All elements share one format: fixed notation with enough decimals that every
    element shows ``digits`` significant digits (trailing zeros not counted), unless
    scientific notation is narrower; padded to a common width.
    """
    xs = [float(v) for v in values]
    finite = [v for v in xs if math.isfinite(v)]
    strs: list[str]
    if finite:
        neg = 0
        rgt = mxsl = mxns = -(10**9)
        mxl = -(10**9)
        mnl = 10**9
        for v in finite:
            neg_i, kpower, nsig, widens = _sci(v, digits)
            left = kpower + 1 - (1 if widens else 0)
            sleft = neg_i + (1 if left <= 0 else left)
            right = nsig - left
            neg = max(neg, neg_i)
            rgt = max(rgt, right)
            mxl = max(mxl, left)
            mnl = min(mnl, left)
            mxsl = max(mxsl, sleft)
            mxns = max(mxns, nsig)
        if mxl < 0:
            mxsl = 1 + neg
        rgt = max(rgt, 0)
        width_f = mxsl + rgt + (1 if rgt else 0)
        e = 2 if (mxl > 100 or mnl <= -99) else 1
        d = mxns - 1
        width_e = neg + (1 if d > 0 else 0) + d + 4 + e
        if width_f <= width_e:
            rgt = max(rgt, nsmall)
            strs = [f"{v:.{rgt}f}" if math.isfinite(v) else "" for v in xs]
        else:
            strs = [_r_sci_string(v, d) if math.isfinite(v) else "" for v in xs]
    else:
        strs = ["" for _ in xs]
    out = []
    for v, s in zip(xs, strs, strict=True):
        if not math.isfinite(v):
            s = "NaN" if math.isnan(v) else ("Inf" if v > 0 else "-Inf")
        out.append(s)
    width = max((len(s) for s in out), default=0)
    return [s.rjust(width) for s in out]


def _r_sci_string(v: float, d: int) -> str:
    """C's ``%.{d}e`` (two exponent digits at least), as R prints scientific numbers."""
    return f"{v:.{d}e}"


def _r_round(x: float, digits: int) -> float:
    """R's ``round(x, digits)`` (to ``digits`` decimals; negative digits allowed)."""
    if not math.isfinite(x):
        return x
    return float(round(x, digits))


def _zapsmall(xs: Sequence[float], digits: int) -> list[float]:
    """R 4.2's ``zapsmall(x, digits)``: round to ``digits`` significant digits of the
    largest magnitude."""
    finite = [abs(v) for v in xs if math.isfinite(v)]
    mx = max(finite, default=0.0)
    dig = digits if mx <= 0 else max(0, math.floor(digits - math.log10(mx) + 0.5))
    return [_r_round(v, dig) for v in xs]


def _r_num(x: float, digits: int = 7) -> str:
    """One number as R's ``cat`` or ``print`` shows it."""
    return _r_format([x], digits)[0].strip()


# --- R's abbreviate() -----------------------------------------------------------------
def _abbrev_one(text: str, minlength: int) -> str:
    """The C routine behind R's ``abbreviate`` (``use.classes = TRUE``)."""
    buf = list(text.lstrip())
    if len(buf) < minlength:
        return "".join(buf).rstrip()
    nspace = 0
    upper = len(buf) - 1

    def length() -> int:
        return len(buf) - nspace

    def ch(i: int) -> str:
        return buf[i] if i < len(buf) else "\0"

    def first_char(i: int) -> bool:
        return ch(i - 1).isspace()

    def last_char(i: int) -> bool:
        nxt = ch(i + 1)
        return not ch(i - 1).isspace() and (nxt == "\0" or nxt.isspace())

    def delete(i: int) -> None:
        if i < len(buf):
            del buf[i]

    done = False
    # Trailing spaces go; inner spaces are word boundaries, removed at the end.
    trailing = True
    for i in range(upper, 0, -1):
        if ch(i).isspace():
            if trailing:
                del buf[i]
            else:
                nspace += 1
        else:
            trailing = False
        if length() <= minlength:
            done = True
            break
    passes = [
        lambda i: ch(i) in "aeiou" and last_char(i),
        lambda i: ch(i) in "aeiou" and not first_char(i),
        lambda i: ch(i).islower() and last_char(i),
        lambda i: ch(i).islower() and not first_char(i),
    ]
    for test in passes:
        if done:
            break
        for i in range(upper, 0, -1):
            if ch(i) != "\0" and test(i):
                delete(i)
            if length() <= minlength:
                done = True
                break
    if not done:
        for i in range(len(buf) - 1, 0, -1):
            if not first_char(i) and not ch(i).isspace():
                delete(i)
            if length() <= minlength:
                break
    if len(buf) > minlength:
        buf = [buf[0]] + [c for c in buf[1:] if not c.isspace()]
    return "".join(buf)


def _abbreviate(names: Sequence[str], minlength: int) -> list[str]:
    """R's ``abbreviate(names, minlength)`` (``strict = FALSE``): unique abbreviations,
    lengthening those that clash."""
    stripped = [n.strip() for n in names]
    uniq = list(dict.fromkeys(stripped))
    out = list(uniq)
    redo = [True] * len(uniq)
    m = minlength
    while True:
        for i, flag in enumerate(redo):
            if flag:
                out[i] = _abbrev_one(uniq[i], m)
        seen: set[str] = set()
        dup = []
        for s in out:
            dup.append(s in seen)
            seen.add(s)
        if not any(dup):
            break
        m += 1
        clash = {s for s, d in zip(out, dup, strict=True) if d}
        redo = [s in clash for s in out]
    lookup = dict(zip(uniq, out, strict=True))
    return [lookup[n] for n in stripped]


# --- R's printing of vectors and matrices ---------------------------------------------
def _print_named(names: Sequence[str], values: Sequence[str]) -> str:
    """R's print of a named vector: right-aligned columns, each followed by a space."""
    width = max([len(s) for s in names] + [len(s) for s in values])
    per_line = max(1, _WIDTH // (width + 1))
    lines = []
    for start in range(0, len(names), per_line):
        chunk = slice(start, start + per_line)
        lines.append("".join(f"{s:>{width}} " for s in names[chunk]))
        lines.append("".join(f"{s:>{width}} " for s in values[chunk]))
    return "\n".join(lines) + "\n"


def _print_matrix(
    rownames: Sequence[str],
    colnames: Sequence[str],
    cells: Sequence[Sequence[str]],
    right: bool,
) -> str:
    """R's ``print(<character matrix>, quote = FALSE, right = right)``."""
    rw = max((len(r) for r in rownames), default=0)
    widths = [max([len(c)] + [len(row[j]) for row in cells]) for j, c in enumerate(colnames)]

    def cell(s: str, w: int) -> str:
        return s.rjust(w) if right else s.ljust(w)

    lines = [" " * rw + "".join(" " + cell(c, w) for c, w in zip(colnames, widths, strict=True))]
    for r, row in zip(rownames, cells, strict=True):
        lines.append(
            r.ljust(rw) + "".join(" " + cell(s, w) for s, w in zip(row, widths, strict=True))
        )
    return "\n".join(lines) + "\n"


def _cat_fill(*items: str) -> str:
    """R's ``cat(..., fill = TRUE)``: items separated by spaces, wrapped at the width."""
    lines: list[str] = []
    current = ""
    for item in items:
        if current and len(current) + 1 + len(item) > _WIDTH:
            lines.append(current)
            current = item
        else:
            current = item if not current else current + " " + item
    lines.append(current)
    return "\n".join(lines) + "\n"


# --- the summary's parts ------------------------------------------------------------
def _strwrap(text: str, width: int, exdent: int = 0) -> list[str]:
    """R's ``strwrap(text, width, exdent = exdent)`` for one paragraph: greedy lines
    shorter than ``width``."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        pad = " " * exdent if lines else ""
        if current and len(pad) + len(current) + 1 + len(word) >= width:
            lines.append((" " * exdent if lines else "") + current)
            current = word
        else:
            current = word if not current else current + " " + word
    if current:
        lines.append((" " * exdent if lines else "") + current)
    return lines


def _cat_fill_sep0(items: Sequence[str]) -> str:
    """R's ``cat(..., sep = "", fill = TRUE)``: a new line before an item that would
    pass the width."""
    out = ""
    width = 0
    for i, item in enumerate(items):
        if i > 0 and width + len(item) > _WIDTH:
            out += "\n"
            width = 0
        out += item
        width += len(item)
    return out + "\n"


def _title(result: Any, ddf: str = "none") -> str:
    """lme4's ``.prt.methTit``; with lmerTest's suffix when t tests have df."""
    # lme4's methTitle ends "maximum likelihood " (note the space) for ML fits.
    what = "REML" if result.reml else "maximum likelihood "
    title = f"Linear mixed model fit by {what}"
    cls = "lmerMod"
    if ddf != "none":
        method = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's"}[ddf]
        title += f". t-tests use {method} method"
        cls = "lmerModLmerTest"
    if len(title) + 5 + len(cls) > _WIDTH:
        return _cat_fill_sep0([*_strwrap(title, _WIDTH - 2, exdent=2), " [", cls, "]"])
    return f"{title} ['{cls}']\n"


def _data_name(result: Any) -> str | None:
    model = result.model
    name = getattr(model, "data_name", None)
    if name is None:
        attrs = getattr(getattr(model, "data", None), "attrs", None) or {}
        name = attrs.get("name")
    return None if name is None else str(name)


def _aic_table(result: Any) -> str:
    if result.reml:
        return _cat_fill(
            "REML criterion at convergence:", _r_num(_r_round(result.reml_criterion, 1))
        )
    vals = [result.aic, result.bic, result.loglik, result.deviance, float(result.nobs - result.df)]
    rounded = [_r_round(v, 1) for v in vals]
    strs = _r_format(rounded)
    strs[-1] = _r_num(rounded[-1])
    return _print_named(["AIC", "BIC", "logLik", "deviance", "df.resid"], strs)


def _residual_table(result: Any, digits: int) -> str:
    res = np.asarray(result.residuals(type="pearson", scaled=True), dtype=float)
    res = res[np.isfinite(res)]
    q = np.quantile(res, [0.0, 0.25, 0.5, 0.75, 1.0]) if res.size else np.full(5, np.nan)
    zapped = _zapsmall(list(q), digits + 1)
    return "Scaled residuals: \n" + _print_named(
        ["Min", "1Q", "Median", "3Q", "Max"], _r_format(zapped, digits)
    )


def _varcorr_table(result: Any, digits: int) -> str:
    """lme4's ``formatVC``: Groups, Name, Variance, Std.Dev. and lower-triangle Corr."""
    covs = result.covariance_matrices()
    groups: list[str] = []
    names: list[str] = []
    sds: list[float] = []
    corrs: list[list[list[str]]] = []
    for group, cov in covs.items():
        c = cov.to_numpy()
        sd = np.sqrt(np.maximum(np.diag(c), 0.0))
        k = len(sd)
        for i, col in enumerate(cov.columns):
            groups.append(str(group) if i == 0 else "")
            names.append(str(col))
            sds.append(float(sd[i]))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = c / np.outer(sd, sd)
        dig = max(2, digits - 2)
        flat = _r_format([_r_round(float(v), dig) for v in corr.ravel()], nsmall=dig)
        cells = [[flat[i * k + j] if j < i else "" for j in range(k)] for i in range(k)]
        corrs.append(cells)
    groups.append("Residual")
    names.append("")
    sds.append(float(result.sigma))
    variances = _r_format([s * s for s in sds], digits)
    stddevs = _r_format(sds, digits)
    colnames = ["Groups", "Name", "Variance", "Std.Dev."]
    rows = [[g, n, v, s] for g, n, v, s in zip(groups, names, variances, stddevs, strict=True)]
    maxlen = max((len(c) for c in corrs), default=1)
    if maxlen > 1:
        corr_rows: list[list[str]] = []
        for cells in corrs:
            for row in cells:
                corr_rows.append(row + [""] * (maxlen - len(row)))
        corr_rows = [r[: maxlen - 1] for r in corr_rows]
        while len(corr_rows) < len(rows):
            corr_rows.append([""] * (maxlen - 1))
        rows = [r + c for r, c in zip(rows, corr_rows, strict=True)]
        colnames += ["Corr"] + [""] * (maxlen - 2)
    return "Random effects:\n" + _print_matrix([""] * len(rows), colnames, rows, right=False)


def _groups_line(result: Any) -> str:
    groups = "; ".join(f"{k}, {v}" for k, v in result.ngrps.items())
    return _cat_fill(f"Number of obs: {int(result.nobs)}, groups: ", groups)


def _format_pval(pv: Sequence[float], digits: int) -> list[str]:
    """R's ``format.pval(pv, digits, eps = .Machine$double.eps)``."""
    eps = float(np.finfo(float).eps)
    out = ["NA"] * len(pv)
    ok = [i for i, v in enumerate(pv) if math.isfinite(v)]
    small = [i for i in ok if pv[i] < eps]
    rest = [i for i in ok if pv[i] >= eps]
    fixp = [
        i
        for i in rest
        if math.floor(math.log10(pv[i]) if pv[i] > 0 else -50) >= -3
        or (math.floor(math.log10(pv[i])) == -4 and digits > 1)
    ]
    sci = [i for i in rest if i not in fixp]
    for group in (fixp, sci):
        if group:
            for i, s in zip(group, _r_format([pv[i] for i in group], digits), strict=True):
                out[i] = s
    if small:
        d = max(1, digits - 2)
        if rest:
            nc = max(len(out[i]) for i in rest)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        text = "<" + sep + _r_format([eps], d)[0].strip()
        for i in small:
            out[i] = text
    return out


# R's symnum legend (UTF-8 quotes, as R prints in a UTF-8 locale).
_SIGNIF_LEGEND = (
    " ".join(
        f"{cut} \u2018{mark}\u2019"
        for cut, mark in (("0", "***"), ("0.001", "**"), ("0.01", "*"), ("0.05", "."), ("0.1", " "))
    )
    + " 1"
)


def _signif_stars(p: float) -> str:
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return mark
    return " "


def _print_coefmat(names: Sequence[str], colnames: Sequence[str], values: Any, digits: int) -> str:
    """R's ``printCoefmat(x, digits)`` with its defaults: all columns but the last two
    (or the last, without p-values) formatted together as coefficients, the next as a
    test statistic, a last ``Pr(...)`` column as p-values with significance stars and
    their legend."""
    xm = np.asarray(values, dtype=np.float64).reshape(len(names), len(colnames))
    nr, nc = xm.shape
    has_p = nc >= 4 and str(colnames[-1])[:3] in ("Pr(", "p-v")
    k = nc - int(has_p) - 1
    cs_ind = list(range(k))
    tst = k
    cells = [["" for _ in range(nc)] for _ in range(nr)]
    cs = [float(xm[i, j]) for j in cs_ind for i in range(nr)]
    acs = [abs(v) for v in cs if math.isfinite(v)]
    if acs:
        nz = [v for v in acs if v != 0]
        digmin = (
            [1 + math.floor(math.log10(min(nz))), 1 + math.floor(math.log10(max(nz)))]
            if nz
            else [1, 1]
        )
        dec = max(1, digits - digmin[0], digits - digmin[1])
        strs = _r_format([_r_round(v, dec) for v in cs], digits)
        for idx, (j, i) in enumerate((j, i) for j in cs_ind for i in range(nr)):
            cells[i][j] = strs[idx]
    dig_tst = max(1, min(5, digits - 1))
    tstr = _r_format([_r_round(float(v), dig_tst) for v in xm[:, tst]], digits)
    for i in range(nr):
        cells[i][tst] = tstr[i]
    # A non-zero number that rounds to zero (or the reverse) gets fewer digits.
    for j in cs_ind:
        for i in range(nr):
            v = float(xm[i, j])
            s = cells[i][j].strip()
            if math.isfinite(v) and s and (v == 0) != (float(s) == 0):
                cells[i][j] = _r_format([v], max(1, digits - 1))[0]
    for i in range(nr):
        for j in range(nc - int(has_p)):
            if math.isnan(float(xm[i, j])):
                cells[i][j] = "NA"
    heads = list(colnames)
    legend = ""
    if has_p:
        pv = [float(v) for v in xm[:, -1]]
        for i, s in enumerate(_format_pval(pv, dig_tst)):
            cells[i][-1] = s
        finite = [v for v in pv if math.isfinite(v)]
        if finite and any(v < 0.1 for v in finite):
            stars = [_signif_stars(v) if math.isfinite(v) else "" for v in pv]
            width = max(len(s) for s in stars)
            for i in range(nr):
                cells[i].append(stars[i].ljust(width))
            heads.append("")
            legend = "---\nSignif. codes:  " + _SIGNIF_LEGEND + "\n"
    return _print_matrix(list(names), heads, cells, right=True) + legend


def _coef_table(
    names: Sequence[str], est: Sequence[float], se: Sequence[float], digits: int
) -> str:
    """R's ``printCoefmat`` for Estimate, Std. Error and t value (no p-values)."""
    e = np.asarray(est, dtype=np.float64)
    s = np.asarray(se, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(s != 0, e / s, np.nan)
    return _print_coefmat(
        names, ["Estimate", "Std. Error", "t value"], np.column_stack([e, s, t]), digits
    )


def _correlation_table(names: Sequence[str], vcov: np.ndarray) -> str:
    p = len(names)
    sd = np.sqrt(np.diag(vcov))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = vcov / np.outer(sd, sd)
    flat = _r_format([_r_round(float(v), 3) for v in corr.T.ravel()], nsmall=3)
    rns = _abbreviate(names, 11)
    cns = _abbreviate(names, 6)
    # Column-major flat -> cell (i, j) is flat[j * p + i]; keep the strict lower triangle.
    cells = [[flat[j * p + i] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
    return "\nCorrelation of Fixed Effects:\n" + _print_matrix(
        rns[1:], cns[:-1], cells, right=False
    )


def _messages(result: Any) -> str:
    """Rank deficiency, convergence and singularity messages, as lme4 prints them last."""
    out = []
    dropped = list(getattr(result.model, "dropped_columns", []) or [])
    if dropped:
        k = len(dropped)
        out.append("fit warnings:")
        out.append(
            f"fixed-effect model matrix is rank deficient so dropping {k} "
            f"column{'s' if k > 1 else ''} / coefficient{'s' if k > 1 else ''}: "
            + ", ".join(dropped)
        )
    lines = [m for m in result.messages if not str(m).startswith("boundary (singular) fit")]
    if not result.converged:
        method = getattr(getattr(result, "optimizer", None), "method", "unknown")
        out.append(f"optimizer ({method}) convergence failure{':' if lines else ''}")
    out.extend(str(m) for m in lines)
    if result.singular:
        out.append("boundary (singular) fit: see help('isSingular')")
    return "".join(line + "\n" for line in out)


def format_summary(
    result: Any, digits: int = 4, correlation: bool | None = None, ddf: str | None = "none"
) -> str:
    """lme4's ``summary()`` text of a fitted linear mixed model (lmerTest's with ``ddf``).

    Parameters
    ----------
    result
        A fitted :class:`~mixedmodels.LMMResult`.
    digits
        Significant digits, as lme4's ``print(summary(fit), digits = ...)`` (default
        ``max(3, getOption("digits") - 3)``, i.e. 4).
    correlation
        Show the correlation of the fixed effects; ``None`` (default) shows it when
        there are at most 12 fixed effects, as lme4.
    ddf
        ``"none"`` (default): lme4's layout, t values without df.  ``"satterthwaite"``
        or ``"kenward-roger"``: lmerTest's layout, with ``df`` and ``Pr(>|t|)`` columns
        (Kenward-Roger also adjusts the standard errors) and significance stars.

    Returns
    -------
    str
        The summary.  The ``Data:`` line appears when the model knows its data's name
        (a ``data_name`` attribute of the model, or ``data.attrs["name"]``).  Messages
        come last: dropped rank-deficient columns, a failed convergence check and a
        singular (boundary) fit.
    """
    from ..inference.ddf import coef_table, normalize_ddf

    ddf = normalize_ddf(ddf)
    model = result.model
    parts = [_title(result, ddf), f"Formula: {model.formula}\n"]
    name = _data_name(result)
    if name is not None:
        parts.append(f"   Data: {name}\n")
    parts.append("\n")
    parts.append(_aic_table(result))
    parts.append("\n")
    parts.append(_residual_table(result, digits))
    parts.append("\n")
    parts.append(_varcorr_table(result, digits))
    parts.append(_groups_line(result))
    from ..inference.parameters import summary_block  # structured terms, residual structure

    parts.append(summary_block(result, digits))
    names = [str(n) for n in result.fixef.index]
    p = len(names)
    if p > 0:
        parts.append("\nFixed effects:\n")
        if ddf == "none":
            parts.append(
                _coef_table(names, result.fixef.to_numpy(), result.fixef_se.to_numpy(), digits)
            )
        else:
            table = coef_table(result, ddf)
            parts.append(_print_coefmat(names, list(table.columns), table.to_numpy(), digits))
        show = p <= _COR_MAX if correlation is None else correlation
        if show and p > 1:
            parts.append(_correlation_table(names, result.vcov.to_numpy()))
        elif correlation is None and p > _COR_MAX:
            parts.append(
                f"\nCorrelation matrix not shown by default, as p = {p} > {_COR_MAX}.\n"
                "Use format_summary(fit, correlation=True) or fit.vcov if you need it\n"
            )
    parts.append(_messages(result))
    return "".join(parts)
