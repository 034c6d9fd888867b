"""Code generation: checked IR → the source of a Python module.

The module defines ``INFO`` (static metadata) and ``class Model(AbstractModel)``.
It imports only jax, equinox and ``dync.runtime``; it contains no user text
except validated identifiers and numbers (the doc and the spec text are
attached by :func:`dync.load` at run time, never written into code). The
output is deterministic: the same IR gives the same bytes.

Local names in generated functions are prefixed by what they hold, so they
never collide with each other or with Python: ``p_`` parameter (constrained),
``s_`` state, ``u_`` input, ``l_`` let, ``w_`` noise block, ``grad_`` gradient.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from .._version import __version__
from ..info.constraints import AbstractConstraint, Real
from ..info.model import ModelInfo
from . import ir
from .describe import describe_model

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# Python operator precedence levels used for minimal parenthesisation.
_PREC = {"cmp": 1, "+": 2, "-": 2, "*": 3, "/": 3, "@": 3, "neg": 4, "pos": 4, "atom": 6}
#: the deepest nesting written into one Python expression: a deeper
#: sub-expression goes into a local ``tmp_K`` first (Python's parser allows
#: 200 nested parentheses, and long flat sums would otherwise nest as deep as
#: they are long)
_MAX_NESTING = 50


def _ident(name: str) -> str:
    """Validate an identifier that goes into generated code. A Python keyword
    is a valid spec name: it only ever appears prefixed (``p_lambda``), quoted,
    or as an attribute the checker has already renamed (``lambda_``)."""
    if not _IDENT.match(name):
        raise ValueError(f"invalid identifier in code generation: {name!r}")
    return name


def _num(x: float) -> str:
    x = float(x)
    if np.isnan(x):
        return "jnp.nan"
    if np.isinf(x):
        return "jnp.inf" if x > 0 else "-jnp.inf"
    r = repr(x)
    return r


def _array_literal(v: np.ndarray) -> str:
    v = np.asarray(v, dtype=float)
    if v.shape == ():
        return _num(v)
    flat = v.ravel()
    if flat.size and np.all(flat == flat[0]):
        return f"jnp.full({tuple(v.shape)!r}, {_num(flat[0])})"

    def rec(a):
        if a.ndim == 0:
            return _num(a)
        return "[" + ", ".join(rec(x) for x in a) + "]"

    return f"jnp.asarray({rec(v)})"


def _constraint_expr(c: AbstractConstraint) -> str:
    """``C.Interval(0.0, 1.0)``: the constraint built inline (``C`` is
    :mod:`dync.info.constraints`)."""
    return f"C.{type(c).__name__}({', '.join(_num(b) for b in c.bound_values())})"


class _Block:
    """Lines of one function body, with hoisted statements for gradients."""

    def __init__(self, indent: int):
        self.indent = indent
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(" " * self.indent + line)


class _FunctionEmitter:
    """Emits the body of one model method from IR expressions."""

    def __init__(self, model: ir.ModelIR, counter: list[int]):
        self.model = model
        self.lets = dict(model.lets)
        self.params = {p.name: p for p in model.params}
        self.nets = {n.name: n for n in model.nets}
        self.blocks = {b.name: b for b in model.noise_blocks}
        self.counter = counter
        self._let_states: dict[str, frozenset] | None = None
        self._host: _Block | None = None  # the method's block, while a local function is written
        self._level = 0  # nesting depth of the expression being written
        self._deepest = 0  # deepest level reached below it

    # -------- dependency collection
    def refs(self, exprs, out=None):
        """Collect (kind, name) of everything the expressions read, through lets.

        A let read as a value is ``("let", name)``; a state-dependent let read
        inside a ``grad`` body is ``("letfn", name)``: the prologue defines it
        as a function of its states (:meth:`let_function`), so that a
        gradient is taken of a function rather than of an expanded copy.
        Such a let that is called, not only differentiated (``grad(U, x)``),
        is also ``("letcall", name)``.
        """
        out = set() if out is None else out
        stack = [(e, False, False) for e in exprs]  # (node, inside a grad body, the body itself)
        seen: set = set()
        while stack:
            e, in_grad, body = stack.pop()
            if e is None:
                continue
            if isinstance(e, ir.Ref):
                key = (e.kind, e.name)
                if e.kind == "let":
                    if in_grad and self.let_states(e.name):
                        key = ("letfn", e.name)
                        if not body:
                            out.add(("letcall", e.name))
                    if key not in seen:
                        seen.add(key)
                        stack.append((self.lets[e.name], key[0] == "letfn", False))
                out.add(key)
            elif isinstance(e, ir.Op):
                stack.extend((a, in_grad, False) for a in e.args)
            elif isinstance(e, ir.Index):
                stack.append((e.value, in_grad, False))
            elif isinstance(e, ir.Array):
                stack.extend((a, in_grad, False) for a in e.elements)
            elif isinstance(e, ir.Grad):
                stack.append((e.body, True, True))
                out.add(("state", e.wrt))
            elif isinstance(e, ir.NetCall):
                stack.append((e.arg, in_grad, False))
                out.add(("net", e.net))
            elif isinstance(e, ir.FbmDrift):
                out.add(("fbm", e.brownian))
                out.add(("state", f"_fbm_{e.brownian}"))
            elif isinstance(e, ir.DistIR):
                stack.extend((v, in_grad, False) for _, v in e.args)
        # fractional weights need the Hurst expression
        for kind, name in list(out):
            if kind in ("fbm", "fbm_scale", "fbm_gamma"):
                out.add(("fbm", name))
                h = self.blocks[name].hurst
                if h is not None:
                    out |= self.refs([h])
        return out

    def _let_sets(self) -> dict[str, frozenset]:
        """Each let's states, found once, in dependency order."""
        if self._let_states is None:
            found: dict[str, frozenset] = {}
            for let, value in self.model.lets:
                found[let] = self._direct_states(value, found)
            self._let_states = found
        return self._let_states

    def let_states(self, name: str) -> tuple[str, ...]:
        """The states a let reads (through other lets and gradients), in the
        model's state order: the arguments of its function."""
        return self._ordered(self._let_sets()[name])

    def expr_states(self, e) -> tuple[str, ...]:
        """The states an expression reads (through lets and gradients)."""
        return self._ordered(self._direct_states(e, self._let_sets()))

    def _ordered(self, names) -> tuple[str, ...]:
        return tuple(s.name for s in self.model.states if s.name in names)

    @staticmethod
    def _direct_states(e, lets: dict) -> frozenset:
        """States read by ``e``, with each let's states looked up in ``lets``."""
        return ir.states_read(e, lets)

    def _bind_lets(self, e, blk: _Block) -> None:
        """Inside a function of the states: bind each state-dependent let that
        ``e`` reads directly (not inside a ``grad``) by calling its function;
        a state-free let is the enclosing method's local."""
        direct: set = set()
        stack = [e]
        while stack:
            x = stack.pop()
            if isinstance(x, ir.Ref):
                if x.kind == "let" and self.let_states(x.name):
                    direct.add(x.name)
            elif not isinstance(x, ir.Grad):  # a grad's body is its own function
                stack.extend(ir.children(x))
        for name, _ in self.model.lets:
            if name in direct:
                blk.add(f"l_{_ident(name)} = {self._call(name)}")

    def _call(self, name: str) -> str:
        """``fl_U(s_x, s_v)``: a let's function called on the current states."""
        args = ", ".join(f"s_{_ident(s)}" for s in self.let_states(name))
        return f"fl_{_ident(name)}({args})"

    def let_function(self, name: str, blk: _Block, called: bool) -> None:
        """``def fl_NAME(s_...):``, the let as a function of the states it
        reads: its own body once, the lets it reads called, not expanded.
        A function that is ``called`` (not only differentiated) is
        ``F.shared``: traced once per argument, however many lets read it."""
        args = ", ".join(f"s_{_ident(s)}" for s in self.let_states(name))
        header = (["@F.shared"] if called else []) + [f"def fl_{_ident(name)}({args}):"]
        self._local_function(blk, header, self.lets[name], as_number=False)

    def _local_function(self, blk: _Block, header: list[str], value, as_number: bool) -> None:
        """Write ``header`` and a body returning ``value`` into the method's
        own block, never inside another local function: every local function
        of a method is one level deep, however deeply gradients nest (Python
        allows 100 levels of indentation)."""
        host = self._host if self._host is not None else blk
        inner = _Block(host.indent + 4)
        saved, self._host = self._host, host
        try:
            self._bind_lets(value, inner)
            code = self.expr(value, inner) if as_number else self._expr(value, inner)[0]
            inner.add(f"return {code}")
        finally:
            self._host = saved
        for line in header:
            host.add(line)
        host.lines.extend(inner.lines)

    # -------- prologue: params, states, inputs, fbm, lets
    def prologue(self, blk: _Block, needs: set, y: str | None = "y") -> None:
        for p in self.model.params:
            if ("param", p.name) in needs:
                attr = f"self.{_ident(p.attr)}"
                if isinstance(p.constraint, Real):
                    blk.add(f"p_{_ident(p.name)} = {attr}")
                else:
                    blk.add(f"p_{_ident(p.name)} = {_constraint_expr(p.constraint)}.forward({attr})")
        if y is not None:
            for s in self.model.states:
                if ("state", s.name) in needs:
                    blk.add(f"s_{_ident(s.name)} = {self.state_slice(s, y)}")
        for name, _shape in self.model.inputs:
            if ("input", name) in needs:
                if self.model.data_dim is not None:  # a target model's data array, any number of points
                    blk.add(f'u_{_ident(name)} = args["data"]["{_ident(name)}"]')
                else:
                    blk.add(f'u_{_ident(name)} = args["inputs"]["{_ident(name)}"](t)')
        for b in self.model.noise_blocks:
            if b.kind == "fractional" and ("fbm", b.name) in needs:
                nm = _ident(b.name)
                blk.add(f"fbm_gamma_{nm} = FBM.fbm_gammas({self.model.fbm_num_ou}, self.fbm_horizon, high=self.fbm_high)")
                hurst = self.expr(b.hurst, blk)
                blk.add(f"fbm_weight_{nm} = FBM.fbm_weights({hurst}, fbm_gamma_{nm}, self.fbm_horizon)")
        for name, value in self.model.lets:
            if ("letfn", name) in needs:
                self.let_function(name, blk, ("letcall", name) in needs or ("let", name) in needs)
            if ("let", name) in needs:
                if ("letfn", name) in needs:
                    blk.add(f"l_{_ident(name)} = {self._call(name)}")
                else:
                    blk.add(f"l_{_ident(name)} = {self._expr(value, blk)[0]}")

    @staticmethod
    def state_slice(s: ir.StateIR, y: str) -> str:
        if s.shape == ():
            return f"{y}[{s.offset}]"
        sl = f"{y}[{s.offset}:{s.offset + s.size}]"
        if len(s.shape) == 1:
            return sl
        return f"{sl}.reshape({tuple(s.shape)!r})"

    # -------- expressions
    def expr(self, e, blk: _Block) -> str:
        """The code of ``e`` as a number: booleans (comparisons) become 0/1."""
        return self._value(e, blk)[0]

    def _value(self, e, blk: _Block) -> tuple[str, int]:
        """``_expr``, with a boolean cast to 0.0/1.0 for use as a number
        (``-(x > 0)``, ``(x > 0) * x``)."""
        code, prec = self._expr(e, blk)
        if ir.is_condition(e, self.lets):
            return f"jnp.where({code}, 1.0, 0.0)", _PREC["atom"]
        return code, prec

    def _truth(self, e, blk: _Block) -> str:
        """``_expr`` as booleans, for ``and``, ``or`` and ``not``: a number
        is true when it is not 0."""
        code, prec = self._expr(e, blk)
        if ir.is_condition(e, self.lets):
            return code
        return f"({code} != 0)" if prec < _PREC["atom"] else f"{code} != 0"

    def _expr(self, e, blk: _Block) -> tuple[str, int]:
        """The code of ``e`` and its precedence; a sub-expression nested more
        than :data:`_MAX_NESTING` levels deep is first bound to a local."""
        outer = self._deepest
        self._level += 1
        self._deepest = self._level
        try:
            code, prec = self._node(e, blk)
            if self._deepest - self._level >= _MAX_NESTING:
                self.counter[0] += 1
                name = f"tmp_{self.counter[0]}"
                blk.add(f"{name} = {code}")
                code, prec = name, _PREC["atom"]
                self._deepest = self._level
        finally:
            self._level -= 1
            self._deepest = max(outer, self._deepest)
        return code, prec

    def _node(self, e, blk: _Block) -> tuple[str, int]:
        if isinstance(e, ir.Const):
            v = np.asarray(e.value)
            if v.shape == ():
                s = _num(v)
                return s, (_PREC["neg"] if s.startswith("-") else _PREC["atom"])
            return _array_literal(v), _PREC["atom"]
        if isinstance(e, ir.Ref):
            k, n = e.kind, e.name
            if k == "time":
                return "t", _PREC["atom"]
            prefix = {"param": "p_", "state": "s_", "input": "u_", "let": "l_"}.get(k)
            if prefix:
                return f"{prefix}{_ident(n)}", _PREC["atom"]
            if k == "fbm_gamma":
                return f"fbm_gamma_{_ident(n)}", _PREC["atom"]
            if k == "fbm_scale":
                return f"jnp.sum(fbm_weight_{_ident(n)})", _PREC["atom"]
            raise ValueError(f"unknown reference kind {k}")
        if isinstance(e, ir.FbmDrift):
            n = _ident(e.brownian)
            return f"jnp.dot(fbm_weight_{n} * fbm_gamma_{n}, s__fbm_{n})", _PREC["atom"]
        if isinstance(e, ir.Op):
            return self._op(e, blk)
        if isinstance(e, ir.Index):
            inner, prec = self._expr(e.value, blk)
            if prec < _PREC["atom"]:
                inner = f"({inner})"
            parts = []
            for it in e.items:
                if isinstance(it, tuple):
                    a, b, c = it
                    s = f"{'' if a is None else a}:{'' if b is None else b}"
                    if c is not None:
                        s += f":{c}"
                    parts.append(s)
                else:
                    parts.append(str(it))
            return f"{inner}[{', '.join(parts)}]", _PREC["atom"]
        if isinstance(e, ir.Array):
            return "F.stack(" + ", ".join(self.expr(x, blk) for x in e.elements) + ")", _PREC["atom"]
        if isinstance(e, ir.NetCall):
            net = self.nets[e.net]
            return f"NN.apply_net(self.{_ident(net.attr)}, {self.expr(e.arg, blk)})", _PREC["atom"]
        if isinstance(e, ir.Grad):
            return self._grad(e, blk), _PREC["atom"]
        raise TypeError(f"cannot generate code for {type(e).__name__}")

    def _op(self, e: ir.Op, blk: _Block) -> tuple[str, int]:
        op = e.op
        if op.startswith("call:"):
            fname = op[5:]
            # a condition is booleans; every other argument is a number
            args = [self._truth(a, blk) if fname == "where" and i == 0 else self.expr(a, blk) for i, a in enumerate(e.args)]
            static = dict(e.static)
            if fname == "clip":
                names = static.get("params", ("x", "lo", "hi"))
                rendered = [args[0]] + [f"{n}={a}" for n, a in zip(names[1:], args[1:])]
                return f"F.clip({', '.join(rendered)})", _PREC["atom"]
            extra = [f"{k}={v}" for k, v in e.static if k != "params"]
            return f"F.{fname}({', '.join(args + extra)})", _PREC["atom"]
        if op in ("neg", "pos", "not"):
            if op == "not":
                return f"jnp.logical_not({self._truth(e.args[0], blk)})", _PREC["atom"]
            inner, prec = self._value(e.args[0], blk)
            if prec < _PREC["neg"]:
                inner = f"({inner})"
            return (f"-{inner}" if op == "neg" else inner), _PREC["neg"]
        a, b = e.args
        if op == "^":
            base = self.expr(a, blk)
            if isinstance(b, ir.Const) and np.asarray(b.value).shape == () and float(b.value).is_integer():
                return f"F.power({base}, {int(b.value)})", _PREC["atom"]
            return f"F.power({base}, {self.expr(b, blk)})", _PREC["atom"]
        if op in ("and", "or"):
            fn = "logical_and" if op == "and" else "logical_or"
            return f"jnp.{fn}({self._truth(a, blk)}, {self._truth(b, blk)})", _PREC["atom"]
        level = _PREC["cmp"] if op in ir.COMPARISONS else _PREC[op]
        left, lp = self._value(a, blk)
        right, rp = self._value(b, blk)
        if lp < level:
            left = f"({left})"
        # left-associative: the right operand needs parentheses at equal level
        if rp <= level:
            right = f"({right})"
        return f"{left} {op} {right}", level

    def _grad(self, e: ir.Grad, blk: _Block) -> str:
        """``jax.grad`` of a function of the states: the let's own function
        for ``grad(U, x)``, else a local function of the body. The body is
        written once, so nested gradients grow the code linearly."""
        self.counter[0] += 1
        k = self.counter[0]
        wrt = e.wrt
        body = e.body
        if isinstance(body, ir.Ref) and body.kind == "let" and self.let_states(body.name):
            fn, args = f"fl_{_ident(body.name)}", self.let_states(body.name)
        elif not self.expr_states(body):
            args = ()
            fn = None
        else:
            args = self._ordered(set(self.expr_states(body)) | {wrt})
            fn = f"grad_fn_{k}"
            self._local_function(blk, [f"def {fn}({', '.join(f's_{_ident(s)}' for s in args)}):"], body, as_number=True)
        if wrt not in args:  # the body does not read the state: its gradient is zero
            blk.add(f"grad_{k} = jnp.zeros_like(s_{_ident(wrt)})")
            return f"grad_{k}"
        i = args.index(wrt)
        how = f", argnums={i}" if i else ""
        blk.add(f"grad_{k} = jax.grad({fn}{how})({', '.join(f's_{_ident(s)}' for s in args)})")
        return f"grad_{k}"

    # -------- assembling a flat vector from per-state pieces
    def assemble(self, pieces: list[tuple[ir.StateIR, str | None, tuple]], blk: _Block, zeros_dtype: str) -> str:
        parts = []
        all_scalar = all(s.shape == () for s, _, _ in pieces)
        for s, code, shape in pieces:
            if code is None:
                if all_scalar:
                    parts.append(f"jnp.zeros((), {zeros_dtype})")
                else:
                    parts.append(f"jnp.zeros(({s.size},), {zeros_dtype})")
                continue
            if tuple(shape) != tuple(s.shape):
                code = f"jnp.broadcast_to({code}, {tuple(s.shape)!r})"
            if all_scalar:
                parts.append(code)
            elif len(s.shape) == 0:
                parts.append(f"jnp.reshape({code}, (1,))")
            elif len(s.shape) == 1:
                parts.append(code)
            else:
                parts.append(f"jnp.ravel({code})")
        # F.stack / F.join rather than jnp.stack / jnp.concatenate: they batch
        # without transposes on the solvers' paths-minor layout
        if all_scalar:
            if len(parts) == 1:
                return f"jnp.reshape({parts[0]}, (1,))"
            return f"F.stack({', '.join(parts)})"
        if len(parts) == 1:
            return parts[0]
        return f"F.join({', '.join(parts)})"


