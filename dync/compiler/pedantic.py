"""``dync check --pedantic``: warnings about what is legal but often a mistake
(in the spirit of Stan's ``--warn-pedantic``). Each is a located
:class:`~dync.errors.SpecWarning` with a hint; none is an error, so the
check still passes (exit code 0).

====  ================================================================
W101  an implicit Brownian motion named like a counting process (``dN1``)
W102  a parameter without a prior in a spec that has ``observe`` lines
W103  a state that no noise reaches
W104  a ``let`` that nothing uses
W105  an ``observe`` whose law reads no state
W108  a parameter whose prior has bounded support, with no constraint
W110  a ``param`` the compiler reads (``x[k]``, ``state x[K]``): never fitted
====  ================================================================

The warnings read the checked spec only (AST and IR), never run it.
"""

from __future__ import annotations

import dataclasses
import re

from ..dsl import ast
from ..dsl.compile_time import compile_time_params, read_when_compiling
from ..dsl.format import format_expr
from ..errors import SpecWarning, Span
from . import ir
from .dependencies import depends_on_state
from .support import support_constraint

#: an implicit Brownian motion whose name suggests a count of events
COUNTING_NOISE = "W101"
#: a parameter that fitting sees with a flat, improper prior
NO_PRIOR = "W102"
#: a state whose path no noise reaches
NOISELESS_STATE = "W103"
#: a named expression that nothing reads
UNUSED_LET = "W104"
#: an observation that does not depend on the states
STATE_FREE_OBSERVATION = "W105"
#: a parameter that fitting may move outside its prior's support
UNCONSTRAINED_PRIOR = "W108"
#: a parameter whose spec value is built into the compiled code
COMPILE_TIME_PARAM = "W110"

#: names read as counting processes: ``N``, ``N1``, ``N_birth``, ``J2``
#: (upper case: a lower-case ``n`` or ``j`` is usually an index), and words
#: such as ``jump``, ``count``, ``poisson``, ``birth``, ``death``
_COUNTING = re.compile(r"^(?:[NJ](?:[0-9_]\w*)?|(?i:jump|count|poisson|arrival|event|birth|death|reaction|spike)\w*)$")


def _is_counting_name(name: str) -> bool:
    """Whether a Brownian motion's name suggests a counting process.

    Example:
        >>> [n for n in ("N", "N1", "J_in", "jumps", "Births", "W", "B1", "n", "Noise") if _is_counting_name(n)]
        ['N', 'N1', 'J_in', 'jumps', 'Births']
    """
    return bool(_COUNTING.match(name))


def pedantic_warnings(spec: ast.Spec, model: ir.ModelIR) -> tuple[SpecWarning, ...]:
    """The pedantic warnings of a checked spec, sorted by position."""
    yaml = spec.path.endswith((".yaml", ".yml"))
    found = (
        _counting_noise(spec, yaml)
        + _params_without_prior(spec, yaml)
        + _noiseless_states(spec, model)
        + _unused_lets(spec, yaml)
        + _state_free_observations(spec, model, yaml)
        + _unconstrained_priors(spec, yaml)
        + _compile_time_params(spec, yaml)
    )
    return tuple(sorted(found, key=lambda w: w.span.sort_key() if w.span else ("", 0, 0)))


def with_pedantic_warnings(checked):
    """``checked`` (a :class:`~dync.compiler.driver.CheckedSpec`) with the
    pedantic warnings added after its own."""
    extra = pedantic_warnings(checked.spec, checked.model)
    return dataclasses.replace(checked, warnings=tuple(checked.warnings) + extra)


# ------------------------------------------------------------------- W101


def implicit_noise_terms(spec: ast.Spec) -> list[tuple[str, Span]]:
    """Every ``dNAME`` differential of an equation that no ``brownian``
    declares (an implicit Brownian motion), with its span, in order."""
    declared = {b.name for b in spec.of_type(ast.Brownian)}
    out = []
    for eq in spec.of_type(ast.Equation):
        for term in eq.terms:
            d, span = term.differential, term.differential_span
            if d is None and isinstance(term.coefficient, ast.Name):  # a bare `dN`: coefficient 1
                d, span = term.coefficient.id, term.coefficient.span
            if d and d != "dt" and d.startswith("d") and d[1:] not in declared:
                out.append((d, span))
    return out


