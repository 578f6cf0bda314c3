"""Priors as brms states them: classes, distributions, defaults and their table.

A prior is a distribution string (``"normal(0, 20)"``, ``"student_t(3, 0, 2.5)"``,
``"lkj(2)"``, ``"flat"``) with brms's ``class`` / ``coef`` / ``group``.  The defaults
are brms 2.18's (``get_prior``): ``student_t(3, location, scale)`` on the intercept of
the centred design, with location ``round(median(link(y)), 1)`` and scale
``max(2.5, round(mad(link(y)), 1))`` for identity/log/inverse/sqrt links (2.5 and 0
otherwise), ``student_t(3, 0, scale)`` on ``sd`` and ``sigma``, ``lkj(1)`` on ``cor``,
``gamma(0.01, 0.01)`` on ``shape`` and flat on ``b``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CLASSES",
    "DISTRIBUTIONS",
    "Prior",
    "PriorError",
    "PriorSet",
    "parse_priors",
    "prior",
]

#: brms's parameter classes this plugin knows.
CLASSES = ("Intercept", "b", "sd", "cor", "sigma", "shape")
#: Distribution name -> number of arguments.
DISTRIBUTIONS = {
    "normal": 2,
    "student_t": 3,
    "cauchy": 2,
    "exponential": 1,
    "gamma": 2,
    "lkj": 1,
    "flat": 0,
}
#: Classes whose parameters are positive (brms's ``lb = 0``): their priors are truncated.
POSITIVE = ("sd", "sigma", "shape")


class PriorError(ValueError):
    """A prior that cannot be used: unknown class or distribution, bad arguments, a
    coefficient or group that the model does not have, or an improper posterior."""


@dataclass(frozen=True)
class Prior:
    """One prior statement, as brms's ``prior(dist, class = ..., coef = ..., group = ...)``.

    Attributes
    ----------
    dist : str
        Distribution name (one of :data:`DISTRIBUTIONS`).
    args : tuple of float
        Its arguments in brms's order.
    cls : str
        Parameter class (one of :data:`CLASSES`).
    coef : str
        Coefficient name (``""`` for the whole class).
    group : str
        Grouping factor (``""`` for every group), for ``sd`` and ``cor``.
    source : str
        ``"user"`` or ``"default"``.
    """

    dist: str
    args: tuple[float, ...]
    cls: str
    coef: str = ""
    group: str = ""
    source: str = "user"

    def __str__(self) -> str:
        if self.dist == "flat":
            return "(flat)"
        return f"{self.dist}({', '.join(_fmt(a) for a in self.args)})"

    def log_density(self, x: Any) -> Any:
        """Log density at ``x`` (JAX), truncated at 0 for positive classes (the
        truncation constant is included, as brms's ``- lccdf(0)``)."""
        return self.distribution().log_prob(x)

    def distribution(self, shape: tuple[int, ...] = ()) -> Any:
        """The NumPyro distribution, truncated at zero for the positive classes."""
        import numpyro.distributions as dist

        a = self.args
        if self.dist == "flat":
            support = dist.constraints.positive if self.cls in POSITIVE else dist.constraints.real
            return dist.ImproperUniform(support, (), shape)
        if self.dist == "normal":
            d: Any = dist.Normal(a[0], a[1])
        elif self.dist == "student_t":
            d = dist.StudentT(a[0], a[1], a[2])
        elif self.dist == "cauchy":
            d = dist.Cauchy(a[0], a[1])
        elif self.dist == "exponential":
            d = dist.Exponential(a[0])
        elif self.dist == "gamma":
            d = dist.Gamma(a[0], a[1])
        else:  # pragma: no cover - lkj is built where the dimension is known
            raise PriorError(f"{self.dist} is not a distribution for a scalar parameter")
        if self.cls in POSITIVE and self.dist in ("normal", "student_t", "cauchy"):
            d = _positive_part(d)
        return d.expand(shape) if shape else d


def _positive_part(base: Any) -> Any:
    """``base`` truncated to the positive reals (brms's ``lb = 0``).

    NumPyro's truncated Student-t needs an inverse CDF that JAX lacks; this samples by
    inverting the CDF with bisection (exact to double precision) instead."""
    import jax
    import jax.numpy as jnp
    import numpyro.distributions as dist

    class PositivePart(dist.LeftTruncatedDistribution):  # type: ignore[misc]
        def sample(self, key: Any, sample_shape: tuple[int, ...] = ()) -> Any:
            shape = sample_shape + self.batch_shape
            u = jax.random.uniform(key, shape)
            b = self.base_dist
            lo_p = b.cdf(jnp.zeros(()))
            target = lo_p + u * (1.0 - lo_p)
            loc, scale = b.loc, b.scale
            lo = jnp.zeros(shape)
            hi = jnp.broadcast_to(jnp.abs(loc) + scale, shape)

            def grow(h: Any) -> Any:
                return jnp.where(b.cdf(h) < target, 2.0 * h, h)

            hi = jax.lax.fori_loop(0, 200, lambda i, h: grow(h), hi)

            def step(i: int, lh: tuple[Any, Any]) -> tuple[Any, Any]:
                lo_, hi_ = lh
                mid = 0.5 * (lo_ + hi_)
                below = b.cdf(mid) < target
                return jnp.where(below, mid, lo_), jnp.where(below, hi_, mid)

            lo, hi = jax.lax.fori_loop(0, 200, step, (lo, hi))
            return 0.5 * (lo + hi)

    return PositivePart(base, low=0.0)


def _fmt(a: float) -> str:
    return str(int(a)) if float(a).is_integer() else repr(float(a))


_CALL = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.S)


