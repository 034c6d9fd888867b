"""A target model's data (`dync.runtime.data_target`, `sample_data.read_data_arrays`):
bad data files get located errors, a target that is not a sum over its data
points is refused before SGLD runs, and every method samples the full-data
target."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from dync.compiler.driver import build_model, compile_ast, read_spec
from dync.errors import DyncError, DyncRuntimeError
from dync.runtime.data import DataError
from dync.runtime.sample_data import read_data_arrays
from dync.runtime.sampling import sample_model

REGRESSION = """model regression
dim N = 8
dim P = 2
input X[N, P]
input y[N]
state w[P] = 0
target -sum((y - X @ w)^2) / 2 - sum(w^2) / 2
"""


def _model(text: str, name: str = "spec.dync"):
    return build_model(compile_ast(read_spec(name, text)), None)


@pytest.fixture(scope="module")
def regression():
    return _model(REGRESSION)


def _write_csv(path, X, y):
    lines = ["X[0],X[1],y"] + [f"{a},{b},{c}" for (a, b), c in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")


def test_reads_csv_and_netcdf_alike(regression, tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 2)), rng.normal(size=8)
    _write_csv(tmp_path / "d.csv", X, y)
    xr.Dataset({"X": (("point", "k"), X), "y": ("point", y)}).to_netcdf(tmp_path / "d.nc")
    for source in (tmp_path / "d.csv", tmp_path / "d.nc", {"X": X, "y": y}):
        arrays = read_data_arrays(source, regression.info)
        np.testing.assert_allclose(arrays["X"], X)
        np.testing.assert_allclose(arrays["y"], y)


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("X[0],X[1]\n1,2\n", "no column `y`", 1),
        ("X[0],y\n1,2\n", "no column `X[1]`", 1),
        ("X[0],X[1],y\n1,2,3\n4,,6\n", "column `X[1]`: `` is not a finite number", 3),
        ("X[0],X[1],y\n1,2,3\n4,5,inf\n", "column `y`: `inf` is not a finite number", 3),
    ],
)
def test_a_bad_csv_gets_a_located_error(regression, tmp_path, text, message, line):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        read_data_arrays(path, regression.info)
    assert message in err.value.message and err.value.span.line == line and err.value.span.path == str(path)


def test_bad_netcdf_variables_get_errors(regression, tmp_path):
    cases = [
        (xr.Dataset({"X": (("p", "k"), np.ones((8, 2)))}), "no variable `y`"),
        (xr.Dataset({"X": (("p", "k"), np.ones((8, 3))), "y": ("p", np.ones(8))}), "needs shape (sample, 2)"),
        (xr.Dataset({"X": (("p", "k"), np.ones((8, 2))), "y": ("q", np.ones(7))}), "`y` has 7, `X` has 8"),
        (xr.Dataset({"X": (("p", "k"), np.full((8, 2), np.nan)), "y": ("p", np.ones(8))}), "sample 0 of `X`"),
    ]
    for i, (ds, message) in enumerate(cases):
        path = tmp_path / f"bad{i}.nc"
        ds.to_netcdf(path)
        with pytest.raises(DataError) as err:
            read_data_arrays(path, regression.info)
        assert message in err.value.message and err.value.span.path == str(path), err.value.message


def test_data_of_another_size_than_the_compiled_dim_is_refused(regression):
    with pytest.raises(DyncError, match="compiled with N = 8") as err:
        sample_model(regression, data={"X": np.ones((5, 2)), "y": np.ones(5)}, samples=5, progress=False)
    assert "--set N=5" in err.value.hint


def test_a_target_that_is_not_a_sum_over_data_is_refused(tmp_path):
    """-log(sum(exp(...))) of the data: its empty-data value is log 0."""
    spec = tmp_path / "lse.dync"
    spec.write_text("model lse\ndim N = 5\ninput x[N]\nstate mu = 0\ntarget -log(sum(exp(x - mu))) - mu^2 / 2\n")
    model = build_model(compile_ast(read_spec(spec)), None)
    data = {"x": np.linspace(-1, 1, 5)}
    with pytest.raises(DyncRuntimeError, match="not a sum over data points along `N`") as err:
        sample_model(model, method="sgld", step=0.01, data=data, samples=5, progress=False)
    rendered = err.value.render()
    assert f"{spec}:5:8" in rendered and "target -log(sum(exp(x - mu)))" in rendered, rendered
    # every other method samples it on all the data
    idata = sample_model(model, method="mala", step=0.2, data=data, chains=2, warmup=5, samples=10, progress=False)
    assert np.all(np.isfinite(idata.posterior["mu"].values))


def test_a_cross_term_between_points_is_refused(tmp_path):
    """(sum of the data)^2 is finite on no data and on one point, but it is
    not additive; the perturbed start catches it even at mu = 0."""
    text = "model cross\ndim N = 6\ninput x[N]\nstate mu = 0\ntarget -(sum(x * mu))^2 / 2 - mu^2 / 2\n"
    model = _model(text, str(tmp_path / "cross.dync"))
    with pytest.raises(DyncRuntimeError, match="add up to"):
        sample_model(model, method="sgld", step=0.01, data={"x": np.arange(6.0)}, samples=5, progress=False)


def test_a_target_using_the_data_size_as_a_shape_is_refused(tmp_path):
    text = "model shaped\ndim N = 4\ninput x[N]\nstate mu = 0\ntarget -sum((x - mu * ones(N))^2) / 2 - mu^2 / 2\n"
    model = _model(text)
    with pytest.raises(DyncRuntimeError, match="cannot be evaluated on fewer points"):
        sample_model(model, method="sgld", step=0.01, data={"x": np.arange(4.0)}, samples=5, progress=False)
