"""Write the synthetic Lorenz spiking data set (docs/latent.md).

    python specs/latent/make_lorenz.py -o lorenz --seed 0

writes ``lorenz_train.nc`` (fit data: the training trials, all neurons),
``lorenz_eval.nc`` (valid, test and unseen-condition trials, held-out neurons
missing) and ``lorenz_truth.nc`` (every trial's counts, true rates, latents,
condition and split), then:

    dync fit specs/latent/langevin_flow.dync lorenz_train.nc --method vi -o fit.nc
    dync evaluate fit.nc lorenz_eval.nc --truth lorenz_truth.nc
"""

from __future__ import annotations

import argparse

from dync.atomic import atomic_path
from dync.runtime.latent.lorenz import lorenz_spikes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="lorenz", help="file prefix (default: lorenz)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--conditions", type=int, default=65)
    parser.add_argument("--trials", type=int, default=24, help="trials per condition")
    parser.add_argument("--bins", type=int, default=50)
    parser.add_argument("--bin-width", type=float, default=0.02, help="seconds")
    parser.add_argument("--neurons", type=int, default=30)
    parser.add_argument("--heldout", type=int, default=6, help="held-out neurons (the last ones)")
    parser.add_argument("--unseen", type=int, default=5, help="conditions kept out of training")
    parser.add_argument("--base-rate", type=float, default=10.0, help="median rate, spikes/s")
    parser.add_argument("--gain", type=float, default=0.7, help="readout gain (log-rate sd per latent sd)")
    a = parser.parse_args(argv)
    sets = lorenz_spikes(conditions=a.conditions, trials=a.trials, bins=a.bins, bin_width=a.bin_width,
                         neurons=a.neurons, heldout=a.heldout, unseen=a.unseen, base_rate=a.base_rate,
                         gain=a.gain, seed=a.seed)  # fmt: skip
    for name, ds in sets.items():
        path = f"{a.output}_{name}.nc"
        with atomic_path(path) as tmp:
            ds.to_netcdf(str(tmp))
        print(f"wrote {path}: {ds.sizes['series']} series")


if __name__ == "__main__":
    main()
