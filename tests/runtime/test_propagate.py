"""`propagate`: moving states between times, against closed forms and under
jit, vmap and grad.

Sizes are small and shared (64 paths, 20 steps) so that most calls reuse one
compiled kernel; the Monte Carlo test uses 20,000 paths.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dync
from dync.errors import UsageError
from dync.runtime import rng
from dync.runtime.inputs import make_args
from dync.runtime.params import with_params
from dync.runtime.propagate import propagate

P = 64  # paths of the small tests
DT = 0.05
N = 20  # steps from 0 to 1

DECAY = """model decay
param theta = 0.7 : positive
state x = 1.0
dx = -theta * x dt
"""

FORCED = """model forced
input u
param k = 1.5 : positive
state x = 0.0
dx = (u - k * x) dt
"""


@pytest.fixture(scope="module")
def ou(spec_model):
    return spec_model("specs/ou.dync")  # theta = 1, mu = 0, sigma = 0.5


@pytest.fixture(scope="module")
def decay():
    return dync.load("decay.dync", text=DECAY)


@pytest.fixture(scope="module")
def forced():
    return dync.load("forced.dync", text=FORCED)


def _em_ou(y0, increments, theta, mu, dt):
    """The Euler-Maruyama recursion of dx = theta (mu - x) dt + dW-scaled noise, in float64."""
    y = np.asarray(y0, np.float64)
    for dw in increments:
        y = y + theta * (mu - y) * dt + dw
    return y


def _increments(key, steps, paths, dt, sigma):
    """sigma * the increments propagate draws: step i is sqrt(dt) * normal(fold_in(key, i), (1, paths))."""
    draw = jax.jit(jax.vmap(lambda i: rng.standard_normal(jax.random.fold_in(key, i), (paths,), jnp.float32)))
    z = np.asarray(draw(jnp.arange(steps)))  # (steps, paths)
    return list(sigma * np.float64(np.float32(math.sqrt(dt)) * z[:, :, None]))


def test_ou_mean_and_variance_match_the_euler_maruyama_recursion(ou):
    paths, theta, mu, sigma, x0 = 20_000, 1.0, 0.5, 0.5, 2.0
    model = with_params(ou, {"mu": mu})
    y = jnp.full((paths, 1), x0, jnp.float32)
    x = np.asarray(propagate(jax.random.key(7), model, y, 0.0, 1.0, dt=DT), np.float64)[:, 0]
    # closed form of x_{k+1} = a x_k + theta mu dt + sigma dW_k, a = 1 - theta dt, after N steps
    a = 1.0 - theta * DT
    mean = mu + a**N * (x0 - mu)
    var = sigma**2 * DT * (1 - a ** (2 * N)) / (1 - a**2)
    # Monte Carlo: 5 standard errors (sd/sqrt(n) for the mean, var*sqrt(2/(n-1)) for the variance)
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / paths)
    assert abs(x.var(ddof=1) - var) < 5 * var * math.sqrt(2 / (paths - 1))


def test_propagate_is_the_euler_maruyama_recursion_on_its_increments(ou):
    key = jax.random.key(3)
    y0 = jnp.linspace(-1.0, 1.0, P, dtype=jnp.float32)[:, None]
    got = np.asarray(propagate(key, ou, y0, 0.0, 1.0, dt=DT))
    want = _em_ou(y0, _increments(key, N, P, DT, 0.5), 1.0, 0.0, DT)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # float32 rounding over 20 steps
    # one state (n,): a batch of one path
    one = np.asarray(propagate(key, ou, y0[5], 0.0, 1.0, dt=DT))
    assert one.shape == (1,)
    np.testing.assert_allclose(one, _em_ou(y0[5:6], _increments(key, N, 1, DT, 0.5), 1.0, 0.0, DT)[0], rtol=1e-5, atol=1e-6)


def test_composing_two_calls_is_the_recursion_on_both_keys(ou):
    k1, k2 = jax.random.split(jax.random.key(4))
    y0 = jnp.linspace(-1.0, 1.0, P, dtype=jnp.float32)[:, None]
    half = propagate(k1, ou, y0, 0.0, 0.5, dt=DT)
    got = np.asarray(propagate(k2, ou, half, 0.5, 1.0, dt=DT))
    incs = _increments(k1, N // 2, P, DT, 0.5) + _increments(k2, N // 2, P, DT, 0.5)
    np.testing.assert_allclose(got, _em_ou(y0, incs, 1.0, 0.0, DT), rtol=1e-5, atol=1e-6)  # float32 rounding


def test_propagate_is_one_block_of_simulate(ou):
    # simulate: init, noise, obs = split(key, 3); 64 paths are one block, integrated with fold_in(noise, 0)
    key = jax.random.key(11)
    ds = dync.simulate(ou, key, paths=P, t1=1.0, dt=DT, save="final")
    assert ds.attrs["block_size"] == P
    init, noise, _ = jax.random.split(key, 3)
    y0 = jax.vmap(lambda i: ou.initial_state(jax.random.fold_in(init, i)))(jnp.arange(P))
    got = np.asarray(propagate(jax.random.fold_in(noise, 0), ou, y0, 0.0, 1.0, dt=DT))
    # the same increments and the same recursion; XLA may contract a multiply-add
    # differently inside simulate's sharded kernel, so equal to float32 rounding
    np.testing.assert_allclose(got[:, 0], ds["x"].values[:, 0], rtol=1e-6, atol=1e-6)


def test_jit_with_traced_times_traces_once_and_matches_the_dt_form(ou):
    traces = []

    @jax.jit
    def move(key, y, t0, t1):
        traces.append(1)
        return propagate(key, ou, y, t0, t1, num_steps=N)

    key = jax.random.key(5)
    y0 = jnp.zeros((P, 1), jnp.float32)
    a = move(key, y0, 0.0, 1.0)
    b = move(key, y0, 0.5, 1.5)
    assert len(traces) == 1
    np.testing.assert_allclose(a, propagate(key, ou, y0, 0.0, 1.0, dt=DT), rtol=1e-6, atol=1e-6)
    # time-homogeneous model, same steps and key: the same numbers at another start time
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_vmap_over_keys_states_and_times(ou):
    key = jax.random.key(6)
    y0 = jnp.linspace(-1.0, 1.0, P, dtype=jnp.float32)[:, None]
    keys = jax.random.split(key, 3)
    by_key = jax.vmap(lambda k: propagate(k, ou, y0, 0.0, 1.0, num_steps=N))(keys)
    by_state = jax.vmap(lambda y: propagate(key, ou, y, 0.0, 1.0, num_steps=N))(jnp.stack([y0, 2 * y0, y0 - 1]))
    t0s, t1s = jnp.array([0.0, 0.3, 0.7]), jnp.array([0.3, 0.7, 1.5])  # irregular observation times
    by_time = jax.vmap(lambda a, b: propagate(key, ou, y0, a, b, num_steps=N))(t0s, t1s)
    for i in range(3):
        tol = dict(rtol=1e-5, atol=1e-6)  # batched kernels may round differently
        np.testing.assert_allclose(by_key[i], propagate(keys[i], ou, y0, 0.0, 1.0, num_steps=N), **tol)
        np.testing.assert_allclose(by_state[i], propagate(key, ou, [y0, 2 * y0, y0 - 1][i], 0.0, 1.0, num_steps=N), **tol)
        np.testing.assert_allclose(
            by_time[i], propagate(key, ou, y0, float(t0s[i]), float(t1s[i]), num_steps=N), **tol
        )
    assert not np.allclose(by_key[0], by_key[1])


def test_grad_with_respect_to_states_and_parameters(ou, decay):
    key = jax.random.key(8)
    y0 = jnp.linspace(-1.0, 1.0, P, dtype=jnp.float32)[:, None]
    # OU under Euler-Maruyama is affine in y: d y_N / d y_0 = (1 - theta dt)^N exactly
    g = jax.grad(lambda y: propagate(key, ou, y, 0.0, 1.0, dt=DT).sum())(y0)
    np.testing.assert_allclose(g, (1 - DT) ** N, rtol=1e-6)

    # dx = -theta x dt: x(T) = x0 exp(-theta T); rk4 ("auto" for an ODE here), no key needed
    theta, T, x0 = 0.7, 1.0, 1.0

    def final(theta, x0):
        model = with_params(decay, {"theta": theta})
        return propagate(None, model, jnp.full((1,), x0, jnp.float32), 0.0, T, dt=DT)[0]

    d_theta, d_x0 = jax.grad(final, argnums=(0, 1))(theta, x0)
    # rk4's error O(dt^4) is ~1e-8 here; float32 rounding over 20 steps ~1e-6
    np.testing.assert_allclose(final(theta, x0), x0 * math.exp(-theta * T), rtol=1e-5)
    np.testing.assert_allclose(d_theta, -T * x0 * math.exp(-theta * T), rtol=1e-5)
    np.testing.assert_allclose(d_x0, math.exp(-theta * T), rtol=1e-5)


def test_inputs_through_args_and_time_dependence(forced):
    # dx = (u - k x) dt with u(t) = t, x(0) = 0: x(t) = t/k - 1/k^2 + e^{-kt}/k^2
    k = 1.5
    args = make_args(forced.info, {"u": (np.array([0.0, 2.0]), np.array([0.0, 2.0]))})
    y0 = jnp.zeros((1,), jnp.float32)

    def exact(t):
        return t / k - 1 / k**2 + math.exp(-k * t) / k**2

    direct = propagate(None, forced, y0, 0.0, 1.0, dt=DT, args=args)
    np.testing.assert_allclose(direct, exact(1.0), rtol=1e-5)  # rk4 O(dt^4) ~1e-8, float32 rounding
    # two calls on the same grid: the second starts at t = 0.4 and reads u from there
    mid = propagate(None, forced, y0, 0.0, 0.4, dt=DT, args=args)
    np.testing.assert_allclose(mid, exact(0.4), rtol=1e-5)
    np.testing.assert_allclose(propagate(None, forced, mid, 0.4, 1.0, dt=DT, args=args), direct, rtol=1e-6)
    with pytest.raises(UsageError, match="reads input"):
        propagate(None, forced, y0, 0.0, 1.0, dt=DT)


def test_refusals_say_what_to_do(ou, decay):
    y0 = jnp.zeros((P, 1))
    key = jax.random.key(0)
    with pytest.raises(UsageError, match="diffrax"):
        propagate(None, decay, y0, 0.0, 1.0, dt=DT, solver="tsit5")
    with pytest.raises(UsageError, match="not a whole number of steps"):
        propagate(key, ou, y0, 0.0, 1.0, dt=0.3)
    with pytest.raises(UsageError, match="either dt or num_steps"):
        propagate(key, ou, y0, 0.0, 1.0, dt=DT, num_steps=N)
    with pytest.raises(UsageError, match="needs a step"):
        propagate(key, ou, y0, 0.0, 1.0)
    with pytest.raises(UsageError, match="shape"):
        propagate(key, ou, jnp.zeros((P, 2)), 0.0, 1.0, dt=DT)
    with pytest.raises(UsageError, match="num_steps= instead"):
        jax.jit(lambda t1: propagate(key, ou, y0, 0.0, t1, dt=DT))(1.0)
    with pytest.raises(UsageError, match="milstein|ODEs only"):
        propagate(key, ou, y0, 0.0, 1.0, dt=DT, solver="rk4")
