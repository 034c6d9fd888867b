"""Noise-structure and Langevin analyses on the spec library and small specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dync.compiler.check import check_spec
from dync.dsl.parser import parse_spec

ROOT = Path(__file__).resolve().parents[2]


def ir_of(text: str):
    return check_spec(parse_spec(text, "t.dync"))


@pytest.mark.parametrize(
    "name, structure",
    [
        ("ou", "additive"),
        ("gbm", "diagonal"),
        ("heston", "shared"),
        ("kubo", "scalar"),
        ("ou_matrix", "additive"),
        ("sir_cle", "shared"),
        ("lorenz63", "additive"),
        ("fractional_ou", "additive"),
    ],
)
def test_noise_structure_of_library_specs(name, structure):
    path = ROOT / "specs" / f"{name}.dync"
    assert check_spec(parse_spec(path.read_text(), str(path))).noise_structure == structure


def test_an_ode_has_no_noise():
    m = ir_of("model m\nstate x = 1\ndx = -x dt\n")
    assert m.noise_structure == "none" and m.noise_size == 0


def test_matrix_noise_on_the_state_is_general():
    m = ir_of("model m\nbrownian W[2]\nparam L[2, 2] = [[1, 0], [0.5, 1]]\nstate x[2] = 0\ndx = -x dt + (L * x) @ dW\n")
    assert m.noise_structure == "general"


def test_diagonal_multiplicative_noise_is_elementwise():
    m = ir_of("model m\nstate x[3] = 1\ndx = 0.1 * x dt + 0.2 * x dW\n")
    assert m.noise_structure == "diagonal" and m.diffusion_is_elementwise
    assert m.noise_size == m.state_size == 3


def test_noise_that_mixes_components_is_not_elementwise():
    m = ir_of("model m\nstate x[3] = 1\ndx = 0.1 * x dt + 0.2 * sum(x) dW\n")
    assert m.noise_structure == "diagonal" and not m.diffusion_is_elementwise


def test_underdamped_langevin_pair_is_recognised():
    path = ROOT / "specs" / "langevin_oscillators.dync"
    m = check_spec(parse_spec(path.read_text(), str(path)))
    assert m.langevin == ("x", "v")


def test_velocity_dependent_noise_is_not_a_langevin_pair():
    m = ir_of("model m\nstate x = 0\nstate v = 0\ndx = v dt\ndv = (-x - v) dt + 0.1 * v dW\n")
    assert m.langevin is None


def test_nonlinear_friction_is_not_a_langevin_pair():
    m = ir_of("model m\nstate x = 0\nstate v = 0\ndx = v dt\ndv = (-x - v^3) dt + 0.1 dW\n")
    assert m.langevin is None


def test_fractional_noise_adds_a_hidden_ou_state():
    m = ir_of("model m\nparam H = 0.7 : interval(0, 1)\nbrownian B : fractional(hurst = H)\nstate x = 0\ndx = -x dt + dB\n")
    hidden = [s for s in m.states if s.hidden]
    assert len(hidden) == 1 and hidden[0].size == m.fbm_num_ou > 1
    assert m.noise_size == 1


def test_implicit_noises_are_private_to_their_equation():
    m = ir_of("model m\nstate x = 0\nstate y = 0\ndx = -x dt + dW\ndy = -y dt + dW\n")
    assert m.noise_size == 2 and m.noise_structure == "additive"


def test_declared_brownian_is_shared():
    m = ir_of("model m\nbrownian W\nstate x = 0\nstate y = 0\ndx = -x dt + dW\ndy = -y dt + dW\n")
    assert m.noise_size == 1


# ---- linear-Gaussian structure (exact Kalman likelihood) ------------------------


@pytest.mark.parametrize(
    "name, linear_gaussian",
    [("ou", True), ("ou_matrix", True), ("gbm", False), ("lorenz63", False), ("fractional_ou", False), ("heston", False)],
)
def test_linear_gaussian_library_specs(name, linear_gaussian):
    from dync.compiler.analysis import is_linear_gaussian

    path = ROOT / "specs" / f"{name}.dync"
    assert is_linear_gaussian(check_spec(parse_spec(path.read_text(), str(path)))) is linear_gaussian


@pytest.mark.parametrize(
    "body, reason",
    [
        ("state x ~ Normal(0, 1)\ndx = -x dt + dW\nobserve y ~ Normal(x, 0.1)\n", None),
        ("param k = 2.0\nstate x ~ Normal(0, 1)\nstate v = 0\ndx = v dt\ndv = (1 - k * x - 0.5 * v) dt + 0.3 dW\nobserve y ~ Normal(x, 0.2)\n", None),
        ("param A[2, 2] = [[-1, 0.5], [0, -2]]\nstate x[2] ~ Normal(0, 1)\ndx = (A @ x + 1) / 2 dt + dW\nobserve y[2] ~ Normal([x[0] + sum(x), -x[1]], 0.2)\n", None),
        ("state x = 1\ndx = -x dt\nobserve y ~ Normal(2 * x, 0.1)\n", None),
        ("state x = 1\ndx = -x * x dt + dW\n", "nonlinear drift"),
        ("state x = 1\ndx = -sin(x) dt + dW\n", "nonlinear drift"),
        ("state x = 1\ndx = -x / x dt + dW\n", "nonlinear drift"),
        ("state x = 1\ndx = -x dt + sin(t) dW\n", "reads the time"),
        ("state x = 1\ndx = -t * x dt + dW\n", "reads the time"),
        ("param k = 1\ninput u\nstate x = 0\ndx = k * (u - x) dt + dW\nobserve y ~ Normal(x + 2 * u, 0.1)\n", None),
        ("input u[2]\nstate x[2] = 0\ndx = (u - x) dt + dW\n", None),
        ("input u\nstate x = 0\ndx = -u * x dt + dW\n", "an input enters the drift other than as an added affine term"),
        ("input u\nstate x = 0\ndx = (exp(u) - x) dt + dW\n", "an input enters the drift other than as an added affine term"),
        ("input u\nstate x = 0\ndx = -x dt + u dW\n", "an input enters the noise, an observation's scale or the initial law"),
        ("input u\nstate x = 0\ndx = -x dt + dW\nobserve y ~ Normal(x, 0.1 + u^2)\n",
         "an input enters the noise, an observation's scale or the initial law"),
        ("input u\nstate x = 0\ndx = -x dt + dW\nobserve y ~ Normal(u * x, 0.1)\n", "observation `y` is not Normal(affine, state-free)"),
        ("state x = 1\ndx = -x dt + 0.1 * x dW\n", "state-dependent noise (diagonal)"),
        ("state x = 1\ndx = -x dt + dW\nobserve y ~ Poisson(exp(x))\n", "Poisson observation `y`"),
        ("state x = 1\ndx = -x dt + dW\nobserve y ~ Normal(x, 0.1 + x * x)\n", "observation `y` is not Normal(affine, state-free)"),
        ("state x = 1\ndx = -x dt + dW\nobserve y ~ Normal(x * x, 0.1)\n", "observation `y` is not Normal(affine, state-free)"),
        ("state x ~ Uniform(0, 1)\ndx = -x dt + dW\n", "Uniform initial state `x`"),
        ("param H = 0.7 : interval(0, 1)\nbrownian B : fractional(hurst = H)\nstate x = 0\ndx = -x dt + dB\n", "fractional noise"),
    ],
)
def test_linear_gaussian_reason(body, reason):
    from dync.compiler.analysis import is_linear_gaussian, linear_gaussian_reason

    m = ir_of("model m\n" + body)
    assert linear_gaussian_reason(m) == reason
    assert is_linear_gaussian(m) is (reason is None)


def test_dync_check_says_which_likelihood():
    from dync.compiler.summary import check_file

    ou = check_file(ROOT / "specs" / "ou.dync").to_text()
    assert "  likelihood  linear-Gaussian: exact Kalman likelihood" in ou.splitlines()
    assert check_file(ROOT / "specs" / "ou.dync").to_json()["linear_gaussian"] is True
    poisson = check_file(ROOT / "specs" / "ou_poisson.yaml").to_text()
    assert "  likelihood  particle filter (not linear-Gaussian: Poisson observation `counts`)" in poisson.splitlines()
    # no `observe` lines, no likelihood line
    assert "likelihood" not in check_file(ROOT / "specs" / "gbm.dync").to_text()


_NET = "model fw\nnet s = mlp(in = 3, out = 2, width = 8, depth = 1)\nstate x[2] ~ data\nscore x = s(x, t)\n"


@pytest.mark.parametrize(
    "equation, kind, reason",
    [
        ("dx = -0.5 * (0.1 + 19.9 * t) * x dt + sqrt(0.1 + 19.9 * t) dW", "linear", ""),  # VP: time may enter
        ("dx = sqrt(2 * t) dW", "linear", ""),  # VE
        ("dx = (1 - x) dt + 0.3 dW", "linear", ""),  # OU towards 1: affine
        ("dx = 0 dt + 0.4 * x * dW", "log-linear", ""),  # GBM
        ("dx = -0.1 * x dt + t * x * dW", "log-linear", ""),
        ("dx = (1 - x) dt + 0.4 * x * dW", "other", "state-dependent noise (diagonal)"),  # a constant drift piece
        ("dx = -x^3 dt + 0.5 dW", "other", "nonlinear drift"),
        ("dx = -x dt + sqrt(abs(x)) * dW", "other", "state-dependent noise (diagonal)"),
    ],
)
def test_forward_sde_class_by_the_form_of_the_equations(equation, kind, reason):
    from dync.compiler.analysis import forward_sde_class

    assert forward_sde_class(ir_of(_NET + equation + "\n")) == (kind, reason)


def test_check_names_the_forward_class_and_the_training_objective():
    from dync.compiler.summary import check_file

    text = check_file(ROOT / "specs" / "diffusion" / "gbm_2d.dync").to_text()
    assert "forward     log-linear" in text and "training    denoising score matching in log x" in text
    summary = check_file(ROOT / "specs" / "diffusion" / "vp_2d.dync")
    assert summary.to_json()["score"]["forward"] == "linear"
    assert "training    denoising score matching with the exact Gaussian transition" in summary.to_text()


def test_a_long_product_is_analysed_in_linear_time(monkeypatch):
    """The fuzzer's timeout: `dv = (-gamma * v*v*...*v) dt` with 2,870 factors
    took 12 s in `dync check` (each factor re-walked the rest). Count the
    nodes the dependency walker visits: linear in the product's length."""
    import dync.compiler.dependencies as deps

    n = 1500
    text = "model p\nparam gamma = 0.5 : positive\nstate x = 0\nstate v = 0\ndx = v dt\n"
    text += "dv = (-gamma * " + "*".join(["v"] * n) + ") dt + 0.3 dW\n"
    visited = [0]
    children = deps._children

    def counting(e, lets):
        visited[0] += 1
        return children(e, lets)

    monkeypatch.setattr(deps, "_children", counting)
    model = ir_of(text)
    assert model.noise_structure == "additive"
    assert visited[0] < 50 * n  # was about n^2 / 2 = 1.1e6 before


