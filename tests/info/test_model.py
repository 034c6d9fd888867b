"""The model description (`dync.info`): imported without JAX, built by the
compiler, embedded in the generated module, and the contract of the model
class it describes (final, abstract methods only, explicit keys)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import pytest

import dync
from dync.compiler.describe import describe_model
from dync.compiler.driver import compile_file, model_class
from dync.info import ModelInfo, Positive, SpecSource, choose_solver, solver_summary
from dync.runtime.model import AbstractModel

ROOT = Path(__file__).resolve().parents[2]


def test_importing_dync_info_imports_no_jax():
    code = "import sys, dync.info; print(any(m == 'jax' or m.startswith('jax.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_the_generated_info_is_the_compilers_description():
    compiled = compile_file(ROOT / "specs/ou.dync")
    info = model_class(compiled).info
    assert isinstance(info, ModelInfo)
    assert info == describe_model(compiled.model)
    theta = info.param("theta")
    assert theta.constraint == Positive() and theta.prior == "LogNormal" and theta.has_prior
    assert not info.param("mu").has_prior
    assert choose_solver(info).name == "euler_maruyama"
    assert solver_summary(info) == "auto → euler_maruyama (fused, fixed step); shark with --adaptive"
    with pytest.raises(KeyError):
        info.param("nope")


def test_the_generated_model_implements_the_abstract_methods_and_nothing_else():
    for spec in ("specs/ou.dync", "specs/langevin_oscillators.dync", "specs/fractional_ou.dync"):
        cls = model_class(compile_file(ROOT / spec))
        defined = {n for n, v in vars(cls).items() if callable(v) and not n.startswith("__")}
        abstract = {n for n in dir(AbstractModel) if getattr(getattr(AbstractModel, n), "__isabstractmethod__", False)}
        assert defined == abstract, spec
        assert cls.__bases__ == (AbstractModel,)


def test_a_model_that_draws_when_built_needs_a_key():
    path = ROOT / "specs/langevin_oscillators.dync"  # param C ~ init Normal(0, 0.3)
    with pytest.raises(dync.UsageError) as err:
        dync.load(path)
    assert "draws parameter `C` (`~ init`)" in err.value.message
    assert "--seed" in err.value.hint
    a, b = dync.load(path, jax.random.key(1)), dync.load(path, jax.random.key(1))
    assert (a.C == b.C).all() and not (a.C == dync.load(path, jax.random.key(2)).C).all()


def test_a_model_that_draws_nothing_takes_no_key_and_records_its_source():
    model = dync.load(ROOT / "specs/ou.dync")
    assert isinstance(model.source, SpecSource)
    assert model.source.path.endswith("ou.dync") and "model ornstein_uhlenbeck" in model.source.text
    assert model.fbm_horizon is None and model.with_horizon(2.0, 0.01) is model
    bare = model_class(compile_file(ROOT / "specs/ou.dync"))()
    assert bare.source == SpecSource()


def test_a_fractional_model_declares_its_horizon_fields():
    model = dync.load(ROOT / "specs/fractional_ou.dync")
    tuned = model.with_horizon(4.0, 0.01)
    assert float(tuned.fbm_horizon) == 4.0 and float(tuned.fbm_high) <= 400.0


@pytest.mark.parametrize("spec", ["specs/banana.dync", "specs/ou_tested.yaml", "specs/vp_sde_score.dync"])
def test_statement_methods_are_generated_exactly_when_the_info_says(spec):
    compiled = compile_file(ROOT / spec)
    cls = model_class(compiled)
    info = cls.info
    assert info == describe_model(compiled.model)
    defined = {n for n, v in vars(cls).items() if callable(v) and not n.startswith("__")}
    abstract = {n for n in dir(AbstractModel) if getattr(getattr(AbstractModel, n), "__isabstractmethod__", False)}
    extra = set()
    if info.target is not None:
        extra.add("target_log_density")
    if info.score_state is not None:
        extra.add("score")
    if info.expectations:
        extra |= {"expectation_values", "expectation_rhs", "stationary_law"}
    assert extra and defined == abstract | extra


def test_expect_info_and_samplers_read_without_jax():
    from dync.info.model import SAMPLERS, ExpectInfo

    e = ExpectInfo("mean", "x", "exp(-t)", 3, 1)
    assert e.statistical and not ExpectInfo("always", "x > 0", "", 4, 1).statistical
    info = ModelInfo("m", "ito", "none", (), 0, (), 0, (), target="-U", has_dynamics=False)
    assert info.samplers == SAMPLERS
    assert ModelInfo("m", "ito", "none", (), 0, (), 0, (), target="-U").samplers == SAMPLERS + ("dynamics",)
    assert ModelInfo("m", "ito", "none", (), 0, (), 0, ()).samplers == ()
