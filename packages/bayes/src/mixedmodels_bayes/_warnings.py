"""Sampler diagnostics that warn, with brms's (Stan's) advice."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

__all__ = ["SamplingWarning", "check_sampling"]


class SamplingWarning(UserWarning):
    """Divergent transitions, maximum tree depth hits, high R-hat or low ESS."""


def check_sampling(
    stats: Mapping[str, np.ndarray],
    scalars: Mapping[str, np.ndarray],
    adapt_delta: float,
    max_treedepth: int,
) -> list[str]:
    """Warn (:class:`SamplingWarning`) as brms does after sampling; return the messages.

    Parameters
    ----------
    stats
        ``diverging`` and ``tree_depth``, ``(chains, draws)``.
    scalars
        Draws of the scalar parameters, ``(chains, draws)`` each.
    adapt_delta, max_treedepth
        The settings used (named in the advice).
    """
    import arviz as az

    messages = []
    n_div = int(np.sum(stats["diverging"]))
    if n_div:
        messages.append(
            f"There were {n_div} divergent transitions after warmup. Increasing "
            f"adapt_delta above {adapt_delta} may help. See "
            "http://mc-stan.org/misc/warnings.html#divergent-transitions-after-warmup"
        )
    n_depth = int(np.sum(stats["tree_depth"] >= max_treedepth))
    if n_depth:
        messages.append(
            f"There were {n_depth} transitions after warmup that exceeded the maximum "
            f"treedepth. Increase max_treedepth above {max_treedepth}. See "
            "http://mc-stan.org/misc/warnings.html#maximum-treedepth-exceeded"
        )
    chains = next(iter(scalars.values())).shape[0] if scalars else 1
    rhat = {k: float(az.rhat(v)) for k, v in scalars.items()} if chains > 1 else {}
    bad = [k for k, v in rhat.items() if not v <= 1.05]
    if bad:
        worst = max(rhat[k] for k in bad)
        messages.append(
            f"The largest R-hat is {worst:.3g} ({', '.join(bad)}), indicating chains have "
            "not mixed. Running the chains for more iterations may help. See "
            "http://mc-stan.org/misc/warnings.html#r-hat"
        )
    limit = 100 * chains
    bulk = [k for k, v in scalars.items() if not float(az.ess(v, method="bulk")) >= limit]
    if bulk:
        messages.append(
            f"Bulk Effective Samples Size (ESS) is too low ({', '.join(bulk)}), indicating "
            "posterior means and medians may be unreliable. Running the chains for more "
            "iterations may help. See http://mc-stan.org/misc/warnings.html#bulk-ess"
        )
    tail = [k for k, v in scalars.items() if not float(az.ess(v, method="tail")) >= limit]
    if tail:
        messages.append(
            f"Tail Effective Samples Size (ESS) is too low ({', '.join(tail)}), indicating "
            "posterior variances and tail quantiles may be unreliable. Running the chains "
            "for more iterations may help. See http://mc-stan.org/misc/warnings.html#tail-ess"
        )
    for m in messages:
        warnings.warn(m, SamplingWarning, stacklevel=3)
    return messages
