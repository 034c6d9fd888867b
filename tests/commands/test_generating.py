"""`dync sample --reverse --prior LAW` (dync.commands.generating,
dync.compiler.prior, dync.settings): the law is parsed by the spec grammar
(from a flag, or located in a YAML `sample:` section), checked against the
model (a constant, continuous law broadcasting to the state's shape), and
the reverse process starts from it; a non-linear forward SDE whose weights
keep no terminal samples asks for it."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

import dync
from dync.commands.generating import generate_summary
from dync.compiler.driver import read_spec
from dync.errors import DyncError, DyncSyntaxError, SpecErrors, UsageError
from dync.runtime.score_training import save_weights
from dync.settings import sample_settings

ROOT = Path(__file__).resolve().parents[2]
VP1 = str(ROOT / "specs/diffusion/gmm1d_vp.dync")
VP1_TEXT = open(VP1).read().replace("width = 32, depth = 2", "width = 8, depth = 1")
GBM = str(ROOT / "specs/diffusion/gbm_2d.dync")
GBM_TEXT = open(GBM).read().replace("width = 64, depth = 2", "width = 8, depth = 1")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Untrained weights of small 1-D VP and 2-D GBM models, saved as `dync
    train` would (both on t in [0.99, 1], so that the samples stay near
    where they start; the GBM's without terminal samples: an older file)."""
    where = tmp_path_factory.mktemp("w")
    vp = dync.load(VP1, jax.random.key(1), text=VP1_TEXT)
    save_weights(where / "vp.eqx", vp, {"model": vp.info.name, "t_min": 0.99, "t1": 1.0, "data_mean": [0.0],
                                        "data_cov": [[1.0]], "forward_class": "linear"})  # fmt: skip
    gbm = dync.load(GBM, jax.random.key(1), text=GBM_TEXT)
    save_weights(where / "gbm.eqx", gbm, {"model": gbm.info.name, "t_min": 0.99, "t1": 1.0, "data_mean": [1.0, 1.0],
                                          "data_cov": [[1.0, 0.0], [0.0, 1.0]], "forward_class": "other"})  # fmt: skip
    return where


def _generate(path, text, weights, **flags):
    """Generate as `dync sample --reverse` does (through sample_spec, which
    holds float64 for an --x64 run)."""
    from dync.commands.sampling import sample_spec

    spec = read_spec(path, text)
    flags = dict(dict(reverse="sde", samples=400, steps=20, seed=0), **flags)
    return sample_spec(spec, sample_settings(spec, weights=str(weights), **flags), progress=False)


def test_the_reverse_process_starts_from_the_prior_given(weights):
    """The samples start from the prior: over t in [0.99, 1] the reverse SDE
    moves them little, so from N(50, 0.01^2) they stay near 50, and from the
    default terminal law (about N(0, 1)) near 0."""
    default = _generate(VP1, VP1_TEXT, weights / "vp.eqx")
    shifted = _generate(VP1, VP1_TEXT, weights / "vp.eqx", prior="Normal(50, 0.01)")
    assert abs(float(default["x"].mean())) < 1
    assert 40 < float(shifted["x"].mean()) < 60
    assert shifted.attrs["prior"] == "Normal(50, 0.01)"
    assert "started from Normal(50, 0.01)" in generate_summary(shifted)


def test_a_non_linear_forward_sde_without_terminal_samples_needs_a_prior(weights):
    with pytest.raises(UsageError) as err:
        _generate(GBM, GBM_TEXT, weights / "gbm.eqx")
    assert "not linear" in err.value.message and "--prior" in err.value.hint
    ds = _generate(GBM, GBM_TEXT, weights / "gbm.eqx", prior="LogNormal([0, 0.5], 0.5)", samples=50, steps=5,
                   reverse="ode", loglik=True)  # fmt: skip
    assert ds["x"].shape == (50, 2) and np.all(np.isfinite(ds["loglik"].values))  # a prior has a density
    assert ds["x"].dims == ("sample", "x_dim0")  # component dims named as dync simulate names them


