"""The solver table and the rule that picks one (`dync.info.solvers`), read
by `dync check` and by the runtime alike."""

from __future__ import annotations

import pytest

from dync.errors import UsageError
from dync.info import SOLVERS, LangevinInfo, ModelInfo, NoiseInfo, StateInfo, check_solver, choose_solver, solver_summary
from dync.info.solvers import DIFFRAX_SOLVERS, FUSED_SOLVERS


def _info(noise: str, *, calculus="ito", langevin=False, elementwise=False, m=2) -> ModelInfo:
    states = (StateInfo("x", (1,), 0, 1), StateInfo("v", (1,), 1, 1))
    return ModelInfo(
        name="m",
        calculus=calculus,
        noise_structure=noise,
        states=states,
        state_size=2,
        noises=(NoiseInfo("W", (m,), 0, m, implicit=True),) if noise != "none" else (),
        noise_size=m if noise != "none" else 0,
        params=(),
        langevin=LangevinInfo("x", "v") if langevin else None,
        diffusion_is_elementwise=elementwise,
    )


@pytest.mark.parametrize(
    ("info", "fixed", "adaptive"),
    [
        (_info("none"), "tsit5", "tsit5"),
        (_info("additive", langevin=True), "baoab", "shark"),
        (_info("additive"), "euler_maruyama", "shark"),
        (_info("diagonal", elementwise=True), "milstein", "heun_diffrax"),
        (_info("scalar", m=1), "milstein", "heun_diffrax"),
        (_info("general"), "euler_maruyama", "heun_diffrax"),
        (_info("general", calculus="stratonovich"), "heun", "heun_diffrax"),
    ],
)
def test_auto_follows_the_documented_table(info, fixed, adaptive):
    assert choose_solver(info).name == fixed
    assert choose_solver(info, adaptive=True).name == adaptive
    assert solver_summary(info).startswith(f"auto → {fixed} (")


def test_every_solver_has_one_backend():
    assert FUSED_SOLVERS | DIFFRAX_SOLVERS == set(SOLVERS)
    assert not FUSED_SOLVERS & DIFFRAX_SOLVERS


def test_a_solver_that_does_not_fit_says_why_and_what_instead():
    with pytest.raises(UsageError) as err:
        check_solver(_info("general"), "milstein")
    assert "commutative noise" in err.value.message and "euler_maruyama" in err.value.hint
    with pytest.raises(UsageError) as err:
        check_solver(_info("additive"), "euler_maruyamma")
    assert "euler_maruyama" in err.value.hint
