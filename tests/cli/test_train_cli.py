"""`dync train` and `dync sample --reverse` end to end: train a small score
on the 2-D mixture, write weights and a loss curve, generate samples and
log-likelihoods; Ctrl-C during training leaves a checkpoint that `--resume`
continues to the same weights (byte for byte); user mistakes get clear
errors (exit 1 or 2, no traceback). The YAML form of the spec trains too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.interrupt import ctrl_c_after
from tests.interrupt import main_exit_code as _main

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "specs/diffusion/gmm2d_vp.dync")
YAML = str(ROOT / "specs/diffusion/gmm2d_vp.yaml")
DATA = str(ROOT / "specs/diffusion/gmm2d.csv")
TRAIN = ["--steps", "120", "--batch", "64", "--lr", "3e-3", "--seed", "2", "--checkpoint-every", "40", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "trained.eqx"
    assert _main("train", SPEC, DATA, "-o", str(out), *TRAIN) == 0
    return out


def test_train_writes_weights_and_a_loss_curve(trained, capsys):
    curve = trained.with_name("trained.loss.csv")
    assert trained.exists() and curve.exists()
    rows = np.loadtxt(curve, delimiter=",", skiprows=1)
    assert rows.shape == (120, 3) and np.all(np.isfinite(rows))
    assert rows[-20:, 1].mean() < rows[:20, 1].mean()  # the loss went down
    assert not Path(f"{trained}.ckpt").exists()


@pytest.mark.parametrize("method", ["sde", "ode", "pc"])
def test_sample_reverse_writes_samples(trained, tmp_path, capsys, method):
    out = tmp_path / "gen.nc"
    flags = ["--samples", "200", "--steps", "50", "--no-progress"]
    assert _main("sample", SPEC, "--reverse", method, "--weights", str(trained), "-o", str(out), *flags) == 0
    printed = capsys.readouterr()
    assert f"reverse {method}" in printed.out and "200 samples" in printed.out
    ds = xr.load_dataset(out)
    assert ds["x"].shape == (200, 2) and np.all(np.isfinite(ds["x"].values))


def test_sample_loglik_of_data(trained, tmp_path, capsys):
    held = tmp_path / "held.csv"
    held.write_text("x[0],x[1]\n-2.0,0.1\n2.1,-0.2\n0.0,2.4\n")
    out = tmp_path / "ll.nc"
    args = ["--reverse", "ode", "--weights", str(trained), "--samples", "10", "--loglik", "--data", str(held)]
    assert _main("sample", SPEC, *args, "-o", str(out), "--no-progress") == 0
    assert "bits/dim" in capsys.readouterr().out
    ds = xr.load_dataset(out)
    assert ds["loglik"].shape == (3,) and np.all(np.isfinite(ds["loglik"].values))
    assert ds.attrs["loglik_bits_per_dim"] == pytest.approx(-ds["loglik"].values.mean() / (2 * np.log(2)), rel=1e-5)


def test_interrupted_training_resumes_to_the_same_weights(trained, tmp_path, capsys):
    part = tmp_path / "part.eqx"
    with ctrl_c_after(2):
        code = _main("train", SPEC, DATA, "-o", str(part), *TRAIN)
    err = capsys.readouterr().err
    assert code == 130 and "--resume" in err and not part.exists(), err
    assert _main("train", SPEC, DATA, "-o", str(part), *TRAIN, "--resume") == 0
    assert part.read_bytes() == trained.read_bytes()
    assert part.with_name("part.loss.csv").read_text() == trained.with_name("trained.loss.csv").read_text()


def test_yaml_spec_trains(tmp_path):
    out = tmp_path / "y.eqx"
    assert _main("train", YAML, DATA, "-o", str(out), "--steps", "5", "--batch", "8", "--no-progress") == 0
    assert out.exists()


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["train", SPEC, "missing.csv"], 2, "no such data file"),
        (["train", str(ROOT / "specs/ou.dync"), DATA], 2, "no `score`"),
        (["train", SPEC, DATA, "--ema", "1.5"], 2, "--ema"),
        (["train", SPEC, DATA, "--t-min", "2"], 2, "--t-min"),
        (["sample", SPEC, "--reverse", "sde"], 2, "--weights"),
        (["sample", SPEC, "--reverse", "ddpm", "--weights", "w"], 2, "unknown reverse sampler"),
        (["sample", SPEC, "--reverse", "sde", "--weights", "nothere.eqx"], 2, "cannot read the weights"),
        (["sample", str(ROOT / "specs/banana.dync"), "--loglik"], 2, "--reverse"),
    ],
)
def test_mistakes_get_clear_errors(tmp_path, capsys, args, code, message):
    assert _main(*args, "-o", str(tmp_path / "out")) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


def test_weights_of_another_spec_are_refused(trained, tmp_path, capsys):
    other = tmp_path / "wide.dync"
    other.write_text(Path(SPEC).read_text().replace("width = 64", "width = 32"))
    assert _main("sample", str(other), "--reverse", "sde", "--weights", str(trained), "-o", str(tmp_path / "g.nc")) == 2
    assert "other nets" in capsys.readouterr().err


def test_interrupted_reverse_sampling_resumes_bit_identically(trained, tmp_path, capsys):
    flags = ["--reverse", "sde", "--weights", str(trained), "--samples", "100", "--steps", "60",
             "--checkpoint-every", "20", "--no-progress"]  # fmt: skip
    whole, part = tmp_path / "whole.nc", tmp_path / "part.nc"
    assert _main("sample", SPEC, *flags, "-o", str(whole)) == 0
    with ctrl_c_after(2):
        code = _main("sample", SPEC, *flags, "-o", str(part))
    assert code == 130 and Path(f"{part}.ckpt").exists()
    assert _main("sample", SPEC, *flags, "-o", str(part), "--resume") == 0
    np.testing.assert_array_equal(xr.load_dataset(part)["x"].values, xr.load_dataset(whole)["x"].values)


def test_feynman_kac_flags(trained, tmp_path, capsys):
    out = tmp_path / "fk.nc"
    flags = ["--reverse", "sde", "--weights", str(trained), "--samples", "100", "--steps", "30", "--no-progress"]
    assert _main("sample", SPEC, *flags, "--anneal", "2", "-o", str(out)) == 0
    assert "Feynman-Kac p^2" in capsys.readouterr().out
    ds = xr.load_dataset(out)
    assert ds["x"].shape == (100, 2) and np.isfinite(ds.attrs["fk_log_normalizer"])
    assert _main("sample", SPEC, *flags, "--product", str(trained), "--guidance", "1.5", "-o", str(out)) == 0
    assert "p1^1.5 p2^-0.5" in capsys.readouterr().out
    assert _main("sample", SPEC, *flags, "--anneal", "-1", "-o", str(out)) == 2
    assert "--anneal" in capsys.readouterr().err


def test_sample_reverse_prior_flag(trained, tmp_path, capsys):
    """--prior sets where the reverse process starts; a bad one is a located
    error in the flag's text (exit 1) or a usage error, never a traceback."""
    out = tmp_path / "p.nc"
    flags = ["--reverse", "sde", "--weights", str(trained), "--samples", "100", "--steps", "30", "--no-progress", "-o", str(out)]
    assert _main("sample", SPEC, *flags, "--prior", "Normal(0, 1)") == 0
    assert "started from Normal(0, 1)" in capsys.readouterr().out
    assert xr.load_dataset(out).attrs["prior"] == "Normal(0, 1)"
    assert _main("sample", SPEC, *flags, "--prior", "Normal(0, [1, 2, 3])") == 1
    err = capsys.readouterr().err
    assert "--prior:1:11: error" in err and "does not broadcast" in err and "Traceback" not in err, err
    assert _main("sample", SPEC, *flags, "--prior", "Normal(0 1)") == 1
    err = capsys.readouterr().err
    assert err.startswith("--prior:1:") and "Traceback" not in err, err


