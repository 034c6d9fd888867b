"""Make a synthetic data set for fitting a spec: a worked example of dync's data format.

The spec is simulated at its default parameter values (the "truth"; override
some with ``--set NAME=VALUE``) on a fine time grid. Each series then keeps
``--points`` observation times drawn at random from the grid (its own
irregular times; the first is always the start time ``t0 = 0``), and a
fraction ``--missing`` of the observed values is blanked to NaN. The result is
written in the NetCDF per-series form of docs/fitting.md ("Data files"):
variables ``(series, obs, ...)`` with a coordinate ``time(series, obs)``; or,
with ``--csv``, as one row per observation time with ``time`` and ``series``
columns.

Why the first time is kept: a likelihood starts each series from the model's
initial law at the series' first observation time. For a model whose initial
state is a fixed value at ``t = 0`` (``sir.dync``) the data must start at 0
too, so that first observation is never blanked.

The truth and the generator's settings are stored in the file's attributes
(NetCDF; for CSV in a JSON file beside it), the latent states as variables
(or columns) that ``dync fit`` ignores. The same seed gives the same file.

Usage::

    python specs/fit/make_data.py specs/fit/ou.dync -o ou_data.nc
    python specs/fit/make_data.py specs/fit/sir.dync -o sir.csv --csv --t1 40 --series 2 --points 40
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

import dync
from dync.runtime.data import column_names


def make_data(
    spec: str | os.PathLike,
    *,
    series: int = 4,
    points: int = 100,
    t1: float = 20.0,
    dt: float = 0.01,
    missing: float = 0.1,
    seed: int = 0,
    sets: Mapping[str, float] | None = None,
) -> xr.Dataset:
    """Simulate ``spec`` and sample noisy observations at irregular times.

    Args:
        spec: a ``.dync`` or ``.yaml`` spec with at least one ``observe`` line.
        series: independent series (simulated paths).
        points: observation times per series, drawn from the grid
            ``0, dt, ..., t1`` without replacement; the first is always 0.
        t1: the end of the observation window.
        dt: the simulation step, the resolution of the observation times.
        missing: the fraction of observed values set to NaN (never at the
            first time of a series).
        seed: seeds both the simulation and the choice of times and gaps.
        sets: parameter name → value overriding the spec's defaults.

    Returns:
        A Dataset with one variable per ``observe`` name and per state, dims
        ``(series, obs, components...)``, the coordinate ``time(series, obs)``
        and attributes ``truth`` (JSON: parameter name → value) and the
        generator settings.

    Raises:
        ValueError: a setting out of range, or a spec with no ``observe`` line.
    """
    steps = round(t1 / dt)
    if series < 1 or not 1 <= points <= steps + 1:
        raise ValueError(f"need series >= 1 and 1 <= points <= {steps + 1} (the grid points in [0, t1])")
    if not 0.0 <= missing < 1.0:
        raise ValueError("missing is a fraction in [0, 1)")
    observed = [obs.name for obs in dync.check_file(spec).info.observations]
    if not observed:
        raise ValueError(f"{spec} has no `observe` line: there is nothing to fit")

    sim = dync.simulate_file(spec, paths=series, t1=steps * dt, dt=dt, save=1, seed=seed, sets=dict(sets or {}))
    rng = np.random.default_rng(seed)
    # each series: grid index 0, then points - 1 distinct later grid indices, sorted
    index = np.stack([
        np.concatenate([[0], np.sort(rng.choice(np.arange(1, steps + 1), points - 1, replace=False))])
        for _ in range(series)
    ])
    rows = np.arange(series)[:, None]
    grid = sim["time"].values

    variables = {}
    for name, var in sim.data_vars.items():
        values = np.asarray(var.values, np.float64)[rows, index]  # (series, points, components...)
        if name in observed:
            gaps = rng.random(values.shape) < missing
            gaps[:, 0] = False
            values = np.where(gaps, np.nan, values)
        variables[name] = (("series", "obs", *var.dims[2:]), values)

    # 6 significant digits: in float32 (and through a constraint's bijection)
    # 0.2 comes back as 0.19999998807907104
    tidy = np.vectorize(lambda x: float(f"{x:.6g}"), otypes=[float])
    truth = {name: tidy(value).tolist() for name, value in json.loads(sim.attrs["params"]).items()}
    settings = {"series": series, "points": points, "t1": float(steps * dt), "dt": dt, "missing": missing, "seed": seed}
    return xr.Dataset(
        variables,
        coords={"time": (("series", "obs"), np.round(grid[index], 10))},
        attrs={
            "title": f"synthetic data for {sim.attrs['model']}",
            "model": sim.attrs["model"],
            "spec": sim.attrs["spec"],
            "truth": json.dumps(truth, sort_keys=True),
            "generator": "specs/fit/make_data.py",
            "generator_settings": json.dumps(settings, sort_keys=True),
            "observed": " ".join(observed),
            "latent": " ".join(n for n in sim.data_vars if n not in observed),
            "dync_version": dync.__version__,
        },
    )


def to_csv_text(data: xr.Dataset) -> str:
    """The CSV form of ``make_data``'s output: a row per (series, time), the
    columns ``time``, ``series`` and one per component (``y`` or ``y[0]``, ...);
    a missing value is an empty cell."""
    header = ["time", "series"]
    columns = []
    for name, var in data.data_vars.items():
        shape = var.shape[2:]
        header += column_names(name, shape)
        columns.append(np.asarray(var.values).reshape(*var.shape[:2], -1))
    values = np.concatenate(columns, axis=-1)
    times = data["time"].values
    lines = [",".join(header)]
    for s in range(times.shape[0]):
        for j in range(times.shape[1]):
            cells = [repr(float(times[s, j])), str(s)]
            cells += ["" if np.isnan(v) else repr(float(v)) for v in values[s, j]]
            lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def write_atomic(path: str | os.PathLike, write) -> None:
    """Call ``write(temporary_path)``, then rename the file over ``path``, so
    a reader never sees half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_data(data: xr.Dataset, path: str | os.PathLike, *, csv: bool = False) -> None:
    """Write ``data`` atomically as NetCDF, or as CSV plus a JSON file of its
    attributes (``data.csv`` → ``data.json``)."""
    if not csv:
        write_atomic(path, data.to_netcdf)
        return
    text = to_csv_text(data)
    write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    meta = json.dumps(data.attrs, indent=2, sort_keys=True) + "\n"
    write_atomic(Path(path).with_suffix(".json"), lambda tmp: Path(tmp).write_text(meta, encoding="utf-8"))


