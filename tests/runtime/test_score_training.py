"""Denoising score matching (dync.runtime.score_training): the loss is
minimised by the true score at its known minimum, training resumes
bit-identically from a checkpoint, weights round-trip through their file
(and are refused for another model), and a short training run on the 2-D
Gaussian mixture generates its law."""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dync
from dync.errors import UsageError
from dync.runtime.forward_sde import gaussian_score, gaussian_transition
from dync.runtime.reverse import log_likelihood, reverse_sample, terminal_prior
from dync.runtime.sample_data import read_samples
from dync.runtime.score_training import dsm_loss, load_weights, save_weights, train_score
from tests.interrupt import ctrl_c_after

ROOT = Path(__file__).resolve().parents[2]
VP = str(ROOT / "specs/diffusion/gmm2d_vp.dync")
DATA = str(ROOT / "specs/diffusion/gmm2d.csv")
SMALL = open(VP).read().replace("width = 64, depth = 2", "width = 16, depth = 1")
MU = np.array([1.0, -0.5])
COV = np.array([[1.0, 0.6], [0.6, 0.8]])


@pytest.fixture(scope="module")
def vp():
    model = dync.load(VP, jax.random.key(0))
    return model, gaussian_transition(model)


@pytest.fixture(scope="module")
def small():
    return dync.load(VP, jax.random.key(1), text=SMALL)


def test_dsm_loss_is_minimised_by_the_true_score_at_its_known_minimum(vp):
    """Gaussian data N(mu, S0): at time t the minimum is tr(Phi S0 Phi^T C_t^-1)
    with C_t = Phi S0 Phi^T + P. MC over 40 batches of 5000, 4 standard errors."""
    _, tr = vp
    score = gaussian_score(tr, MU, COV)
    key = jax.random.key(7)
    losses, minima, worse = [], [], []
    loss = jax.jit(lambda f, x0, t, e: dsm_loss(f, tr, x0, t, e), static_argnums=0)

    def shrunk(t, x):
        return 0.9 * score(t, x)

    @jax.jit
    def mean_minimum(t):
        def minimum(tt):
            m, c = tr.marginal(tt, jnp.asarray(MU), jnp.asarray(COV))
            phi, _, _ = tr.coefficients(tt)
            return jnp.trace(jnp.diag(phi) @ jnp.asarray(COV) @ jnp.diag(phi) @ jnp.linalg.inv(c))

        return jnp.mean(jax.vmap(minimum)(t))

    for k in jax.random.split(key, 40):
        k1, k2, k3 = jax.random.split(k, 3)
        x0 = MU + jax.random.normal(k1, (5000, 2)) @ jnp.linalg.cholesky(jnp.asarray(COV)).T
        t = jax.random.uniform(k2, (5000,), minval=1e-3, maxval=1.0)
        eps = jax.random.normal(k3, (5000, 2))
        losses.append(float(loss(score, x0, t, eps)))
        worse.append(float(loss(shrunk, x0, t, eps)))
        minima.append(float(mean_minimum(t)))
    losses, minima = np.array(losses), np.array(minima)
    diff = losses - minima
    assert abs(diff.mean()) < 4 * diff.std() / np.sqrt(len(diff)), (losses.mean(), minima.mean())
    assert np.mean(worse) > losses.mean() + 4 * np.std(np.array(worse) - losses) / np.sqrt(40)


def test_training_resumes_bit_identically(small, tmp_path):
    x = read_samples(DATA, small.info, "x")
    kw = dict(steps=60, batch=32, learning_rate=3e-3, seed=4, checkpoint_every=20, progress=False)
    whole = train_score(small, x, **kw)
    ckpt = tmp_path / "train.ckpt"
    with ctrl_c_after(2), pytest.raises(KeyboardInterrupt):
        train_score(small, x, checkpoint=ckpt, **kw)
    assert ckpt.exists()
    resumed = train_score(small, x, checkpoint=ckpt, **kw)
    np.testing.assert_array_equal(resumed.loss, whole.loss)
    for a, b in zip(jax.tree_util.tree_leaves(eqx.filter(resumed.model, eqx.is_array)),
                    jax.tree_util.tree_leaves(eqx.filter(whole.model, eqx.is_array))):  # fmt: skip
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the loss went down, and training changed only the net
    assert resumed.loss[-10:].mean() < resumed.loss[:10].mean()
    np.testing.assert_array_equal(np.asarray(resumed.model.beta_max), np.asarray(small.beta_max))


def test_weights_round_trip_and_are_refused_for_another_model(small, vp, tmp_path):
    x = read_samples(DATA, small.info, "x")
    result = train_score(small, x, steps=5, batch=8, progress=False)
    path = tmp_path / "w.eqx"
    save_weights(path, result.model, result.meta)
    fresh = dync.load(VP, jax.random.key(9), text=SMALL)
    loaded, meta = load_weights(fresh, path)
    xs = jnp.ones(2)
    np.testing.assert_array_equal(np.asarray(loaded.score(0.5, xs)), np.asarray(result.model.score(0.5, xs)))
    assert meta["steps"] == 5 and len(meta["data_mean"]) == 2
    with pytest.raises(UsageError, match="other nets"):
        load_weights(vp[0], path)  # width 64, not 16
    (tmp_path / "junk.eqx").write_bytes(b"not weights")
    with pytest.raises(UsageError, match="not a dync weights file"):
        load_weights(fresh, tmp_path / "junk.eqx")