def test_plot_of_generated_samples(trained, tmp_path, capsys):
    """`dync plot gen.nc` draws the samples against the training data the
    weights recorded; `--data` is refused for a file of another kind."""
    gen, png = tmp_path / "gen.nc", tmp_path / "gen.png"
    flags = ["--reverse", "sde", "--weights", str(trained), "--samples", "100", "--steps", "30", "--no-progress"]
    assert _main("sample", SPEC, *flags, "-o", str(gen)) == 0
    assert xr.load_dataset(gen).attrs["training_data"] == str(Path(DATA).resolve())
    capsys.readouterr()
    assert _main("plot", str(gen), "-o", str(png)) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and f"wrote {png}" in capsys.readouterr().err
    sim = tmp_path / "sim.nc"
    xr.Dataset({"x": (("path", "time"), np.zeros((2, 3)))}, coords={"time": [0.0, 0.5, 1.0]}).to_netcdf(sim)
    assert _main("plot", str(sim), "--data", DATA, "-o", str(png)) == 2
    assert "--data is for a file of generated samples" in capsys.readouterr().err


def test_a_multiplicative_forward_sde_trains_in_log_x(tmp_path, capsys):
    """GBM is linear in log x: exact DSM there, a log-normal start, and
    PF-ODE log-likelihoods."""
    spec = str(ROOT / "specs/diffusion/gbm_2d.dync")
    data = str(ROOT / "specs/diffusion/positive.csv")
    out = tmp_path / "gbm.eqx"
    assert _main("train", spec, data, "-o", str(out), "--steps", "20", "--batch", "16", "--no-progress") == 0
    assert "denoising score matching in log x" in capsys.readouterr().out
    gen = tmp_path / "g.nc"
    assert _main("sample", spec, "--reverse", "ode", "--weights", str(out), "--samples", "20", "--loglik",
                 "-o", str(gen), "--no-progress") == 0  # fmt: skip
    ds = xr.load_dataset(gen)
    assert ds["x"].shape == (20, 2) and np.all(ds["x"].values > 0) and np.all(np.isfinite(ds["loglik"].values))
    negative = tmp_path / "neg.csv"
    negative.write_text("x[0],x[1]\n1.0,2.0\n-1.0,0.5\n")
    assert _main("train", spec, str(negative), "-o", str(out), "--steps", "2", "--no-progress") == 2
    err = capsys.readouterr().err
    assert "must be positive, but sample 1 is [-1.0, 0.5]" in err and "Traceback" not in err, err


