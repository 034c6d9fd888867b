"""Reading observation data (LANGUAGE.md §11): NetCDF, CSV and Datasets in,
:class:`~dync.runtime.data.ObservationData` out, and one golden diagnostic
per kind of bad data.

The broken CSV files live in ``tests/golden/data`` beside their expected
rendered messages (``<file>.expected``); the broken NetCDF files are built
here from Datasets and written under a temporary directory, with their
expected messages in the same folder (``<case>.nc.expected``). Regenerate
with ``pytest --update-golden`` and review the diff.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from dync.errors import DyncError, UsageError
from dync.info import ModelInfo, ObservationInfo, StateInfo
from dync.runtime.data import DataError, ObservationData, column_names, read_observations
from dync.runtime.io import write_netcdf

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "data"


def make_info(observations, inputs=(), name="m") -> ModelInfo:
    return ModelInfo(
        name=name,
        calculus="ito",
        noise_structure="additive",
        states=(StateInfo("x", (2,), 0, 2),),
        state_size=2,
        noises=(),
        noise_size=0,
        params=(),
        observations=tuple(ObservationInfo(n, s, d, d in ("Poisson", "Bernoulli")) for n, s, d in observations),
        inputs=tuple(inputs),
    )


#: counts[2] ~ Poisson and a scalar Gaussian readout
COUNTS = make_info((("counts", (2,), "Poisson"), ("y", (), "Normal")), name="counts_model")
#: one observation per support kind
LAWS = make_info((("b", (), "Bernoulli"), ("g", (), "Gamma"), ("p", (), "Beta")), name="laws")
#: a scalar observation and a 2-vector input
INPUT = make_info((("y", (), "Normal"),), inputs=(("u", (2,)),), name="with_input")
#: the counts model driven by a scalar input (a NetCDF file that lacks it)
COUNTS_AND_INPUT = make_info((("counts", (2,), "Poisson"), ("y", (), "Normal")), inputs=(("u", ()),), name="forced")
#: a matrix observation
MATRIX = make_info((("m", (2, 2), "Normal"),), name="matrix")


def info_for(case: str) -> ModelInfo:
    for prefix, info in (("laws_", LAWS), ("input_", INPUT), ("matrix_", MATRIX)):
        if case.startswith(prefix):
            return info
    return COUNTS


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------
# Round trips


def test_dataset_with_shared_times_round_trips():
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(3, 5, 2)).astype(float)
    y = rng.normal(size=(3, 5))
    y[1, 2] = np.nan  # a missing value
    counts[2, 4, 1] = np.nan  # a missing component
    times = np.array([0.0, 0.1, 0.35, 0.4, 2.0])  # irregular
    ds = xr.Dataset(
        {"counts": (("series", "time", "c"), counts), "y": (("series", "time"), y)},
        coords={"time": times, "series": ["a", "b", "c"]},
    )
    data = read_observations(ds, COUNTS)
    assert isinstance(data, ObservationData) and data.source == "<Dataset>"
    assert data.names == ("counts", "y")
    assert [s.name for s in data.series] == ["a", "b", "c"]
    for i, s in enumerate(data.series):
        np.testing.assert_array_equal(s.times, times)
        np.testing.assert_array_equal(s.values["counts"], counts[i])
        np.testing.assert_array_equal(s.values["y"], y[i])
    padded = data.padded()
    assert padded.present.all() and padded.values["counts"].shape == (3, 5, 2)


def test_per_series_times_are_trimmed_at_trailing_nan():
    times = np.array([[0.0, 0.5, 1.0, 1.7], [0.2, 0.3, np.nan, np.nan]])
    y = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, np.nan, np.nan]])
    counts = np.zeros((2, 4, 2))
    ds = xr.Dataset(
        {"counts": (("series", "obs", "c"), counts), "y": (("series", "obs"), y)},
        coords={"time": (("series", "obs"), times)},
    )
    data = read_observations(ds, COUNTS)
    assert [s.length for s in data.series] == [4, 2]
    np.testing.assert_array_equal(data.series[1].times, [0.2, 0.3])
    np.testing.assert_array_equal(data.series[1].values["y"], [5.0, 6.0])
    padded = data.padded()
    np.testing.assert_array_equal(padded.lengths, [4, 2])
    np.testing.assert_array_equal(padded.present[1], [True, True, False, False])


def test_single_series_without_series_dimension(tmp_path):
    ds = xr.Dataset(
        {"counts": (("time", "c"), [[1.0, 2.0], [3.0, 4.0]]), "y": ("time", [0.1, np.nan])},
        coords={"time": [0.0, 1.0]},
    )
    path = tmp_path / "one.nc"
    write_netcdf(ds, path)
    data = read_observations(path, COUNTS)
    assert len(data.series) == 1 and data.source == str(path)
    np.testing.assert_array_equal(data.series[0].values["counts"], [[1.0, 2.0], [3.0, 4.0]])


def test_time_points_with_nothing_observed_are_dropped():
    ds = xr.Dataset(
        {"counts": (("time", "c"), [[1.0, 2.0], [np.nan, np.nan], [3, 4]]), "y": ("time", [0.1, np.nan, 0.2])},
        coords={"time": [0.0, 1.0, 2.0]},
    )
    np.testing.assert_array_equal(read_observations(ds, COUNTS).series[0].times, [0.0, 2.0])


def test_simulate_output_is_fit_data(tmp_path, spec_model):
    import dync

    model = spec_model("specs/ou.dync")
    ds = dync.simulate(model, seed=0, paths=3, t1=1.0, dt=0.1, save=2)
    path = tmp_path / "ou.nc"
    write_netcdf(ds, path)
    data = read_observations(path, model)  # a model is accepted as well as its info
    assert data.names == ("y",) and len(data.series) == 3
    padded = data.padded()
    np.testing.assert_array_equal(padded.times[0], ds["time"].values)
    np.testing.assert_array_equal(padded.values["y"], ds["y"].values.astype(np.float64))


def test_csv_round_trip_with_series_nan_and_irregular_times(tmp_path):
    path = write_csv(
        tmp_path / "d.csv",
        "time,series,counts[0],counts[1],y,x[0]\n"
        "0.0,A,1,2,0.5,9\n"
        "0.25,A,3,,0.1,9\n"  # an empty cell: a missing component
        "0.0,B,0,0,NA,9\n"
        "1.5,A,4,5,nan,9\n"
        '0.5,"B",7,8,-0.3,9\n',  # quoted label; rows of series interleave
    )
    data = read_observations(path, COUNTS)
    assert [s.name for s in data.series] == ["A", "B"]
    a, b = data.series
    np.testing.assert_array_equal(a.times, [0.0, 0.25, 1.5])
    np.testing.assert_array_equal(a.values["counts"], [[1, 2], [3, np.nan], [4, 5]])
    np.testing.assert_array_equal(a.values["y"], [0.5, 0.1, np.nan])
    np.testing.assert_array_equal(b.times, [0.0, 0.5])
    np.testing.assert_array_equal(b.values["y"], [np.nan, -0.3])


def test_csv_matrix_columns_in_either_spelling(tmp_path):
    assert column_names("m", (2, 2)) == ["m[0][0]", "m[0][1]", "m[1][0]", "m[1][1]"]
    path = write_csv(tmp_path / "m.csv", 'time,m[0][0],"m[0, 1]","m[1,0]",m[1][1]\n0,1,2,3,4\n1,5,6,7,\n')
    s = read_observations(path, MATRIX).series[0]
    np.testing.assert_array_equal(s.values["m"], [[[1, 2], [3, 4]], [[5, 6], [7, np.nan]]])


def test_inputs_from_csv_and_dataset(tmp_path):
    path = write_csv(
        tmp_path / "u.csv",
        "time,series,y,u[0],u[1]\n0,a,1.0,0,10\n0.5,a,,1,11\n1,a,2.0,,\n0,b,3.0,5,50\n",
    )
    a, b = read_observations(path, INPUT).series
    np.testing.assert_array_equal(a.times, [0.0, 1.0])  # the input-only row observes nothing
    ts, us = a.inputs["u"]
    np.testing.assert_array_equal(ts, [0.0, 0.5])
    np.testing.assert_array_equal(us, [[0, 10], [1, 11]])
    np.testing.assert_array_equal(b.inputs["u"][1], [[5, 50]])
    padded_times, padded_values = read_observations(path, INPUT).padded().inputs["u"]
    np.testing.assert_array_equal(padded_times, [[0.0, 0.5], [0.0, 0.0]])  # b repeats its last sample
    np.testing.assert_array_equal(padded_values, [[[0, 10], [1, 11]], [[5, 50], [5, 50]]])
    assert read_observations(path, INPUT, inputs=False).series[0].inputs == {}

    # NetCDF: an input on its own finer time grid, shared by the series
    ds = xr.Dataset(
        {
            "y": (("series", "time"), [[1.0, 2.0], [3.0, 4.0]]),
            "u": (("input_time", "k"), np.arange(6.0).reshape(3, 2)),
        },
        coords={"time": [0.0, 1.0], "input_time": [0.0, 0.5, 1.0]},
    )
    data = read_observations(ds, INPUT)
    for s in data.series:
        np.testing.assert_array_equal(s.inputs["u"][0], [0.0, 0.5, 1.0])
        np.testing.assert_array_equal(s.inputs["u"][1], np.arange(6.0).reshape(3, 2))


def test_data_error_is_a_usage_error():
    assert issubclass(DataError, UsageError) and DataError.code == "E410"


# ---------------------------------------------------------------------------
# Golden diagnostics for bad data


def _diagnose(path, info) -> str:
    try:
        read_observations(path, info)
    except DyncError as err:
        assert isinstance(err, DataError), err.render()
        return err.render() + "\n"
    raise AssertionError(f"{path} was read without error")


def _check_golden(rendered: str, golden: Path, update_golden: bool) -> None:
    assert "Traceback" not in rendered
    if update_golden or not golden.exists():
        golden.write_text(rendered)
    assert rendered == golden.read_text()


CSV_CASES = sorted(GOLDEN.glob("*.csv"))


def test_there_are_golden_data_cases():
    assert len(CSV_CASES) >= 20 and len(NETCDF_CASES) >= 8


@pytest.mark.parametrize("path", CSV_CASES, ids=lambda p: p.stem)
def test_bad_csv_gives_its_golden_diagnostic(path: Path, update_golden: bool, monkeypatch):
    monkeypatch.chdir(ROOT)
    rendered = _diagnose(path.relative_to(ROOT).as_posix(), info_for(path.stem))
    _check_golden(rendered, path.with_suffix(".csv.expected"), update_golden)


def _nc_cases() -> dict[str, xr.Dataset | bytes]:
    t = [0.0, 0.5, 1.0]
    good_counts = (("series", "time", "c"), np.ones((2, 3, 2)))
    good_y = (("series", "time"), np.zeros((2, 3)))
    negative = np.ones((2, 3, 2))
    negative[1, 2, 0] = -1.0
    ragged = np.array([[0.0, 0.5, 1.0], [0.0, np.nan, 1.0]])
    second_empty = np.array([1.0, np.nan])[:, None]  # series 1 is all NaN
    return {
        "nc_empty": b"",
        "nc_missing_variable": xr.Dataset({"counts": good_counts, "Y": good_y}, coords={"time": t}),
        "nc_unknown_variable": xr.Dataset(
            {"counts": good_counts, "y": good_y, "rate": good_y}, coords={"time": t}
        ),
        "nc_wrong_shape": xr.Dataset(
            {"counts": (("series", "time", "c"), np.ones((2, 3, 3))), "y": good_y}, coords={"time": t}
        ),
        "nc_wrong_dims": xr.Dataset(
            {"counts": (("series", "time"), np.ones((2, 3))), "y": good_y}, coords={"time": t}
        ),
        "nc_no_time": xr.Dataset({"counts": good_counts, "y": good_y}),
        "nc_time_not_increasing": xr.Dataset({"counts": good_counts, "y": good_y}, coords={"time": [0.0, 1.0, 0.5]}),
        "nc_time_nan_inside": xr.Dataset(
            {"counts": (("series", "obs", "c"), np.ones((2, 3, 2))), "y": (("series", "obs"), np.zeros((2, 3)))},
            coords={"time": (("series", "obs"), ragged)},
        ),
        "nc_negative_count": xr.Dataset({"counts": (good_counts[0], negative), "y": good_y}, coords={"time": t}),
        "nc_empty_series": xr.Dataset(
            {
                "counts": (("series", "time", "c"), second_empty[..., None] * np.ones((2, 3, 2))),
                "y": (("series", "time"), second_empty * np.ones((2, 3))),
            },
            coords={"time": t, "series": ["control", "treated"]},
        ),
        "nc_input_missing": xr.Dataset({"counts": good_counts, "y": good_y}, coords={"time": t}),
        "nc_swept": xr.Dataset(
            {
                "counts": (("sweep", "path", "time", "c"), np.ones((2, 2, 3, 2))),
                "y": (("sweep", "path", "time"), np.zeros((2, 2, 3))),
            },
            coords={"time": t},
        ),
    }


NETCDF_CASES = sorted(_nc_cases())


@pytest.mark.parametrize("case", NETCDF_CASES)
def test_bad_netcdf_gives_its_golden_diagnostic(case: str, update_golden: bool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    content = _nc_cases()[case]
    name = f"{case}.nc"
    if isinstance(content, bytes):
        Path(name).write_bytes(content)
    else:
        write_netcdf(content, name)
    rendered = _diagnose(name, COUNTS_AND_INPUT if case.startswith("nc_input_") else COUNTS)
    _check_golden(rendered, GOLDEN / f"{case}.nc.expected", update_golden)


def test_dataset_errors_name_the_dataset():
    ds = xr.Dataset({"counts": (("time", "c"), [[1.0, -2.0]]), "y": ("time", [0.0])}, coords={"time": [0.0]})
    with pytest.raises(DataError) as info:
        read_observations(ds, COUNTS)
    assert info.value.render().startswith("<Dataset>: error[E410]: variable `counts`")


def test_a_model_without_observations_has_no_data():
    """A usage error (E400, exit 2), the same for every fitting method, not a data error."""
    with pytest.raises(UsageError, match="has no `observe` line, so there is nothing to fit it to"):
        read_observations(xr.Dataset(coords={"time": [0.0]}), make_info(()))


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(DataError, match="no such data file"):
        read_observations(tmp_path / "nope.csv", COUNTS)
    (tmp_path / "d.txt").write_text("time,y\n")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_observations(tmp_path / "d.txt", COUNTS)


# ---------------------------------------------------------------- simulation inputs


def test_input_series_read_from_csv_and_netcdf_alike(tmp_path):
    """`dync simulate --inputs FILE`: the inputs of one series, other columns
    (states, observations, anything else) ignored, every time kept."""
    from dync.runtime.data import read_input_series

    info = make_info([], inputs=[("u", ()), ("w", (2,))])
    csv = tmp_path / "u.csv"
    csv.write_text("time,u,w[0],w[1],note\n0,1,2,3,7\n0.5,1.5,2,3,\n2,4,5,6,8\n")
    got = read_input_series(csv, info)
    assert set(got) == {"u", "w"}
    np.testing.assert_array_equal(got["u"][0], [0, 0.5, 2])
    np.testing.assert_array_equal(got["u"][1], [1, 1.5, 4])
    np.testing.assert_array_equal(got["w"][1], [[2, 3], [2, 3], [5, 6]])
    ds = xr.Dataset(
        {"u": ("time", [1.0, 1.5, 4.0]), "w": (("time", "k"), [[2.0, 3.0], [2.0, 3.0], [5.0, 6.0]]), "extra": ("time", [0, 0, 0])},
        coords={"time": [0.0, 0.5, 2.0]},
    )
    nc = tmp_path / "u.nc"
    write_netcdf(ds, nc)
    from_nc = read_input_series(nc, info)
    for name in ("u", "w"):
        for a, b in zip(from_nc[name], got[name]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "text, message",
    [
        ("time,v\n0,1\n", "no column for the input `u`"),
        ("time,uu\n0,1\n", "rename the column `uu` to `u`"),
        ("time,series,u\n0,a,1\n1,a,2\n0,b,1\n", "holds 2 series (`a`, `b`)"),
        ("time,u\n0,1\n0,2\n", "appears twice"),
        ("time,u\n0,1\n1,inf\n", "input `u` is not finite"),
        ("time,u\n", "no data rows"),
    ],
)
def test_bad_input_files_are_located_errors(tmp_path, text, message):
    from dync.runtime.data import read_input_series

    path = tmp_path / "u.csv"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        read_input_series(path, make_info([], inputs=[("u", ())]))
    assert message in err.value.render()


def test_a_model_without_inputs_reads_no_input_file(tmp_path):
    from dync.runtime.data import read_input_series

    with pytest.raises(UsageError, match="declares no `input`"):
        read_input_series(tmp_path / "u.csv", make_info([("y", (), "Normal")]))


def test_data_written_by_another_model_is_read_with_a_warning():
    """A simulation of model `other` fit with model `obs_y`:
    the file's `y` is a state there, read here as the observation `y`. Same
    model name: no warning."""
    import warnings

    info = make_info((("y", (), "Normal"),), name="obs_y")
    ds = xr.Dataset(
        {"y": (("path", "time"), np.ones((2, 3)), {"kind": "state"})},
        coords={"time": [0.0, 0.5, 1.0]},
        attrs={"model": "other"},
    )
    with pytest.warns(UserWarning, match=r"written by model `other`, and is fit with model `obs_y`; its `y` is a state there"):
        read_observations(ds, info)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_observations(ds.assign_attrs(model="obs_y"), info)
