"""Write logistic_data.csv: the 60 labelled points of logistic_regression.dync.

The same draw as the constants of that spec: two covariates drawn from
N(0, 1) with NumPy's default_rng(7) (rounded to 4 decimals), an intercept
column, and labels y ~ Bernoulli(sigmoid(X @ [-0.5, 1.5, -1.0])) from the
same generator. Run it from anywhere: `python specs/targets/make_logistic_data.py`
(deterministic: it rewrites the same file byte for byte). `--points N` writes
N points instead (the first 60 are then the same), for trying SGLD on more data.

The CSV has one column per component of `input X[N, P]` and `input y[N]`
(LANGUAGE.md §11): X[0], X[1], X[2], y.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

WEIGHTS = np.array([-0.5, 1.5, -1.0])


def make(points: int = 60, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """The features ``(points, 3)`` and labels ``(points,)``."""
    rng = np.random.default_rng(seed)
    covariates = np.round(rng.normal(size=(points, 2)), 4)
    X = np.column_stack([np.ones(points), covariates])
    p = 1.0 / (1.0 + np.exp(-(X @ WEIGHTS)))
    y = (rng.uniform(size=points) < p).astype(int)
    return X, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("logistic_data.csv"))
    args = parser.parse_args()
    X, y = make(args.points, args.seed)
    with args.output.open("w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["X[0]", "X[1]", "X[2]", "y"])
        for row, label in zip(X, y):
            out.writerow([f"{v:.4f}" for v in row] + [int(label)])
    print(f"wrote {args.output} ({args.points} points)")


if __name__ == "__main__":
    main()