def _parse_dist(text: str) -> tuple[str, tuple[float, ...]]:
    text = text.strip()
    if text in ("", "flat", "(flat)"):
        return "flat", ()
    m = _CALL.match(text)
    if not m:
        raise PriorError(
            f"cannot read the prior {text!r}: write a distribution call such as "
            f"'normal(0, 10)'; known distributions: {', '.join(DISTRIBUTIONS)}"
        )
    name, body = m.group(1), m.group(2)
    if name == "lkj_corr_cholesky":
        name = "lkj"
    if name not in DISTRIBUTIONS:
        raise PriorError(f"unknown prior distribution {name!r}; known: {', '.join(DISTRIBUTIONS)}")
    try:
        args = tuple(float(s) for s in body.split(",") if s.strip())
    except ValueError as err:
        raise PriorError(f"prior {text!r}: arguments must be numbers") from err
    if len(args) != DISTRIBUTIONS[name]:
        raise PriorError(
            f"prior {text!r}: {name} takes {DISTRIBUTIONS[name]} argument(s), got {len(args)}"
        )
    if not all(np.isfinite(args)):
        raise PriorError(f"prior {text!r}: arguments must be finite")
    scale_args = {"normal": [1], "student_t": [0, 2], "cauchy": [1], "exponential": [0]}
    for i in scale_args.get(name, []):
        if args[i] <= 0:
            raise PriorError(f"prior {text!r}: argument {i + 1} must be positive")
    if name in ("gamma", "lkj") and min(args) <= 0:
        raise PriorError(f"prior {text!r}: arguments must be positive")
    return name, args


