"""Analyses of a checked model: noise structure, elementwise diffusion,
underdamped-Langevin pairs and linear-Gaussian structure (exact Kalman
likelihood). They only read the IR and return a new one or a fact about it."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from . import ir
from ..dsl import ast
from ..errors import DEFAULT_OUTSIDE_PRIOR, FLOAT32_RANGE, TIME_LIKE_NOISE, UNUSED_NOISE, SpecWarning
from ..dsl.ast import free_names
from .consteval import Budget, known_values
from .dependencies import depends_on_state, reads_time

_ELEMENTWISE = frozenset(
    "+ - * / ^ neg pos not < <= > >= == != and or".split()
    + [f"call:{n}" for n in (
        "exp log log1p expm1 sqrt abs sign sin cos tan tanh sinh cosh arctan sigmoid softplus relu erf "
        "minimum maximum clip where"
    ).split()]
)


def noise_structure(model: ir.ModelIR) -> str:
    """Classify the diffusion: ``none`` (an ODE), ``additive`` (no term depends
    on the state), ``diagonal`` (each state component has its own noise),
    ``scalar`` (one Brownian motion drives everything), ``shared`` (declared
    Brownian motions, elementwise) or ``general`` (matrix noise, mixtures)."""
    terms = [t for _, ts in model.noise for t in ts]
    if not terms:
        return "none"
    lets = dict(model.lets)
    if not any(depends_on_state(t.coefficient, lets) for t in terms):
        return "additive"
    if is_diagonal_layout(model):
        return "diagonal"
    if model.noise_size == 1:
        return "scalar"
    if not any(t.matrix for t in terms):
        return "shared"
    return "general"


def is_diagonal_layout(model: ir.ModelIR) -> bool:
    """Every noise block is implicit and sits at its state's offset (m == n)."""
    return (
        model.noise_size == model.state_size
        and bool(model.noise_blocks)
        and all(b.implicit for b in model.noise_blocks)
        and all(b.offset == model.state(b.name.split(".")[0]).offset for b in model.noise_blocks if "." in b.name)
    )


def drives(model: ir.ModelIR, block: ir.NoiseBlock) -> bool:
    """Whether noise block ``block`` drives anything: some equation uses it,
    or it is a fractional motion (which drives its hidden states). A block
    that does not (a diagonal layout's slot for a state without noise) stays
    zero and is never drawn."""
    return block.kind == "fractional" or any(t.block == block.name for _, terms in model.noise for t in terms)


def _elementwise_in(e: ir.IExpr, state: str, lets: dict, memo: dict | None = None, deps: dict | None = None) -> bool:
    """Whether ``e`` touches ``state`` only elementwise (and no other state).

    One walk down the tree (asking :func:`depends_on_state` only at nodes
    that are not elementwise), so a long sum costs linear time; ``memo`` and
    ``deps`` remember answers by node, so a `let` read many times is walked
    once."""
    memo = {} if memo is None else memo
    deps = {} if deps is None else deps
    key = id(e)
    if key in memo:
        return memo[key]
    if isinstance(e, ir.Const):
        out = True
    elif isinstance(e, ir.Ref):
        if e.kind == "state":
            out = e.name == state
        elif e.kind == "let":
            out = _elementwise_in(lets[e.name], state, lets, memo, deps)
        else:
            out = True
    elif isinstance(e, ir.Op) and e.op in _ELEMENTWISE:
        out = all(_elementwise_in(a, state, lets, memo, deps) for a in e.args)
    else:
        out = not depends_on_state(e, lets, memo=deps)
    memo[key] = out
    return out


def diffusion_is_elementwise(model: ir.ModelIR) -> bool:
    """Diagonal G whose entry i depends on component i only, so that the Itô
    correction is one forward-mode derivative: $c = \\tfrac12 g\\,\\partial_y g$."""
    if not is_diagonal_layout(model):
        return False
    lets = dict(model.lets)
    deps: dict = {}
    for name, terms in model.noise:
        memo: dict = {}
        for t in terms:
            if not _elementwise_in(t.coefficient, name, lets, memo, deps):
                return False
            # a scalar coefficient of a vector state is fine; a broadcast that
            # mixes components (coefficient bigger than the state) is not
    return True