def _counting_noise(spec: ast.Spec, yaml: bool) -> list[SpecWarning]:
    out = []
    for d, span in implicit_noise_terms(spec):
        name = d[1:]
        if not _is_counting_name(name):
            continue
        out.append(
            SpecWarning(
                COUNTING_NOISE,
                f"`{d}` is an implicit Brownian motion: it adds Gaussian noise, not a count of jumps",
                span,
                hint=(
                    "jump (counting) processes are not supported yet: for a population or reaction model, write the "
                    "diffusion approximation (drift `up - down` times `dt`, noise `sqrt(up + down)` times `dW`), "
                    f"or rename `{d}` to `dW{re.sub(r'^[^0-9]*', '', name)}` if Gaussian noise is meant"
                ),
            )
        )
    return out


# ------------------------------------------------------------------- W102


def _params_without_prior(spec: ast.Spec, yaml: bool) -> list[SpecWarning]:
    if not spec.of_type(ast.Observe):
        return []
    out = []
    for p in spec.of_type(ast.Param):
        if p.fixed or p.prior is not None:
            continue
        shape = f"[{', '.join(format_expr(d) for d in p.shape)}]" if p.shape else ""
        example = f"{p.name}: {{value: ..., prior: Normal(0, 1)}}" if yaml else f"param {p.name}{shape} = ... ~ Normal(0, 1)"
        known = f"`{p.name}: {{value: ..., fixed: true}}`" if yaml else f"`const {p.name} = ...`"
        out.append(
            SpecWarning(
                NO_PRIOR,
                f"parameter `{p.name}` has no prior, and the spec has `observe` lines: fitting gives it a flat, improper prior",
                p.name_span,
                hint=f"give it a prior (`{example}`), or make it {known} if it is known",
            )
        )
    return out


# ------------------------------------------------------------------- W103


def _states_read(e, let_states: dict[str, frozenset]) -> frozenset:
    """The states ``e`` reads (:func:`dync.compiler.ir.states_read`)."""
    return ir.states_read(e, let_states)


def _noiseless_states(spec: ast.Spec, model: ir.ModelIR) -> list[SpecWarning]:
    """States whose equation has no noise term and whose drift reads no
    state that noise reaches (a search from the noisy states along "is read
    by" edges). Silent for a model with no noise at all (an ODE is meant to
    be deterministic)."""
    if not model.has_dynamics or model.noise_size == 0:
        return []
    noisy = {s for s, terms in model.noise if terms}
    if not noisy:
        return []
    let_states: dict[str, frozenset] = {}
    for name, value in model.lets:  # dependency order
        let_states[name] = _states_read(value, let_states)
    readers: dict[str, list[str]] = {}
    for s, e in model.drift:
        if e is not None:
            for read in _states_read(e, let_states):
                readers.setdefault(read, []).append(s)
    todo = list(noisy)
    while todo:
        for s in readers.get(todo.pop(), ()):
            if s not in noisy:
                noisy.add(s)
                todo.append(s)
    equations = {eq.lhs[1:]: eq for eq in spec.of_type(ast.Equation)}
    out = []
    for st in model.states:
        s = st.name
        if st.hidden or s in noisy or s not in equations:
            continue
        eq = equations[s]
        out.append(
            SpecWarning(
                NOISELESS_STATE,
                f"no noise reaches state `{s}`: its equation has no noise term and its drift reads no noisy state, "
                "so its path is fixed by its start",
                eq.lhs_span,
                hint=f"add a noise term (`d{s} = ... dt + s dW`) if `{s}` should be random; ignore this if it is meant to be deterministic",
            )
        )
    return out


# ------------------------------------------------------------------- W104


