"""Latent-path inference on synthetic Lorenz spiking data: ``dync fit
--method vi`` (the LangevinFlow spec) beside a factor-analysis + Poisson GLM
baseline, scored alike (rate R², co-smoothing bits per spike, on test trials
and on conditions never seen in training). Prints both, and the oracle
(the true rates).

    python benchmarks/latent.py --seed 0 --steps 1500 [--spec specs/latent/langevin_flow.dync]

The VI fit runs through the command line (``dync fit ... --method vi`` then
``dync evaluate``) in a temporary folder; its wall time is printed.

Baseline (the issue's "factor analysis with a Poisson GLM"): held-in counts
smoothed with a Gaussian kernel (sd ``--smooth`` bins), square-root
transformed, factor analysis (EM, ``--factors`` factors) fitted on the
training trials; then, per neuron (held-in and held-out), a Poisson GLM
(log link, small L2) from the factors to the counts, fitted on the training
trials only. Test trials: factors from their held-in counts, rates from the
GLMs.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import optimize
from scipy.ndimage import gaussian_filter1d

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dync.runtime.latent.evaluate import bits_per_spike, rate_r2  # noqa: E402
from dync.runtime.latent.lorenz import lorenz_spikes  # noqa: E402


def factor_analysis(x: np.ndarray, k: int, iterations: int = 300):
    """EM for factor analysis, x ``(n, d)``: returns (mean, loadings W (d, k), noise variances psi (d,))."""
    mu = x.mean(0)
    xc = x - mu
    cov = xc.T @ xc / len(x)
    d = x.shape[1]
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.1, (d, k))
    psi = np.diag(cov).copy() + 1e-6
    for _ in range(iterations):
        Pi = W / psi[:, None]
        G = np.linalg.inv(np.eye(k) + W.T @ Pi)  # posterior covariance of the factors
        B = G @ Pi.T  # (k, d): E[z|x] = B (x - mu)
        Ezz = G + B @ cov @ B.T
        W = cov @ B.T @ np.linalg.inv(Ezz)
        psi = np.maximum(np.diag(cov - W @ B @ cov), 1e-6)
    Pi = W / psi[:, None]
    G = np.linalg.inv(np.eye(k) + W.T @ Pi)
    return mu, W, psi, G @ Pi.T


def poisson_glm(z: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Weights (k+1,) of log E[y] = [z, 1] @ w, by L-BFGS."""
    X = np.hstack([z, np.ones((len(z), 1))])

    def f(w):
        eta = np.clip(X @ w, -20, 20)
        r = np.exp(eta)
        return np.sum(r - y * eta) / len(y) + l2 * np.sum(w[:-1] ** 2), (X.T @ (r - y)) / len(y) + 2 * l2 * np.r_[w[:-1], 0]

    w0 = np.zeros(X.shape[1])
    w0[-1] = math.log(max(y.mean(), 1e-3))
    return optimize.minimize(f, w0, jac=True, method="L-BFGS-B").x


def fa_glm_baseline(truth: xr.Dataset, heldout: list[int], factors: int, smooth: float) -> np.ndarray:
    """Rates ``(series, time, neuron)`` for every trial, fitted on the training trials."""
    spikes = truth.spikes.values
    split = truth.split.values.astype(str)
    n = spikes.shape[-1]
    held_in = [i for i in range(n) if i not in heldout]
    sm = np.sqrt(gaussian_filter1d(spikes[..., held_in], smooth, axis=1))
    train = split == "train"
    flat = sm[train].reshape(-1, len(held_in))
    mu, W, psi, B = factor_analysis(flat, factors)
    z = (sm.reshape(-1, len(held_in)) - mu) @ B.T  # (all bins, k)
    z_train = z.reshape(spikes.shape[:2] + (factors,))[train].reshape(-1, factors)
    rates = np.empty(spikes.shape)
    Xall = np.hstack([z, np.ones((len(z), 1))])
    for j in range(n):
        w = poisson_glm(z_train, spikes[train][..., j].reshape(-1))
        rates[..., j] = np.exp(Xall @ w).reshape(spikes.shape[:2])
    return rates


def scores(rates, truth, heldout, sel):
    spikes, true = truth.spikes.values[sel], truth.rates.values[sel]
    return {"r2": rate_r2(rates[sel], true), "co_bps": bits_per_spike(rates[sel][..., heldout], spikes[..., heldout])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0, help="data seed (the fit uses --fit-seed)")
    p.add_argument("--fit-seed", type=int, default=0)
    p.add_argument("--spec", default=str(ROOT / "specs/latent/langevin_flow.dync"))
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--fit-args", default="", help="extra `dync fit` flags, e.g. '--batch-size 64 --hidden 64'")
    p.add_argument("--factors", type=int, default=3)
    p.add_argument("--smooth", type=float, default=2.0, help="baseline smoothing sd, in bins")
    p.add_argument("--no-vi", action="store_true", help="the baseline and the oracle only")
    a = p.parse_args()

    sets = lorenz_spikes(seed=a.seed)
    truth = sets["truth"]
    heldout = json.loads(truth.attrs["heldout"])["spikes"]
    split = truth.split.values.astype(str)
    rows = {}
    rows["oracle (true rates)"] = {s: scores(truth.rates.values, truth, heldout, split == s) for s in ("test", "unseen")}
    t = time.perf_counter()
    fa = fa_glm_baseline(truth, heldout, a.factors, a.smooth)
    rows[f"FA({a.factors}) + Poisson GLM"] = {s: scores(fa, truth, heldout, split == s) for s in ("test", "unseen")}
    fa_time = time.perf_counter() - t
    vi_time = float("nan")
    if not a.no_vi:
        with tempfile.TemporaryDirectory() as tmp:
            for name, ds in sets.items():
                ds.to_netcdf(f"{tmp}/lz_{name}.nc")
            cmd = ["dync", "fit", a.spec, f"{tmp}/lz_train.nc", "--method", "vi", "--steps", str(a.steps),
                   "--seed", str(a.fit_seed), "-o", f"{tmp}/fit.nc", "--no-progress", *a.fit_args.split()]
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            vi_time = time.perf_counter() - t
            subprocess.run(["dync", "evaluate", f"{tmp}/fit.nc", f"{tmp}/lz_eval.nc", "--truth", f"{tmp}/lz_truth.nc",
                            "-o", f"{tmp}/m.json", "--seed", str(a.fit_seed)], check=True, stdout=subprocess.DEVNULL)
            m = json.loads(Path(f"{tmp}/m.json").read_text())
            rows[f"dync fit --method vi ({Path(a.spec).stem})"] = {
                s: {"r2": m[s]["r2"], "co_bps": m[s]["co_bps"]} for s in ("test", "unseen")}
    print(f"Lorenz spiking data, seed {a.seed}: {int((split == 'train').sum())} training trials, "
          f"{int((split == 'test').sum())} test, {int((split == 'unseen').sum())} from unseen conditions")
    print(f"{'method':42s} {'test R²':>8s} {'co-bps':>7s} {'unseen R²':>10s} {'co-bps':>7s}")
    for name, r in rows.items():
        print(f"{name:42s} {r['test']['r2']:8.3f} {r['test']['co_bps']:7.3f} {r['unseen']['r2']:10.3f} {r['unseen']['co_bps']:7.3f}")
    print(f"wall time: VI fit {vi_time:.0f} s (steps {a.steps}), FA + GLM {fa_time:.1f} s")


if __name__ == "__main__":
    main()