def _split_sum(e: ir.IExpr, sign: int = 1):
    """Signed additive pieces of an expression, left to right (without
    recursion: a long sum nests as deep as it is long)."""
    stack = [(e, sign)]
    while stack:
        e, sign = stack.pop()
        if isinstance(e, ir.Op) and e.op == "+":
            stack += [(e.args[1], sign), (e.args[0], sign)]
        elif isinstance(e, ir.Op) and e.op == "-" and len(e.args) == 2:
            stack += [(e.args[1], -sign), (e.args[0], sign)]
        elif isinstance(e, ir.Op) and e.op == "neg":
            stack.append((e.args[0], -sign))
        else:
            yield sign, e


def _linear_in(piece: ir.IExpr, v: str, lets: dict, memo: dict | None = None) -> bool:
    """``piece`` is ``c * v``, ``v * c``, ``-piece`` or ``v``, with ``c``
    state-free. Iterative, and the state-dependence answers are shared
    (``memo``), so a product of thousands of factors costs linear time."""
    memo = {} if memo is None else memo
    while True:
        if isinstance(piece, ir.Ref) and piece.kind == "state" and piece.name == v:
            return True
        if isinstance(piece, ir.Op) and piece.op == "neg":
            piece = piece.args[0]
            continue
        if isinstance(piece, ir.Op) and piece.op == "*":
            a, b = piece.args
            a_reads = depends_on_state(a, lets, memo=memo)
            if a_reads == depends_on_state(b, lets, memo=memo):
                return False  # both read states (not linear), or neither (no `v`)
            piece = a if a_reads else b
            continue
        return False


def langevin_pair(model: ir.ModelIR) -> tuple[str, str] | None:
    """Recognise ``dx = v dt``, ``dv = (F(x) - gamma v) dt + sigma dW`` with
    state-free ``gamma`` and ``sigma`` (so BAOAB splitting applies)."""
    visible = [s for s in model.states if not s.hidden]
    if len(visible) != 2 or len(visible) != len(model.states):
        return None
    drift = dict(model.drift)
    noise = dict(model.noise)
    lets = dict(model.lets)
    for x, v in ((visible[0], visible[1]), (visible[1], visible[0])):
        if x.shape != v.shape or noise[x.name]:
            continue
        fx = drift[x.name]
        if not (isinstance(fx, ir.Ref) and fx.kind == "state" and fx.name == v.name):
            continue
        nv = noise[v.name]
        if len(nv) != 1 or nv[0].matrix or depends_on_state(nv[0].coefficient, lets):
            continue
        fv = drift[v.name]
        if fv is None:
            continue
        ok = True
        for _, piece in _split_sum(fv):
            uses_v = depends_on_state(piece, lets, frozenset({v.name}))
            if uses_v and not _linear_in(piece, v.name, lets):
                ok = False
        if ok and is_diagonal_layout(model):
            return (x.name, v.name)
    return None


#: library functions linear in every argument (a sum of affine pieces is affine)
_LINEAR_CALLS = frozenset(f"call:{n}" for n in "sum mean roll concat stack transpose diag".split())
#: library functions linear in each argument separately (affine if the others are state-free)
_BILINEAR_CALLS = frozenset({"call:dot", "call:outer"})


def _affine(
    e: ir.IExpr, lets: dict, memo: dict | None = None, deps: dict | None = None, input_deps: dict | None = None
) -> bool:
    """Whether ``e`` is affine in the states, by a conservative syntactic rule:
    state-free pieces, state references, sums, differences, negation, indexing,
    array literals, products (``*``, ``@``, ``dot``, ``outer``) with at most
    one state-dependent factor, division by a state-free expression, and the
    linear library functions (``sum``, ``mean``, ``roll``, ``concat``,
    ``stack``, ``transpose``, ``diag``). Anything else that reads a state
    (a net, a gradient, ``exp``, a power, a comparison) is not affine.

    ``memo`` and ``deps`` remember answers by node (one walk of each node,
    however often a `let` is read). With ``input_deps`` (the memo of
    :func:`reads_time`) the inputs count as variables too: affine jointly in
    the states and inputs, every coefficient free of both (so the Jacobian in
    the states reads no input, and the rest is affine in the inputs)."""
    memo = {} if memo is None else memo
    deps = {} if deps is None else deps
    key = id(e)
    if key not in memo:
        memo[key] = _affine_node(e, lets, memo, deps, input_deps)
    return memo[key]