def _dist_expr(em: _FunctionEmitter, d: ir.DistIR, blk: _Block) -> str:
    args = ", ".join(f"{name}={em.expr(v, blk)}" for name, v in d.args)
    return f"D.{_ident(d.name)}({args})"


def _moments_code(em: _FunctionEmitter, d: ir.DistIR, blk: _Block) -> tuple[str, str]:
    """Code of a law's mean and standard deviation, as the moment methods
    define them: ``(loc, scale)`` of a ``Normal``, ``(mean, NaN)`` of any other."""
    if d.name == "Normal":
        args = dict(d.args)
        return em.expr(args["loc"], blk), em.expr(args["scale"], blk)
    return f"{_dist_expr(em, d, blk)}.mean()", "jnp.nan"


def _data_samples(s: ir.StateIR, blk: _Block, check: bool = True) -> str:
    """Bind ``samples_NAME``, the data set of a ``state NAME ~ data`` read
    from ``args["data"]["NAME"]`` as ``(sample, *shape)``; refuse a call
    without it (a Python-level check, at trace time)."""
    name = _ident(s.name)
    if check:
        blk.add('if args is None or "data" not in args or "' + name + '" not in args["data"]:')
        blk.add(f'    raise ValueError("state `{name}` is drawn from a data set: pass args={{\'data\': {{\'{name}\': samples}}}}")')
    blk.add(f'samples_{name} = jnp.reshape(jnp.asarray(args["data"]["{name}"], dtype=dtype), (-1,) + {tuple(s.shape)!r})')
    return f"samples_{name}"