def test_check_summary_of_a_drift_that_is_a_long_sum(tmp_path):
    """Found by the 10^5-case fuzz run: `dync check` hit Python's recursion
    limit printing the summary of a drift of 2,000 bare `dt` terms."""
    from dync.compiler.summary import check_file

    text = "model m\nstate x = -1.0\nlet U = (x^2 - 1)^2\ndx = -grad(U, x) dt" + "+dt" * 2000 + "+ddt\n"
    summary = check_file(tmp_path / "m.dync", text=text)
    assert "solver" in summary.to_text() and summary.to_json()["linear_gaussian"] is False


def test_a_value_float32_cannot_hold_is_warned_at_check_and_at_run_time():
    """`param s = 1e-50 : positive` runs with s = 0 in float32 (JAX's
    default): `dync check` says so at the value (W106), and building the
    model to run repeats it as a Python warning the CLI prints as it is."""
    import warnings

    from dync.compiler.driver import build_model, check_ast, compile_ast
    from dync.errors import FLOAT32_RANGE, RenderedWarning

    spec = parse_spec("model m\nparam s = 1e-50 : positive\nparam a = 1e39\nparam ok = 1e-30\nstate x = 0\ndx = -x dt + s dW\n")
    found = [w for w in check_ast(spec).warnings if w.code == FLOAT32_RANGE]
    assert [w.message.split(" = ")[0] for w in found] == ["`s`", "`a`"]
    assert "becomes 0" in found[0].message and "becomes infinite" in found[1].message
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_model(compile_ast(spec))
    shown = [str(w.message) for w in caught if issubclass(w.category, RenderedWarning)]
    assert len(shown) == 2 and "warning[W106]" in shown[0] and "^" in shown[0]
