"""Running NUTS (NumPyro) and gathering the draws, for both samplers.

The draws come back in the samplers' common "natural" form: per draw, ``Intercept``
(centred design), ``b``, ``sd_<k>``, ``L_<k>`` (correlated terms), ``r_<k>``
(``(levels, dim)`` group-level effects), ``sigma``, ``shape``; every array is shaped
``(chains, draws, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS, init_to_uniform

from ._collapsed import collapsed_model, draw_conditional, info_arrays
from ._data import BayesData
from ._joint import joint_data, make_joint_model
from ._priors import Prior, PriorSet

__all__ = ["SamplerOptions", "SamplingOutput", "run_sampler"]


@dataclass
class SamplerOptions:
    """NUTS settings (brms's names where it has them)."""

    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    seed: int | None = None
    adapt_delta: float = 0.8
    max_treedepth: int = 10
    chain_method: str = "sequential"
    progress: bool = True
    sampler: str = "joint"  # "joint" or "collapsed"


@dataclass
class SamplingOutput:
    """What one run produced."""

    draws: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    sampler: str
    elapsed_s: float


def _natural(bd: BayesData, samples: dict[str, Any], chains: int, n: int) -> dict[str, Any]:
    """Sites of either model to the natural names (shapes ``(chains, draws, ...)``)."""
    out: dict[str, Any] = {}
    for key in ("Intercept", "sigma", "shape"):
        if key in samples:
            out[key] = samples[key]
    if "b" in samples:
        out["b"] = samples["b"]
    else:
        out["b"] = jnp.zeros((chains, n, len(bd.coef_names)))
    for k, t in enumerate(bd.terms):
        out[f"sd_{k}"] = samples[f"sd_{k}"]
        if t.correlated:
            out[f"L_{k}"] = samples[f"L_{k}"]
        if f"r_{k}" in samples:
            out[f"r_{k}"] = samples[f"r_{k}"]
    return out


def _reassemble_vectors(bd: BayesData, samples: dict[str, Any], ps: PriorSet) -> None:
    """Vector parameters split into sites per distinct prior (``b_0``, ``b_1``) are
    recorded as deterministic sites by the joint model; the collapsed model records them
    the same way, so nothing to do here but check."""
    missing = [k for k in range(len(bd.terms)) if f"sd_{k}" not in samples]
    if missing:  # pragma: no cover - both models record sd_<k>
        raise RuntimeError(f"sampler lost sd_{missing}")


_FIELDS = ("diverging", "num_steps", "accept_prob", "energy", "adapt_state.step_size")

#: Compiled samplers keyed by the structure of the model and the settings (never by
#: the numbers of the data, which are arguments): a refit of the same design, or of a
#: new response to it, reuses the compiled program.
_RUNNERS: dict[tuple[Any, ...], Any] = {}


def _prior_key(ps: PriorSet) -> tuple[Any, ...]:
    def one(p: Prior | None) -> Any:
        return None if p is None else (p.dist, tuple(p.args), p.cls)

    return (
        one(ps.intercept),
        tuple((k, one(v)) for k, v in ps.b.items()),
        tuple((k, one(v)) for k, v in ps.sd.items()),
        tuple((k, one(v)) for k, v in ps.cor.items()),
        one(ps.sigma),
        one(ps.shape),
    )


def structure_key(bd: BayesData, ps: PriorSet) -> tuple[Any, ...]:
    """What a compiled sampler depends on besides the data's numbers."""
    return (
        bd.family,
        bd.link,
        bd.n,
        bd.has_intercept,
        tuple(bd.coef_names),
        tuple((t.group, t.n_levels, t.dim, t.correlated) for t in bd.terms),
        bd.weights is None,
        bd.trials is None,
        _prior_key(ps),
    )


def _model_and_data(bd: BayesData, ps: PriorSet, collapsed: bool) -> tuple[Any, Any, Any]:
    """``(model, data kwargs, collapsed info or None)``."""
    if collapsed:
        model, info = collapsed_model(bd, ps)
        return model, {"arrays": info_arrays(info)}, info
    return make_joint_model(bd, ps), {"y": jnp.asarray(bd.y), "data": joint_data(bd)}, None


def _chain_runner(bd: BayesData, ps: PriorSet, opts: SamplerOptions, model: Any) -> Any:
    """``f(data, key) -> (samples, extra fields)`` of one chain, compiled once per
    structure and settings.

    Everything, NumPyro's initialisation included, is one jitted program: left to
    itself NumPyro initialises op by op, compiling hundreds of small programs on every
    call.  Chains run one after another (``chain_method="sequential"``) so that no
    LAPACK kernel ever sees a batch (see :func:`._collapsed._conditional_fn`).
    """
    key = (
        "nuts",
        opts.sampler,
        structure_key(bd, ps),
        opts.warmup,
        opts.draws,
        opts.adapt_delta,
        opts.max_treedepth,
        opts.chain_method,
        opts.chains if opts.chain_method == "vectorized" else 1,
    )
    if key in _RUNNERS:
        return _RUNNERS[key]

    def run(data: dict[str, Any], rng: Any) -> Any:
        kernel = NUTS(
            model,
            target_accept_prob=opts.adapt_delta,
            max_tree_depth=opts.max_treedepth,
            init_strategy=init_to_uniform(radius=2.0),
        )
        mcmc = MCMC(
            kernel,
            num_warmup=opts.warmup,
            num_samples=opts.draws,
            num_chains=1,
            progress_bar=False,
        )
        mcmc.run(rng, extra_fields=_FIELDS, **data)
        return mcmc.get_samples(), mcmc.get_extra_fields()

    fn = jax.jit(run if opts.chain_method == "sequential" else jax.vmap(run, (None, 0)))
    _RUNNERS[key] = fn
    return fn


def _sample_prior(bd: BayesData, ps: PriorSet, opts: SamplerOptions, key: Any) -> SamplingOutput:
    """Independent draws from the prior and the prior predictive distribution."""
    import time

    from numpyro.infer import Predictive

    t0 = time.perf_counter()
    total = opts.chains * opts.draws
    ckey = ("prior", structure_key(bd, ps), total)
    if ckey not in _RUNNERS:
        model = make_joint_model(bd, ps)
        _RUNNERS[ckey] = jax.jit(
            lambda k, data: Predictive(model, num_samples=total)(k, y=None, data=data)
        )
    samples = _RUNNERS[ckey](key, joint_data(bd))
    samples = {k: v.reshape((opts.chains, opts.draws, *v.shape[1:])) for k, v in samples.items()}
    draws = _natural(bd, samples, opts.chains, opts.draws)
    draws["y"] = samples["y"]
    zeros = np.zeros((opts.chains, opts.draws))
    stats = {"diverging": zeros.astype(bool), "tree_depth": zeros.astype(int)}
    return SamplingOutput(
        {k: np.asarray(v) for k, v in draws.items()}, stats, "prior", time.perf_counter() - t0
    )


def _run_imh(bd: BayesData, ps: PriorSet, opts: SamplerOptions) -> SamplingOutput:
    """The independence Metropolis-Hastings sampler of the collapsed posterior."""
    from ._imh import run_imh
    from ._quadrature import QuadratureTarget

    # Gaussian: (v, beta_c) integrated out exactly; otherwise one scalar term's random
    # effects integrated out by adaptive quadrature (the estimator checked which applies)
    target = None if bd.family == "gaussian" else QuadratureTarget(bd, ps)
    draws, stats, record = run_imh(
        bd,
        ps,
        opts.chains,
        opts.draws,
        opts.warmup,
        opts.seed,
        progress=opts.progress,
        target=target,
    )
    out = SamplingOutput(draws, stats, "collapsed_imh", record["elapsed_s"])
    out.record = record  # type: ignore[attr-defined]
    return out


def run_sampler(
    bd: BayesData,
    ps: PriorSet,
    opts: SamplerOptions,
    prior_only: bool = False,
) -> SamplingOutput:
    """Run NUTS on the joint or collapsed posterior and return natural draws."""
    import time

    key = jax.random.PRNGKey(0 if opts.seed is None else int(opts.seed))
    key_mcmc, key_cond = jax.random.split(key)
    if prior_only:
        return _sample_prior(bd, ps, opts, key_mcmc)
    if opts.sampler == "collapsed_imh":
        return _run_imh(bd, ps, opts)
    collapsed = opts.sampler == "collapsed"
    model, data, info = _model_and_data(bd, ps, collapsed)
    t0 = time.perf_counter()
    runner = _chain_runner(bd, ps, opts, model)
    keys = jax.random.split(key_mcmc, opts.chains)
    if opts.chain_method == "vectorized":
        samples, extra = runner(data, keys)
    else:
        outs = []
        chains: Any = range(opts.chains)
        if opts.progress:
            from tqdm.auto import tqdm

            chains = tqdm(chains, desc=f"NUTS ({opts.sampler})", unit="chain")
        for c in chains:
            # blocking here keeps the bar honest and at most one chain in flight
            outs.append(jax.block_until_ready(runner(data, keys[c])))
        samples, extra = jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
    _reassemble_vectors(bd, samples, ps)
    draws = _natural(bd, samples, opts.chains, opts.draws)
    if collapsed:
        assert info is not None
        draws.update(draw_conditional(bd, info, {**samples, **draws}, key_cond))
    jax.block_until_ready(draws)
    elapsed = time.perf_counter() - t0
    stats = {
        "diverging": np.asarray(extra["diverging"]),
        "n_steps": np.asarray(extra["num_steps"]),
        "tree_depth": np.floor(np.log2(np.asarray(extra["num_steps"]) + 1)).astype(int),
        "acceptance_rate": np.asarray(extra["accept_prob"]),
        "energy": np.asarray(extra["energy"]),
        "step_size": np.asarray(extra["adapt_state.step_size"]),
    }
    return SamplingOutput(
        {k: np.asarray(v) for k, v in draws.items()},
        stats,
        "collapsed" if collapsed else "joint",
        elapsed,
    )
