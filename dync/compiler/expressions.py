"""Expressions and shapes: resolving the names of one expression, inferring
its shape (broadcasting, matrix products, indexing, calls) and lowering it to
IR."""

from __future__ import annotations

from typing import TYPE_CHECKING

import math

import numpy as np

from ..dsl import ast
from ..dsl.ast import free_names
from ..errors import (
    BadArguments,
    BadDifferential,
    BadGrad,
    InvalidSpec,
    ShapeMismatch,
    UndefinedName,
    UnknownFunction,
    did_you_mean,
)
from ..dsl.limits import MAX_RANK, MAX_SIZE
from ..errors import DyncError
from . import ir
from .consteval import bracketed_join, check_constant_size
from .library import DISTRIBUTIONS, FUNCTIONS
from .shapes import BAD, broadcast, fmt_shape, matmul_shape
from .dependencies import depends_on_state, reads_time

if TYPE_CHECKING:  # pragma: no cover
    from .check import Checker


def boolean_word_hint(name: str) -> str | None:
    """The hint for an undefined ``true``/``yes``/``on``...: YAML reads them
    as booleans, dync as names, and a value needs a number."""
    if name.lower() in ("true", "false", "yes", "no", "on", "off"):
        return f"`{name}` is not a number in dync (there are no booleans): write 1 or 0"
    return None





#: what to say when `grad(U, w)` names something other than a state
_GRAD_HINTS = {
    "param": "dync takes gradients in the states only (forces are `-grad(U, x)`); gradients in the parameters are what `dync fit` computes",
    "let": "take the gradient in the state the let depends on: `grad(U, x)`",
    "const": "a constant has no gradient; write `grad(U, x)` for a state x",
    "input": "dync takes gradients in the states only; write `grad(U, x)` for a state x",
}