def _affine_node(e: ir.IExpr, lets: dict, memo: dict, deps: dict, input_deps: dict | None) -> bool:
    def constant(x) -> bool:
        return not depends_on_state(x, lets, memo=deps) and not (input_deps is not None and reads_time(x, lets, input_deps))

    def affine(x) -> bool:
        return _affine(x, lets, memo, deps, input_deps)

    if constant(e):
        return True
    if isinstance(e, ir.Ref):
        if e.kind == "let":
            return affine(lets[e.name])
        return e.kind == "state" or (input_deps is not None and e.kind == "input")
    if isinstance(e, ir.Index):
        return affine(e.value)
    if isinstance(e, ir.Array):
        return all(affine(a) for a in e.elements)
    if isinstance(e, ir.Op):
        if e.op in ("+", "-", "neg", "pos") or e.op in _LINEAR_CALLS:
            return all(affine(a) for a in e.args)
        if e.op in ("*", "@") or e.op in _BILINEAR_CALLS:
            return sum(not constant(a) for a in e.args) <= 1 and all(affine(a) for a in e.args)
        if e.op == "/":
            return affine(e.args[0]) and constant(e.args[1])
    return False


def linear_gaussian_reason(model: ir.ModelIR) -> str | None:
    """Why the model is not linear-Gaussian (a short phrase for ``dync check``),
    or ``None`` when it is.

    Linear-Gaussian means: drift affine in the states, additive (or no) noise,
    no fractional noise, every observation ``Normal(loc, scale)`` with
    ``loc`` affine in the states and ``scale`` state-free, and every initial
    state fixed or ``Normal`` with state-free arguments. Then the exact
    likelihood is a Kalman filter's. Nothing may read the time, so the
    transition between two times is one matrix exponential; an input may
    enter the drift and an observation's ``loc`` as an affine term
    (``dx = (B u - k x) dt``, jointly affine in states and inputs with
    coefficients free of both): inputs are linear between their given times,
    so the drift's offset is too, and the filter steps through those times
    exactly (:mod:`dync.runtime.kalman`). Noise, scales and initial laws read
    no input."""
    lets = dict(model.lets)
    if any(b.kind == "fractional" for b in model.noise_blocks) or any(s.hidden for s in model.states):
        return "fractional noise"
    if model.noise_structure not in ("none", "additive"):
        return f"state-dependent noise ({model.noise_structure})"
    drift = [e for _, e in model.drift if e is not None]
    coefficients = [t.coefficient for _, terms in model.noise for t in terms]
    observed = [v for o in model.observations for _, v in o.dist.args]
    initial = [v for s in model.states if s.init is not None for _, v in s.init.args]
    initial += [s.value for s in model.states if s.value is not None]
    locs = [v for o in model.observations if o.dist.name == "Normal" for k, v in o.dist.args if k == "loc"]
    if any(reads_time(e, lets, inputs=False) for e in drift + coefficients + observed + initial):
        return "reads the time"
    if any(reads_time(e, lets) for e in coefficients + initial + [v for v in observed if not any(v is x for x in locs)]):
        return "an input enters the noise, an observation's scale or the initial law"
    memo: dict = {}
    deps: dict = {}
    input_memo: dict = {}
    if not all(_affine(e, lets, memo, deps) for e in drift):
        return "nonlinear drift"
    input_deps: dict = {}
    if not all(_affine(e, lets, input_memo, deps, input_deps) for e in drift):
        return "an input enters the drift other than as an added affine term"
    for o in model.observations:
        if o.dist.name != "Normal":
            return f"{o.dist.name} observation `{o.name}`"
        args = dict(o.dist.args)
        if not _affine(args["loc"], lets, input_memo, deps, input_deps) or depends_on_state(args["scale"], lets, memo=deps):
            return f"observation `{o.name}` is not Normal(affine, state-free)"
    for s in model.states:
        if s.init is not None and s.init.name != "Normal":
            return f"{s.init.name} initial state `{s.name}`"
    if any(depends_on_state(e, lets) for e in initial):
        return "initial law depends on a state"
    return None


