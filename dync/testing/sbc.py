r"""Simulation-based calibration of a model's fit (Talts et al. 2018).

For a model with priors on every free parameter and ``observe`` lines, SBC
checks the whole inference pipeline — simulator, observation laws,
likelihood and sampler — at once:

1. draw $R$ parameter values $\theta_r$ from the prior (NUTS on the log prior
   in unconstrained space, one draw from each of $R$ chains after warm-up,
   so the draws are independent);
2. simulate one data series from the model at each $\theta_r$: one path on
   ``[0, t1]`` observed at :data:`OBSERVATIONS` evenly spaced times;
3. fit the posterior given that series with NUTS (:func:`~dync.runtime.
   posterior.sample_posterior`; chains start at the spec's values, not at
   $\theta_r$), keeping $L$ thinned draws;
4. the rank of $\theta_r$ among the $L$ draws, per scalar component.

If everything is right, each component's ranks are uniform on
$\{0, \dots, L\}$. The ranks are binned into :func:`bins` equal bins and
tested by a chi-square test of uniformity, one per component, at the run's
Bonferroni threshold. A likelihood that is wrong for the simulator (a
missing term, a sign) pushes the ranks to one side or piles them up.

With the exact (Kalman) likelihood the posterior's NUTS compiles once for
every replication (same data sizes); a particle-filter likelihood compiles
per replication and is much slower.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
from scipy import stats

from ..errors import UsageError
from ..settings.test import TestSettings

__all__ = ["OBSERVATIONS", "SbcResult", "bins", "run_sbc"]

#: observation times of each simulated series
OBSERVATIONS = 20
#: posterior draws kept per replication (after thinning)
KEPT_DRAWS = 100


@dataclasses.dataclass(frozen=True)
class SbcResult:
    """The ranks and their uniformity test, per scalar parameter component.

    Attributes:
        names: ``theta``, ``mu[0]``, ...
        ranks: ``(replications, components)`` ranks in ``0..draws``.
        draws: posterior draws each rank is out of.
        counts: ``(bins, components)`` histogram of the ranks.
        pvalues: chi-square p-value of uniformity, per component.
    """

    names: tuple[str, ...]
    ranks: np.ndarray
    draws: int
    counts: np.ndarray
    pvalues: np.ndarray


#: the fewest replications the uniformity test holds for (5 ranks per bin, 2 bins)
MIN_REPLICATIONS = 10


def bins(replications: int) -> int:
    """Histogram bins for ``replications`` ranks: at least 5 expected per
    bin, between 2 and 10 bins."""
    return int(max(2, min(10, replications // 5)))


def _component_names(name: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [name]
    return [f"{name}[{', '.join(str(int(i)) for i in idx)}]" for idx in np.ndindex(*shape)]


def uniformity(ranks: np.ndarray, draws: int) -> tuple[np.ndarray, np.ndarray]:
    """Histogram counts ``(bins, components)`` of ranks in ``0..draws`` and
    each component's chi-square p-value of uniformity (a bin's expected
    count is proportional to the number of rank values it holds)."""
    replications = ranks.shape[0]
    b = bins(replications)
    # bin k holds the ranks [edges[k], edges[k + 1]) of the draws + 1 values
    edges = np.round(np.linspace(0, draws + 1, b + 1)).astype(int)
    expected = replications * np.diff(edges) / (draws + 1)
    counts = np.stack([np.histogram(ranks[:, j], bins=edges)[0] for j in range(ranks.shape[1])], axis=1)
    pvalues = np.asarray([stats.chisquare(counts[:, j], expected).pvalue for j in range(ranks.shape[1])])
    return counts, pvalues


def prior_draws(model: Any, count: int, seed: int) -> list[dict[str, np.ndarray]]:
    """``count`` independent draws of the free parameters from the prior
    (constrained values), one per NUTS chain after warm-up."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from ..runtime.params import constrain, unconstrained_params, with_unconstrained_params
    from ..runtime.sampling import sample_density

    position = unconstrained_params(model)
    flat, unravel = ravel_pytree(position)

    def log_prior(x):
        return jnp.reshape(with_unconstrained_params(model, unravel(x)).log_prior(), ())

    initial = jnp.broadcast_to(flat, (count, flat.size))
    run = sample_density(log_prior, initial, jax.random.key(seed), method="nuts", warmup=300, samples=1, progress=False)
    draws = np.asarray(run.positions).reshape(count, -1)
    return [{k: np.asarray(v) for k, v in constrain(model, unravel(jnp.asarray(d))).items()} for d in draws]


