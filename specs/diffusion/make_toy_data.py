"""Toy data sets for the diffusion specs, made here (nothing is downloaded).

``python3 make_toy_data.py NAME [N] [SEED] [OUT]`` writes a CSV in the
samples format of LANGUAGE.md §11 (columns ``x[0]``, ``x[1]``, ...):

* ``ring8``: the 8-Gaussian ring, radius 2, component std 0.1 (2-D);
* ``moons``: two interleaved half circles with noise 0.05 (2-D);
* ``checkerboard``: uniform on the dark squares of a 4x4 board on [-2, 2]^2 (2-D);
* ``gmm1d``: 0.3 N(-1.5, 0.3^2) + 0.7 N(1, 0.5^2) (1-D), whose score under a
  linear forward SDE is known in closed form;
* ``positive``: log-normal, positive 2-D data (log x ~ N((0, 0.5), [[0.3, 0.1], [0.1, 0.2]])).
"""

from __future__ import annotations

import sys

import numpy as np

GMM1D = {"weights": [0.3, 0.7], "means": [-1.5, 1.0], "stds": [0.3, 0.5]}


def ring8(n: int, rng) -> np.ndarray:
    angle = 2 * np.pi * rng.integers(0, 8, n) / 8
    return 2.0 * np.stack([np.cos(angle), np.sin(angle)], 1) + 0.1 * rng.standard_normal((n, 2))


def moons(n: int, rng) -> np.ndarray:
    upper = rng.random(n) < 0.5
    a = np.pi * rng.random(n)
    x = np.where(upper, np.cos(a), 1 - np.cos(a))
    y = np.where(upper, np.sin(a), 0.5 - np.sin(a))
    return np.stack([x - 0.5, y - 0.25], 1) + 0.05 * rng.standard_normal((n, 2))


def checkerboard(n: int, rng) -> np.ndarray:
    out = np.empty((0, 2))
    while len(out) < n:
        p = rng.uniform(-2, 2, (2 * n, 2))
        keep = (np.floor(p[:, 0]) + np.floor(p[:, 1])) % 2 == 0
        out = np.concatenate([out, p[keep]])
    return out[:n]


def gmm1d(n: int, rng) -> np.ndarray:
    comp = rng.choice(2, n, p=GMM1D["weights"])
    return (np.array(GMM1D["means"])[comp] + np.array(GMM1D["stds"])[comp] * rng.standard_normal(n))[:, None]


def positive(n: int, rng) -> np.ndarray:
    cov = np.array([[0.3, 0.1], [0.1, 0.2]])
    return np.exp(rng.multivariate_normal([0.0, 0.5], cov, n))


SETS = {"ring8": ring8, "moons": moons, "checkerboard": checkerboard, "gmm1d": gmm1d, "positive": positive}


def draw(name: str, n: int, seed: int) -> np.ndarray:
    """``n`` samples of the named set, shape ``(n, dim)``."""
    return SETS[name](n, np.random.default_rng(seed))


def write_csv(x: np.ndarray, path: str) -> None:
    with open(path, "w") as fh:
        fh.write(",".join(f"x[{k}]" for k in range(x.shape[1])) + "\n")
        for row in x:
            fh.write(",".join(f"{v:.6f}" for v in row) + "\n")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in SETS:
        sys.exit(f"usage: make_toy_data.py {{{'|'.join(SETS)}}} [N] [SEED] [OUT]")
    name = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    write_csv(draw(name, n, seed), sys.argv[4] if len(sys.argv) > 4 else f"{name}.csv")
