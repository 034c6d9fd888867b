"""``dync test``: every ``expect`` statement and built-in check of a model,
over hypothesis-drawn parameter values.

For each parameter draw (see :mod:`dync.testing.region`) the runner
simulates ``paths`` paths on ``[0, t1]`` (and again at ``2 dt`` to bound the
solver's bias, see :mod:`dync.testing.statistics`) and checks:

* the built-in ``finite`` and ``shapes`` checks: no state becomes NaN or
  infinite, the drift, diffusion and initial state have the declared shapes
  and are finite;
* each ``expect always``: on every path at every saved time;
* each ``expect mean``/``var``: at up to :data:`MOMENT_TIMES` saved times,
  by z-scores against Monte Carlo error plus the bias bound;
* each ``expect stationary``: the final states of the independent paths
  against the stated law (two-sample Kolmogorov–Smirnov).

The run's false-alarm rate ``alpha`` is split over every statistical
comparison of every planned draw (Bonferroni). A failing draw is shrunk by
hypothesis to the smallest parameter values that still fail; every draw
uses the same noise (from ``--seed``), so the check is a deterministic
function of the parameters, shrinking is exact and the reported command
reproduces the failure.

The once-per-run built-in checks (:mod:`dync.testing.properties`) run at the
spec's own values.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..info.model import ExpectInfo
from ..settings.test import TestSettings
from . import ensemble as ens
from . import statistics as st
from .model_strategies import in_prior_support, regions_strategy, spec_values
from .region import param_regions
from .report import CheckOutcome, Failure, TestReport, format_values, reproduce_command

__all__ = ["MOMENT_TIMES", "run_model_tests"]

#: moments are compared at up to this many saved times, evenly spread
MOMENT_TIMES = 20


class _Failed(Exception):
    """A draw broke a check (hypothesis shrinks on it)."""

    def __init__(self, failures: list[Failure]):
        super().__init__(failures[0].check)
        self.failures = failures


def moment_indices(n_times: int) -> np.ndarray:
    """The saved-time indices where moments are compared."""
    return np.unique(np.linspace(0, n_times - 1, min(MOMENT_TIMES, n_times)).round().astype(int))


def _component(e: ExpectInfo, j: int) -> str:
    if not e.shape:
        return ""
    idx = np.unravel_index(j, e.shape)
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


class _Plan:
    """What a run compares, and its thresholds."""

    def __init__(self, model: Any, settings: TestSettings, n_drawn: int, once_tests: int):
        self.grid = ens.Grid.make(settings.t1, settings.dt)
        saved = self.grid.steps // self.grid.save_every + 1
        self.indices = moment_indices(saved)
        per_draw = 0
        for e in model.info.expectations:
            k = math.prod(e.shape) if e.shape else 1
            if e.kind in ("mean", "var"):
                per_draw += k * self.indices.size
            elif e.kind == "stationary":
                per_draw += k
        self.examples = settings.examples if n_drawn else 1
        #: the statistical comparisons made (0: every check is exact)
        self.comparisons = self.examples * per_draw + once_tests
        self.tests = max(1, self.comparisons)
        self.z = st.critical_z(settings.alpha, self.tests)
        self.p = settings.alpha / self.tests
        import jax.numpy as jnp

        # the relative rounding error a moment of a deterministic run may carry
        self.rounding = 1e-5 if jnp.dtype(jnp.result_type(float)).itemsize <= 4 else 1e-10


def _settings_flags(settings: TestSettings, spec_path: str) -> list[str]:
    flags = ["--paths", str(settings.paths), "--t1", repr(settings.t1), "--dt", repr(settings.dt), "--seed", str(settings.seed)]
    if settings.solver != "auto":
        flags += ["--solver", settings.solver]
    for name, value in settings.dims.items():
        flags += ["--set", f"{name}={value}"]
    if settings.inputs_file is not None:
        flags += ["--inputs", settings.inputs_file]
    return flags


def check_draw(
    model: Any, values: dict[str, np.ndarray], settings: TestSettings, plan: _Plan, spec_path: str, skip: tuple[str, ...] = ()
) -> list[Failure]:
    """Every per-draw check at parameter ``values``: the failures (empty
    when all hold)."""
    info = model.info
    location = lambda e: f"{spec_path}:{e.line}:{e.column}"  # noqa: E731
    run = dict(paths=settings.paths, grid=plan.grid, seed=settings.seed, solver=settings.solver, inputs=settings.inputs)
    fine = ens.simulate_ensemble(model, values, **run)
    failures: list[Failure] = []
    if "shapes" not in skip:
        failures += _shape_failures(model, values, fine, settings.inputs)
    if "finite" not in skip and not np.all(np.isfinite(fine.ys)):
        bad = ~np.isfinite(fine.ys)
        t = int(np.argmax(bad.any(axis=(0, 2))))
        comp = int(np.argmax(bad[:, t, :].any(axis=0)))
        name = next((s.name for s in info.states if s.offset <= comp < s.offset + s.size), "?")
        failures.append(Failure(
            "finite", "", f"state `{name}` became NaN or infinite by t = {fine.times[t]:g} on "
            f"{int(bad[:, t, :].any(axis=1).sum())} of {settings.paths} paths (a smaller --dt, or --range to keep "
            "parameters where the model is stable, if the blow-up is the solver's and not the model's)",
            values=values,
        ))  # fmt: skip
        return failures
    if "finite" not in skip:
        for name, obs in fine.observations.items():
            bad = ~np.isfinite(np.asarray(obs, dtype=float))
            if bad.any():
                failures.append(Failure(
                    "finite", "", f"observation `{name}` sampled NaN or infinite values on "
                    f"{int(bad.reshape(bad.shape[0], -1).any(axis=1).sum())} of {settings.paths} paths (its law's parameters leave their support)",
                    values=values,
                ))  # fmt: skip
        if fine.observations and not failures:
            lp = ens.observation_log_probs(model, values, fine, inputs=settings.inputs)
            if not np.all(np.isfinite(lp)):
                path, t = np.unravel_index(int(np.argmax(~np.isfinite(lp))), lp.shape)
                failures.append(Failure(
                    "finite", "", f"the observation laws give a non-finite log-likelihood ({lp[path, t]:g}) to their own "
                    f"samples at t = {fine.times[t]:g} on path {path} (a scale or rate outside its support?)",
                    values=values,
                ))  # fmt: skip
    moments = any(e.kind in ("mean", "var") for e in info.expectations)
    coarse = ens.simulate_ensemble(model, values, coarse=True, **run) if moments and plan.grid.coarse else None
    for i, e in enumerate(info.expectations):
        if e.kind == "always":
            ok = ens.expectation_values(model, values, i, fine, settings.inputs).astype(bool)
            if not ok.all():
                path, t, j = st.first_false(ok)
                state = ", ".join(
                    f"{s.name} = {np.array2string(fine.ys[path, t, s.offset : s.offset + s.size].reshape(s.shape) if s.shape else fine.ys[path, t, s.offset], precision=4)}"
                    for s in info.states if not s.hidden
                )  # fmt: skip
                count = int((~ok.reshape(ok.shape[0], ok.shape[1], -1)).any(axis=(1, 2)).sum())
                failures.append(Failure(
                    f"always {e.lhs}", location(e),
                    f"`{e.lhs}`{_component(e, j)} is false at t = {fine.times[t]:g} on path {path} ({state}); "
                    f"false somewhere on {count} of {settings.paths} paths",
                    values=values,
                ))  # fmt: skip
        elif e.kind in ("mean", "var"):
            idx = plan.indices
            lhs = ens.expectation_values(model, values, i, fine, settings.inputs)[:, idx, :].astype(float)
            lhs_coarse = (
                None if coarse is None else ens.expectation_values(model, values, i, coarse, settings.inputs)[:, idx, :].astype(float)
            )
            exact = ens.expectation_rhs(model, values, i, fine.times[idx])
            cmp = st.compare_moment(e.kind, lhs, exact, lhs_coarse, rounding=plan.rounding)
            if np.nanmax(cmp.z) > plan.z or not np.all(np.isfinite(cmp.z) | np.isinf(cmp.z)):
                t, j = cmp.worst()
                failures.append(Failure(
                    f"{e.kind}({e.lhs}) = {e.rhs}", location(e),
                    f"at t = {fine.times[idx][t]:g}: the ensemble {e.kind}{_component(e, j)} is "
                    f"{cmp.estimate[t, j]:.6g} ± {cmp.standard_error[t, j]:.2g} (Monte Carlo) ± {cmp.bias[t, j]:.2g} "
                    f"(time-step bias bound), expected {cmp.exact[t, j]:.6g}",
                    statistic=f"z = {cmp.z[t, j]:.2f} > {plan.z:.2f} (threshold for alpha = {settings.alpha:g} over {plan.tests} comparisons)",
                    values=values,
                ))  # fmt: skip
        elif e.kind == "stationary":
            final = ens.expectation_values(model, values, i, fine, settings.inputs)[:, -1, :].astype(float)
            ref = ens.stationary_reference(model, values, i, st.REFERENCE_FACTOR * settings.paths, settings.seed)
            p = st.ks_pvalues(final, ref)
            j = int(np.argmin(p))
            if p[j] < plan.p:
                failures.append(Failure(
                    f"stationary {e.lhs} ~ {e.rhs}", location(e),
                    f"at t = {fine.times[-1]:g}: `{e.lhs}`{_component(e, j)} over {settings.paths} paths has mean "
                    f"{final[:, j].mean():.4g} and sd {final[:, j].std(ddof=1):.4g}; the law has mean "
                    f"{ref[:, j].mean():.4g} and sd {ref[:, j].std(ddof=1):.4g} (two-sample Kolmogorov-Smirnov)",
                    statistic=f"p = {p[j]:.3g} < {plan.p:.3g} (threshold for alpha = {settings.alpha:g} over {plan.tests} comparisons)",
                    values=values,
                ))  # fmt: skip
    return failures


def _shape_failures(
    model: Any, values: dict[str, np.ndarray], fine: ens.Ensemble, inputs: Mapping[str, Any] | None
) -> list[Failure]:
    """Drift, diffusion and initial state: declared shapes, finite values
    at the first path's initial state."""
    import jax.numpy as jnp

    from ..runtime.inputs import make_args
    from ..runtime.params import with_params

    m = with_params(model, values) if values else model
    info = model.info
    y0 = jnp.asarray(fine.ys[0, 0], jnp.result_type(float))
    out = []
    t0 = float(fine.times[0])
    args = make_args(info, inputs)
    import jax

    checks: list[tuple[str, Callable[[], Any], tuple[int, ...]]] = [
        ("initial state", lambda: m.initial_state(jax.random.key(0), args), (info.state_size,)),
        ("drift", lambda: m.drift(t0, y0, args), (info.state_size,)),
        ("diffusion", lambda: m.diffusion(t0, y0, args), (info.state_size, info.noise_size)),
    ]
    for what, fn, shape in checks:
        if what == "diffusion" and info.noise_size == 0:
            continue
        value = np.asarray(fn())
        if value.shape != shape:
            out.append(Failure("shapes", "", f"the {what} has shape {value.shape}, expected {shape}", values=values))
        elif not np.all(np.isfinite(value)):
            out.append(Failure("finite", "", f"the {what} is not finite at the initial state (t = {t0:g})", values=values))
    return out