def forward_sde_class(model: ir.ModelIR) -> tuple[str, str]:
    """The class of a score model's forward SDE by the form of its equations
    (:data:`dync.info.forward.FORWARD_CLASSES`): ``("linear", "")`` (drift
    affine in the states, noise not depending on them; time may enter),
    ``("log-linear", "")`` (each state's drift pieces are ``c * x`` and its
    noise terms ``c * x dB`` with state-free ``c``, so ``log x`` is linear:
    GBM), or ``("other", reason)``.

    Example:
        >>> forward_sde_class(check_spec(parse_spec("state x = 1\\ndx = -t * x dt + sqrt(t) dW\\n")))
        ('linear', '')
    """
    if any(b.kind == "fractional" for b in model.noise_blocks) or any(s.hidden for s in model.states):
        return "other", "fractional noise"
    lets = dict(model.lets)
    drift = dict(model.drift)
    memo: dict = {}
    deps: dict = {}
    affine = all(e is None or _affine(e, lets, memo, deps) for e in drift.values())
    if affine and model.noise_structure in ("none", "additive"):
        return "linear", ""

    def log_linear(name: str) -> bool:
        f = drift.get(name)
        pieces = [] if f is None else [p for _, p in _split_sum(f)]
        terms = dict(model.noise).get(name, ())
        zero = lambda p: isinstance(p, ir.Const) and bool((p.value == 0).all())  # noqa: E731  (`0 dt`)
        return bool(terms) and all(zero(p) or _linear_in(p, name, lets) for p in pieces) and all(
            not t.matrix and _linear_in(t.coefficient, name, lets) for t in terms
        )

    if all(log_linear(s.name) for s in model.states):
        return "log-linear", ""
    if not affine:
        return "other", "nonlinear drift"
    return "other", f"state-dependent noise ({model.noise_structure})"


def is_linear_gaussian(model: ir.ModelIR) -> bool:
    """Whether the model is linear-Gaussian (see :func:`linear_gaussian_reason`),
    so that its exact likelihood is a Kalman filter's.

    Example:
        >>> is_linear_gaussian(check_spec(parse_spec("state x ~ Normal(0, 1)\\ndx = -x dt + dW\\nobserve y ~ Normal(x, 0.1)\\n")))
        True
    """
    return linear_gaussian_reason(model) is None


def analyse(model: ir.ModelIR) -> ir.ModelIR:
    """Fill in the analysis fields of the IR."""
    return dataclasses.replace(
        model,
        noise_structure=noise_structure(model),
        diffusion_is_elementwise=diffusion_is_elementwise(model),
        langevin=langevin_pair(model),
    )


def spec_warnings(spec: ast.Spec, model: ir.ModelIR) -> tuple[SpecWarning, ...]:
    """What is legal in ``spec`` but probably unintended: a Brownian motion
    that drives no equation, a parameter value that float32 cannot hold."""
    used = {b.name for b in model.noise_blocks}
    unused = tuple(
        SpecWarning(UNUSED_NOISE, f"Brownian motion `{b.name}` drives no equation", b.span)
        for b in spec.of_type(ast.Brownian)
        if b.name not in used
    )
    return unused + _time_like_noise(spec) + _float32_warnings(spec, model) + _defaults_outside_priors(spec, model)


def _defaults_outside_priors(spec: ast.Spec, model: ir.ModelIR) -> tuple[SpecWarning, ...]:
    """`param a ~ Beta(2, 2)` (no value, no constraint): its default 0 lies
    outside the prior's support, so a fit starts where the log-prior is
    -inf. Legal (and a simulation runs), so a warning; a written value
    outside the support is E240 (:mod:`.names`)."""
    from ..dsl.format import format_expr
    from .support import support_constraint, value_outside_prior

    params = {p.name: p for p in model.params}
    out = []
    for p in spec.of_type(ast.Param):
        q = params.get(p.name)
        if p.value is not None or p.prior is None or q is None or q.prior is None or q.value is None:
            continue
        known = {k: v.value for k, v in q.prior.args if isinstance(v, ir.Const)}
        outside = value_outside_prior(q.prior.name, known, q.value)
        if outside is None:
            continue
        shown, words = outside
        fix = support_constraint(p.prior)
        written = (f"`constraint: {fix}`" if spec.path.endswith((".yaml", ".yml")) else f"`: {fix}`") if fix else None
        out.append(SpecWarning(
            DEFAULT_OUTSIDE_PRIOR,
            f"parameter `{p.name}` has no value, and its default {shown} lies outside the support "
            f"of its prior `{format_expr(p.prior)}` ({words}): a fit cannot start there",
            p.name_span,
            hint="give it a value inside the support" + (f", and the constraint {written}" if written else ""),
        ))  # fmt: skip
    return tuple(out)


#: implicit Brownian names that read as a misspelt `dt`: `dtt`, `dT`, `dt2`, `dts`
_TIME_LIKE = re.compile(r"^(?:T|t\w|time)$")