def prior(dist: str, class_: str = "b", coef: str = "", group: str = "") -> Prior:
    """A prior statement (brms's ``prior()``; ``class_`` because ``class`` is reserved).

    Parameters
    ----------
    dist
        ``"normal(0, 10)"``, ``"student_t(3, 0, 2.5)"``, ``"cauchy(0, 1)"``,
        ``"exponential(1)"``, ``"gamma(2, 0.1)"``, ``"lkj(2)"`` or ``"flat"``.
    class_
        ``"Intercept"``, ``"b"``, ``"sd"``, ``"cor"``, ``"sigma"`` or ``"shape"``.
    coef
        A coefficient of the class (``"Days"``); empty for all.
    group
        A grouping factor (``"Subject"``) for ``sd``/``cor``; empty for all.

    Examples
    --------
    >>> prior("normal(0, 20)", "b")
    Prior(dist='normal', args=(0.0, 20.0), cls='b', coef='', group='', source='user')
    """
    if class_ not in CLASSES:
        raise PriorError(f"unknown prior class {class_!r}; known: {', '.join(CLASSES)}")
    name, args = _parse_dist(dist)
    if (name == "lkj") != (class_ == "cor"):
        raise PriorError(
            f"prior {dist!r} on class {class_!r}: lkj is the prior of class 'cor' and "
            "class 'cor' takes only lkj"
        )
    if class_ in ("sigma", "shape", "Intercept") and group:
        raise PriorError(f"class {class_!r} has no group; got group={group!r}")
    if class_ in ("sigma", "shape", "Intercept", "cor") and coef:
        raise PriorError(f"class {class_!r} has no coefficients; got coef={coef!r}")
    if class_ == "b" and group:
        raise PriorError(f"class 'b' has no group; got group={group!r}")
    return Prior(name, args, class_, coef, group)


_BRMS = re.compile(r"^\s*(?:set_)?prior\s*\((.*)\)\s*$", re.S)


def _parse_brms(text: str) -> Prior:
    """``"prior(normal(0, 20), class = b, coef = Days)"`` (brms syntax) to a Prior."""
    m = _BRMS.match(text)
    if not m:
        raise PriorError(
            f"cannot read the prior {text!r}: give prior('normal(0, 1)', 'b') objects or "
            "brms syntax 'prior(normal(0, 1), class = b)'"
        )
    body = m.group(1)
    depth, parts, cur = 0, [], ""
    for ch in body:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    dist = parts[0].strip().strip("\"'")
    named: dict[str, str] = {}
    for p in parts[1:]:
        if "=" not in p:
            raise PriorError(f"prior {text!r}: write class = ..., coef = ..., group = ...")
        k, v = p.split("=", 1)
        named[k.strip()] = v.strip().strip("\"'")
    unknown = set(named) - {"class", "coef", "group"}
    if unknown:
        raise PriorError(f"prior {text!r}: unknown argument(s) {sorted(unknown)}")
    return prior(dist, named.get("class", "b"), named.get("coef", ""), named.get("group", ""))


def parse_priors(priors: Any) -> list[Prior]:
    """User priors from a :class:`Prior`, a brms-syntax string, or a sequence of them."""
    if priors is None:
        return []
    if isinstance(priors, (Prior, str)):
        priors = [priors]
    out = []
    for p in priors:
        if isinstance(p, Prior):
            out.append(p)
        elif isinstance(p, str):
            out.append(_parse_brms(p))
        else:
            raise PriorError(f"a prior must be a Prior or a brms-syntax string, got {p!r}")
    return out


@dataclass
class PriorSet:
    """The priors used for one model: one per parameter, with the table brms prints.

    Attributes
    ----------
    intercept : Prior or None
        Prior of the intercept of the centred design (``None`` without an intercept).
    b : dict
        Coefficient name -> prior (centred columns when there is an intercept).
    sd : dict
        ``(group, coef)`` -> prior.
    cor : dict
        group -> lkj prior, for terms with correlations.
    sigma, shape : Prior or None
        Residual SD (gaussian) and shape (negative binomial, Gamma).
    table : pandas.DataFrame
        brms's ``prior_summary`` rows: prior, class, coef, group, source.
    """

    intercept: Prior | None
    b: dict[str, Prior]
    sd: dict[tuple[str, str], Prior]
    cor: dict[str, Prior]
    sigma: Prior | None
    shape: Prior | None
    table: pd.DataFrame = field(default_factory=pd.DataFrame)

    def all(self) -> Iterable[Prior]:
        """Every prior in use."""
        fixed = [self.intercept, self.sigma, self.shape]
        yield from (p for p in fixed if p is not None)
        yield from self.b.values()
        yield from self.sd.values()
        yield from self.cor.values()


