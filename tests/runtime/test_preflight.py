"""Tests for dync.runtime.preflight: a simulation that cannot fit is refused
with a DyncRuntimeError naming its largest part, before anything is
allocated (issue 8: a huge network or state used to abort the process)."""

from __future__ import annotations

import pytest

from dync.compiler.describe import describe_model
from dync.compiler.driver import check_ast
from dync.dsl.loading import load_spec
from dync.errors import DyncRuntimeError
from dync.runtime.preflight import memory_needs, mlp_weights, preflight_simulate, saved_times

GiB = 2**30


def _info(text: str):
    return describe_model(check_ast(load_spec("<test>.dync", text)).model)


OU = "model ou\nparam theta = 1\nstate x = 0\ndx = -theta * x dt + dW\n"
MLP = "model m\nnet f = mlp(in = 2, out = 1, width = 100000000, depth = 100000)\nstate x[2] = 0\ndx = f(x) dt + dW\n"


def test_mlp_weights_count_every_layer():
    info = _info("model m\nnet f = mlp(in = 3, out = 2, width = 5, depth = 2)\nstate x[3] = 0\ndx = sum(f(x)) dt + dW\n")
    # 3*5+5 (in) + 5*5+5 (hidden) + 5*2+2 (out), as equinox builds it
    assert mlp_weights(info.nets[0]) == 20 + 30 + 12


def test_saved_times():
    assert saved_times("final", 0.0, 1.0, 0.01) == 1
    assert saved_times(10, 0.0, 1.0, 0.01) >= 11
    assert saved_times([0.5, 1.0], 0.0, 1.0, 0.01) == 2


def test_a_huge_network_is_refused_by_name():
    with pytest.raises(DyncRuntimeError) as err:
        preflight_simulate(_info(MLP), paths=10, t1=1.0, dt=0.1, host_bytes=16 * GiB)
    assert "network `f`" in err.value.message and "width 100000000" in err.value.message
    assert "width" in err.value.hint


def test_a_huge_state_is_refused():
    info = _info("model m\ndim K = 2^39\nstate x[K] = 0\ndx = -x dt + dW\n")
    with pytest.raises(DyncRuntimeError) as err:
        preflight_simulate(info, paths=1, t1=1.0, dt=0.1, host_bytes=16 * GiB)
    assert "x[549755813888]" in err.value.message


def test_too_much_saved_output_is_refused_with_a_save_hint():
    with pytest.raises(DyncRuntimeError) as err:
        preflight_simulate(_info(OU), paths=10**6, t1=1000.0, dt=1e-3, save=1, host_bytes=16 * GiB)
    assert "saved output" in err.value.message
    assert "--save" in err.value.hint


def test_a_parameter_too_large_for_the_device_is_refused():
    info = _info("model m\ndim K = 4096\nparam A[K, K] ~ init Normal(0, 1)\nstate x[K] = 0\ndx = -A @ x dt + dW\n")
    with pytest.raises(DyncRuntimeError) as err:
        preflight_simulate(info, paths=1, t1=1.0, dt=0.1, device_bytes=2**20, host_bytes=16 * GiB)
    assert "device" in err.value.message


def test_an_ordinary_run_passes():
    preflight_simulate(_info(OU), paths=10_000, t1=1.0, dt=1e-3, save=10, host_bytes=GiB)
    needs = memory_needs(_info(OU), paths=10, saves=2)
    assert needs == sorted(needs, key=lambda n: -n.numbers)


def test_invalid_settings_are_left_to_simulate():
    preflight_simulate(_info(OU), paths=0, t1=1.0, dt=0.1, host_bytes=1)
    preflight_simulate(_info(OU), paths="many", t1=1.0, dt=0.1, host_bytes=1)


def test_simulate_file_refuses_the_huge_network_before_building_it():
    from dync.commands.simulate import simulate_file

    with pytest.raises(DyncRuntimeError, match="network `f`"):
        simulate_file("m.dync", text=MLP, paths=2, t1=1.0, dt=0.5)


def test_building_a_model_refuses_weights_that_cannot_fit():
    import dync

    with pytest.raises(DyncRuntimeError, match="network `f`"):
        dync.load("m.dync", text=MLP)


def test_check_model_fits_counts_parameters():
    from dync.compiler.driver import check_model_fits

    model = check_ast(load_spec("m.dync", "model m\ndim K = 4096\nparam A[K, K] ~ init Normal(0, 1)\nstate x = 0\ndx = -x dt\n")).model
    check_model_fits(model, memory=GiB)
    with pytest.raises(DyncRuntimeError, match="parameter `A`"):
        check_model_fits(model, memory=2**20)
