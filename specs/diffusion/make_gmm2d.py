"""Write gmm2d.csv: 2000 samples of a 2-D mixture of three Gaussians.

The training data of ``gmm2d_vp.dync`` (LANGUAGE.md §11: one column per
component, ``x[0]`` and ``x[1]``). Run ``python3 make_gmm2d.py [N] [SEED]
[OUT]`` to make another draw (e.g. held-out data with another seed).

Mixture: equal weights, means (-2, 0), (2, 0), (0, 2.5), isotropic std 0.4.
"""

import sys

import numpy as np

MEANS = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.5]])
STD = 0.4


def draw(n: int, seed: int) -> np.ndarray:
    """``n`` samples of the mixture."""
    rng = np.random.default_rng(seed)
    comp = rng.integers(0, len(MEANS), n)
    return MEANS[comp] + STD * rng.standard_normal((n, 2))


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    out = sys.argv[3] if len(sys.argv) > 3 else "gmm2d.csv"
    x = draw(n, seed)
    with open(out, "w") as fh:
        fh.write("x[0],x[1]\n")
        for a, b in x:
            fh.write(f"{a:.6f},{b:.6f}\n")
