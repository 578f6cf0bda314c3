"""Observation models on JAX: inverse links, the response distribution, the linear
predictor from parameter draws.

Importing this module switches JAX to double precision (``jax_enable_x64``): the
collapsed sampler's Cholesky factors and the reference checks need it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ._data import BayesData

numpyro.enable_x64()
jax.config.update("jax_enable_x64", True)

__all__ = ["inverse_link", "linear_predictor", "observation"]


def inverse_link(link: str, eta: Any) -> Any:
    """The mean from the linear predictor."""
    if link == "identity":
        return eta
    if link == "log":
        return jnp.exp(eta)
    if link == "logit":
        return jax.nn.sigmoid(eta)
    if link == "probit":
        return jax.scipy.stats.norm.cdf(eta)
    if link == "cloglog":
        return -jnp.expm1(-jnp.exp(eta))
    if link == "inverse":
        return 1.0 / eta
    if link == "sqrt":
        return eta * eta
    if link == "1/mu^2":
        return 1.0 / jnp.sqrt(eta)
    raise ValueError(f"link {link!r} is not implemented")


def observation(
    bd: BayesData,
    eta: Any,
    sigma: Any = None,
    shape: Any = None,
    trials: Any = None,
    weights: Any = None,
) -> Any:
    """The response distribution given the linear predictor (batch shape of ``eta``).

    ``trials`` and ``weights`` default to the model's; pass them for new data.
    """
    fam, link = bd.family, bd.link
    if trials is None and bd.trials is not None:
        trials = jnp.asarray(bd.trials)
    if weights is None and bd.weights is not None:
        weights = jnp.asarray(bd.weights)
    if fam == "gaussian":
        scale = sigma if weights is None else sigma / jnp.sqrt(weights)
        return dist.Normal(inverse_link(link, eta), scale)
    if fam == "binomial":
        # integer trials: NumPyro's binomial sampler indexes with them
        trials = jnp.round(jnp.asarray(trials)).astype(jnp.int64)
        if link == "logit":
            return dist.BinomialLogits(eta, total_count=trials)
        p = jnp.clip(inverse_link(link, eta), 1e-15, 1 - 1e-15)
        return dist.BinomialProbs(p, total_count=trials)
    if fam == "poisson":
        return dist.Poisson(inverse_link(link, eta))
    if fam == "negative_binomial":
        return dist.NegativeBinomial2(inverse_link(link, eta), shape)
    if fam == "Gamma":
        mu = inverse_link(link, eta)
        return dist.Gamma(shape, shape / mu)
    raise ValueError(f"family {fam!r} is not implemented")


def obs_weights(bd: BayesData) -> Any:
    """Log-likelihood multipliers: prior weights for non-gaussian families."""
    if bd.family == "gaussian" or bd.weights is None:
        return None
    return jnp.asarray(bd.weights)


def linear_predictor(
    params: dict[str, Any],
    Xc: Any,
    offset: Any,
    Zs: list[Any],
    codes: list[Any],
    has_intercept: bool,
) -> Any:
    """``offset + Intercept + Xc b + sum_k Z_k r_k[codes_k]`` for one parameter draw;
    a code of ``-1`` (a term left out, or a level not in ``r_k``) contributes zero."""
    eta = offset + (params["Intercept"] if has_intercept else 0.0)
    if Xc.shape[1]:
        eta = eta + Xc @ params["b"]
    for k, (Z, code) in enumerate(zip(Zs, codes, strict=True)):
        known = code >= 0
        rk = params[f"r_{k}"][jnp.where(known, code, 0)]
        eta = eta + jnp.where(known, jnp.sum(Z * rk, axis=1), 0.0)
    return eta