_STRING = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
#: the canonical text of a checked expression (``ExpectInfo.rhs``,
#: ``ModelInfo.target``): rebuilt by :func:`dync.dsl.format.format_expr` from
#: the AST, so only names, numbers, operators and brackets, never a quote, a
#: backslash, a line break or a comment
_EXPR_TEXT = re.compile(r"^[A-Za-z0-9_ .+\-*/@^()\[\],:<>=!~]*$")
#: a description the compiler writes (``ParamInfo.compile_time``: "the
#: `shift` of `roll` (line 9)"): words, validated names in backticks and a
#: line number; a backtick, like a space, is inert inside a Python string
_DESCRIPTION = re.compile(r"^[A-Za-z0-9_ .,()`]*$")


def _literal(value) -> str:
    """Python source for a field value of the model description: validated
    names, numbers, booleans, shapes, constraints and nested records."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, str):
        if value and not (_STRING.match(value) or _EXPR_TEXT.match(value) or _DESCRIPTION.match(value)):
            raise ValueError(f"invalid name in code generation: {value!r}")
        return f'"{value}"'
    if isinstance(value, AbstractConstraint):
        return _constraint_expr(value)
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if dataclasses.is_dataclass(value):
        return _record(value)
    raise TypeError(f"cannot write {type(value).__name__} into generated code")


def _record(value) -> str:
    """``Name(positional..., keyword=...)``: the required fields positionally,
    the fields with defaults only where they differ from the default."""
    parts = []
    for f in dataclasses.fields(value):
        v = getattr(value, f.name)
        if f.default is dataclasses.MISSING:
            parts.append(f"{f.name}={_literal(v)}" if isinstance(v, bool) else _literal(v))
        elif v != f.default:
            parts.append(f"{f.name}={_literal(v)}")
    return f"{type(value).__name__}({', '.join(parts)})"


def _info_source(info: ModelInfo) -> str:
    """``INFO = ModelInfo(...)``, one field a line and one record a line."""
    lines = ["INFO = ModelInfo("]
    for f in dataclasses.fields(info):
        v = getattr(info, f.name)
        if f.default is not dataclasses.MISSING and v == f.default:
            continue
        if isinstance(v, tuple) and v and dataclasses.is_dataclass(v[0]):
            lines.append(f"    {f.name}=(")
            lines.extend(f"        {_record(item)}," for item in v)
            lines.append("    ),")
        else:
            lines.append(f"    {f.name}={_literal(v)},")
    lines.append(")")
    return "\n".join(lines)


def generate_module(model: ir.ModelIR) -> str:
    """The Python source of the compiled model (deterministic, formatted)."""
    counter = [0]
    out: list[str] = []
    add = out.append
    add(f"# Generated by dync {__version__}. Do not edit: regenerate with `dync compile`.")
    add(f'"""The compiled dync model `{_ident(model.name)}`."""')
    add("")
    add("import equinox as eqx")
    add("import jax")
    add("import jax.numpy as jnp")
    add("")
    add("from dync.info import constraints as C")
    add("from dync.info.model import (")
    if model.expectations:
        add("    ExpectInfo,")
    add("    LangevinInfo,")
    add("    ModelInfo,")
    add("    NetInfo,")
    add("    NoiseInfo,")
    add("    ObservationInfo,")
    add("    ParamInfo,")
    add("    SpecSource,")
    add("    StateInfo,")
    add(")")
    add("from dync.runtime import distributions as D")
    add("from dync.runtime import fractional as FBM")
    add("from dync.runtime import functions as F")
    add("from dync.runtime import nets as NN")
    add("from dync.runtime.model import AbstractModel, init_keys")
    add("")
    add("__all__ = [\"INFO\", \"Model\"]")
    add("")
    info = describe_model(model)
    add(_info_source(info))
    add("")
    add("")
    add("class Model(AbstractModel):")
    add(f'    """`{_ident(model.name)}`: {model.noise_structure} noise, {model.calculus} calculus."""')
    add("")
    add("    info = INFO")
    add("")
    for p in model.params:
        add(f"    {_ident(p.attr)}: jax.Array")
    for n in model.nets:
        add(f"    {_ident(n.attr)}: eqx.nn.MLP")
    fractional = any(b.kind == "fractional" for b in model.noise_blocks)
    add("    fbm_horizon: jax.Array | None")
    add("    fbm_high: jax.Array | None")
    add("    source: SpecSource = eqx.field(static=True)")
    add("")

    # ---- __init__
    em = _FunctionEmitter(model, counter)
    add("    def __init__(self, key=None, *, source=SpecSource()" + (", fbm_horizon=1.0" if fractional else "") + "):")
    blk = _Block(8)
    random_params = [p for p in model.params if p.init is not None]
    n_keys = len(random_params) + len(model.nets)
    if n_keys:
        blk.add(f"keys = init_keys(key, INFO, {n_keys})")
    else:
        blk.add("del key")
    ki = 0
    for p in model.params:
        target = f"self.{_ident(p.attr)}"
        if p.init is not None:
            value = f"{_dist_expr(em, p.init, blk)}.sample(keys[{ki}], {tuple(p.shape)!r})"
            ki += 1
        else:
            value = f"jnp.asarray({_array_literal(p.value)}, dtype=float)" if np.asarray(p.value).shape == () else f"jnp.asarray({_array_literal(p.value)}, dtype=float)"
        blk.add(f"p_{_ident(p.name)} = {value}")
        if isinstance(p.constraint, Real):
            blk.add(f"{target} = p_{_ident(p.name)}")
        else:
            blk.add(f"{target} = {_constraint_expr(p.constraint)}.inverse(p_{_ident(p.name)})")
    for n in model.nets:
        blk.add(
            f"self.{_ident(n.attr)} = NN.make_mlp(keys[{ki}], {n.in_size}, {n.out_size}, {n.width}, {n.depth}, \"{_ident(n.activation)}\")"
        )
        ki += 1
    if fractional:
        blk.add("self.fbm_horizon = jnp.asarray(fbm_horizon, dtype=float)")
        blk.add("self.fbm_high = jnp.asarray(FBM.DEFAULT_GAMMA_HIGH, dtype=float)")
    else:
        blk.add("self.fbm_horizon = None")
        blk.add("self.fbm_high = None")
    blk.add("self.source = source")
    out.extend(blk.lines)
    add("")

    # ---- constrained_params
    add("    def constrained_params(self):")
    blk = _Block(8)
    em.prologue(blk, {("param", p.name) for p in model.params}, y=None)
    blk.add("return {" + ", ".join(f'"{_ident(p.name)}": p_{_ident(p.name)}' for p in model.params) + "}")
    out.extend(blk.lines)
    add("")

    # ---- log_prior
    add("    def log_prior(self):")
    blk = _Block(8)
    priors = [p for p in model.params if p.prior is not None and not p.fixed]
    jac = [p for p in model.params if not p.fixed and not isinstance(p.constraint, Real)]
    needs = em.refs([p.prior for p in priors]) | {("param", p.name) for p in priors}
    em.prologue(blk, needs, y=None)
    blk.add("lp = jnp.zeros(())")
    for p in priors:
        blk.add(f"lp = lp + jnp.sum({_dist_expr(em, p.prior, blk)}.log_prob(p_{_ident(p.name)}))")
    for p in jac:
        blk.add(f"lp = lp + jnp.sum({_constraint_expr(p.constraint)}.log_det_jacobian(self.{_ident(p.attr)}))")
    blk.add("return lp")
    out.extend(blk.lines)
    add("")

    # ---- drift
    drift = dict(model.drift)
    add("    def drift(self, t, y, args=None):")
    blk = _Block(8)
    needs = em.refs([e for e in drift.values() if e is not None])
    em.prologue(blk, needs)
    pieces = []
    for s in model.states:
        e = drift[s.name]
        if e is None:
            pieces.append((s, None, s.shape))
        else:
            var = f"d_{_ident(s.name)}"
            blk.add(f"{var} = {em.expr(e, blk)}")
            pieces.append((s, var, e.shape))
    blk.add(f"return {em.assemble(pieces, blk, 'y.dtype')}")
    out.extend(blk.lines)
    add("")

    # ---- noise
    noise = dict(model.noise)
    add("    def noise(self, t, y, dw, args=None):")
    blk = _Block(8)
    coefs = [term.coefficient for terms in noise.values() for term in terms]
    needs = em.refs(coefs)
    em.prologue(blk, needs)
    block_var = {}
    for i, b in enumerate(model.noise_blocks):
        if any(term.block == b.name for terms in noise.values() for term in terms):
            var = f"w_{i}"
            block_var[b.name] = var
            if b.shape == ():
                blk.add(f"{var} = dw[{b.offset}]")
            elif len(b.shape) == 1:
                blk.add(f"{var} = dw[{b.offset}:{b.offset + b.size}]")
            else:
                blk.add(f"{var} = dw[{b.offset}:{b.offset + b.size}].reshape({tuple(b.shape)!r})")
    pieces = []
    for s in model.states:
        terms = noise.get(s.name, ())
        if not terms:
            pieces.append((s, None, s.shape))
            continue
        codes = []
        shape: tuple = ()
        for term in terms:
            c = em.expr(term.coefficient, blk)
            w = block_var[term.block]
            bshape = {b.name: b.shape for b in model.noise_blocks}[term.block]
            if term.matrix:
                codes.append(f"({c}) @ {w}" if " " in c else f"{c} @ {w}")
                shape = tuple(s.shape)
            else:
                cc = f"({c})" if (" + " in c or " - " in c) and not c.startswith("(") else c
                codes.append(f"{cc} * {w}")
                shape = tuple(np.broadcast_shapes(shape, tuple(term.coefficient.shape), tuple(bshape)))
        var = f"g_{_ident(s.name)}"
        blk.add(f"{var} = {' + '.join(codes)}")
        pieces.append((s, var, shape))
    blk.add(f"return {em.assemble(pieces, blk, 'y.dtype')}")
    out.extend(blk.lines)
    add("")

    # ---- initial_state
    add("    def initial_state(self, key, args=None):")
    blk = _Block(8)
    random_states = [s for s in model.states if s.init is not None]
    drawn = [s for s in model.states if s.init is not None or s.data]
    needs = em.refs([s.value for s in model.states if s.value is not None] + [s.init for s in random_states])
    em.prologue(blk, needs, y=None)
    if drawn:
        blk.add(f"keys = jax.random.split(key, {len(drawn)})")
    else:
        blk.add("del key")
    blk.add("dtype = jnp.result_type(float)")
    pieces = []
    ki = 0
    for s in model.states:
        var = f"x_{_ident(s.name)}"
        if s.data:
            samples = _data_samples(s, blk)
            blk.add(f"{var} = {samples}[jax.random.randint(keys[{ki}], (), 0, {samples}.shape[0])]")
            ki += 1
        elif s.init is not None:
            blk.add(f"{var} = {_dist_expr(em, s.init, blk)}.sample(keys[{ki}], {tuple(s.shape)!r}).astype(dtype)")
            ki += 1
        else:
            value = em.expr(s.value, blk) if s.value is not None else "0.0"
            blk.add(f"{var} = jnp.broadcast_to(jnp.asarray({value}, dtype=dtype), {tuple(s.shape)!r})")
        pieces.append((s, var, s.shape))
    blk.add(f"return {em.assemble(pieces, blk, 'dtype')}")
    out.extend(blk.lines)
    add("")

    # ---- initial_moments
    add("    def initial_moments(self, args=None):")
    blk = _Block(8)
    needs = em.refs([s.value for s in model.states if s.value is not None] + [s.init for s in random_states])
    em.prologue(blk, needs, y=None)
    blk.add("dtype = jnp.result_type(float)")
    means, stds = [], []
    for s in model.states:
        name, shape = _ident(s.name), tuple(s.shape)
        if s.data:
            # the data set's moments when it is given, else unknown (NaN)
            blk.add('if args is not None and "data" in args:')
            inner = _Block(blk.indent + 4)
            samples = _data_samples(s, inner, check=False)
            inner.add(f"mean_{name}, std_{name} = jnp.mean({samples}, axis=0), jnp.std({samples}, axis=0)")
            blk.lines.extend(inner.lines)
            blk.add("else:")
            blk.add(f"    mean_{name} = std_{name} = jnp.nan")
            mean, std = f"mean_{name}", f"std_{name}"
        elif s.init is not None:
            mean, std = _moments_code(em, s.init, blk)
        else:
            mean = em.expr(s.value, blk) if s.value is not None else "0.0"
            std = "0.0"
        blk.add(f"m_{name} = jnp.broadcast_to(jnp.asarray({mean}, dtype=dtype), {shape!r})")
        blk.add(f"sd_{name} = jnp.broadcast_to(jnp.asarray({std}, dtype=dtype), {shape!r})")
        means.append((s, f"m_{name}", shape))
        stds.append((s, f"sd_{name}", shape))
    blk.add(f"return {em.assemble(means, blk, 'dtype')}, {em.assemble(stds, blk, 'dtype')}")
    out.extend(blk.lines)

    # ---- observations
    if model.observations:
        add("")
        needs = em.refs([o.dist for o in model.observations])

        def method(signature: str) -> _Block:
            """``def SIGNATURE:`` and a body that starts with what the laws read."""
            add(f"    def {signature}:")
            body = _Block(8)
            em.prologue(body, needs)
            return body

        blk = method("observation_log_prob(self, t, y, data, args=None)")
        blk.add("lp = jnp.zeros(())")
        for o in model.observations:
            blk.add(f'lp = lp + jnp.sum({_dist_expr(em, o.dist, blk)}.observed_log_prob(data["{_ident(o.name)}"]))')
        blk.add("return lp")
        out.extend(blk.lines)
        add("")
        blk = method("observation_sample(self, key, t, y, args=None)")
        blk.add(f"keys = jax.random.split(key, {len(model.observations)})")
        codes = [_dist_expr(em, o.dist, blk) for o in model.observations]
        blk.add("return {")
        for i, (o, code) in enumerate(zip(model.observations, codes)):
            blk.add(f'    "{_ident(o.name)}": {code}.sample(keys[{i}], {tuple(o.shape)!r}),')
        blk.add("}")
        out.extend(blk.lines)
        add("")
        blk = method("observation_moments(self, t, y, args=None)")
        moments = [(o, *_moments_code(em, o.dist, blk)) for o in model.observations]
        blk.add("return {")
        for o, mean, std in moments:
            shape = tuple(o.shape)
            blk.add(f'    "{_ident(o.name)}": (')
            blk.add(f"        jnp.broadcast_to(jnp.asarray({mean}, dtype=y.dtype), {shape!r}),")
            blk.add(f"        jnp.broadcast_to(jnp.asarray({std}, dtype=y.dtype), {shape!r}),")
            blk.add("    ),")
        blk.add("}")
        out.extend(blk.lines)
    else:  # a model without `observe` lines: the methods of the contract, empty
        for signature, unused, value in (
            ("observation_log_prob(self, t, y, data, args=None)", "t, y, data, args", "jnp.zeros(())"),
            ("observation_sample(self, key, t, y, args=None)", "key, t, y, args", "{}"),
            ("observation_moments(self, t, y, args=None)", "t, y, args", "{}"),
        ):
            out.extend(["", f"    def {signature}:", f"        del {unused}", f"        return {value}"])
    out.extend(_statement_methods(model, em))
    add("")
    return "\n".join(out)


def _statement_methods(model: ir.ModelIR, em: _FunctionEmitter) -> list[str]:
    """The methods of the ``target``, ``score`` and ``expect`` statements,
    each generated only when the spec has the statement (``ModelInfo``
    records which)."""
    out: list[str] = []
    if model.target is not None:
        out += ["", "    def target_log_density(self, y, args=None):"]
        blk = _Block(8)
        if model.data_dim is None:
            blk.add("del args")
        em.prologue(blk, em.refs([model.target]))
        blk.add(f"return jnp.reshape({em.expr(model.target, blk)}, ()).astype(y.dtype)")
        out.extend(blk.lines)
    if model.score is not None:
        out += ["", "    def score(self, t, y, args=None):"]
        blk = _Block(8)
        em.prologue(blk, em.refs([model.score.value]))
        pieces = []
        for s in model.states:
            if s.name == model.score.state:
                blk.add(f"sc_{_ident(s.name)} = {em.expr(model.score.value, blk)}")
                pieces.append((s, f"sc_{_ident(s.name)}", model.score.value.shape))
            else:
                pieces.append((s, None, s.shape))
        blk.add(f"return {em.assemble(pieces, blk, 'y.dtype')}")
        out.extend(blk.lines)
    if model.expectations:
        out.extend(_expectation_methods(model, em))
    return out


def _dispatch(out: list[str], cases: list[tuple[int, _Block]], what: str) -> None:
    """``if index == K:`` branches, then an error for any other index."""
    for index, body in cases:
        out.append(f"        if index == {index}:")
        out.extend(body.lines)
    count = len(cases)
    out.append(f'        raise ValueError(f"{what}, not {{index!r}}")' if count else "        del index")


def _expectation_methods(model: ir.ModelIR, em: _FunctionEmitter) -> list[str]:
    out: list[str] = []
    n = len(model.expectations)
    valid = f"the model has {n} expectation{'s' if n != 1 else ''}: index 0 to {n - 1}"

    out += ["", "    def expectation_values(self, index, t, y, args=None):"]
    cases = []
    for i, e in enumerate(model.expectations):
        blk = _Block(12)
        em.prologue(blk, em.refs([e.lhs]))
        shape = tuple(e.lhs.shape)
        if e.kind == "always":
            blk.add(f"return jnp.broadcast_to({em._truth(e.lhs, blk)}, {shape!r})")
        else:
            blk.add(f"return jnp.broadcast_to(jnp.asarray({em.expr(e.lhs, blk)}, dtype=y.dtype), {shape!r})")
        cases.append((i, blk))
    _dispatch(out, cases, valid)

    moments = [(i, e) for i, e in enumerate(model.expectations) if e.rhs is not None]
    out += ["", "    def expectation_rhs(self, index, t, args=None):"]
    cases = []
    for i, e in moments:
        blk = _Block(12)
        em.prologue(blk, em.refs([e.rhs]), y=None)
        blk.add(f"return jnp.broadcast_to(jnp.asarray({em.expr(e.rhs, blk)}, dtype=jnp.result_type(float)), {tuple(e.lhs.shape)!r})")
        cases.append((i, blk))
    which = ", ".join(str(i) for i, _ in moments)
    _dispatch(out, cases, f"only `mean` and `var` expectations have a right side: index {which}" if moments else "no expectation has a right side")

    laws = [(i, e) for i, e in enumerate(model.expectations) if e.dist is not None]
    out += ["", "    def stationary_law(self, index, args=None):"]
    cases = []
    for i, e in laws:
        blk = _Block(12)
        em.prologue(blk, em.refs([e.dist]), y=None)
        blk.add(f"return {_dist_expr(em, e.dist, blk)}")
        cases.append((i, blk))
    which = ", ".join(str(i) for i, _ in laws)
    _dispatch(out, cases, f"only `stationary` expectations have a law: index {which}" if laws else "no expectation has a stationary law")
    return out
