"""The diffusion specs of specs/diffusion (docs/diffusion.md, "Specs and
data"): each checks, has a score over a `~ data` state and names its
source; the toy data sets it names are there, with the right width, and
are made by the project's own generator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dync.compiler.driver import check_ast, read_spec

ROOT = Path(__file__).resolve().parents[2]
DIFFUSION = ROOT / "specs" / "diffusion"
SPECS = sorted(DIFFUSION.glob("*.dync")) + sorted(DIFFUSION.glob("*.yaml"))
#: each spec and the data set docs/diffusion.md trains it on
DATA = {
    "gmm2d_vp": "gmm2d.csv", "vp_2d": "checkerboard.csv", "ve_2d": "ring8.csv", "subvp_2d": "moons.csv",
    "gmm1d_vp": "gmm1d.csv", "gbm_2d": "positive.csv",
}  # fmt: skip


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_each_spec_checks_and_has_its_data(path):
    checked = check_ast(read_spec(path))
    model = checked.model
    assert model.score is not None and any(s.data for s in model.states)
    assert "source" in path.read_text().lower()[:800]
    data = np.loadtxt(DIFFUSION / DATA[model.name], delimiter=",", skiprows=1, ndmin=2)
    assert data.shape == (2000, model.state_size) and np.all(np.isfinite(data))


def test_the_issue_s_forward_processes_and_data_sets_are_all_there():
    names = {p.stem for p in SPECS}
    assert {"gmm2d_vp", "vp_2d", "ve_2d", "subvp_2d", "gmm1d_vp", "gbm_2d"} <= names
    spec = importlib.util.spec_from_file_location("make_toy_data", DIFFUSION / "make_toy_data.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    for name in ("ring8", "moons", "checkerboard", "gmm1d", "positive"):
        made = make.draw(name, 2000, 0)
        on_file = np.loadtxt(DIFFUSION / f"{name}.csv", delimiter=",", skiprows=1, ndmin=2)
        np.testing.assert_allclose(on_file, made, atol=1e-6)  # the files are the generator's, seed 0