class ExprChecker:
    """Resolves and shape-checks one expression into IR."""

    def __init__(
        self,
        checker: Checker,
        allow_states: bool,
        allow_time: bool | None = None,
        time_hint: str | None = None,
        state_hint: str | None = None,
    ):
        self.c = checker
        self.time_hint = time_hint or "initial values and parameters cannot depend on time"
        #: the hint for a state where none may stand (``None``: the default)
        self.state_hint = state_hint
        self.allow_states = allow_states
        #: time `t` (and lets that read it) may stand here; by default where
        #: states may (a deterministic function of time, such as the right
        #: side of `expect mean(x) = RHS`, allows time but no state)
        self.allow_time = allow_states if allow_time is None else allow_time

    def err(self, cls, msg, span, hint=None):
        return self.c.err(cls, msg, span, hint)

    def check(self, e):
        method = getattr(self, f"_{type(e).__name__.lower()}")
        out = method(e)
        if out is BAD and not self.c.errors and self.c.silently_bad is None:
            self.c.silently_bad = getattr(e, "span", None)
        shape = getattr(out, "shape", None)
        if out is not BAD and shape is not None:
            if len(shape) > MAX_RANK:
                return self.err(ShapeMismatch, f"this would be an array of {len(shape)} axes; arrays have at most {MAX_RANK}",
                                getattr(e, "span", None), hint="use fewer axes")
            if math.prod(shape) > MAX_SIZE:
                return self.err(ShapeMismatch, f"this would be an array of {math.prod(shape):,} numbers {fmt_shape(shape)}, too many",
                                getattr(e, "span", None), hint=f"arrays hold at most 2^40 = {MAX_SIZE:,} numbers (dync.dsl.limits.MAX_SIZE)")
        return out

    def _constant(self, shape: tuple, span, what: str, filled: bool = False) -> bool:
        """Whether a constant array of ``shape`` may be built here (the
        bounds of :mod:`dync.dsl.limits`, counted in the spec's budget); an
        error otherwise, before it is allocated. ``filled``: one repeated
        value (written into the model as a number and a shape)."""
        try:
            check_constant_size(shape, span, what, filled)
            if filled:
                self.c.budget.spend(math.prod(shape), span)
            else:
                self.c.budget.store(math.prod(shape), span)
        except DyncError as err:
            self.c.errors.append(err)
            return False
        return True

    def _number(self, e: ast.Number):
        return ir.Const(np.asarray(float(e.value)), ())

    def _name(self, e: ast.Name):
        c = self.c
        if e.id == "t":
            if not self.allow_time:
                return self.err(InvalidSpec, "time `t` is not known here", e.span, hint=self.time_hint)
            return ir.Ref("time", "t", ())
        if e.id == "pi":
            return ir.Const(np.asarray(math.pi), ())
        if e.id == "dt" or (c._is_differential(e.id) and e.id not in c.symbols and len(e.id) > 1 and e.id[1:] in c.brownians):
            return self.err(BadDifferential, f"`{e.id}` can only close a term of an equation", e.span, hint=f"write `EXPR {e.id}` as a term of `dX = ...`")
        if (
            len(e.id) > 1 and e.id[0] == "d" and e.id[1].isupper() and e.id not in c._decl_nodes
            and e.id[1:] not in c._decl_nodes
        ):  # fmt: skip
            # an implicit noise `dW` inside an expression (`dW dt`, `dW @ dW`,
            # `exp(dW)`): a differential, not an unknown name
            return self.err(
                BadDifferential,
                f"`{e.id}` is the differential of a Brownian motion; it can only close a term of an equation",
                e.span,
                hint=f"write `EXPR {e.id}` as a term of `dX = ...`; a noise increment cannot be multiplied, transformed or squared",
            )
        sym = c.symbols.get(e.id)
        if e.id in c.failed:
            return BAD
        if sym is None:
            if e.id in c._decl_nodes:
                node = c._decl_nodes[e.id]
                if not self.allow_states and isinstance(node, (ast.State, ast.Input)):
                    # declared further down: the states are not known here wherever they are declared
                    kind = "state" if isinstance(node, ast.State) else "input"
                    return self.err(InvalidSpec, f"{kind} `{e.id}` is not known here", e.span, hint=self.state_hint or "initial values, priors and parameters may use numbers, dims and parameters only")
                if not self.allow_states and isinstance(node, ast.Let) and e.id in c._let_blocker:
                    return self.err(InvalidSpec, f"`{e.id}` depends on {c._let_blocker[e.id]} and is not known here", e.span, hint=self.state_hint or "initial values may use numbers, dims, parameters, constants and lets that read only these")
                if not self.allow_states and isinstance(node, ast.Let) and e.id not in c.symbols and not c._constant_lets_checked:
                    return self.err(InvalidSpec, f"`let {e.id}` is not known here", e.span, hint="parameter values and priors may use numbers, dims, parameters and constants only; write the expression out, or make it a `param`/`const`")
                if isinstance(node, ast.Net):
                    # read before the nets are checked (a state's initial value, a prior)
                    if self.allow_states:
                        return self.err(InvalidSpec, f"`{e.id}` is a network: call it, `{e.id}(x)`", e.span)
                    return self.err(
                        InvalidSpec,
                        f"`{e.id}` is a network, whose output is known only when the model runs: it cannot stand here",
                        e.span,
                        hint=self.state_hint or "initial values, priors and parameters may use numbers, dims and parameters only",
                    )
                if isinstance(node, ast.Observe):
                    return self.err(
                        InvalidSpec,
                        f"`{e.id}` is an observation: it names data, not a value the model computes",
                        e.span,
                        hint=f"use the expression it observes (give it a `let` to share it), not `{e.id}`",
                    )
                if isinstance(node, ast.Param) and e.id == c._drawing:
                    return self.err(
                        InvalidSpec,
                        f"the `~ init` draw of parameter `{e.id}` uses `{e.id}` itself",
                        e.span,
                        hint="a drawn value cannot depend on itself: use numbers, dims and parameters declared above",
                    )
                if isinstance(node, ast.Param) and (node.span.line, node.span.column) > (e.span.line, e.span.column):
                    # only a `~ init` draw reads parameters before all are declared
                    kind = "constant" if node.fixed else "parameter"
                    return self.err(
                        InvalidSpec,
                        f"{kind} `{e.id}` is declared below (line {node.span.line}), so it is not known here",
                        e.span,
                        hint="a `~ init` draw is made in order: declare the parameters it uses above it",
                    )
                return BAD  # declared but failed its own check
            cands = [n for n, (k, _) in c.symbols.items() if k != "brownian"] + ["t", "pi"]
            if not self.allow_states:
                cands = [n for n in cands if c.symbols.get(n, ("",))[0] not in ("state", "let")]
            if e.id in FUNCTIONS:  # `dx = -exp dt`: a function without its argument
                return self.err(
                    UndefinedName,
                    f"`{e.id}` is a function, used here as a value",
                    e.span,
                    hint=f"call it with its argument in parentheses: `{e.id}(x)`, as in `-{e.id}(x) * dt`",
                )
            hint = boolean_word_hint(e.id) or did_you_mean(e.id, cands)
            return self.err(UndefinedName, f"undefined name `{e.id}`", e.span, hint=hint)
        kind, shape = sym
        if kind == "dim":
            return ir.Const(np.asarray(c.consts[e.id]), ())
        if kind == "param":
            return ir.Ref("param", e.id, shape)
        if kind == "state" or kind == "input":
            if not self.allow_states:
                return self.err(InvalidSpec, f"{kind} `{e.id}` is not known here", e.span, hint=self.state_hint or "initial values, priors and parameters may use numbers, dims and parameters only")
            return ir.Ref(kind, e.id, shape)
        if kind == "let":
            if shape is None:
                return BAD
            if not self.allow_states and depends_on_state(c.lets[e.id], c.lets):
                return self.err(InvalidSpec, f"`{e.id}` depends on the state and is not known here", e.span, hint=self.state_hint)
            if not self.allow_time and reads_time(c.lets[e.id], c.lets, inputs=not c.inputs_are_data):
                return self.err(InvalidSpec, f"`{e.id}` depends on time and is not known here", e.span, hint=self.time_hint)
            return ir.Ref("let", e.id, shape)
        if kind == "brownian":
            return self.err(BadDifferential, f"`{e.id}` is a Brownian motion; it appears only as the differential `d{e.id}`", e.span, hint=f"write `EXPR d{e.id}` as a term of an equation")
        if kind == "net":
            return self.err(InvalidSpec, f"`{e.id}` is a network: call it, `{e.id}(x)`", e.span)
        return self.err(InvalidSpec, f"`{e.id}` cannot be used here", e.span)

    def _unary(self, e: ast.Unary):
        x = self.check(e.operand)
        if x is BAD:
            return BAD
        op = {"-": "neg", "+": "pos", "not": "not"}[e.op]
        if op == "neg" and isinstance(x, ir.Const):
            return ir.Const(-x.value, x.shape)
        return ir.Op(op, (x,), x.shape)

    def _binary(self, e: ast.Binary):
        a = self.check(e.left)
        b = self.check(e.right)
        if a is BAD or b is BAD:
            return BAD
        if e.op == "@":
            shape = matmul_shape(a.shape, b.shape)
            message = f"cannot multiply matrices of shapes {fmt_shape(a.shape)} @ {fmt_shape(b.shape)}"
            hint = "`@` needs the last size on the left to equal the first (or second-to-last) size on the right"
        else:
            shape = broadcast(a.shape, b.shape)
            message = f"shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)} do not broadcast for `{e.op}`"
            hint = "sizes must be equal or 1, counting from the last axis"
        if shape is None:
            return self.err(ShapeMismatch, message, e.op_span, hint=hint)
        return ir.Op(e.op, (a, b), shape)

    def _arraylit(self, e: ast.ArrayLit):
        els = [self.check(x) for x in e.elements]
        if any(x is BAD for x in els):
            return BAD
        shapes = {x.shape for x in els}
        if len(shapes) > 1:
            return self.err(ShapeMismatch, f"array elements have different shapes: {', '.join(fmt_shape(s) for s in sorted(shapes))}", e.span,
                            hint="every element of an array literal has the same shape; join vectors with `concat(a, b)`")  # fmt: skip
        inner = els[0].shape if els else ()
        if all(isinstance(x, ir.Const) for x in els):
            if not self._constant((len(els),) + inner, e.span, "this array"):
                return BAD
            return ir.Const(np.stack([x.value for x in els]), (len(els),) + inner)
        return ir.Array(tuple(els), (len(els),) + inner)

    def _static_int(self, e, what: str):
        v = self.c._const(e, what, ShapeMismatch)
        if v is BAD or v is None:
            return BAD
        v = np.asarray(v)
        if v.shape != () or not float(v).is_integer():
            return self.err(ShapeMismatch, f"{what} must be a constant integer", e.span)
        return int(v)

    def _index(self, e: ast.Index):
        x = self.check(e.value)
        if x is BAD:
            return BAD
        shape = list(x.shape)
        if len(e.items) > len(shape):
            return self.err(ShapeMismatch, f"{len(e.items)} indices for an array of shape {fmt_shape(x.shape)}", e.span, hint=f"it has {len(shape)} ax{'is' if len(shape) == 1 else 'es'}")
        items = []
        out = []
        for axis, it in enumerate(e.items):
            size = shape[axis]
            if isinstance(it, ast.Slice):
                parts = []
                for p in (it.start, it.stop, it.step):
                    if p is None:
                        parts.append(None)
                    else:
                        v = self._static_int(p, "a slice bound")
                        if v is BAD:
                            return BAD
                        parts.append(v)
                if parts[2] == 0:
                    return self.err(ShapeMismatch, "a slice step cannot be 0", it.span)
                n = len(range(size)[slice(*parts)])
                if n == 0:
                    return self.err(ShapeMismatch, f"the slice selects nothing from an axis of size {size}", it.span)
                items.append(tuple(parts))
                out.append(n)
            else:
                v = self._static_int(it, "an index")
                if v is BAD:
                    return BAD
                if not -size <= v < size:
                    return self.err(ShapeMismatch, f"index {v} is out of range for an axis of size {size}", it.span, hint=f"valid indices are 0 to {size - 1}")
                items.append(v)
        out.extend(shape[len(e.items):])
        return ir.Index(x, tuple(items), tuple(out))

    def _call(self, e: ast.Call):
        c = self.c
        name = e.func
        sym = c.symbols.get(name)
        if sym is not None and sym[0] == "net":
            return self._net_call(e, sym[1])
        if sym is None and name in c.incomplete:
            return BAD  # a network that lost a misspelt key: that key is the error
        sig = FUNCTIONS.get(name)
        if sig is None:
            if name in DISTRIBUTIONS:
                return self.err(UnknownFunction, f"`{name}` is a distribution; it can only follow `~`", e.func_span, hint="distributions appear in `~ DIST` of params, states and observations")
            node = c._decl_nodes.get(name)
            if sym is None and node is not None:  # declared, not yet in scope here (a state read by a let)
                kind = {ast.State: "state", ast.Input: "input", ast.Let: "let", ast.Observe: "observation",
                        ast.Brownian: "brownian", ast.Dim: "dim"}.get(type(node))  # fmt: skip
                if kind is not None:
                    return self.err(UnknownFunction, f"`{name}` is a {kind}, not a function", e.func_span)
            if sym is None and name in ("t", "pi"):
                what = "the time" if name == "t" else "a number"
                return self.err(UnknownFunction, f"`{name}` is {what}, not a function", e.func_span, hint="is an operator (`*`) missing?")
            if sym is not None:
                return self.err(UnknownFunction, f"`{name}` is a {sym[0]}, not a function", e.func_span)
            if name in ("not", "and", "or"):
                # `x + not (a > b)`: the operator binds more loosely than
                # arithmetic, so the parser could only read a call of `not`
                return self.err(
                    InvalidSpec,
                    f"`{name}` binds more loosely than arithmetic and comparisons, so it cannot follow an operator here",
                    e.func_span,
                    hint=f"put it in parentheses: `({name} ...)`, e.g. `x + (not (a > b)) * 1`",
                )
            return self.err(UnknownFunction, f"unknown function `{name}`", e.func_span, hint=did_you_mean(name, list(FUNCTIONS) + list(c.nets)))
        if name == "grad":
            return self._grad(e)
        # bind arguments
        pos: list = []
        kw: dict[str, ast.Expr] = {}
        if sig.variadic:
            pos = list(e.args)
            for k in e.kwargs:
                if k.name not in sig.params:
                    return self.err(BadArguments, f"`{name}` has no keyword `{k.name}`", k.span, hint=did_you_mean(k.name, sig.params) or (f"its keywords are {', '.join(sig.params)}" if sig.params else f"`{name}` takes no keywords"))
                kw[k.name] = k.value
        else:
            if len(e.args) > len(sig.params):
                return self.err(BadArguments, f"`{name}` takes at most {len(sig.params)} argument{'s' if len(sig.params) != 1 else ''}, got {len(e.args)}", e.span, hint=f"write `{name}({', '.join(sig.params)})`")
            kw = dict(zip(sig.params, e.args))
            for k in e.kwargs:
                if k.name not in sig.params:
                    return self.err(BadArguments, f"`{name}` has no keyword `{k.name}`", k.span, hint=did_you_mean(k.name, sig.params) or f"its arguments are {', '.join(sig.params)}")
                if k.name in kw:
                    return self.err(BadArguments, f"`{k.name}` is given twice in `{name}`", k.span)
                kw[k.name] = k.value
            missing = [p for p in sig.params[: sig.required] if p not in kw]
            if missing:
                return self.err(BadArguments, f"`{name}` needs its `{missing[0]}` argument", e.span, hint=f"write `{name}({', '.join(sig.params[:max(sig.required, 1)])})`")
        static: dict[str, int] = {}
        for s in sig.static:
            if s in kw:
                v = self._static_int(kw.pop(s), f"`{s}` of `{name}`")
                if v is BAD:
                    return BAD
                static[s] = v
        if name in ("zeros", "ones"):
            dims = []
            for a in pos:
                v = self._static_int(a, f"a size of `{name}`")
                if v is BAD:
                    return BAD
                if v < 1:
                    return self.err(ShapeMismatch, f"sizes of `{name}` must be positive", a.span)
                dims.append(v)
            if not self._constant(tuple(dims), e.span, f"`{name}(...)`", filled=True):
                return BAD
            return ir.Const(np.zeros(tuple(dims)) if name == "zeros" else np.ones(tuple(dims)), tuple(dims))
        if name == "eye":
            n = static["n"]
            if n < 1:
                return self.err(ShapeMismatch, "`eye` needs a positive size", e.span)
            if not self._constant((n, n), e.span, f"`eye({n})`"):
                return BAD
            return ir.Const(np.eye(n), (n, n))
        args = {k: self.check(v) for k, v in kw.items()}
        vargs = [self.check(a) for a in pos]
        if any(v is BAD for v in args.values()) or any(v is BAD for v in vargs):
            return BAD
        return self._apply(e, sig, args, vargs, static)

    def _apply(self, e: ast.Call, sig, args: dict, vargs: list, static: dict):
        name = sig.name
        if sig.kind == "elementwise":
            x = args["x"]
            return ir.Op(f"call:{name}", (x,), x.shape)
        if sig.kind == "broadcast":
            order = [p for p in sig.params if p in args]
            shape: tuple | None = ()
            for p in order:
                shape = broadcast(shape, args[p].shape)
                if shape is None:
                    return self.err(ShapeMismatch, f"the arguments of `{name}` do not broadcast: " + ", ".join(fmt_shape(args[q].shape) for q in order), e.span)
            if name == "clip":
                return ir.Op("call:clip", tuple(args[p] for p in order), shape, (("params", tuple(order)),))
            return ir.Op(f"call:{name}", tuple(args[p] for p in order), shape)
        if sig.kind == "reduction":
            x = args["x"]
            axis = static.get("axis")
            if axis is None:
                return ir.Op(f"call:{name}", (x,), ())
            nd = len(x.shape)
            if not -nd <= axis < nd:
                return self.err(ShapeMismatch, f"axis {axis} is out of range for `{name}` of an array of shape {fmt_shape(x.shape)}", e.span, hint=f"valid axes are 0 to {nd - 1}" if nd else "a scalar has no axes")
            ax = axis % nd
            shape = x.shape[:ax] + x.shape[ax + 1:]
            return ir.Op(f"call:{name}", (x,), shape, (("axis", ax),))
        if name == "dot":
            a, b = args["a"], args["b"]
            if len(a.shape) != 1 or a.shape != b.shape:
                return self.err(ShapeMismatch, f"`dot` needs two vectors of one length, got {fmt_shape(a.shape)} and {fmt_shape(b.shape)}", e.span, hint="use `@` for matrices")
            return ir.Op("call:dot", (a, b), ())
        if name == "outer":
            a, b = args["a"], args["b"]
            if len(a.shape) != 1 or len(b.shape) != 1:
                return self.err(ShapeMismatch, f"`outer` needs two vectors, got {fmt_shape(a.shape)} and {fmt_shape(b.shape)}", e.span)
            return ir.Op("call:outer", (a, b), (a.shape[0], b.shape[0]))
        if name == "roll":
            x = args["x"]
            axis = static.get("axis", 0)
            if not x.shape:
                return self.err(ShapeMismatch, "`roll` needs an array, not a scalar", e.span)
            if not -len(x.shape) <= axis < len(x.shape):
                return self.err(ShapeMismatch, f"axis {axis} is out of range for `roll` of shape {fmt_shape(x.shape)}", e.span)
            return ir.Op("call:roll", (x,), x.shape, (("shift", static.get("shift", 1)), ("axis", axis % len(x.shape))))
        if name in ("concat", "stack"):
            if not vargs:
                return self.err(BadArguments, f"`{name}` needs at least one array", e.span)
            bracketed = bracketed_join(e)
            if bracketed:
                return self.err(BadArguments, bracketed[0], bracketed[1], hint=bracketed[2])
            axis = static.get("axis", 0)
            shapes = [v.shape if (v.shape or name == "stack") else (1,) for v in vargs]
            if name == "stack":
                if len(set(shapes)) > 1:
                    return self.err(ShapeMismatch, "`stack` needs arrays of one shape, got " + ", ".join(fmt_shape(s) for s in shapes), e.span)
                nd = len(shapes[0]) + 1
                if not -nd <= axis < nd:
                    return self.err(ShapeMismatch, f"axis {axis} is out of range for `stack`", e.span)
                ax = axis % nd
                out = shapes[0][:ax] + (len(vargs),) + shapes[0][ax:]
                return ir.Op("call:stack", tuple(vargs), out, (("axis", ax),))
            nd = len(shapes[0])
            if any(len(s) != nd for s in shapes) or not -nd <= axis < nd:
                return self.err(ShapeMismatch, "`concat` needs arrays with the same number of axes, got " + ", ".join(fmt_shape(s) for s in shapes), e.span)
            ax = axis % nd
            others = {s[:ax] + s[ax + 1:] for s in shapes}
            if len(others) > 1:
                return self.err(ShapeMismatch, "`concat` needs equal sizes off the joined axis, got " + ", ".join(fmt_shape(s) for s in shapes), e.span)
            out = list(shapes[0])
            out[ax] = sum(s[ax] for s in shapes)
            return ir.Op("call:concat", tuple(vargs), tuple(out), (("axis", ax),))
        if name == "diag":
            x = args["x"]
            if len(x.shape) == 1:
                return ir.Op("call:diag", (x,), (x.shape[0], x.shape[0]))
            if len(x.shape) == 2:
                return ir.Op("call:diag", (x,), (min(x.shape),))
            return self.err(ShapeMismatch, f"`diag` needs a vector or a matrix, got {fmt_shape(x.shape)}", e.span)
        if name == "transpose":
            x = args["x"]
            return ir.Op("call:transpose", (x,), tuple(reversed(x.shape)))
        return self.err(UnknownFunction, f"`{name}` cannot be used here", e.func_span)

    def _grad(self, e: ast.Call):
        c = self.c
        if e.kwargs or len(e.args) != 2:
            return self.err(BadArguments, f"`grad` takes 2 arguments (a scalar expression and a state), got {len(e.args) + len(e.kwargs)}", e.span, hint="write `grad(U, x)`")
        body_ast, wrt = e.args
        if not isinstance(wrt, ast.Name) or c.symbols.get(wrt.id, ("",))[0] != "state":
            what = wrt.id if isinstance(wrt, ast.Name) else None
            kind = c.symbols.get(what, ("",))[0] if what else ""
            return self.err(
                BadGrad,
                f"`grad` is taken with respect to a state, and `{what}` is {'a ' + kind if kind else 'not one'}" if what else "`grad` is taken with respect to a state name",
                wrt.span,
                hint=(did_you_mean(what, [n for n, (k, _) in c.symbols.items() if k == "state"]) if what else None)
                or _GRAD_HINTS.get(kind, "write `grad(U, x)` for a state x"),
            )
        if not self.allow_states:
            return self.err(InvalidSpec, "`grad` of a state is not known here", e.span)
        body = self.check(body_ast)
        if body is BAD:
            return BAD
        if body.shape != ():
            return self.err(
                BadGrad,
                f"`grad` needs a scalar expression, but this has shape {fmt_shape(body.shape)}",
                body_ast.span,
                hint="sum it first: `grad(sum(...), x)`",
            )
        return ir.Grad(body, wrt.id, c.symbols[wrt.id][1])

    def _net_call(self, e: ast.Call, net):
        """``f(x)``, or ``f(x, t, ...)``: several arguments (scalars or
        vectors) are concatenated into the network's input vector."""
        if net is None:
            return BAD
        if e.kwargs or not e.args:
            span = e.kwargs[0].span if e.kwargs else e.span
            return self.err(BadArguments, f"network `{e.func}` takes positional arguments only, at least one", span, hint=f"write `{e.func}(x)` or `{e.func}(x, t)`")
        parts = [self.check(a) for a in e.args]
        if any(p is BAD for p in parts):
            return BAD
        if len(parts) == 1:
            x = parts[0]
            ok = x.shape == (net.in_size,) or (net.in_size == 1 and x.shape == ())
            if not ok:
                size = x.shape[0] if len(x.shape) == 1 else (1 if x.shape == () else None)
                fix = f"declare it with `in = {size}`" if size is not None else "flatten or index the argument"
                return self.err(
                    ShapeMismatch,
                    f"network `{e.func}` takes a vector of size {net.in_size}, got shape {fmt_shape(x.shape)}",
                    e.args[0].span,
                    hint=f"{fix}, or pass {net.in_size} value{'s' if net.in_size != 1 else ''} (several arguments are joined: `{e.func}(x, t)`)",
                )
            return ir.NetCall(net.name, x, (net.out_size,))
        for a, p in zip(e.args, parts):
            if len(p.shape) > 1:
                return self.err(ShapeMismatch, f"an argument of network `{e.func}` must be a scalar or a vector, got shape {fmt_shape(p.shape)}", a.span, hint="flatten it, or index it")
        size = sum(p.shape[0] if p.shape else 1 for p in parts)
        if size != net.in_size:
            shown = " + ".join(str(p.shape[0] if p.shape else 1) for p in parts)
            return self.err(
                ShapeMismatch,
                f"network `{e.func}` takes {net.in_size} inputs, but its arguments give {shown} = {size}",
                e.span,
                hint=f"declare it with `in = {size}`, or pass other arguments",
            )
        x = ir.Op("call:concat", tuple(parts), (size,), (("axis", 0),))
        return ir.NetCall(net.name, x, (net.out_size,))

    def _slice(self, e):
        return self.err(ShapeMismatch, "a slice can only stand inside `[...]`", e.span)

    def _keyword(self, e):
        return self.err(InvalidSpec, "a keyword argument can only stand inside a call", e.span)
