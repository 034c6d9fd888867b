"""The built-in checks ``dync test`` runs once, at the spec's parameter
values, on every model (each can be switched off with ``--skip NAME``):

* ``reproducible``: the same seed gives bit-identical paths, and so do a
  smaller chunk size and (with several devices) one device instead of all;
* ``forms``: the spec's canonical text (``dync fmt``) and its YAML form
  compile to the same model: same states, parameters and expectations, and
  the same drift and diffusion at random states;
* ``stratonovich`` (Stratonovich specs): Euler–Maruyama on the Itô-converted
  drift and the Stratonovich Heun solver give the same law: the mean and
  variance of each state at ``t1`` agree within Monte Carlo error plus each
  run's time-step bias bound (z-test at the run's threshold);
* ``gradients``: the gradient of the mean final state with respect to every
  parameter (through :func:`~dync.runtime.propagate.propagate`) is finite;
* ``convergence`` (on request, ``--convergence``): the weak error of the
  solver falls with ``dt`` at its stated order (see :func:`weak_order`);
* ``sbc`` (on request, ``--sbc N``): simulation-based calibration of the fit
  over ``N`` replications (:mod:`dync.testing.sbc`).

The per-draw checks (``finite``, ``shapes``) live in
:mod:`dync.testing.runner`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..dsl import ast
from ..settings.test import TestSettings
from . import statistics as st
from ..runtime.inputs import make_args
from .ensemble import Grid, simulate_ensemble
from .report import CheckOutcome, Failure

__all__ = ["run_builtin_checks", "weak_order"]

#: paths of the once-per-run checks that need no statistics
SMALL_PATHS = 256


def _outcome(name: str, failure: Failure | None, detail: str) -> tuple[CheckOutcome, Failure | None]:
    return CheckOutcome(name, "failed" if failure else "passed", failure.message if failure else detail), failure


def check_reproducible(model: Any, settings: TestSettings) -> tuple[CheckOutcome, Failure | None]:
    """Same seed, same numbers; chunking and devices change nothing."""
    import jax

    grid = Grid.make(settings.t1, settings.dt)
    paths = min(settings.paths, SMALL_PATHS)
    run = dict(paths=paths, grid=grid, seed=settings.seed, solver=settings.solver, inputs=settings.inputs)
    first = simulate_ensemble(model, {}, **run).ys
    again = simulate_ensemble(model, {}, **run).ys
    if not np.array_equal(first, again, equal_nan=True):
        return _outcome("reproducible", Failure("reproducible", "", "two runs with the same seed gave different paths"), "")
    chunked = simulate_ensemble(model, {}, chunk_size=max(1, paths // 4), **run).ys
    if not np.array_equal(first, chunked, equal_nan=True):
        return _outcome("reproducible", Failure("reproducible", "", "a smaller chunk size changed the paths"), "")
    detail = "same seed twice, and 4 chunks instead of 1: identical"
    if len(jax.devices()) > 1:
        from ..runtime.simulate import simulate

        one = simulate(model, seed=settings.seed, paths=paths, t1=grid.t1, dt=grid.dt, save="final",
                       solver=settings.solver, devices=1, on_nonfinite="keep", progress=False, inputs=settings.inputs)  # fmt: skip
        every = simulate(model, seed=settings.seed, paths=paths, t1=grid.t1, dt=grid.dt, save="final",
                         solver=settings.solver, on_nonfinite="keep", progress=False, inputs=settings.inputs)  # fmt: skip
        for s in model.info.states:
            if not s.hidden and not np.array_equal(one[s.name].values, every[s.name].values, equal_nan=True):
                return _outcome("reproducible", Failure("reproducible", "", f"one device and {len(jax.devices())} gave different paths"), "")
        detail += f"; 1 device and {len(jax.devices())}: identical"
    return _outcome("reproducible", None, detail)


def check_forms(model: Any, spec: ast.Spec, settings: TestSettings) -> tuple[CheckOutcome, Failure | None]:
    """``dync fmt`` text and the YAML form compile to the same model."""
    import jax

    from ..compiler.driver import build_model, compile_ast
    from ..dsl.format import format_text, format_yaml
    from ..dsl.parser import parse_spec
    from ..dsl.yaml_loader import load_yaml_spec
    from ..runtime.params import with_params

    key = jax.random.key(settings.seed)
    states = np.asarray(jax.random.normal(jax.random.fold_in(key, 7), (3, model.info.state_size)))
    args = make_args(model.info, settings.inputs)
    mine = _signature(model, states, args)
    for form, text, reader in (("text", format_text(spec), parse_spec), ("YAML", format_yaml(spec), load_yaml_spec)):
        other = build_model(compile_ast(reader(text, f"<{form} form>"), settings.dims), key)
        other = with_params(other, {k: v for k, v in model.constrained_params().items() if k in other.constrained_params()})
        theirs = _signature(other, states, args)
        for what in mine:
            a, b = mine[what], theirs[what]
            same = a == b if isinstance(a, (str, tuple)) else np.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)
            if not same:
                msg = f"the spec's canonical {form} form (dync fmt) compiles to a different model: its {what} differ"
                return _outcome("forms", Failure("forms", "", msg), "")
    return _outcome("forms", None, "fmt text and YAML forms compile to the same model")


def _signature(model: Any, states: np.ndarray, args: Any) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    info = model.info
    ys = jnp.asarray(states, jnp.result_type(float))
    out: dict[str, Any] = {
        "states": tuple((s.name, s.shape) for s in info.states),
        "parameters": tuple((p.name, p.shape, p.constraint.describe()) for p in info.params),
        "expectations": tuple((e.kind, e.lhs, e.rhs) for e in info.expectations),
    }
    if info.has_dynamics:
        out["drift values"] = np.asarray(jax.vmap(lambda y: model.drift(0.5, y, args))(ys))
        if info.noise_size:
            out["diffusion values"] = np.asarray(jax.vmap(lambda y: model.diffusion(0.5, y, args))(ys))
    return out


def check_stratonovich(model: Any, settings: TestSettings, z: float) -> tuple[CheckOutcome, Failure | None]:
    """Itô-converted Euler–Maruyama and Stratonovich Heun agree in law."""
    grid = Grid.make(settings.t1, settings.dt)
    run = dict(paths=settings.paths, grid=grid, seed=settings.seed, inputs=settings.inputs)
    results = {}
    for solver in ("euler_maruyama", "heun"):
        fine = simulate_ensemble(model, {}, solver=solver, **run).ys[:, -1, :]
        coarse = simulate_ensemble(model, {}, solver=solver, coarse=True, **run).ys[:, -1, :] if grid.coarse else None
        results[solver] = (fine, coarse)
    for kind in ("mean", "var"):
        (ito, ito_c), (strat, strat_c) = results["euler_maruyama"], results["heun"]
        a = st.compare_moment(kind, ito[:, None, :], np.zeros((1, ito.shape[1])), None if ito_c is None else ito_c[:, None, :])
        b = st.compare_moment(kind, strat[:, None, :], np.zeros((1, ito.shape[1])), None if strat_c is None else strat_c[:, None, :])
        scale = np.sqrt(a.standard_error**2 + b.standard_error**2 + a.bias**2 + b.bias**2 + 1e-12)
        zs = np.abs(a.estimate - b.estimate) / scale
        j = int(np.argmax(zs[0]))
        if not np.isfinite(zs[0, j]) or zs[0, j] > z:
            msg = (
                f"at t = {grid.t1:g} the {kind} of state component {j} is {a.estimate[0, j]:.5g} with Euler-Maruyama on the "
                f"Itô-converted drift but {b.estimate[0, j]:.5g} with the Stratonovich Heun solver"
            )
            return _outcome("stratonovich", Failure("stratonovich", "", msg, statistic=f"z = {zs[0, j]:.2f} > {z:.2f}"), "")
    return _outcome("stratonovich", None, "Itô-converted Euler and Stratonovich Heun agree in mean and variance")


def check_gradients(model: Any, settings: TestSettings) -> tuple[CheckOutcome, Failure | None]:
    """The gradient of the mean final state in every parameter is finite."""
    import jax
    import jax.numpy as jnp

    from ..runtime.params import unconstrained_params, with_unconstrained_params
    from ..runtime.propagate import propagate

    position = unconstrained_params(model)
    if not position:
        return CheckOutcome("gradients", "skipped", "the model has no free parameters"), None
    grid = Grid.make(settings.t1, settings.dt)
    steps = min(grid.steps, 200)
    key = jax.random.key(settings.seed)
    paths = 64

    # fractional noise: tune its quadrature to the span once (propagate's rule)
    tuned = model.with_horizon(steps * grid.dt, grid.dt)
    args = make_args(model.info, settings.inputs)

    def mean_final(u):
        m = with_unconstrained_params(tuned, u)
        y0 = jax.vmap(lambda k: m.initial_state(k, args))(jax.random.split(jax.random.fold_in(key, 0), paths))
        noisy = model.info.noise_size > 0
        y1 = propagate(jax.random.fold_in(key, 1) if noisy else None, m, y0, 0.0, steps * grid.dt, args=args, num_steps=steps)
        return jnp.mean(y1)

    try:
        grads = jax.grad(mean_final)(position)
    except Exception as err:  # a solver that cannot be differentiated through
        return CheckOutcome("gradients", "skipped", f"not differentiable here: {type(err).__name__}"), None
    bad = [name for name, g in grads.items() if not np.all(np.isfinite(np.asarray(g)))]
    if bad:
        msg = (
            f"the gradient of the mean state at t = {steps * grid.dt:g} is not finite in {', '.join(bad)}: a function "
            "the paths reach has an infinite derivative there (sqrt or log at 0, a power below 1 at 0); "
            "gradient-based fitting will fail (skip this check with --skip gradients if that is intended)"
        )
        return _outcome("gradients", Failure("gradients", "", msg), "")
    return _outcome("gradients", None, f"finite in {len(grads)} parameter{'s' if len(grads) != 1 else ''}")


def weak_order(model: Any, settings: TestSettings) -> tuple[float, list[tuple[float, float, float]]]:
    r"""The observed weak order of the solver.

    The error of $E[\sum_i y_i(t_1)]$ at ``dt``, ``dt/2``, ``dt/4`` is
    measured against ``dt/16`` with common noise (every run's increments
    come from the same seed; at the same paths the coarse increments are
    not sums of the fine ones, so a remainder of Monte Carlo error stays),
    and the order is the slope of log error on log dt. Returns the order and
    the rows ``(dt, error, standard error)``.
    """
    paths = max(settings.paths, 4000)
    base = settings.dt * 4
    steps = round(settings.t1 / base)
    if steps < 2:
        base, steps = settings.t1 / 2, 2
    rows = []

    def final_mean(dt: float) -> tuple[float, float]:
        grid = Grid.make(settings.t1, dt)
        ys = simulate_ensemble(
            model, {}, paths=paths, grid=grid, seed=settings.seed, solver=settings.solver, inputs=settings.inputs
        ).ys[:, -1, :]
        total = ys.sum(axis=1)
        return float(total.mean()), float(total.std(ddof=1) / np.sqrt(paths))

    reference, ref_se = final_mean(base / 16)
    for k in range(3):
        dt = base / 2**k
        m, se = final_mean(dt)
        rows.append((dt, abs(m - reference), float(np.hypot(se, ref_se))))
    dts = np.log([r[0] for r in rows])
    errs = np.log([max(r[1], 1e-300) for r in rows])
    return float(np.polyfit(dts, errs, 1)[0]), rows


def check_convergence(model: Any, settings: TestSettings) -> tuple[CheckOutcome, Failure | None]:
    """The weak error shrinks at (at least about) the solver's weak order 1."""
    order, rows = weak_order(model, settings)
    table = "; ".join(f"dt {dt:g}: error {e:.3g} ± {se:.2g}" for dt, e, se in rows)
    resolved = [r for r in rows if r[1] > 3 * r[2]]
    if len(resolved) < 2:
        return CheckOutcome("convergence", "passed", f"weak error below Monte Carlo error at every dt ({table})"), None
    if order < 0.5:
        msg = f"the weak error does not shrink with dt (observed order {order:.2f}, expected about 1): {table}"
        return _outcome("convergence", Failure("convergence", "", msg), "")
    return _outcome("convergence", None, f"observed weak order {order:.2f} ({table})")


