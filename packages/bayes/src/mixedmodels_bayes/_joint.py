"""The full joint model in NumPyro, as brms writes it in Stan.

Population-level effects on the centred design, non-centred group-level effects
``r = z (diag(sd) L)'`` with ``z ~ N(0, 1)`` and ``L ~ LKJCholesky(eta)``, and the
response distribution of :mod:`._likelihood`.  The sampled parameters are named as
brms's Stan code names them (``Intercept``, ``b``, ``sd_<k>``, ``L_<k>``, ``z_<k>``,
``sigma``, ``shape``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from ._data import BayesData
from ._likelihood import linear_predictor, observation
from ._priors import Prior, PriorSet

__all__ = ["joint_data", "make_joint_model", "sample_scale_parameters", "sample_vector"]


def sample_vector(name: str, priors: Sequence[Prior]) -> Any:
    """A vector parameter whose elements have the given priors: one NumPyro site per
    distinct prior (``name`` itself when all are equal)."""
    if not priors:
        return jnp.zeros(0)
    keys = [(p.dist, p.args, p.cls in ("sd", "sigma", "shape")) for p in priors]
    distinct = list(dict.fromkeys(keys))
    if len(distinct) == 1:
        return numpyro.sample(name, priors[0].distribution((len(priors),)))
    out = jnp.zeros(len(priors))
    for j, key in enumerate(distinct):
        idx = np.array([i for i, k in enumerate(keys) if k == key])
        p = priors[int(idx[0])]
        out = out.at[idx].set(numpyro.sample(f"{name}_{j}", p.distribution((len(idx),))))
    return out


def lkj_distribution(dim: int, p: Prior) -> Any:
    return dist.LKJCholesky(dim, concentration=p.args[0])


def sample_scale_parameters(bd: BayesData, ps: PriorSet) -> dict[str, Any]:
    """SDs, correlation factors, sigma and shape (shared by both samplers)."""
    out: dict[str, Any] = {}
    for k, t in enumerate(bd.terms):
        out[f"sd_{k}"] = sample_vector(f"sd_{k}", [ps.sd[(t.group, c)] for c in t.columns])
        if t.correlated:
            out[f"L_{k}"] = numpyro.sample(f"L_{k}", lkj_distribution(t.dim, ps.cor[t.group]))
    if ps.sigma is not None:
        out["sigma"] = numpyro.sample("sigma", ps.sigma.distribution())
    if ps.shape is not None:
        out["shape"] = numpyro.sample("shape", ps.shape.distribution())
    return out


def term_factor(params: dict[str, Any], k: int, correlated: bool) -> Any:
    """``diag(sd) L`` of term ``k`` (``diag(sd)`` when uncorrelated)."""
    sd = params[f"sd_{k}"]
    if correlated:
        return sd[:, None] * params[f"L_{k}"]
    return jnp.diag(sd)


def joint_data(bd: BayesData) -> dict[str, Any]:
    """The numbers of the joint model, passed to it as arguments (so one compiled
    sampler serves every data set of the same structure)."""
    data: dict[str, Any] = {
        "Xc": jnp.asarray(bd.Xc),
        "offset": jnp.asarray(bd.offset),
        "Z": [jnp.asarray(t.Z) for t in bd.terms],
        "codes": [jnp.asarray(t.codes) for t in bd.terms],
    }
    if bd.weights is not None:
        data["weights"] = jnp.asarray(bd.weights)
    if bd.trials is not None:
        data["trials"] = jnp.asarray(bd.trials)
    return data


def make_joint_model(bd: BayesData, ps: PriorSet) -> Callable[..., None]:
    """The NumPyro model of the full joint posterior.

    The returned function takes ``y`` (``None`` for prior predictive draws) and
    ``data`` (:func:`joint_data`; ``bd``'s own when omitted).  Only the structure of
    ``bd`` (terms, family, link, which of weights and trials exist) is read at trace
    time.
    """
    b_priors = [ps.b[c] for c in bd.coef_names]
    own = joint_data(bd)

    def model(y: Any = None, data: Any = None) -> None:
        d = own if data is None else data
        params = sample_scale_parameters(bd, ps)
        if bd.has_intercept:
            assert ps.intercept is not None
            params["Intercept"] = numpyro.sample("Intercept", ps.intercept.distribution())
        params["b"] = sample_vector("b", b_priors)
        for k, t in enumerate(bd.terms):
            z = numpyro.sample(f"z_{k}", dist.Normal(0.0, 1.0).expand((t.n_levels, t.dim)))
            params[f"r_{k}"] = numpyro.deterministic(
                f"r_{k}", z @ term_factor(params, k, t.correlated).T
            )
        if len(set((p.dist, p.args) for p in b_priors)) > 1:
            numpyro.deterministic("b", params["b"])
        for k, t in enumerate(bd.terms):
            if len({(ps.sd[(t.group, c)].dist, ps.sd[(t.group, c)].args) for c in t.columns}) > 1:
                numpyro.deterministic(f"sd_{k}", params[f"sd_{k}"])
        eta = linear_predictor(params, d["Xc"], d["offset"], d["Z"], d["codes"], bd.has_intercept)
        weights = d.get("weights")
        obs = observation(
            bd, eta, params.get("sigma"), params.get("shape"), d.get("trials"), weights
        )
        if weights is None or bd.family == "gaussian":
            numpyro.sample("y", obs, obs=y)
        else:
            with numpyro.handlers.scale(scale=weights):
                numpyro.sample("y", obs, obs=y)

    return model
