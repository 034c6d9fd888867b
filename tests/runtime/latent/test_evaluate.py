"""The spiking metrics against hand computations, and the Lorenz generator."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import dync
from dync.runtime.data import read_observations
from dync.runtime.latent.evaluate import bits_per_spike, poisson_log_likelihood, rate_r2
from dync.runtime.latent.lorenz import lorenz_spikes


def test_bits_per_spike_by_hand():
    counts = np.array([[[0.0, 2.0]], [[2.0, 0.0]]])  # 2 trials, 1 bin, 2 neurons
    rates = np.array([[[0.5, 1.5]], [[1.5, 0.5]]])
    ll = sum(k * math.log(r) - r for k, r in [(0, 0.5), (2, 1.5), (2, 1.5), (0, 0.5)])
    null = sum(k * math.log(1.0) - 1.0 for k in (0, 2, 2, 0))  # each neuron's mean count is 1
    assert poisson_log_likelihood(rates, counts) == pytest.approx(ll)
    assert bits_per_spike(rates, counts) == pytest.approx((ll - null) / (4 * math.log(2)))
    assert bits_per_spike(np.ones_like(counts), counts) == pytest.approx(0.0, abs=1e-12)


def test_bits_per_spike_skips_missing_counts():
    counts = np.array([[[1.0, np.nan]], [[3.0, 2.0]]])
    rates = np.array([[[1.0, 5.0]], [[3.0, 2.0]]])
    kept = bits_per_spike(rates[..., :1], counts[..., :1])
    both = bits_per_spike(rates, counts)
    assert np.isfinite(both) and both != kept


def test_rate_r2():
    rng = np.random.default_rng(0)
    true = rng.gamma(2.0, 1.0, (5, 7, 3))
    assert rate_r2(true, true) == 1.0
    mean = np.broadcast_to(true.reshape(-1, 3).mean(0), true.shape)
    assert rate_r2(mean, true) == pytest.approx(0.0, abs=1e-12)
    # per neuron, then averaged
    noisy = true + rng.normal(0, 0.3, true.shape)
    per = [1 - np.sum((noisy[..., j] - true[..., j]) ** 2) / np.sum((true[..., j] - true[..., j].mean()) ** 2)
           for j in range(3)]  # fmt: skip
    assert rate_r2(noisy, true) == pytest.approx(np.mean(per))


@pytest.fixture(scope="module")
def lorenz():
    return lorenz_spikes(conditions=6, trials=10, bins=20, neurons=8, heldout=2, unseen=1, seed=4)


def test_lorenz_splits_and_held_out_neurons(lorenz):
    truth, train, ev = lorenz["truth"], lorenz["train"], lorenz["eval"]
    assert truth.sizes["series"] == 60 and truth.spikes.shape == (60, 20, 8)
    split = truth.split.values.astype(str)
    assert set(split) == {"train", "valid", "test", "unseen"}
    assert set(truth.condition.values[split == "unseen"]) == {5}  # never in training
    assert 5 not in set(truth.condition.values[split == "train"])
    assert train.sizes["series"] == int((split == "train").sum())
    held = json.loads(ev.attrs["heldout"])["spikes"]
    assert held == [6, 7]
    assert np.all(np.isnan(ev.spikes.values[..., held])) and np.all(np.isfinite(ev.spikes.values[..., :6]))
    assert np.all(np.isfinite(train.spikes.values))
    # same condition, same rates; counts are whole numbers
    c = truth.condition.values
    np.testing.assert_array_equal(truth.rates.values[c == 0][0], truth.rates.values[c == 0][1])
    assert np.all(truth.spikes.values == np.round(truth.spikes.values))


def test_lorenz_is_reproducible_and_fit_data(lorenz, tmp_path):
    again = lorenz_spikes(conditions=6, trials=10, bins=20, neurons=8, heldout=2, unseen=1, seed=4)
    np.testing.assert_array_equal(again["truth"].spikes.values, lorenz["truth"].spikes.values)
    model_path = tmp_path / "m.dync"
    model_path.write_text("model m\ndim N = 8\nparam b[N] = 0.0\nstate z ~ Normal(0, 1)\ndz = -z dt + 0.5 dW\n"
                          "observe spikes[N] ~ Poisson(exp(b + z))\n")  # fmt: skip
    info = dync.load(model_path).info
    records = read_observations(lorenz["train"], info)
    assert len(records.series) == lorenz["train"].sizes["series"]
    assert records.series[0].values["spikes"].shape == (20, 8)
