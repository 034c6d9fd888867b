"""``dync fit --method vi`` end to end on a small latent OU: the ELBO against
the exact Kalman log-likelihood, outputs, resume, bad data."""

from __future__ import annotations

import arviz as az
import jax
import numpy as np
import pytest
import xarray as xr

import dync
from dync.commands.fitting import write_fit
from dync.runtime.data import DataError
from dync.runtime.fit import fit_model, fit_summary
from dync.runtime.latent.fit import infer, load_vi
from tests.interrupt import ctrl_c_after
from tests.interrupt import main_exit_code as _main

SPEC = "specs/latent/latent_ou.dync"
TRUTH = {"theta": 1.0, "sigma": 0.5, "noise": 0.3}
SMALL = dict(hidden=8, context=4, samples=2, batch_size=4)


@pytest.fixture(scope="module")
def model():
    return dync.load(SPEC, jax.random.key(0), K=1, N=3)


@pytest.fixture(scope="module")
def data_file(model, tmp_path_factory):
    ds = dync.simulate(model, seed=3, paths=8, t1=2.0, dt=0.02, save=5)  # 8 series, 21 times each
    ds = ds.drop_vars([v for v in ds.data_vars if v != "y"])
    path = tmp_path_factory.mktemp("vi") / "ou.nc"
    ds.to_netcdf(path)
    return path


@pytest.mark.slow
def test_elbo_is_below_the_kalman_loglik_and_close_to_it(model, data_file):
    # every parameter held at the truth: only the encoder and the control learn
    fix = {n: np.asarray(model.constrained_params()[n]) for n in ("theta", "sigma", "noise", "C", "b")}
    exact = float(dync.log_likelihood(model, str(data_file)))
    idata = fit_model(model, str(data_file), method="vi", steps=600, learning_rate=0.01, dt=0.02, fix=fix,
                      progress=False, hidden=16, context=8, samples=4, batch_size=8)  # fmt: skip
    elbo = float(idata.point_estimate.attrs["elbo"])  # 32 paths per series, at the end
    n_obs = 8 * 21 * 3
    # a lower bound (the 32-path estimate has sd well under 1 nat here), and a
    # gap of at most 0.03 nats per observed value (15 nats in all)
    print(f"ELBO {elbo:.2f}, exact {exact:.2f}")
    assert elbo < exact + 1.0, (elbo, exact)
    assert exact - elbo < 0.03 * n_obs, (elbo, exact)  # measured: 7 nats (0.014 per value)


@pytest.mark.slow
def test_fit_writes_the_outputs_and_new_series_can_be_inferred(model, data_file, tmp_path):
    idata = fit_model(model, str(data_file), method="vi", steps=20, progress=False, **SMALL)
    for group in ("point_estimate", "elbo_trace", "latent_states", "rates", "observed_data", "vi_weights"):
        assert group in idata.groups()
    assert idata.latent_states["x"].dims == ("series", "obs", "x_dim0")
    assert idata.latent_states["x_quantile"].sizes["quantile"] == 3
    assert idata.rates["y"].shape == (8, 21, 3)
    q = idata.rates["y_quantile"].values
    assert np.all(q[0] <= q[1] + 1e-6) and np.all(q[1] <= q[2] + 1e-6)
    assert idata.elbo_trace.elbo.shape == (20,)
    assert "ELBO" in fit_summary(idata)
    out = tmp_path / "fit.nc"
    write_fit(idata, out)
    back = az.from_netcdf(out)
    fit = load_vi(back, model)
    again = infer(fit, str(data_file), seed=3)
    assert again["rates"]["y"].shape == (8, 21, 3) and np.all(np.isfinite(again["rates"]["y"]))
    # same weights, same data: close to the fit's own summary (different draws)
    np.testing.assert_allclose(again["rates"]["y"], idata.rates["y"].values, atol=0.5)


def test_interrupted_vi_fit_resumes_bit_identically(data_file, tmp_path, capsys):
    args = [SPEC, str(data_file), "--method", "vi", "--steps", "12", "--checkpoint-every", "4", "--set", "K=1",
            "--set", "N=3", "--hidden", "8", "--context", "4", "--samples", "2", "--batch-size", "4", "--no-progress"]
    full = tmp_path / "full.nc"
    assert _main("fit", *args, "-o", str(full)) == 0
    cut = tmp_path / "cut.nc"
    with ctrl_c_after(2):
        assert _main("fit", *args, "-o", str(cut)) != 0
    assert not cut.exists() and (tmp_path / "cut.nc.ckpt").exists()
    assert _main("fit", *args, "-o", str(cut), "--resume") == 0
    a, b = az.from_netcdf(full), az.from_netcdf(cut)
    np.testing.assert_array_equal(a.elbo_trace.elbo.values, b.elbo_trace.elbo.values)
    np.testing.assert_array_equal(a.vi_weights.weights.values, b.vi_weights.weights.values)
    np.testing.assert_array_equal(a.rates.y.values, b.rates.y.values)
    capsys.readouterr()


def test_bad_data_shape_is_a_located_error(model, tmp_path):
    ds = xr.Dataset({"y": (("series", "time", "k"), np.zeros((2, 5, 4)))}, coords={"time": np.arange(5.0)})
    path = tmp_path / "bad.nc"
    ds.to_netcdf(path)
    with pytest.raises(DataError) as err:
        fit_model(model, str(path), method="vi", steps=2, progress=False)
    text = str(err.value)
    assert "bad.nc" in text and "`y`" in text
    assert err.value.hint


