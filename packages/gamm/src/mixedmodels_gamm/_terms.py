"""Smooth terms in a formula: ``s(x)``, ``s(x, k = 10)``, ``s(x, bs = "cr")``,
``s(x, by = f)``."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SmoothSpec", "split_smooths"]


@dataclass
class SmoothSpec:
    label: str  # mgcv's label, "s(x)"
    var: str
    k: int
    bs: str
    by: str | None = None
    var2: str | None = None  # t2(x, z): the second covariate


def _top_level_terms(rhs: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in rhs:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "+" and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def split_smooths(formula: str) -> tuple[str, list[str], list[SmoothSpec]]:
    """Response, the other right-hand terms and the smooths of ``formula``.

    Raises
    ------
    ValueError
        For a smooth this package does not build (``te()``, ``ti()``, a basis other
        than ``"tp"`` or ``"cr"``, more than one covariate in ``s()``, ``t2()`` of other
        than two covariates or with other than cubic regression margins).
    """
    if "~" not in formula:
        raise ValueError(f"formula {formula!r} has no '~'")
    lhs, rhs = (p.strip() for p in formula.split("~", 1))
    others, smooths = [], []
    for term in _top_level_terms(rhs):
        m = re.fullmatch(r"(s|te|ti|t2)\((.*)\)", term)
        if not m:
            others.append(term)
            continue
        if m.group(1) in ("te", "ti"):
            raise ValueError(
                f"{term}: te()/ti() tensor products are not supported (gamm4 cannot fit "
                "them either); use t2()"
            )
        args = [a.strip() for a in m.group(2).split(",")]
        var = args[0]
        k, bs, by = 10, "tp", None
        if m.group(1) == "t2":
            return_t2 = _t2_spec(term, args)
            smooths.append(return_t2)
            continue
        for a in args[1:]:
            key, _, val = (p.strip() for p in a.partition("="))
            if key == "k":
                k = int(val)
            elif key == "bs":
                bs = val.strip("\"'")
            elif key == "by":
                by = val
            else:
                raise ValueError(f"{term}: argument {key!r} is not supported yet (k, bs, by)")
        if not re.fullmatch(r"[A-Za-z_.][\w.]*", var) or "=" in var:
            raise ValueError(f"{term}: give one covariate column, e.g. s(x)")
        if bs not in ("tp", "cr"):
            raise ValueError(f"{term}: basis {bs!r} is not supported yet; use bs='tp' or 'cr'")
        if by is not None and not re.fullmatch(r"[A-Za-z_.][\w.]*", by):
            raise ValueError(
                f"{term}: by = {by!r} must name one column (a factor or a numeric variable)"
            )
        smooths.append(SmoothSpec(f"s({var})", var, k, bs, by))
    return lhs, others, smooths


def _t2_spec(term: str, args: list[str]) -> SmoothSpec:
    names = [a for a in args if "=" not in a]
    if len(names) != 2 or not all(re.fullmatch(r"[A-Za-z_.][\w.]*", v) for v in names):
        raise ValueError(f"{term}: t2() takes two covariate columns, e.g. t2(x, z)")
    k = 5
    for a in args:
        if "=" not in a:
            continue
        key, _, val = (p.strip() for p in a.partition("="))
        if key == "k":
            k = int(val)
        elif key == "bs" and val.strip("\"'") == "cr":
            pass
        else:
            raise ValueError(f"{term}: argument {a!r} is not supported in t2() (k; bs = 'cr')")
    return SmoothSpec(f"t2({names[0]},{names[1]})", names[0], k, "t2", None, names[1])