def run_model_tests(
    model: Any,
    settings: TestSettings,
    *,
    spec_path: str,
    once: Callable[[Any, TestSettings, dict], tuple[list[CheckOutcome], list[Failure], int]] | None = None,
    rebuild: Callable[[dict[str, int]], Any] | None = None,
    progress: bool | None = None,
) -> TestReport:
    """Test a compiled model (see the module docstring).

    Args:
        model: the compiled model, with the spec's parameter values.
        settings: from :func:`dync.settings.test.test_settings`.
        spec_path: the spec's path, for locations and the reproducing
            command.
        once: the once-per-run built-in checks: called with the model (at
            the spec's values, ``--set`` applied), the settings and the
            plan's thresholds ``{"z": .., "p": ..}``; returns their outcomes,
            failures and the count of statistical comparisons it made
            (:func:`dync.testing.properties.run_builtin_checks`).
        rebuild: compiles the model with given dims (needed when
            ``settings.dim_ranges`` draws sizes; each size compiles once).
        progress: a progress bar over the draws (``None``: on a terminal).

    Raises:
        UsageError: bad settings for this model (a range, ``t1/dt`` not a
            whole number of steps, an unknown solver).
    """
    from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings as hsettings

    from ..runtime.params import with_params
    from ..runtime.progress import progress_bar, show_progress

    started = time.perf_counter()
    steps = settings.t1 / settings.dt
    if abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
        raise UsageError(
            f"--t1 {settings.t1:g} is not a whole number of --dt {settings.dt:g} steps",
            hint=f"for example --dt {settings.t1 / max(1, round(steps)):g}",
        )
    if model.info.inputs and settings.inputs is None:
        names = ", ".join(f"`{name}`" for name, _ in model.info.inputs)
        raise UsageError(
            f"model `{model.info.name}` reads the input(s) {names}: dync test needs their values over time",
            hint="give them with --inputs FILE: a CSV with a `time` column and one column per input component "
            "(as dync simulate --inputs and dync fit read them)",
        )
    if model.info.inputs and settings.sbc:
        raise UsageError(
            "--sbc with inputs: simulation-based calibration fits data simulated without them",
            hint="drop --sbc, or check the fit by hand with dync simulate --inputs and dync fit",
        )
    if settings.dim_ranges and rebuild is None:
        raise UsageError("drawing dims needs the spec: test it with dync test or dync.commands.testing.test_file")
    if settings.params:
        model = with_params(model, dict(settings.params))
    info = model.info
    built: dict[tuple, Any] = {}

    def model_for(dims: dict[str, int]) -> Any:
        """The model at drawn dims (compiled once per size)."""
        if not dims:
            return model
        key = tuple(sorted(dims.items()))
        if key not in built:
            m = rebuild({**settings.dims, **dims})
            built[key] = with_params(m, dict(settings.params)) if settings.params else m
        return built[key]

    regions = param_regions(info, spec_values(model), settings.ranges, settings.params)
    from .properties import once_comparisons

    once_count = once_comparisons(model, settings)
    # the largest sizes have the most components to compare: plan for them
    largest = model_for({k: hi for k, (lo, hi) in settings.dim_ranges.items()})
    plan = _Plan(largest, settings, len(regions) + len(settings.dim_ranges), once_count)
    skip = tuple(settings.skip)

    checks: list[CheckOutcome] = []
    failures: list[Failure] = []
    if once is not None:
        outcomes, found, _ = once(model, settings, {"z": plan.z, "p": plan.p, "progress": show_progress(progress, 2)})
        checks += outcomes
        failures += found

    def draws_at(dims: dict[str, int]):
        m = model_for(dims)
        own = regions if not dims else param_regions(m.info, spec_values(m), settings.ranges, settings.params)
        return regions_strategy(own).filter(lambda v: in_prior_support(m, v)).map(lambda v: (dims, v))

    if settings.dim_ranges:
        from hypothesis import strategies as hst

        sizes = hst.fixed_dictionaries({k: hst.integers(lo, hi) for k, (lo, hi) in settings.dim_ranges.items()})
        strategy = sizes.flatmap(draws_at)
    else:
        strategy = draws_at({})
    found_in_draws: list[Failure] = []
    draws = {"n": 0, "shrinking": False}
    total = plan.examples
    enabled = show_progress(progress, total)
    with progress_bar(total, "testing", enabled, unit="draws") as advance:

        @seed(settings.seed)
        @hsettings(
            max_examples=plan.examples, deadline=None, database=None, derandomize=False, verbosity=Verbosity.quiet,
            suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate, Phase.shrink),
            report_multiple_bugs=False, print_blob=False,
        )  # fmt: skip
        @given(strategy)
        def one_draw(drawn):
            dims, values = drawn
            values = {k: np.asarray(v) for k, v in values.items()}
            if not draws["shrinking"]:
                draws["n"] += 1
                advance(1)
            found = check_draw(model_for(dims), values, settings, plan, spec_path, skip)
            if found:
                sizes = {k: np.asarray(v, dtype=np.int64) for k, v in dims.items()}
                found = [dataclasses.replace(f, values={**sizes, **f.values}) for f in found]
                if not draws["shrinking"]:
                    advance(0, status="shrinking")
                draws["shrinking"] = True
                raise _Failed(found)

        try:
            one_draw()
        except _Failed as err:
            found_in_draws = err.failures

    flags = _settings_flags(settings, spec_path)
    held = {k: np.asarray(v, dtype=float) for k, v in settings.params.items()}
    found_in_draws = [
        Failure(f.check, f.location, f.message, f.statistic, {**held, **f.values}, reproduce_command(spec_path, flags, {**held, **f.values}))
        for f in found_in_draws
    ]
    failures += found_in_draws
    failed_names = {f.check for f in found_in_draws}
    drawn = draws["n"]
    for name in ("finite", "shapes"):
        if name in skip:
            checks.append(CheckOutcome(name, "skipped", "--skip"))
        else:
            checks.append(CheckOutcome(name, "failed" if name in failed_names else "passed", _draws(drawn)))
    for e in info.expectations:
        name = {"always": f"always {e.lhs}", "stationary": f"stationary {e.lhs} ~ {e.rhs}"}.get(e.kind, f"{e.kind}({e.lhs}) = {e.rhs}")
        status = "failed" if name in failed_names else ("skipped" if "finite" in failed_names else "passed")
        detail = _draws(drawn) if status != "skipped" else "not reached: states were not finite"
        checks.append(CheckOutcome(name, status, detail, f"{spec_path}:{e.line}:{e.column}"))
    line = (
        f"{settings.paths} paths, t1 = {settings.t1:g}, dt = {settings.dt:g}, {plan.examples} draws planned, "
        f"seed {settings.seed}" + (f", ranges {dict(settings.ranges)}" if settings.ranges else "")
    )
    return TestReport(
        spec=str(spec_path), checks=checks, failures=failures, examples=drawn, tests=plan.comparisons,
        alpha=settings.alpha, z_threshold=plan.z, p_threshold=plan.p, seconds=time.perf_counter() - started, settings=line,
        paths=settings.paths, notes=_held_compile_time(model, settings),
    )  # fmt: skip


def _held_compile_time(model: Any, settings: TestSettings) -> tuple[str, ...]:
    """A note for each parameter held at its spec value because the compiler
    reads it (an index, a shape, ``roll(x, k)``): the draws never vary it, and
    the report says so rather than claim coverage of its range."""
    values = spec_values(model)
    out = []
    for p in model.info.params:
        if p.compile_time and not p.fixed and not p.init and p.name not in settings.params:
            held = format_values({p.name: values[p.name]})
            out.append(f"{held} is held at its spec value, not drawn: it is read as {p.compile_time} when the spec compiles")
    return tuple(out)


def _draws(n: int) -> str:
    return f"{n} draw{'s' if n != 1 else ''}"


def relative_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)
