"""MCMC diagnostics as a plain-text table, shared by ``dync fit --method
nuts`` and ``dync sample``.

Per scalar coordinate: mean, sd, 5 % and 95 % quantiles, bulk and tail ESS
and R-hat, all from ArviZ (rank-normalised split R-hat and ESS, Vehtari et
al. 2021), and, when the sampling time is known, bulk ESS per second. Then
the divergences, step size and acceptance, and the warnings a careful user
wants: R-hat above 1.01, bulk ESS under 100 per chain, any divergence.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

__all__ = ["coordinates", "fmt", "posterior_table", "table"]


#: the most leapfrog steps of one NUTS draw (BlackJAX's 10 doublings)
MAX_TREE_STEPS = 1023


def fmt(x: float) -> str:
    """A number in 4 significant digits (``nan`` for a non-finite one)."""
    return "nan" if not math.isfinite(x) else f"{x:.4g}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns aligned: the first to the left, the others to the right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header)] + [line(r) for r in rows])


def coordinates(ds: xr.Dataset, name: str, sample_dims: tuple[str, ...]):
    """``(label, values)`` of each scalar coordinate of variable ``name``:
    ``theta``, or ``C[0, 1]`` for a component, values with the sample dims
    first."""
    v = ds[name]
    inner = [d for d in v.dims if d not in sample_dims]
    arr = np.asarray(v.transpose(*sample_dims, *inner).values)
    if not inner:
        return [(name, arr)]
    out = []
    for idx in np.ndindex(*arr.shape[len(sample_dims):]):
        out.append((f"{name}[{', '.join(map(str, idx))}]", arr[(Ellipsis, *idx)]))
    return out


#: the remedy for a chain that never moved, for a gradient-based sampler
STUCK_ADVICE = "see its step size; start elsewhere, reparametrise, or use a smoother likelihood"


def posterior_table(
    posterior: xr.Dataset,
    sample_stats: xr.Dataset | None = None,
    seconds: float | None = None,
    max_rows: int = 40,
    stuck_advice: str = STUCK_ADVICE,
) -> list[str]:
    """The lines of the diagnostics table of ``posterior`` (dims ``chain,
    draw, ...``) and the summary of ``sample_stats``.

    Args:
        posterior: the draws.
        sample_stats: ``diverging``, ``acceptance_rate``, ``step_size`` (any
            present are summarised).
        seconds: the sampling time, for the ESS-per-second column.
        max_rows: coordinates shown (the rest are summarised in one line:
            the worst R-hat and the smallest ESS).
        stuck_advice: what the warning about a chain that never moved
            advises (the sampler's own remedy).
    """
    import warnings

    # a chain that never moved makes ArviZ divide 0 by 0 and a float32 mean
    # of huge steps overflow: the table shows nan/inf and the warnings below
    # say what is wrong, so numpy's own warnings would only be noise
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _posterior_table(posterior, sample_stats, seconds, max_rows, stuck_advice)


def _posterior_table(posterior, sample_stats, seconds, max_rows, stuck_advice) -> list[str]:
    from .arviz_import import import_arviz

    az = import_arviz()

    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    rows, warnings_ = [], []
    stuck: list[str] = []  # coordinates whose draws are constant in some chain
    worst = []  # (r_hat, ess_bulk, label) of every coordinate
    for name in posterior.data_vars:
        for label, samples in coordinates(posterior, name, ("chain", "draw")):
            x = np.asarray(samples, np.float64)
            finite = bool(np.all(np.isfinite(x)))
            rhat = float(az.rhat(x)) if finite and (chains > 1 or draws >= 4) else float("nan")
            ess_bulk = float(az.ess(x, method="bulk")) if finite else float("nan")
            ess_tail = float(az.ess(x, method="tail")) if finite else float("nan")
            frozen = np.nonzero(np.ptp(x.reshape(chains, -1), axis=1) == 0)[0] if finite and draws >= 10 else []
            if len(frozen):
                # a chain that never moved: ArviZ would report an ESS of its draw count
                ess_bulk = ess_tail = float("nan")
                stuck.append(
                    f"the draws of {label} never move in chain{'s' if len(frozen) > 1 else ''} "
                    f"{', '.join(map(str, frozen[:8]))}: the sampler is stuck there, so its numbers in this table "
                    f"mean nothing; {stuck_advice}"
                )
            worst.append((rhat, ess_bulk, label))
            if len(rows) < max_rows:
                q5, q95 = np.quantile(x, [0.05, 0.95])
                row = [label, fmt(x.mean()), fmt(x.std(ddof=1) if x.size > 1 else 0.0), fmt(q5), fmt(q95),
                       fmt(ess_bulk), fmt(ess_tail), "nan" if not math.isfinite(rhat) else f"{rhat:.3f}"]  # fmt: skip
                if seconds:
                    row.append(fmt(ess_bulk / seconds))
                rows.append(row)
    header = ["variable", "mean", "sd", "5%", "95%", "ess_bulk", "ess_tail", "r_hat"]
    if seconds:
        header.append("ess/s")
    lines = [table(header, rows)]
    if len(worst) > max_rows:
        rhats = [r for r, _, _ in worst if math.isfinite(r)]
        esses = [e for _, e, _ in worst if math.isfinite(e)]
        lines.append(
            f"... and {len(worst) - max_rows} more coordinates: worst r_hat "
            f"{max(rhats) if rhats else float('nan'):.3f}, smallest ess_bulk {fmt(min(esses) if esses else float('nan'))}"
        )
    for rhat, ess_bulk, label in worst:
        if math.isfinite(rhat) and rhat > 1.01:
            shown = f"{rhat:.3f}" if round(rhat, 3) > 1.01 else f"{rhat:.4f}"  # not "1.010 > 1.01"
            warnings_.append(f"R-hat of {label} is {shown} > 1.01: the chains disagree; run longer")
        if math.isfinite(ess_bulk) and ess_bulk < 100 * chains:
            warnings_.append(f"bulk ESS of {label} is {ess_bulk:.0f} < {100 * chains} (100 per chain)")
    if chains == 1:
        warnings_.append("one chain: R-hat compares chains, so it is nan here; run --chains 4 to check convergence")
    warnings_ = stuck[:3] + ([f"... and {len(stuck) - 3} more coordinates that never move"] if len(stuck) > 3 else []) + warnings_
    if len(warnings_) > 6:
        warnings_ = warnings_[:6] + [f"... {len(warnings_) - 6} more warnings of the same kinds"]
    if sample_stats is not None:
        parts = []
        if "diverging" in sample_stats:
            divergent = int(np.sum(sample_stats["diverging"].values))
            parts.append(f"divergences: {divergent} of {chains * draws} draws")
            if divergent:
                warnings_.append(
                    f"{divergent} divergent transitions: the draws may be biased; "
                    "raise the target acceptance (e.g. 0.95), lower the step, or reparametrise"
                )
        if "n_steps" in sample_stats:
            # BlackJAX's NUTS doubles its trajectory at most 10 times: 1023 steps
            capped = int(np.sum(np.asarray(sample_stats["n_steps"].values) >= MAX_TREE_STEPS))
            if capped > 0.1 * chains * draws:
                warnings_.append(
                    f"{capped} of {chains * draws} draws hit NUTS's limit of {MAX_TREE_STEPS} leapfrog steps: the step "
                    "size is tiny for this posterior (a rough or badly scaled log-density: a particle-filter likelihood, "
                    "very different parameter scales); the draws explore slowly, and the run is slow"
                )
        if "step_size" in sample_stats:
            parts.append(f"step size {np.mean(sample_stats['step_size'].values):.3g}")
        if "acceptance_rate" in sample_stats:
            parts.append(f"mean acceptance {np.mean(sample_stats['acceptance_rate'].values):.2f}")
        if seconds:
            parts.append(f"{seconds:.3g} s of sampling")
        if parts:
            lines.append("; ".join(parts))
    lines += [f"warning: {w}" for w in warnings_]
    return lines