def test_a_yaml_sample_section_gives_the_prior_located(tmp_path):
    spec = tmp_path / "vp.yaml"
    text = (ROOT / "specs/diffusion/gmm2d_vp.yaml").read_text() + 'sample:\n  prior: "Normal(0, scale = 2)"\n'
    spec.write_text(text)
    settings = sample_settings(read_spec(spec), reverse="sde", weights="w.eqx")
    assert settings.prior.func == "Normal" and settings.prior.span.path == str(spec)
    assert settings.prior.span.line == text.count("\n")
    flag = sample_settings(read_spec(spec), reverse="sde", weights="w.eqx", prior="Laplace(0, 1)")
    assert flag.prior.func == "Laplace"  # the flag wins
    spec.write_text(text.replace("Normal(0, scale = 2)", "Normal(0,"))
    with pytest.raises(SpecErrors) as err:
        read_spec(spec)
    assert f"{spec}:{text.count(chr(10))}:" in err.value.render()


def test_a_prior_flag_with_bad_syntax_is_located_in_the_flag():
    spec = read_spec(VP1, VP1_TEXT)
    with pytest.raises(DyncSyntaxError) as err:
        sample_settings(spec, reverse="sde", weights="w.eqx", prior="Normal(0, 1")
    assert err.value.render().startswith("--prior:1:")
    with pytest.raises(UsageError) as err:
        sample_settings(spec, prior="Normal(0, 1)")  # not generating
    assert "--prior is for generating" in err.value.message


@pytest.mark.parametrize(
    "prior, message, column",
    [
        ("Normall(0, 1)", "`Normall` is not a distribution", 1),
        ("Poisson(3)", "discrete", 1),
        ("Normal(x, 1)", "reads `x`, which is not a constant", 8),
        ("Normal([0, 0, 0], 1)", "does not broadcast to the shape (2,) of `x`", 8),
        ("Normal(0, -1)", "`scale` must be positive", 11),
        ("Normal(0, 1, 2)", "takes 2 arguments", 1),
        ("Normal(0, sd = 1)", "has no parameter `sd`", 11),
        ("Uniform(1, 0)", "`low` must be below its `high`", 1),
    ],
)
def test_a_bad_prior_is_a_located_error(prior, message, column):
    from dync.compiler.driver import compile_file
    from dync.compiler.prior import check_prior
    from dync.settings.common import parse_prior

    model = compile_file(ROOT / "specs/diffusion/gmm2d_vp.dync").model
    with pytest.raises(SpecErrors) as err:
        check_prior(parse_prior(prior), model, "x")
    (e,) = err.value.errors
    assert message in e.message and e.span.path == "--prior" and e.span.column == column, e.render()


def test_a_prior_may_read_the_spec_dims_and_parameters():
    from dync.compiler.driver import compile_file
    from dync.compiler.prior import check_prior
    from dync.settings.common import parse_prior

    model = compile_file(ROOT / "specs/diffusion/gmm2d_vp.dync").model
    law = check_prior(parse_prior("Normal(0, sqrt(beta_min) * D)"), model, "x")
    assert law.shape == (2,) and np.allclose(dict(law.args)["scale"], 2 * np.sqrt(0.1))
    assert isinstance(law.args[0][1], np.ndarray) and law.args[0][1].shape == (2,)
    assert issubclass(SpecErrors, DyncError)


def test_x64_generates_in_float64_from_float32_weights(weights):
    """`--x64` widens float32 weights exactly (the net is the one trained)
    and generates float64 samples; the float32 run's samples agree to
    float32 rounding over the short reverse span."""
    narrow = _generate(VP1, VP1_TEXT, weights / "vp.eqx", samples=50)
    wide = _generate(VP1, VP1_TEXT, weights / "vp.eqx", samples=50, x64=True)
    assert narrow["x"].dtype == np.float32 and wide["x"].dtype == np.float64
    assert not jax.config.jax_enable_x64  # the run held float64 only while it ran


def test_float64_weights_in_a_float32_run_are_refused_with_the_flag(weights, tmp_path):
    with jax.enable_x64(True):
        vp = dync.load(VP1, jax.random.key(1), text=VP1_TEXT)
        save_weights(tmp_path / "vp64.eqx", vp, {"model": vp.info.name, "t_min": 0.99, "t1": 1.0, "data_mean": [0.0],
                                                 "data_cov": [[1.0]], "forward_class": "linear"})  # fmt: skip
    with pytest.raises(UsageError, match="are float64, but this run computes in float32") as err:
        _generate(VP1, VP1_TEXT, tmp_path / "vp64.eqx", samples=10)
    assert "--x64" in err.value.hint
    assert _generate(VP1, VP1_TEXT, tmp_path / "vp64.eqx", samples=10, x64=True)["x"].dtype == np.float64