def check_sbc(model: Any, settings: TestSettings, p_threshold: float, progress: bool) -> tuple[CheckOutcome, Failure | None]:
    """Simulation-based calibration (:mod:`dync.testing.sbc`): the ranks
    of prior draws among their posteriors are uniform."""
    from .sbc import run_sbc

    result = run_sbc(model, settings, settings.sbc, progress=progress)
    j = int(np.argmin(result.pvalues))
    table = ", ".join(f"{n} p = {p:.2g}" for n, p in zip(result.names, result.pvalues))
    if result.pvalues[j] < p_threshold:
        counts = " ".join(str(int(c)) for c in result.counts[:, j])
        msg = (
            f"the ranks of `{result.names[j]}` among its posterior draws are not uniform over {settings.sbc} "
            f"replications (rank histogram {counts}): the fit is miscalibrated (a likelihood that does not match "
            f"the simulator, or a sampler that has not converged)"
        )
        return _outcome("sbc", Failure("sbc", "", msg, statistic=f"chi-square p = {result.pvalues[j]:.3g} < {p_threshold:.3g}"), "")
    return _outcome("sbc", None, f"{settings.sbc} replications, ranks uniform ({table})")


def run_builtin_checks(
    model: Any, settings: TestSettings, thresholds: dict, *, spec: ast.Spec | None = None
) -> tuple[list[CheckOutcome], list[Failure], int]:
    """Every once-per-run built-in check not in ``settings.skip``: their
    outcomes, failures and the number of statistical comparisons made."""
    info = model.info
    checks: list[tuple[str, Callable[[], tuple[CheckOutcome, Failure | None]]]] = [
        ("reproducible", lambda: check_reproducible(model, settings)),
    ]
    if spec is not None:
        checks.append(("forms", lambda: check_forms(model, spec, settings)))
    if info.calculus == "stratonovich" and info.noise_size:
        checks.append(("stratonovich", lambda: check_stratonovich(model, settings, thresholds["z"])))
    checks.append(("gradients", lambda: check_gradients(model, settings)))
    if settings.convergence:
        checks.append(("convergence", lambda: check_convergence(model, settings)))
    if settings.sbc:
        checks.append(("sbc", lambda: check_sbc(model, settings, thresholds["p"], bool(thresholds.get("progress")))))
    outcomes, failures = [], []
    for name, fn in checks:
        if name in settings.skip:
            outcomes.append(CheckOutcome(name, "skipped", "--skip"))
            continue
        outcome, failure = fn()
        outcomes.append(outcome)
        if failure is not None:
            failures.append(failure)
    return outcomes, failures, once_comparisons(model, settings)


def once_comparisons(model: Any, settings: TestSettings) -> int:
    """The statistical comparisons the once-per-run checks make (their share
    of the run's false-alarm rate): the Stratonovich check's mean and
    variance per state, SBC's one per scalar parameter component."""
    info = model.info
    count = 0
    if info.calculus == "stratonovich" and info.noise_size and "stratonovich" not in settings.skip:
        count += 2 * info.state_size
    if settings.sbc:
        from ..runtime.params import unconstrained_params

        count += sum(int(np.size(v)) for v in unconstrained_params(model).values())
    return count