def test_a_forward_sde_in_neither_class_trains_by_sliced_score_matching(tmp_path, capsys):
    spec = tmp_path / "other.dync"
    spec.write_text((ROOT / "specs/diffusion/gbm_2d.dync").read_text().replace("sigma * x * dW", "sigma * x / (1 + x) * dW"))
    data = str(ROOT / "specs/diffusion/positive.csv")
    out = tmp_path / "other.eqx"
    assert _main("train", str(spec), data, "-o", str(out), "--steps", "20", "--batch", "16", "--no-progress") == 0
    assert "sliced score matching" in capsys.readouterr().out
    gen = tmp_path / "g.nc"
    assert _main("sample", str(spec), "--reverse", "sde", "--weights", str(out), "--samples", "50", "--steps", "20",
                 "-o", str(gen), "--no-progress") == 0  # fmt: skip
    assert xr.load_dataset(gen)["x"].shape == (50, 2)
    assert _main("sample", str(spec), "--reverse", "ode", "--weights", str(out), "--loglik", "-o", str(gen)) == 2
    assert "not linear" in capsys.readouterr().err

def test_a_closed_form_score_trains_nothing_and_generates(tmp_path, capsys):
    """A score with no net (here the exact score -x of VP noise on N(0, I)
    data) needs no training, but `dync sample --reverse` needs the data's
    moments; `dync train` records them instead of refusing (the two commands
    used to point at each other). 3000 samples: the mean is within 4 standard
    errors (0.073) of 0 and the variance within 4 * sqrt(2/3000) = 0.10 of 1."""
    spec = tmp_path / "cf.dync"
    spec.write_text(
        "model closed_form\ndim D = 2\nparam beta = 2 : positive\nstate x[D] ~ data\n"
        "dx = -0.5 * beta * x dt + sqrt(beta) dW\nscore x = -x\n"
    )
    data = tmp_path / "cf.csv"
    points = np.random.default_rng(0).normal(size=(400, 2))
    data.write_text("x[0],x[1]\n" + "\n".join(f"{a},{b}" for a, b in points) + "\n")
    weights, out = tmp_path / "cf.eqx", tmp_path / "cf.nc"
    assert _main("sample", str(spec), "--reverse", "sde", "-o", str(out)) == 2
    assert "dync train SPEC DATA -o FILE" in capsys.readouterr().err
    assert _main("train", str(spec), str(data), "-o", str(weights), "--no-progress") == 0
    assert "has no net, so there is nothing to train" in capsys.readouterr().out
    assert _main("sample", str(spec), "--reverse", "sde", "--weights", str(weights), "--samples", "3000",
                 "--steps", "200", "--no-progress", "-o", str(out)) == 0  # fmt: skip
    x = xr.open_dataset(out)["x"].values
    assert np.all(np.abs(x.mean(0)) < 4 * np.sqrt(1 / 3000)) and np.all(np.abs(x.var(0) - 1) < 0.1), (x.mean(0), x.var(0))
