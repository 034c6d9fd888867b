"""The recognition network of variational latent-path inference: a
bidirectional GRU that reads one series' observations and gives the
posterior of the initial state, q(x0), and a context per observation time
that drives the posterior SDE's control (:mod:`.posterior`).

What the encoder reads (:func:`encoder_features`): at each observation time,
every observed component the encoder is allowed to see (held-out components
are left out, ``docs/latent.md``), counts through ``log1p``, each
standardised by its mean and standard deviation over the training data, 0
where missing, then a 0/1 mask of which were observed, then the gap to the
previous time divided by the median gap. The statistics are computed once on
the training data and kept (:class:`FeatureMap`), so that new series
(test trials) are read the same way.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..data import PaddedData
from ..model import ModelInfo

__all__ = ["Encoder", "FeatureMap", "encoder_features", "feature_map"]


@dataclasses.dataclass(frozen=True)
class FeatureMap:
    """How observations become encoder inputs (fixed after training).

    Attributes:
        columns: ``(name, flat component index)`` of each input component,
            in order.
        log1p: per column, whether it is a count (read through ``log1p``).
        mean, std: per column, the training data's statistics (after log1p).
        gap: the median gap between observation times (the time feature's unit).
    """

    columns: tuple[tuple[str, int], ...]
    log1p: tuple[bool, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    gap: float

    @property
    def size(self) -> int:
        """Features per time point: the columns, their masks and the gap."""
        return 2 * len(self.columns) + 1

    def to_json(self) -> str:
        """The map as JSON (stored in the fit file)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "FeatureMap":
        """The map written by :meth:`to_json`."""
        d = json.loads(text)
        return cls(tuple((str(n), int(i)) for n, i in d["columns"]), tuple(map(bool, d["log1p"])),
                   tuple(map(float, d["mean"])), tuple(map(float, d["std"])), float(d["gap"]))  # fmt: skip


def feature_map(padded: PaddedData, info: ModelInfo, heldout: Mapping[str, Sequence[int]] | None = None) -> FeatureMap:
    """The :class:`FeatureMap` of a training data set: every observed
    component except the ``heldout`` ones (name → flat indices)."""
    heldout = {k: set(int(i) for i in v) for k, v in (heldout or {}).items()}
    columns, counts, means, stds = [], [], [], []
    present = np.asarray(padded.present, bool)
    for obs in info.observations:
        values = np.asarray(padded.values[obs.name], np.float64).reshape(present.shape + (-1,))
        for i in range(values.shape[-1]):
            if i in heldout.get(obs.name, ()):
                continue
            v = values[..., i][present]
            v = v[np.isfinite(v)]
            if obs.discrete:
                v = np.log1p(np.maximum(v, 0))
            columns.append((obs.name, i))
            counts.append(bool(obs.discrete))
            means.append(float(v.mean()) if v.size else 0.0)
            sd = float(v.std()) if v.size > 1 else 1.0
            stds.append(sd if sd > 1e-8 else 1.0)
    gaps = np.diff(np.asarray(padded.times, np.float64), axis=1)[present[:, 1:]]
    gaps = gaps[gaps > 0]
    gap = float(np.median(gaps)) if gaps.size else 1.0
    return FeatureMap(tuple(columns), tuple(counts), tuple(means), tuple(stds), gap)


def encoder_features(padded: PaddedData, fmap: FeatureMap) -> np.ndarray:
    """The encoder's input, ``(S, T, fmap.size)`` float32 (see the module
    docstring); padded slots are all zero."""
    present = np.asarray(padded.present, bool)
    cols, masks = [], []
    for (name, i), count, mu, sd in zip(fmap.columns, fmap.log1p, fmap.mean, fmap.std):
        v = np.asarray(padded.values[name], np.float64).reshape(present.shape + (-1,))[..., i]
        seen = np.isfinite(v) & present
        x = np.log1p(np.maximum(np.where(seen, v, 0.0), 0.0)) if count else np.where(seen, v, 0.0)
        cols.append(np.where(seen, (x - mu) / sd, 0.0))
        masks.append(seen.astype(np.float64))
    times = np.asarray(padded.times, np.float64)
    gap = np.concatenate([np.zeros((times.shape[0], 1)), np.diff(times, axis=1)], axis=1) / fmap.gap
    out = np.stack(cols + masks + [np.where(present, gap, 0.0)], axis=-1)
    return out.astype(np.float32)


class Encoder(eqx.Module):
    """A bidirectional GRU over one series.

    ``encoder(features, present)`` returns ``(mean0, log_std0, context)``:
    the mean and log standard deviation of q(x0) over the ``n0`` free
    initial components, and a context ``(T, context)`` per observation time,
    from both directions' hidden states there. Padded slots (``present``
    False) leave the hidden state unchanged.
    """

    forward: eqx.nn.GRUCell
    backward: eqx.nn.GRUCell
    initial: eqx.nn.Linear
    contextual: eqx.nn.Linear
    hidden: int = eqx.field(static=True)

    def __init__(self, features: int, hidden: int, n0: int, context: int, *, key: PRNGKeyArray):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        self.hidden = int(hidden)
        self.forward = eqx.nn.GRUCell(features, hidden, key=k1)
        self.backward = eqx.nn.GRUCell(features, hidden, key=k2)
        self.initial = eqx.nn.Linear(2 * hidden, 2 * n0, key=k3)
        self.contextual = eqx.nn.Linear(2 * hidden, context, key=k4)

    def __call__(
        self, features: Float[Array, "T F"], present: Array
    ) -> tuple[Float[Array, " n0"], Float[Array, " n0"], Float[Array, "T C"]]:
        h0 = jnp.zeros((self.hidden,), features.dtype)

        def run(cell, xs, mask):
            def body(h, xm):
                x, m = xm
                new = cell(x, h)
                h = jnp.where(m, new, h)
                return h, h

            return jax.lax.scan(body, h0, (xs, mask))

        _, hf = run(self.forward, features, present)
        _, hb = run(self.backward, features[::-1], present[::-1])
        hb = hb[::-1]
        both = jnp.concatenate([hf, hb], axis=-1)  # (T, 2H)
        # q(x0) reads the whole series: the forward state at the end and the backward one at the start
        last = jnp.maximum(jnp.sum(present) - 1, 0)
        summary = jnp.concatenate([hf[last], hb[0]])
        out = self.initial(summary)
        n0 = out.shape[0] // 2
        context = jax.vmap(self.contextual)(both)
        return out[:n0], jnp.clip(out[n0:], -7.0, 3.0), context
