"""What `dync train` prints (dync/commands/training.py): the run, the loss,
and the data's moments, from which a preconditioned score's `sigma_data` is
set (docs/diffusion.md)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from dync.commands.training import train_summary


def _result(**meta):
    base = dict(model="m", state="x", data_samples=100, steps=10, batch=8, learning_rate=1e-3, ema=0.999,
                t_min=1e-3, t1=1.0, final_loss=0.5)  # fmt: skip
    return SimpleNamespace(meta={**base, **meta}, loss=np.linspace(1.0, 0.5, 10))


def test_the_summary_gives_the_data_mean_and_std():
    text = train_summary(_result(data_mean=[0.0, 1.0], data_cov=[[4.0, 0.5], [0.5, 1.0]]))
    assert "data: mean 0, 1; std 2, 1 (overall 1.58)" in text
    many = train_summary(_result(data_mean=list(range(6)), data_cov=np.diag([1.0, 4, 9, 1, 1, 1]).tolist()))
    assert "std 1 to 3 over 6 components" in many


def test_a_result_without_moments_prints_no_data_line():
    assert "data:" not in train_summary(_result())