def _time_like_noise(spec: ast.Spec) -> tuple[SpecWarning, ...]:
    """`dx = -x dtt`: an implicit Brownian motion named like time makes the
    term noise, and the equation drift-free, without an error."""
    from .pedantic import implicit_noise_terms

    return tuple(
        SpecWarning(
            TIME_LIKE_NOISE,
            f"`{d}` is an implicit Brownian motion (noise), not the time step `dt`",
            span,
            hint="write `dt` for a drift term; to mean noise, name it so (`dW`, or declare `brownian NAME`)",
        )
        for d, span in implicit_noise_terms(spec)
        if _TIME_LIKE.match(d[1:])
    )


#: the normal float32 range: JAX computes in float32 unless x64 is on
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def _float32_problem(value) -> str | None:
    """What float32 does to ``value`` when some element is beyond its
    largest number or below its smallest normal one (0 excepted), or ``None``."""
    magnitude = np.abs(np.asarray(value, np.float64))
    nonzero = magnitude[(magnitude > 0) & np.isfinite(magnitude)]
    if not nonzero.size:
        return None
    big, small = float(nonzero.max()), float(nonzero.min())
    if big > _FLOAT32_MAX:
        return f"{big:g} is beyond float32's largest number ({_FLOAT32_MAX:.3g}): it becomes infinite"
    if small < _FLOAT32_TINY:
        return f"{small:g} is below float32's smallest normal number ({_FLOAT32_TINY:.3g}): it becomes 0 or loses precision"
    return None


_FLOAT32_HINT = "change the model's units so that values lie within about 1e-30 to 1e30 (fits can run in float64 with --x64)"


def _float32_warnings(spec: ast.Spec, model: ir.ModelIR) -> tuple[SpecWarning, ...]:
    """A parameter (or constant) whose value float32 rounds to infinity, or
    to 0 or a subnormal: `param s = 1e-50 : positive` would run with s = 0;
    and the same of a state's initial value known at compile time
    (`state x = 1e39`), unless it only repeats a parameter's warning."""
    values = {p.name: p.value for p in model.params if p.value is not None}
    out = []
    warned: set[str] = set()
    for p in spec.of_type(ast.Param):
        value = values.get(p.name)
        if value is None or p.value is None:
            continue
        what = _float32_problem(value)
        if what is None:
            continue
        warned.add(p.name)
        out.append(SpecWarning(FLOAT32_RANGE, f"`{p.name}` = {what} in float32, JAX's default float type", p.value.span, hint=_FLOAT32_HINT))
    return tuple(out) + _float32_state_warnings(spec, model, values, warned)


def _float32_state_warnings(spec: ast.Spec, model: ir.ModelIR, params: dict, warned: set[str]) -> tuple[SpecWarning, ...]:
    """W106 for initial values known at compile time (numbers, dims,
    parameters' values and state-free lets), skipping those that read a
    parameter in ``warned``."""
    states = [s for s in spec.of_type(ast.State) if s.value is not None]
    if not states:
        return ()
    let_nodes = {l.name: l for l in reversed(spec.of_type(ast.Let))}  # the first of a name
    reads: dict[str, frozenset] = {}

    def read(e) -> frozenset:
        """The names ``e`` reads, through lets."""
        out = set()
        for n in free_names(e):
            out.add(n)
            if n in let_nodes:
                if n not in reads:
                    reads[n] = frozenset()  # a cycle was an error; stop on one anyway
                    reads[n] = read(let_nodes[n].value)
                out |= reads[n]
        return frozenset(out)

    env = {name: np.asarray(float(v)) for name, v in model.dims}
    env.update((n, np.asarray(v, np.float64)) for n, v in params.items())
    budget = Budget()
    names = {s.name: read(s.value) for s in states}
    lets = [(n, let_nodes[n].value) for n, _ in model.lets if n in let_nodes and any(n in r for r in names.values())]
    known = known_values(lets, env, budget)
    out = []
    for s in states:
        if names[s.name] & warned:
            continue  # the parameter's warning says it
        value = known_values([(s.name, s.value)], {**env, **known}, budget).get(s.name)
        what = None if value is None else _float32_problem(value)
        if what is not None:
            out.append(
                SpecWarning(FLOAT32_RANGE, f"state `{s.name}` = {what} in float32, JAX's default float type", s.value.span,
                            hint=_FLOAT32_HINT)  # fmt: skip
            )
    return tuple(out)