def run_sbc(model: Any, settings: TestSettings, replications: int, *, progress: bool = False) -> SbcResult:
    """Simulation-based calibration with ``replications`` replications.

    Raises:
        UsageError: the model has no ``observe`` line, or a free parameter
            has no prior (SBC needs a proper prior to draw from).
    """
    import jax

    from ..runtime.params import unconstrained_params, with_params
    from ..runtime.posterior import sample_posterior
    from ..runtime.progress import progress_bar
    from ..runtime.simulate import simulate

    info = model.info
    if not info.observations:
        raise UsageError(f"--sbc: model `{info.name}` has no `observe` line, so there is nothing to fit", hint="drop --sbc")
    free = unconstrained_params(model)
    # a parameter the compiler reads (x[k]) keeps its spec value: held, as the draws hold it
    compiled_in = {p.name: model.constrained_params()[p.name] for p in info.params if p.compile_time and not p.fixed}
    flat_prior = [n for n in free if not info.param(n).has_prior]
    if flat_prior:
        raise UsageError(
            "--sbc needs a prior on every free parameter; " + ", ".join(f"`{n}`" for n in flat_prior) + " has none",
            hint="give each a prior (`param theta = 1 : positive ~ LogNormal(0, 1)`), or hold it with --set",
        )
    if replications < MIN_REPLICATIONS:
        # fewer gives under 5 ranks expected per bin: the chi-square test of
        # uniformity would not hold its false-alarm rate, and "ranks
        # uniform" would say nothing
        raise UsageError(
            f"--sbc {replications}: need at least {MIN_REPLICATIONS} replications (5 ranks expected in each of 2 bins)",
            hint="50 or more to have power against a miscalibrated fit",
        )
    steps = round(settings.t1 / settings.dt)
    every = max(1, steps // OBSERVATIONS)
    names = [c for n in free for c in _component_names(n, tuple(np.shape(free[n])))]
    truths = prior_draws(model, replications, settings.seed)
    ranks = np.zeros((replications, len(names)), dtype=np.int64)
    chains, kept = 4, KEPT_DRAWS
    per_chain = kept  # thinned by `chains` to `kept` in all
    with progress_bar(replications, "sbc", progress, unit="fits") as advance:
        for r, truth in enumerate(truths):
            data = simulate(
                with_params(model, truth), seed=settings.seed + 1 + r, paths=1, t1=settings.t1, dt=settings.dt,
                save=every, solver=settings.solver, progress=False, on_nonfinite="keep",
            )  # fmt: skip
            observed = data[[o.name for o in info.observations]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                idata = sample_posterior(
                    model, observed, jax.random.key(settings.seed + 10_000 + r), chains=chains, warmup=300,
                    draws=per_chain, progress=False, fix=compiled_in or None,
                )  # fmt: skip
            post = idata.posterior
            column = 0
            for n in free:
                draws = np.asarray(post[n].values).reshape(chains * per_chain, -1)[::chains]
                true = np.asarray(truth[n]).reshape(-1)
                ranks[r, column : column + true.size] = (draws < true[None, :]).sum(axis=0)
                column += true.size
            advance(1)
    counts, pvalues = uniformity(ranks, kept)
    return SbcResult(tuple(names), ranks, kept, counts, pvalues)
