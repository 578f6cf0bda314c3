"""The ``nuts`` estimator and :func:`brm`.

Every option is checked, and the priors resolved against the model, before JAX
compiles anything: a bad prior, count or setting fails in milliseconds.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mixedmodels.interfaces import Estimator

from ._data import bayes_data, unsupported_reason
from ._priors import PriorError, build_prior_set, parse_priors

__all__ = ["NUTSEstimator", "brm", "fit_nuts"]

OPTIONS = (
    "priors",
    "chains",
    "draws",
    "warmup",
    "seed",
    "sampler",
    "adapt_delta",
    "max_treedepth",
    "chain_method",
    "progress",
    "sample_prior",
    "warn",
)


#: ``collapsed``: NUTS on the collapsed posterior; ``collapsed_imh``: independence
#: Metropolis-Hastings on it (numpy, no compilation); ``joint``: NUTS on everything.
SAMPLERS = ("auto", "joint", "collapsed", "collapsed_imh")


def _positive_int(value: Any, name: str, allow_zero: bool = False) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        need = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {need} integer, got {value!r}")
    return int(value)


def _on_cpu() -> bool:
    import jax

    return bool(jax.default_backend() == "cpu")


def _options(model: Any, options: dict[str, Any]) -> tuple[Any, Any, Any, str]:
    """Checked sampler options, data and priors (nothing is compiled here)."""
    from ._sampler import SamplerOptions

    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"nuts: unknown option(s) {unknown}; known: {list(OPTIONS)}")
    reason = unsupported_reason(model)
    if reason is not None:
        raise ValueError(f"the Bayesian estimators cannot fit this model: {reason}")
    chains = _positive_int(options.get("chains", 4), "chains")
    draws = _positive_int(options.get("draws", 1000), "draws")
    warmup = _positive_int(options.get("warmup", 1000), "warmup", allow_zero=True)
    adapt_delta = float(options.get("adapt_delta", 0.8))
    if not 0.0 < adapt_delta < 1.0:
        raise ValueError(f"adapt_delta must lie strictly between 0 and 1, got {adapt_delta}")
    max_treedepth = _positive_int(options.get("max_treedepth", 10), "max_treedepth")
    chain_method = options.get("chain_method", "sequential")
    if chain_method not in ("sequential", "vectorized"):
        raise ValueError(f"chain_method must be 'sequential' or 'vectorized', got {chain_method!r}")
    sample_prior = options.get("sample_prior", "no")
    if sample_prior not in ("no", "yes", "only"):
        raise ValueError(f"sample_prior must be 'no', 'yes' or 'only', got {sample_prior!r}")
    seed = options.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    bd = bayes_data(model)
    linear = bd.family == "gaussian" and bd.link == "identity"
    sampler = options.get("sampler", "auto")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    if sampler == "collapsed_imh" and not linear:
        from ._quadrature import quadrature_reason

        why = quadrature_reason(bd)
        if why is not None:
            raise ValueError(
                "sampler='collapsed_imh' integrates the random effects out: exactly for a "
                "Gaussian identity-link model, by adaptive quadrature for a GLMM with one "
                f"scalar random-effect term; this model cannot: {why}. Use sampler='joint'"
            )
    if sampler == "collapsed" and not linear:
        raise ValueError(
            f"sampler={sampler!r} integrates the random effects out exactly, which needs a "
            f"Gaussian model with the identity link (this one is {bd.family}/{bd.link}); "
            "use sampler='joint'"
        )
    if sampler in ("collapsed", "collapsed_imh") and not bd.terms:
        raise ValueError(f"sampler={sampler!r} needs at least one random-effect term")
    if sampler == "auto":
        sampler = "collapsed" if linear and bd.terms else "joint"
    if sampler == "collapsed" and chain_method == "vectorized" and _on_cpu():
        # batched LAPACK kernels can deadlock XLA's CPU thread pool (decision 0024)
        raise ValueError(
            "chain_method='vectorized' batches the collapsed sampler's Cholesky "
            "factorisations over chains, which jaxlib's CPU LAPACK kernels can deadlock "
            "on; use chain_method='sequential' on the CPU (vectorized is for GPUs)"
        )
    user = parse_priors(options.get("priors"))
    ps = build_prior_set(
        user,
        coefs=bd.coef_names,
        has_intercept=bd.has_intercept,
        terms=[(t.group, t.columns, t.correlated) for t in bd.terms],
        family=bd.family,
        link=bd.link,
        y_for_defaults=bd.y,
    )
    if sample_prior != "no":
        flat = [p for p in ps.all() if p.dist == "flat"]
        if flat:
            names = sorted({f"{p.cls} {p.coef}".strip() for p in flat})
            raise PriorError(
                f"sampling from the prior needs proper priors; flat priors on {names}: give "
                "them proper priors, e.g. prior('normal(0, 10)', 'b')"
            )
    opts = SamplerOptions(
        chains=chains,
        draws=draws,
        warmup=warmup,
        seed=seed,
        adapt_delta=adapt_delta,
        max_treedepth=max_treedepth,
        chain_method=chain_method,
        progress=bool(options.get("progress", True)),
        sampler=sampler,
    )
    return opts, bd, ps, sample_prior


def fit_nuts(model: Any, **options: Any) -> Any:
    """Sample the posterior of a :class:`mixedmodels.Model` (the estimator's ``fit``).

    Parameters
    ----------
    model
        The model.
    **options
        See :func:`brm`.
    """
    from ._results import BayesResult
    from ._sampler import run_sampler
    from ._warnings import check_sampling

    opts, bd, ps, sample_prior = _options(model, options)
    prior_out = None
    if sample_prior in ("yes", "only"):
        prior_out = run_sampler(bd, ps, opts, prior_only=True)
    if sample_prior == "only":
        assert prior_out is not None
        result = BayesResult(model, bd, ps, prior_out, opts, prior_output=prior_out)
        result.sampler = "prior"
        return result
    out = run_sampler(bd, ps, opts)
    result = BayesResult(model, bd, ps, out, opts, prior_output=prior_out)
    if options.get("warn", True):
        result.warnings = check_sampling(
            out.stats, result.scalars, opts.adapt_delta, opts.max_treedepth
        )
    return result


def brm(
    formula: str,
    data: Any,
    family: Any = "gaussian",
    priors: Any = None,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int | None = None,
    *,
    link: Any = None,
    weights: Any = None,
    offset: Any = None,
    **options: Any,
) -> Any:
    """Fit a Bayesian mixed model as brms's ``brm`` does.

    Parameters
    ----------
    formula
        lme4-syntax formula (every formula the core accepts).
    data
        The data.
    family
        ``"gaussian"``, ``"binomial"`` (``cbind(s, f)`` or a 0/1 response),
        ``"poisson"``, ``"negative_binomial"``, ``"Gamma"``.
    priors
        :func:`prior` objects or brms-syntax strings (``"prior(normal(0, 20), class =
        b)"``); brms's defaults for the rest (see :meth:`BayesResult.prior_summary`).
    chains, draws, warmup
        Number of chains, post-warm-up draws per chain and warm-up iterations.
    seed
        Seed of the random numbers (the same seed gives the same draws).
    link, weights, offset
        As :class:`mixedmodels.Model`.
    **options
        ``sampler`` (``"auto"``: the exact collapsed sampler for Gaussian LMMs, the
        joint NUTS sampler otherwise; or ``"joint"`` / ``"collapsed"``; or
        ``"collapsed_imh"``: the same collapsed posterior sampled by independence
        Metropolis-Hastings with a multivariate-t proposal fitted at its mode, in numpy
        without compilation, for large crossed designs and quick fits; for a GLMM with
        one scalar random-effect term, binomial, Poisson, negative binomial or Gamma, the
        random effects are integrated out by 25-node adaptive Gauss-Hermite quadrature
        and drawn exactly from their conditionals),
        ``adapt_delta`` (0.8), ``max_treedepth`` (10), ``chain_method``
        (``"sequential"``: one compiled chain run after another; ``"vectorized"``:
        all chains in one batched program, for GPUs),
        ``progress`` (a tqdm bar), ``sample_prior`` (``"no"``, ``"yes"``, ``"only"``:
        prior predictive draws), ``warn`` (sampler warnings, default on).

    Returns
    -------
    BayesResult
    """
    import mixedmodels as mm

    model = mm.Model(formula, data, family=family, link=link, weights=weights, offset=offset)
    return fit_nuts(
        model, priors=priors, chains=chains, draws=draws, warmup=warmup, seed=seed, **options
    )


class NUTSEstimator(Estimator):
    """``Model.fit(method="nuts", priors=..., chains=..., draws=...)``."""

    name: ClassVar[str] = "nuts"

    def supports(self, model: Any) -> str | None:
        try:
            return unsupported_reason(model)
        except Exception as err:  # supports() must not raise
            return f"not a mixedmodels.Model ({type(err).__name__}: {err})"

    def fit(self, model: Any, **options: Any) -> Any:
        return fit_nuts(model, **options)
