"""What `dync sample` prints (dync/commands/sampling.py): a target that is
not finite close to the draws (a support bound the sampler crosses) is
named with the remedy; a target finite everywhere gets no such line."""

from __future__ import annotations

import pytest

import dync
from dync.commands.sampling import sample_summary
from dync.runtime.sampling import sample_model


@pytest.mark.parametrize(
    "target, bounded",
    [("2 * log(q) - q", True),  # Gamma(3, 1) with an unconstrained q: NUTS crosses q = 0
     ("3 * q - exp(q)", False)],  # the same law of log q: finite everywhere
)  # fmt: skip
def test_a_support_bound_near_the_draws_is_named(tmp_path, target, bounded):
    spec = tmp_path / "gamma.dync"
    spec.write_text(f"model gamma_target\nstate q = 1\ntarget {target}\n")
    idata = sample_model(dync.load(spec), method="nuts", chains=2, warmup=200, samples=300, progress=False)
    text = sample_summary(idata)
    named = "the target is not finite close to the draws (at q = " in text
    assert named == bounded, text
    if bounded:
        assert "`q = exp(u)`" in text and int(idata.sample_stats.diverging.sum()) > 0


def test_x64_samples_a_target_in_float64_for_the_run_only(tmp_path):
    """`sample --x64` (or `x64: true` in a YAML `sample:` section) draws in
    float64, and the process's precision is float32 again afterwards."""
    import jax

    from dync.commands.sampling import sample_spec
    from dync.compiler.driver import read_spec
    from dync.settings import sample_settings

    path = tmp_path / "g.yaml"
    path.write_text("model: g64\nstates: {q: {init: 0}}\ntarget: -q^2 / 2\nsample: {x64: true}\n")
    spec = read_spec(path)
    kw = dict(method="mala", chains=1, warmup=5, samples=5)
    wide = sample_spec(spec, sample_settings(spec, **kw), progress=False)
    narrow = sample_spec(spec, sample_settings(spec, x64=False, **kw), progress=False)
    assert str(wide.posterior.q.dtype) == "float64" and str(narrow.posterior.q.dtype) == "float32"
    assert not jax.config.jax_enable_x64
