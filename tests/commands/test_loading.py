"""dync.load(spec, weights=FILE) (dync.commands.loading): the model comes
back with the saved weights, needs no key, and weights that do not fit are
refused with a UsageError naming the file."""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dync
from dync.errors import UsageError
from dync.runtime.score_training import save_weights

ROOT = Path(__file__).resolve().parents[2]
VP = str(ROOT / "specs/diffusion/gmm2d_vp.dync")
SMALL = open(VP).read().replace("width = 64, depth = 2", "width = 8, depth = 1")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A model with weights drawn from key(1), saved as `dync train` would."""
    model = dync.load(VP, jax.random.key(1), text=SMALL)
    path = tmp_path_factory.mktemp("weights") / "trained.eqx"
    save_weights(path, model, {"model": model.info.name, "t_min": 1e-3, "t1": 1.0})
    return model, path


def test_load_with_weights_restores_them_without_a_key(saved):
    model, path = saved
    restored = dync.load(VP, text=SMALL, weights=path)
    fresh = dync.load(VP, jax.random.key(0), text=SMALL)
    ours, theirs, other = (jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_array)) for m in (restored, model, fresh))
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))
    assert not all(np.array_equal(a, b) for a, b in zip(ours, other))
    x = jnp.array([0.3, -0.2])
    assert np.allclose(restored.score(0.5, x, None), model.score(0.5, x, None))


def test_load_refuses_weights_of_another_net(saved, tmp_path):
    _, path = saved
    with pytest.raises(UsageError) as err:
        dync.load(VP, weights=path)  # width 64: not the saved nets
    assert f"`{path}`" in err.value.message and "--set" in err.value.hint


def test_load_refuses_a_file_that_is_not_weights(tmp_path):
    bad = tmp_path / "notes.eqx"
    bad.write_text("hello\n")
    with pytest.raises(UsageError) as err:
        dync.load(VP, text=SMALL, weights=bad)
    assert "is not a dync weights file" in err.value.message
    with pytest.raises(UsageError) as err:
        dync.load(VP, text=SMALL, weights=tmp_path / "missing.eqx")
    assert "cannot read the weights file" in err.value.message


def test_load_without_a_path_is_a_usage_error():
    import dync

    with pytest.raises(dync.UsageError, match="load needs the spec's path, got NoneType"):
        dync.load(None, text="model m\nstate x = 0\ndx = -x dt\n")


def test_load_takes_an_integer_seed_as_simulate_does():
    """`dync.load(spec, 3)` is `dync.load(spec, jax.random.key(3))`; a float
    or a bool is a UsageError, not JAX's traceback."""
    by_seed = dync.load(VP, 3, text=SMALL)
    by_key = dync.load(VP, jax.random.key(3), text=SMALL)
    for a, b in zip(jax.tree.leaves(eqx.filter(by_seed, eqx.is_array)), jax.tree.leaves(eqx.filter(by_key, eqx.is_array))):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(UsageError, match="integer seed"):
        dync.load(VP, 1.5, text=SMALL)
    with pytest.raises(UsageError, match="not a bool"):
        dync.load(VP, True, text=SMALL)


def test_weights_load_whatever_the_spelling_of_the_spec_path(saved, tmp_path, monkeypatch):
    """Trained as `gmm2d_vp.dync` in its folder, loaded as `./...`, an
    absolute path or a copy elsewhere: the same nets and dims, the same
    weights (the spec's path is no part of the structure digest)."""
    model, path = saved
    other = tmp_path / "copy.dync"
    other.write_text(SMALL)
    monkeypatch.chdir(tmp_path)
    for spelling in (str(other), "./copy.dync", "copy.dync"):
        loaded = dync.load(spelling, weights=path)
        for a, b in zip(jax.tree.leaves(eqx.filter(loaded, eqx.is_array)), jax.tree.leaves(eqx.filter(model, eqx.is_array))):
            np.testing.assert_array_equal(a, b)


def test_train_with_output_writes_the_file_load_reads(tmp_path):
    """`dync.train(..., output=FILE)` writes what `dync train -o FILE`
    writes, so that the documented `dync.load(spec, weights=FILE)` follows."""
    out = tmp_path / "w.eqx"
    result = dync.train(VP, str(ROOT / "specs/diffusion/gmm2d.csv"), text=SMALL, steps=5, batch=16, output=out)
    assert out.exists() and (tmp_path / "w.loss.csv").exists()
    loaded = dync.load(VP, text=SMALL, weights=out)
    x = jnp.array([0.3, -0.2])
    np.testing.assert_array_equal(loaded.score(0.5, x, None), result.model.score(0.5, x, None))


@pytest.mark.parametrize("value", [0, -3, 2.5, "a", True])
def test_a_bad_dim_override_is_refused_at_the_override(value):
    """`dync.load(spec, K=0)` is one usage error naming the override, as
    `--set K=0` is; not an error at the spec's `dim` line followed by the
    shape errors a size of 0 causes."""
    with pytest.raises(UsageError, match="a dim must be a positive integer"):
        dync.load(str(ROOT / "specs/langevin_oscillators.dync"), jax.random.key(0), K=value)