def _names(node, out: set[str]) -> set[str]:
    """Every :class:`~dync.dsl.ast.Name` read inside an AST node."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, (tuple, list)):
            stack.extend(n)
        elif dataclasses.is_dataclass(n) and not isinstance(n, (type, Span)):
            stack.extend(getattr(n, f.name) for f in dataclasses.fields(n))
    return out


def _unused_lets(spec: ast.Spec, yaml: bool) -> list[SpecWarning]:
    """Lets read by no other statement, directly or through lets that are."""
    lets = {s.name: s for s in spec.of_type(ast.Let)}
    if not lets:
        return []
    used: set[str] = set()
    for s in spec.statements:
        if not isinstance(s, ast.Let):
            _names(s, used)
    todo = [n for n in used if n in lets]
    while todo:
        name = todo.pop()
        for n in _names(lets[name].value, set()):
            if n in lets and n not in used:
                used.add(n)
                todo.append(n)
    where = "an equation, an observation, a target, an `expect` line or a let that is used"
    return [
        SpecWarning(UNUSED_LET, f"`let {name}` is never used", let.name_span, hint=f"remove it, or use it in {where}")
        for name, let in lets.items()
        if name not in used
    ]


# ------------------------------------------------------------------- W105


def _state_free_observations(spec: ast.Spec, model: ir.ModelIR, yaml: bool) -> list[SpecWarning]:
    lets = dict(model.lets)
    free = {o.name for o in model.observations if not any(depends_on_state(v, lets) for _, v in o.dist.args)}
    state = next((s.name for s in model.states if not s.hidden), "x")
    example = f"observe: {{y: Normal({state}, 0.1)}}" if yaml else f"observe y ~ Normal({state}, 0.1)"
    return [
        SpecWarning(
            STATE_FREE_OBSERVATION,
            f"observation `{o.name}` reads no state: its law depends only on parameters, constants or the time, "
            "so its data say nothing about the paths",
            o.name_span,
            hint=f"an observation measures the states, e.g. `{example}`",
        )
        for o in spec.of_type(ast.Observe)
        if o.name in free
    ]


# ------------------------------------------------------------------- W108


def _unconstrained_priors(spec: ast.Spec, yaml: bool) -> list[SpecWarning]:
    """Parameters with no constraint whose prior lives on part of the line
    (`param s = 1 ~ HalfNormal(1)`): fitting moves them freely and may step
    where the log-prior is $-\\infty$, and the fit fails there."""
    out = []
    for p in spec.of_type(ast.Param):
        if p.fixed or p.prior is None or p.constraint is not None:
            continue
        fix = support_constraint(p.prior)
        if fix is None:
            continue
        written = f"`constraint: {fix}`" if yaml else f"the constraint `: {fix}`"
        out.append(
            SpecWarning(
                UNCONSTRAINED_PRIOR,
                f"parameter `{p.name}` has the prior `{format_expr(p.prior)}` but no constraint: "
                "fitting may move it outside the prior's support, where the log-prior is -inf and the fit fails",
                p.name_span,
                hint=f"add {written}, so that fitting keeps `{p.name}` inside the prior's support",
            )
        )
    return out


# ------------------------------------------------------------------- W110


def _compile_time_params(spec: ast.Spec, yaml: bool) -> list[SpecWarning]:
    """A ``param`` (not a ``const``) that the compiler reads when the spec
    compiles (an index, a shape, ``roll(x, k)``, a network's size, a
    constraint's bound): its spec value is built into the code, so nothing
    varies it, although ``param`` says it may (docs/language.md §2.3)."""
    out = []
    for p, span, what in compile_time_params(spec).values():
        value = format_expr(p.value) if p.value is not None else "..."
        const = f"`{p.name}: {{value: {value}, fixed: true}}`" if yaml else f"`const {p.name} = {value}`"
        out.append(
            SpecWarning(
                COMPILE_TIME_PARAM,
                f"{read_when_compiling(p.name, span, what)}, so the compiled "
                "model keeps its value: dync fit refuses to fit it, dync test does not draw it, and --set cannot change it",
                p.name_span,
                hint=f"declare it {const}; a size to vary is a `dim`, which --set recompiles",
            )
        )
    return out
