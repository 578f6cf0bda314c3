"""nlme's ``random = ~ x | g`` as an lme4 term ``(x | g)``."""

from __future__ import annotations

import re

__all__ = ["random_terms"]


def random_terms(random: str | list[str]) -> str:
    """lme4 random-effect terms for nlme's ``random=``.

    Accepts ``"~ 1 | herd"``, ``"~ week | ID"``, ``"~ 1 | a/b"`` (nlme's one-sided
    formula) or lme4 terms ``"(1 | herd)"``; a list gives several terms.

    Raises
    ------
    ValueError
        If a specification has no grouping factor (``| g``).
    """
    specs = [random] if isinstance(random, str) else list(random)
    out = []
    for spec in specs:
        s = spec.strip()
        if s.startswith("("):
            if "|" not in s:
                raise ValueError(f"random term {spec!r} has no grouping factor ('| g')")
            out.append(s)
            continue
        s = s.lstrip("~").strip()
        if "|" not in s:
            raise ValueError(
                f"random={spec!r}: write the grouping factor as nlme does, e.g. '~ 1 | herd'"
            )
        lhs, grp = (p.strip() for p in s.split("|", 1))
        if not re.fullmatch(r"[\w.]+(\s*/\s*[\w.]+)*", grp):
            raise ValueError(f"random={spec!r}: cannot read the grouping factor {grp!r}")
        out.append(f"({lhs or '1'} | {grp})")
    if not out:
        raise ValueError("random= needs at least one random-effect term, e.g. '~ 1 | herd'")
    return " + ".join(out)
