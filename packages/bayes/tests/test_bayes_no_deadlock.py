"""Regression: sampling must not deadlock XLA's CPU thread pool.

A clean-clone CI run sat for 15 minutes at 0% CPU in ``jax.block_until_ready``.  A
stress run reproduced it and gdb showed the cause (decision 0024): both workers of
XLA's 2-thread intra-op pool inside jaxlib's batched LAPACK kernel
(``lapack_dtrsm_ffi`` -> ``jax::ParallelBatchMap``), each blocked on a
``BlockingCounter`` for chunks it had queued on that same pool.  The conditional draws
of the collapsed sampler solved hundreds of triangular systems as one batch, and
NumPyro's vectorized chains batched the marginal's Cholesky factorisations.

The fix keeps every LAPACK kernel unbatched (one system per call, run on the calling
thread).  These checks read the lowered programs, so they are deterministic and cheap:
no LAPACK custom call may take an operand with more than two dimensions.
"""

from __future__ import annotations

import re
import warnings

import jax
import pytest

import mixedmodels as mm


def _lapack_operand_shapes(text: str) -> list[tuple[str, list[tuple[int, ...]]]]:
    out = []
    for line in text.splitlines():
        if "custom_call @lapack_" not in line:
            continue
        name = re.search(r"@(lapack_\w+)", line).group(1)  # type: ignore[union-attr]
        signature = line.rsplit(" : ", 1)[1].split("->")[0]
        shapes = [
            tuple(int(d) for d in m.split("x")[:-1])
            for m in re.findall(r"tensor<([0-9x]*f64)>", signature)
        ]
        out.append((name, shapes))
    return out


def _setup(sleepstudy, sampler):
    from mixedmodels_bayes._estimator import _options

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.Model("Reaction ~ Days + (Days | Subject)", sleepstudy)
    opts, bd, ps, _ = _options(
        m, {"sampler": sampler, "chains": 4, "draws": 50, "warmup": 50, "progress": False}
    )
    return opts, bd, ps


def test_lapack_operand_parser():
    line = (
        "%3 = stablehlo.custom_call @lapack_dtrsm_ffi(%1, %2) {mhlo.backend_config = {}} "
        ": (tensor<800x37x37xf64>, tensor<800x37x1xf64>) -> tensor<800x37x1xf64>"
    )
    assert _lapack_operand_shapes(line) == [("lapack_dtrsm_ffi", [(800, 37, 37), (800, 37, 1)])]


@pytest.mark.parametrize("sampler", ["collapsed", "joint"])
def test_chain_program_has_no_batched_lapack(sleepstudy, sampler):
    from mixedmodels_bayes._sampler import _chain_runner, _model_and_data

    opts, bd, ps = _setup(sleepstudy, sampler)
    model, data, _ = _model_and_data(bd, ps, sampler == "collapsed")
    runner = _chain_runner(bd, ps, opts, model)
    text = runner.lower(data, jax.random.PRNGKey(0)).as_text()
    calls = _lapack_operand_shapes(text)
    if sampler == "collapsed":
        assert calls, "the collapsed marginal factorises its Schur complement with LAPACK"
    batched = [(n, s) for n, s in calls if any(len(x) > 2 for x in s)]
    assert not batched, batched


def test_conditional_draws_have_no_batched_lapack(sleepstudy):
    import jax.numpy as jnp
    from mixedmodels_bayes._collapsed import _conditional_fn, collapsed_info, info_arrays

    _, bd, ps = _setup(sleepstudy, "collapsed")
    info = collapsed_info(bd, ps)
    n = 800  # draws: the batch that deadlocked
    theta = {"sd_0": jnp.ones((n, 2)), "L_0": jnp.broadcast_to(jnp.eye(2), (n, 2, 2))}
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    fn = _conditional_fn(bd, info)
    text = fn.lower(
        info_arrays(info), theta, jnp.ones(n), jnp.zeros((n, len(info.sampled_idx))), keys
    ).as_text()
    calls = _lapack_operand_shapes(text)
    assert {c[0] for c in calls} >= {"lapack_dpotrf_ffi", "lapack_dtrsm_ffi"}
    batched = [(c, s) for c, s in calls if any(len(x) > 2 for x in s)]
    assert not batched, batched


def test_vectorized_collapsed_chains_refused_on_cpu(sleepstudy):
    from mixedmodels_bayes._estimator import _options

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.Model("Reaction ~ Days + (Days | Subject)", sleepstudy)
    with pytest.raises(ValueError, match="chain_method='sequential'"):
        _options(m, {"chain_method": "vectorized"})


def test_conditional_draws_under_concurrent_dispatch(sleepstudy):
    """The stress that reproduced the hang (several conditional-draw programs in
    flight at once), in a subprocess with a deadline so that a hang fails the test."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import warnings, jax, jax.numpy as jnp, numpy as np
        import mixedmodels as mm
        from mixedmodels_bayes._estimator import _options
        from mixedmodels_bayes._collapsed import collapsed_info, draw_conditional
        warnings.simplefilter("ignore")
        m = mm.Model("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
        _, bd, ps, _ = _options(m, {})
        info = collapsed_info(bd, ps)
        rng = np.random.default_rng(0)
        draws = {"sigma": jnp.asarray(rng.uniform(20, 30, (2, 400))),
                 "sd_0": jnp.asarray(rng.uniform(10, 30, (2, 400, 2))),
                 "L_0": jnp.broadcast_to(jnp.eye(2), (2, 400, 2, 2)),
                 "beta_s_all": jnp.full((2, 400, 1), 250.0)}
        for i in range(40):
            outs = [draw_conditional(bd, info, draws, jax.random.PRNGKey(4 * i + j))
                    for j in range(4)]
            jax.block_until_ready(outs)
        print("ok")
        """
    )
    env = dict(os.environ)
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith("ok")