def _r_round1(x: float) -> float:
    return float(np.round(x, 1))


def default_scale(y: Any, link: str) -> tuple[float, float]:
    """brms's ``def_scale_prior``: (location, scale) of the default student_t priors."""
    location, scale = 0.0, 2.5
    if link in ("identity", "log", "inverse", "sqrt", "1/mu^2"):
        y = np.asarray(y, dtype=float)
        if link in ("log", "inverse", "1/mu^2"):
            y = np.where(y == 0, y + 0.1, y)
        with np.errstate(all="ignore"):
            yl = {
                "identity": y,
                "log": np.log(y),
                "inverse": 1.0 / y,
                "sqrt": np.sqrt(y),
                "1/mu^2": 1.0 / y**2,
            }[link]
        med = float(np.median(yl))
        mad = 1.4826 * float(np.median(np.abs(yl - med)))
        if np.isfinite(_r_round1(mad)):
            scale = max(scale, _r_round1(mad))
        if np.isfinite(_r_round1(med)):
            location = _r_round1(med)
    return location, scale


def build_prior_set(
    user: Sequence[Prior],
    *,
    coefs: Sequence[str],
    has_intercept: bool,
    terms: Sequence[tuple[str, list[str], bool]],
    family: str,
    link: str,
    y_for_defaults: Any,
) -> PriorSet:
    """Resolve user priors against brms's defaults for one model.

    Parameters
    ----------
    user
        The user's priors.
    coefs
        Fixed-effect coefficient names other than the intercept.
    has_intercept
        Whether the design has ``(Intercept)``.
    terms
        Per random-effect term: (group name, column names, correlated).
    family, link
        Family and link names (for ``sigma``/``shape`` and the default scale).
    y_for_defaults
        The response as brms sees it (successes for binomial).
    """
    location, scale = default_scale(y_for_defaults, link)
    has_sigma = family == "gaussian"
    has_shape = family in ("negative_binomial", "Gamma")
    groups: dict[str, list[str]] = {}
    for g, cols, _ in terms:  # brms merges the terms of one grouping factor
        groups.setdefault(g, []).extend(c for c in cols if c not in groups.get(g, []))
    corr_groups = {g for g, cols, corr in terms if corr and len(cols) > 1}
    rows: list[tuple[str, str, str, str, str]] = []

    for up in user:  # validate names before anything is built
        if up.cls == "Intercept" and not has_intercept:
            raise PriorError("prior on class 'Intercept' but the model has no intercept")
        if up.cls == "b" and up.coef and up.coef not in coefs:
            raise PriorError(
                f"prior on coefficient {up.coef!r} of class 'b': the model has no such "
                f"coefficient; its coefficients are {list(coefs)}"
            )
        if up.cls == "b" and not coefs:
            raise PriorError("prior on class 'b' but the model has no population-level slopes")
        if up.cls in ("sd", "cor") and up.group and up.group not in groups:
            raise PriorError(
                f"prior on class {up.cls!r} for group {up.group!r}: the model's grouping "
                f"factors are {list(groups)}"
            )
        if up.cls == "sd" and up.coef:
            cols = groups[up.group] if up.group else [c for cs in groups.values() for c in cs]
            if up.coef not in cols:
                where = f"group {up.group!r}" if up.group else "any group"
                raise PriorError(
                    f"prior on class 'sd' for coefficient {up.coef!r}: {where} has no such "
                    f"term; its terms are {sorted(set(cols))}"
                )
        if up.cls == "cor" and not corr_groups:
            raise PriorError("prior on class 'cor' but the model has no correlated terms")
        if up.cls == "cor" and up.group and up.group not in corr_groups:
            raise PriorError(
                f"prior on class 'cor' for group {up.group!r}: it has no correlations; "
                f"groups with correlations: {sorted(corr_groups)}"
            )
        if up.cls == "sigma" and not has_sigma:
            raise PriorError(f"prior on class 'sigma' but family {family!r} has no sigma")
        if up.cls == "shape" and not has_shape:
            raise PriorError(f"prior on class 'shape' but family {family!r} has no shape")
        if up.cls in ("sd", "shape") and up.dist == "flat":
            raise PriorError(
                f"a flat prior on class {up.cls!r} is improper and can make the posterior "
                "improper; give a proper prior (e.g. student_t(3, 0, 2.5))"
            )

    def pick(cls: str, coef: str = "", group: str = "") -> Prior | None:
        """Most specific user prior: (coef, group) > (coef) > (group) > class."""
        best, rank = None, -1
        for p in user:
            if p.cls != cls:
                continue
            if (p.coef and p.coef != coef) or (p.group and p.group != group):
                continue
            r = 2 * bool(p.coef) + bool(p.group)
            if r >= rank:
                best, rank = p, r
        return best

    def user_at(cls: str, coef: str = "", group: str = "") -> Prior | None:
        for p in user:
            if (p.cls, p.coef, p.group) == (cls, coef, group):
                return p
        return None

    def row(p: Prior | None, cls: str, coef: str, group: str, fallback: str) -> None:
        """A prior_summary row: the user's exact statement, else the class default
        (class rows) or an empty, inherited entry (coefficient and group rows)."""
        exact = user_at(cls, coef, group)
        if exact is not None:
            rows.append((str(exact), cls, coef, group, "user"))
        else:
            rows.append(("" if (coef or group) else fallback, cls, coef, group, "default"))

    b: dict[str, Prior] = {}
    if coefs:
        cls_b = pick("b")
        row(cls_b, "b", "", "", str(cls_b) if cls_b else "(flat)")
        for c in coefs:
            p = pick("b", c)
            b[c] = p if p is not None else Prior("flat", (), "b", c, source="default")
            row(p, "b", c, "", "")
    intercept = None
    if has_intercept:
        p = pick("Intercept")
        intercept = (
            p
            if p is not None
            else Prior("student_t", (3.0, location, scale), "Intercept", source="default")
        )
        row(p, "Intercept", "", "", str(intercept))
    cor: dict[str, Prior] = {}
    if corr_groups:
        base = pick("cor")
        row(base, "cor", "", "", str(base) if base else "lkj(1)")
        for g in groups:
            if g in corr_groups:
                p = pick("cor", group=g)
                cor[g] = p if p is not None else Prior("lkj", (1.0,), "cor", "", g, "default")
                row(p, "cor", "", g, "")
    sd: dict[tuple[str, str], Prior] = {}
    if groups:
        base = pick("sd")
        default_sd = Prior("student_t", (3.0, 0.0, scale), "sd", source="default")
        row(base, "sd", "", "", str(base) if base else str(default_sd))
        for g, cols in groups.items():
            row(pick("sd", group=g), "sd", "", g, "")
            for c in cols:
                p = pick("sd", c, g)
                sd[(g, c)] = p if p is not None else default_sd
                row(p, "sd", c, g, "")
    sigma: Prior | None = None
    if has_sigma:
        p = pick("sigma")
        sigma = (
            p
            if p is not None
            else Prior("student_t", (3.0, 0.0, scale), "sigma", "", "", "default")
        )
        row(p, "sigma", "", "", str(sigma))
    shape: Prior | None = None
    if has_shape:
        p = pick("shape")
        shape = p if p is not None else Prior("gamma", (0.01, 0.01), "shape", "", "", "default")
        row(p, "shape", "", "", str(shape))
    table = pd.DataFrame(rows, columns=["prior", "class", "coef", "group", "source"])
    table["lb"] = np.where(table["class"].isin(POSITIVE), "0", "")
    table = table[["prior", "class", "coef", "group", "lb", "source"]]
    return PriorSet(intercept, b, sd, cor, sigma, shape, table)