def test_bad_data_shape_from_the_command_line_is_exit_2(tmp_path, capsys):
    ds = xr.Dataset({"y": (("series", "time", "k"), np.zeros((2, 5, 4)))}, coords={"time": np.arange(5.0)})
    path = tmp_path / "bad.nc"
    ds.to_netcdf(path)
    code = _main("fit", SPEC, str(path), "--method", "vi", "--set", "K=1", "--set", "N=3", "-o", str(tmp_path / "f.nc"))
    assert code == 2
    err = capsys.readouterr().err
    assert "E410" in err and "Traceback" not in err


def test_vi_needs_observations_and_normal_initial_states(tmp_path):
    spec = tmp_path / "noobs.dync"
    spec.write_text("model noobs\nparam s = 0.5 : positive\nstate x = 0\ndx = -x dt + s dW\n")
    m = dync.load(spec)
    with pytest.raises(dync.errors.UsageError, match="observe"):
        fit_model(m, "nothing.nc", method="vi", progress=False)


def test_vi_settings_are_refused_for_other_methods(model, data_file):
    with pytest.raises(dync.errors.UsageError, match="vi only"):
        fit_model(model, str(data_file), method="mle", samples=3)


@pytest.mark.slow
def test_small_latent_ou_fit_recovers_the_parameters(tmp_path):
    # K = 1, N = 3 with the readout held at the truth (so the scale of x is
    # identified), 24 series x 41 times, from a start far off (theta 2,
    # sigma 1, noise 0.6). Tolerances around the truth (theta 1, sigma 0.5,
    # noise 0.3): theta in [0.5, 1.6], sigma in [0.3, 0.7], noise within 10 %.
    # They are wide because VI's estimates carry the amortisation gap's bias:
    # measured (seed 0, 2000 steps) theta 0.67, sigma 0.36, noise 0.313,
    # against the exact MLE 1.06 +- 0.18, 0.53 +- 0.04, 0.300 +- 0.005.
    model = dync.load(SPEC, jax.random.key(0), K=1, N=3)
    readout = np.array([[1.0], [-0.8], [0.6]])
    truth = dync.with_params(model, {**TRUTH, "C": readout})
    ds = dync.simulate(truth, seed=5, paths=24, t1=4.0, dt=0.02, save=5)
    path = tmp_path / "ou.nc"
    ds.drop_vars([v for v in ds.data_vars if v != "y"]).to_netcdf(path)
    fix = {"C": readout, "b": np.zeros(3)}
    start = dync.with_params(model, {"theta": 2.0, "sigma": 1.0, "noise": 0.6})
    idata = fit_model(start, str(path), method="vi", steps=2000, learning_rate=0.01, fix=fix, progress=False,
                      hidden=32, context=16, samples=4, batch_size=12, dt=0.05, kl_anneal=0)  # fmt: skip
    est = {n: float(idata.point_estimate[n]) for n in ("theta", "sigma", "noise")}
    print(est)
    assert 0.5 < est["theta"] < 1.6, est
    assert 0.3 < est["sigma"] < 0.7, est
    assert abs(est["noise"] - 0.3) < 0.03, est


def test_a_spec_whose_only_learnables_are_nets_fits(data_file, tmp_path):
    """A neural SDE with no `param` at all (its drift and readout are nets)
    is fitted: the nets and the encoder learn (it was refused as 'every
    parameter is fixed')."""
    spec = tmp_path / "nets_only.dync"
    spec.write_text(
        "model nets_only\n"
        "net f = mlp(in = 1, out = 1, width = 4, depth = 1, activation = tanh)\n"
        "net g = mlp(in = 1, out = 3, width = 4, depth = 1, activation = tanh)\n"
        "state x[1] ~ Normal(0, 1)\n"
        "dx = f(x) dt + 0.3 dW\n"
        "observe y[3] ~ Normal(g(x), 0.5)\n"
    )
    out = tmp_path / "fit.nc"
    code = _main("fit", str(spec), str(data_file), "--method", "vi", "--steps", "4", "--hidden", "8", "--context", "4",
                 "--samples", "2", "--batch-size", "4", "--no-progress", "-o", str(out))  # fmt: skip
    assert code == 0
    idata = az.from_netcdf(out)
    assert np.all(np.isfinite(idata.elbo_trace.elbo.values))
    assert idata.rates["y"].shape == (8, 21, 3)


def test_vi_holds_a_parameter_the_compiler_reads_only_at_its_value():
    """VI may fix every parameter (the nets are still learned), but a
    parameter the compiler reads (`x[k]`) left free, or held at another
    value, is refused as for the other methods; the fit file's `fix` holds
    it at its value when `dync evaluate` rebuilds the model."""
    from dync.errors import UsageError
    from dync.runtime.latent.fit import _hold

    m = dync.load("m.dync", text="model m\nparam k = 1\nparam a = 1 : positive\nstate x[3] = 1\n"
                  "dx = -a * x dt + 0.1 * x[k] dW\nobserve y ~ Normal(x[0], 0.1)\n")  # fmt: skip
    with pytest.raises(UsageError, match=r"fit: parameter `k` is read as an index or a size \(line 5\)"):
        _hold(m, {"a": 1.0})
    with pytest.raises(UsageError, match=r"the value given \(2\) would be ignored"):
        _hold(m, {"a": 1.0, "k": 2.0})
    assert set(_hold(m, {"a": 1.0, "k": 1.0}).fixed) == {"a", "k"}
