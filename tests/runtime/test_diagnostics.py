"""The diagnostics table of draws (dync/runtime/diagnostics.py): R-hat and
ESS per coordinate, and the warnings that say when they mean nothing."""

from __future__ import annotations

import numpy as np
import xarray as xr

from dync.runtime.diagnostics import posterior_table


def _posterior(**values) -> xr.Dataset:
    return xr.Dataset({k: (("chain", "draw"), v) for k, v in values.items()})


def test_a_healthy_posterior_has_no_warning():
    rng = np.random.default_rng(0)
    lines = posterior_table(_posterior(a=rng.standard_normal((4, 500))))
    assert not any(line.startswith("warning") for line in lines), lines
    assert "a" in lines[0] and "r_hat" in lines[0]


def test_a_chain_that_never_moves_is_named_and_its_ess_is_not_shown():
    """A sampler stuck at one point (a collapsed step on a particle-filter
    likelihood) got an ESS equal to its draw count and no warning."""
    rng = np.random.default_rng(1)
    s = rng.standard_normal((2, 50))
    s[1] = 0.6
    text = "\n".join(posterior_table(_posterior(s=s)))
    assert "the draws of s never move in chain 1" in text
    row = next(line for line in text.splitlines() if line.startswith("s "))
    assert row.split()[5:7] == ["nan", "nan"], row
    assert "see its step size" in text
    # a random walk has no step size: its remedy is its own
    text = "\n".join(posterior_table(_posterior(s=s), stuck_advice="raise --particles"))
    assert "mean nothing; raise --particles" in text and "step size" not in text


def test_one_chain_says_why_r_hat_is_nan():
    rng = np.random.default_rng(2)
    text = "\n".join(posterior_table(_posterior(a=rng.standard_normal((1, 400)))))
    assert "one chain: R-hat compares chains" in text


def test_draws_at_the_tree_depth_limit_are_warned_about():
    """NUTS on a particle-filter likelihood adapted a step of 1e-4 and nearly
    every draw took the 1023-step limit, with no word about it."""
    rng = np.random.default_rng(3)
    stats = xr.Dataset({"n_steps": (("chain", "draw"), np.full((2, 100), 1023)),
                        "step_size": (("chain", "draw"), np.full((2, 100), 1e-4))})  # fmt: skip
    text = "\n".join(posterior_table(_posterior(a=rng.standard_normal((2, 100))), stats))
    assert "200 of 200 draws hit NUTS's limit of 1023 leapfrog steps" in text
    fine = stats.assign(n_steps=(("chain", "draw"), np.full((2, 100), 7)))
    assert "leapfrog" not in "\n".join(posterior_table(_posterior(a=rng.standard_normal((2, 100))), fine))
