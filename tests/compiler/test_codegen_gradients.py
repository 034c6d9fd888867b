"""Gradients in generated code (issue 8, item 6): ``grad`` is taken of a
function emitted once per `let`, so nested gradients grow the module
linearly, and the values match closed forms."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from dync.compiler.driver import build_model, compile_file


def chain_spec(n: int) -> str:
    """``let U{i} = sum(grad(U{i+1}, x))``, ``n`` deep (as benchmarks/grad_chain.py)."""
    lines = ["model grad_chain", "dim K = 3", "state x[K] = 0.5", f"let U{n} = sum(x^2) / 2"]
    lines += [f"let U{i} = sum(grad(U{i + 1}, x))" for i in range(n - 1, -1, -1)]
    return "\n".join(lines + ["dx = -U0 dt + 0.1 dW"]) + "\n"


def _source(text: str) -> str:
    return compile_file("spec.dync", text=text if text.startswith("model") else "model m\n" + text).source


def test_nested_grad_chain_compiles_to_linear_size():
    """``let U{i} = sum(grad(U{i+1}, x))``: 30 deep compiles (it ran out of
    memory before: 378 MB at 20), and doubling the depth less than doubles
    the module (each level adds one short function)."""
    sizes = {n: len(_source(chain_spec(n))) for n in (10, 20, 30)}
    assert sizes[20] / sizes[10] < 2.5
    assert sizes[30] - sizes[20] < 1.5 * (sizes[20] - sizes[10]) + 200
    assert sizes[30] < 20_000
    assert _source(chain_spec(30)).count("def fl_U") == 30


def _drift(text: str, y) -> np.ndarray:
    model = build_model(compile_file("spec.dync", text="model m\n" + text))
    return np.asarray(model.drift(0.0, jnp.asarray(y, dtype=float)))


def test_nested_gradients_match_a_closed_form():
    """``U = sum(exp(x))`` is its own ``sum(grad(., x))``: four levels of
    nested gradients give back ``sum(exp(x))`` (float32 round-off: rtol 1e-5)."""
    text = "\n".join(
        [
            "state x[3] = 0",
            "let U4 = sum(exp(x))",
            *(f"let U{i} = sum(grad(U{i + 1}, x))" for i in range(3, -1, -1)),
            "dx = -U0 dt + dW",
        ]
    )
    y = np.array([0.1, -0.4, 0.7])
    np.testing.assert_allclose(_drift(text, y), -np.exp(y).sum() * np.ones(3), rtol=1e-5)


def test_gradients_with_respect_to_each_of_two_states():
    """A let of two states is one function; ``grad`` picks the argument:
    U = sum(x^2 * v) has gradient 2 x v in x and x^2 in v; a body that does
    not read the state has gradient 0; a gradient of an expression (not a
    let) reuses the let's function inside it."""
    text = "\n".join(
        [
            "state x[2] = 0",
            "state v[2] = 0",
            "state z = 0",
            "let U = sum(x^2 * v)",
            "dx = grad(U, x) dt + dW",
            "dv = (grad(U, v) + grad(sum(v), x)) dt + dW",
            "dz = (sum(grad(U^2, v)) + sum(grad(U, z))) dt + dW",
        ]
    )
    x, v = np.array([0.5, -1.5]), np.array([2.0, 0.25])
    d = _drift(text, np.concatenate([x, v, [0.3]]))
    u = np.sum(x**2 * v)
    np.testing.assert_allclose(d[:2], 2 * x * v, rtol=1e-5)
    np.testing.assert_allclose(d[2:4], x**2, rtol=1e-5)
    np.testing.assert_allclose(d[4], np.sum(2 * u * x**2), rtol=1e-5)
    source = _source(text)
    assert source.count("def fl_U(") == 1
    assert "jax.grad(fl_U, argnums=1)(s_x, s_v)" in source


def test_diamond_of_lets_is_written_once_each():
    """Lets read twice (A = B + C, B and C both read D) are each one function."""
    text = "\n".join(
        [
            "state x = 1",
            "let D = x^3",
            "let B = 2 * D",
            "let C = D + x",
            "let A = B * C",
            "dx = -grad(A, x) dt + dW",
        ]
    )
    source = _source(text)
    for name in "ABCD":
        assert source.count(f"def fl_{name}(") == 1
    x = 1.3
    # A = 2 x^3 (x^3 + x) = 2 x^6 + 2 x^4
    np.testing.assert_allclose(_drift(text, [x]), [-(12 * x**5 + 8 * x**3)], rtol=1e-5)


def test_a_chain_of_diamonds_under_grad_is_traced_once_per_let(monkeypatch):
    """``b{i} = c{i} * d{i}`` with ``c{i}`` and ``d{i}`` both reading
    ``b{i+1}``: called let functions are ``F.shared``, so the bottom let is
    evaluated once, not 2^12 times, and the gradient is still right."""
    from dync.runtime import functions as F

    n = 12
    lines = ["state x = 0", f"let b{n} = x^2"]
    for i in range(n - 1, -1, -1):
        lines += [f"let c{i} = 0.5 * b{i + 1}", f"let d{i} = b{i + 1} + 1.5", f"let b{i} = c{i} * d{i}"]
    text = "\n".join(lines + ["dx = -grad(b1, x) dt + dW"])
    assert _source(text).count("@F.shared") == 3 * (n - 1)  # all but b1, which is only differentiated
    calls = []
    power = F.power
    monkeypatch.setattr(F, "power", lambda *a: calls.append(a) or power(*a))
    x = 0.7
    # b1 as a function of x by the recursion, and its derivative by finite differences in float64
    def b1(x):
        b = x**2
        for _ in range(n - 1):
            b = 0.5 * b * (b + 1.5)  # stays near its fixed point 0.5
        return b

    h = 1e-6
    assert 0.1 < b1(x) < 1
    expected = -(b1(x + h) - b1(x - h)) / (2 * h)
    got = _drift(text, [x])
    assert len(calls) == 1
    assert abs(expected) > 1
    np.testing.assert_allclose(got, [expected], rtol=1e-4)  # float32 gradient against a float64 difference


def test_deeply_nested_gradients_of_expressions_do_not_nest_python_blocks():
    """``grad(grad(...(x^2)..., x), x)`` 120 deep: each gradient of an
    expression is a local function of the method, one level deep (nested,
    they passed Python's 100 indentation levels: IndentationError on import)."""
    e = "x^3"
    for _ in range(120):
        e = f"grad({e}, x)"
    text = f"state x = 0.5\ndx = ({e}) dt + dW\n"
    source = _source(text)
    assert max(len(line) - len(line.lstrip()) for line in source.splitlines()) <= 16
    build_model(compile_file("spec.dync", text="model m\n" + text))  # imports the module
    e3 = "grad(grad(x^3, x), x)"  # 6 x
    np.testing.assert_allclose(_drift(f"state x = 0.5\ndx = ({e3}) dt + dW\n", [0.5]), [3.0], rtol=1e-6)