def test_bad_training_settings_are_usage_errors(small):
    x = np.zeros((10, 2))
    with pytest.raises(UsageError, match="--ema"):
        train_score(small, x, ema=1.0)
    with pytest.raises(UsageError, match="components"):
        train_score(small, np.zeros((10, 3)))
    ou = dync.load(str(ROOT / "specs/ou.dync"))
    with pytest.raises(UsageError, match="no `score`"):
        train_score(ou, x)


def _sliced_wasserstein(a: np.ndarray, b: np.ndarray, n_dirs: int = 64, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((n_dirs, a.shape[1]))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    qs = np.linspace(0.005, 0.995, 200)
    return float(np.mean([np.mean(np.abs(np.quantile(a @ d, qs) - np.quantile(b @ d, qs))) for d in dirs]))


@pytest.mark.slow
def test_short_training_generates_the_mixture(vp):
    """3000 steps (a few seconds on 2 CPU cores) on 2000 samples of the
    3-component mixture; 4000 reverse-SDE samples must match held-out data:
    means within 0.15, covariance entries within 0.25 (MC SE of the data's
    moments ~0.04, plus training error), sliced Wasserstein-1 < 0.15 (held-out
    vs training data: ~0.05), and the PF-ODE log-likelihood of held-out data
    within 0.25 nats of the true mixture's mean log-density (-2.10)."""
    import sys

    sys.path.insert(0, str(ROOT / "specs/diffusion"))
    from make_gmm2d import MEANS, STD, draw

    model, tr = vp
    data = read_samples(DATA, model.info, "x")
    result = train_score(model, data, steps=3000, batch=256, learning_rate=3e-3, seed=0, progress=False)
    prior = terminal_prior(tr, result.meta["data_mean"], result.meta["data_cov"])
    gen = reverse_sample(result.model, prior, method="sde", samples=4000, steps=500, seed=1, progress=False).x
    held = draw(4000, 123)
    assert np.all(np.abs(gen.mean(0) - held.mean(0)) < 0.15), (gen.mean(0), held.mean(0))
    assert np.all(np.abs(np.cov(gen.T) - np.cov(held.T)) < 0.25), (np.cov(gen.T), np.cov(held.T))
    sw = _sliced_wasserstein(gen, held)
    assert sw < 0.15, sw
    logp, _ = log_likelihood(result.model, prior, held[:300], t_min=result.meta["t_min"])
    comps = np.stack([-0.5 * np.sum((held[:300] - m) ** 2, 1) / STD**2 for m in MEANS])
    true = np.log(np.mean(np.exp(comps), 0)) - np.log(2 * np.pi * STD**2)
    assert abs(logp.mean() - true.mean()) < 0.25, (logp.mean(), true.mean())


def test_likelihood_weighting_samples_times_from_g2_over_sigma2(vp):
    """VP: r(t) = g^2 / sigma^2 = beta(t) / (1 - exp(-B(t))), whose integral is
    log(exp(B) - 1): the sampler's constant weight and its times' law (KS
    test, 5000 draws) must match; the check fails for uniform times."""
    from scipy import stats

    from dync.runtime.score_training import likelihood_time_sampler

    model, tr = vp
    t_min = 1e-3

    def big_b(t):
        return 0.1 * t + 0.5 * 19.9 * t**2

    def antiderivative(t):
        return np.log(np.expm1(big_b(t)))

    total = antiderivative(1.0) - antiderivative(t_min)
    sampler = likelihood_time_sampler(model, tr, t_min, 1.0)
    np.testing.assert_allclose(float(sampler.weight), total / (1.0 - t_min), rtol=2e-3)
    t, w = sampler.sample(jax.random.key(0), 5000)
    assert np.all(np.asarray(w) == sampler.weight)

    def cdf(x):
        return (antiderivative(np.clip(x, t_min, 1.0)) - antiderivative(t_min)) / total

    assert stats.kstest(np.asarray(t, np.float64), cdf).pvalue > 1e-3
    assert stats.kstest(np.random.default_rng(0).uniform(t_min, 1.0, 5000), cdf).pvalue < 1e-3


def test_likelihood_weighted_training_runs_and_resumes(small, tmp_path):
    x = read_samples(DATA, small.info, "x")
    kw = dict(steps=40, batch=32, seed=1, weighting="likelihood", checkpoint_every=20, progress=False)
    whole = train_score(small, x, **kw)
    assert whole.meta["weighting"] == "likelihood" and np.all(np.isfinite(whole.loss))
    ckpt = tmp_path / "w.ckpt"
    with ctrl_c_after(1), pytest.raises(KeyboardInterrupt):
        train_score(small, x, checkpoint=ckpt, **kw)
    np.testing.assert_array_equal(train_score(small, x, checkpoint=ckpt, **kw).loss, whole.loss)
    with pytest.raises(UsageError, match="weighting"):
        train_score(small, x, weighting="uniform")


def test_a_model_without_score_is_told_what_to_add_in_its_own_names(tmp_path):
    """The hint names the model's state and the net's sizes (was: always
    `score x = s(x, t)`, whatever the state was called)."""
    from dync.runtime.score_training import score_state

    spec = tmp_path / "gbm.dync"
    spec.write_text("model gbm\nstate S = 1.0\ndS = 0.1 * S dt + 0.2 * S dW\n")
    with pytest.raises(UsageError) as e:
        score_state(dync.load(str(spec)))
    assert "`score S = s(S, t)[0]`" in e.value.hint and "in = 2, out = 1" in e.value.hint
    spec.write_text("model v\nstate q[3] = 0\ndq = -q dt + dW\n")
    with pytest.raises(UsageError) as e:
        score_state(dync.load(str(spec)))
    assert "`score q = s(q, t)`" in e.value.hint and "in = 4, out = 3" in e.value.hint