def _parse_set(item: str) -> tuple[str, float]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {item!r}")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name.strip()}: {value!r} is not a number") from None


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code (0 ok, 2 bad usage)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", help="a .dync or .yaml spec")
    parser.add_argument("-o", "--output", required=True, help="the data file to write (.nc, or .csv with --csv)")
    parser.add_argument("--series", type=int, default=4, help="independent series (default 4)")
    parser.add_argument("--points", type=int, default=100, help="observation times per series (default 100)")
    parser.add_argument("--t1", type=float, default=20.0, help="end of the observation window (default 20)")
    parser.add_argument("--dt", type=float, default=0.01, help="simulation step (default 0.01)")
    parser.add_argument("--missing", type=float, default=0.1, help="fraction of values blanked to NaN (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--set", dest="sets", action="append", type=_parse_set, default=[], metavar="NAME=VALUE",
                        help="override a parameter's true value (repeatable)")
    parser.add_argument("--csv", action="store_true", help="write CSV (and a JSON file of the attributes)")
    args = parser.parse_args(argv)
    try:
        data = make_data(args.spec, series=args.series, points=args.points, t1=args.t1, dt=args.dt,
                         missing=args.missing, seed=args.seed, sets=dict(args.sets))
    except (ValueError, dync.DyncError) as error:
        print(f"make_data: error: {error}", file=sys.stderr)
        return 2
    write_data(data, args.output, csv=args.csv)
    print(f"wrote {args.output}: {args.series} series x {args.points} times of {data.attrs['observed']}; "
          f"truth {data.attrs['truth']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
