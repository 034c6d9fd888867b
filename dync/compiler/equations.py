"""Equations and noise: Brownian motions (fractional ones too), each
equation's split into drift and noise terms, the noise blocks and their
layout, observations and distributions."""

from __future__ import annotations


import numpy as np

from ..dsl import ast
from ..errors import (
    BadArguments,
    BadDifferential,
    ConstraintViolation,
    DyncError,
    DuplicateEquation,
    EquationForUndeclaredState,
    InvalidSpec,
    MissingDifferential,
    MissingEquation,
    ShapeMismatch,
    Span,
    UnknownDistribution,
    did_you_mean,
)
from . import ir
from .consteval import NotConstant, const_eval
from .library import DISTRIBUTIONS, FOREIGN_LAW_PARAMETERS, FUNCTIONS
from .shapes import BAD, broadcast, fmt_shape, matmul_shape


class EquationChecks:
    """Equations and noise: Brownian motions, the drift and noise terms of each
    equation, noise blocks, observations and distributions (a part of
    :class:`~dync.compiler.check.Checker`)."""

    # ----------------------------------------------------------- brownians

    def _check_brownians(self) -> None:
        for b in self.spec.of_type(ast.Brownian):
            if self._decl_nodes.get(b.name) is not b:
                continue
            shape = self._shape(b.shape, f"Brownian motion `{b.name}`")
            if shape is None and b.shape is not None:
                self.failed.add(b.name)  # the size's error is the one to report, not each use
            shape = shape or ()
            self.brownians[b.name] = b
            self.brownian_shapes[b.name] = shape
            self.symbols[b.name] = ("brownian", shape)
            kind = b.kind
            if kind is None:
                continue
            kname = kind.id if isinstance(kind, ast.Name) else kind.func
            kspan = kind.span if isinstance(kind, ast.Name) else kind.func_span
            if kname == "brownian":
                continue
            if kname != "fractional":
                self.err(
                    InvalidSpec,
                    f"unknown kind of noise `{kname}`",
                    kspan,
                    hint=did_you_mean(kname, ("brownian", "fractional")) or "write `fractional(hurst = H)` or nothing",
                )
                continue
            hurst_expr = None
            if isinstance(kind, ast.Call):
                for kw in kind.kwargs:
                    if kw.name != "hurst":
                        self.err(BadArguments, f"unknown keyword `{kw.name}` for fractional", kw.span, hint=did_you_mean(kw.name, ("hurst",)) or "fractional takes one keyword: `hurst`")
                    else:
                        hurst_expr = kw.value
                if kind.args:
                    hurst_expr = kind.args[0] if hurst_expr is None else hurst_expr
            if hurst_expr is None:
                if b.name not in self.incomplete:  # else its `hurst` key was misspelt
                    self.err(BadArguments, "fractional noise needs a Hurst index", kind.span, hint="write `fractional(hurst = 0.7)`")
                continue
            if shape != ():
                self.err(ShapeMismatch, "a fractional Brownian motion must be scalar", b.name_span, hint="declare one per component")
                continue
            h = self._expr(hurst_expr, allow_states=False)
            if h is BAD:
                continue
            if h.shape != ():
                self.err(ShapeMismatch, f"the Hurst index must be a scalar, not {fmt_shape(h.shape)}", hurst_expr.span)
                continue
            if isinstance(h, ir.Const) and not 0 < float(h.value) < 1:
                self.err(ConstraintViolation, f"the Hurst index must lie in (0, 1), not {float(h.value):g}", hurst_expr.span,
                         hint="H = 0.5 is Brownian motion; H > 0.5 gives positively correlated increments, H < 0.5 negatively")
                continue
            if not isinstance(h, ir.Const):
                # a Hurst index from parameters: check it at their values
                try:
                    value = float(const_eval(hurst_expr, self.consts))
                except (NotConstant, DyncError, TypeError, ValueError):
                    value = None  # a parameter drawn at construction (`~ init`): checked at run time
                if value is not None and not 0 < value < 1:
                    self.err(
                        ConstraintViolation,
                        f"the Hurst index must lie in (0, 1), but here it is {value:g}",
                        hurst_expr.span,
                        hint="give the parameter a value in (0, 1), and the constraint `: interval(0, 1)` so that fitting keeps it there",
                    )
                    continue
            self.fractional[b.name] = h

    # ----------------------------------------------------------- equations

    def _is_differential(self, name: str) -> bool:
        if name == "dt":
            return True
        if not name.startswith("d") or len(name) < 2:
            return False
        if name in self._decl_nodes:
            return False
        # LANGUAGE.md §3 reserves `d` + a state or Brownian name; any other
        # `dNAME` (a param, let or input `W` included) is an implicit noise
        base = name[1:]
        kind = self.symbols.get(base, (None,))[0]
        return kind != "state"

    def _is_bare_differential(self, e) -> bool:
        """``e`` is a differential name, possibly under unary signs (``-dW``)."""
        while isinstance(e, ast.Unary) and e.op in ("-", "+"):
            e = e.operand
        return isinstance(e, ast.Name) and self._is_differential(e.id)

    def _indexed_differential(self, index: ast.Index, term: ast.Term) -> None:
        """Report a term that ends in an indexed differential (`s dB[0]`): a
        differential closes a term whole, so one component of a shared
        Brownian vector is picked with a row vector (`[1, 0] @ dB`), which
        the hint writes out when the index and the size are known."""
        e = index.value
        while isinstance(e, ast.Unary):
            e = e.operand
        name = e.id
        row = "[1, 0] @ " + name
        b = self.brownians.get(name[1:])
        if b is not None and b.shape is not None and len(b.shape) == 1 and len(index.items) == 1:
            try:
                size = int(const_eval(b.shape[0], self.consts))
                at = int(const_eval(index.items[0], self.consts))
            except (NotConstant, DyncError, TypeError, ValueError):
                size = at = -1
            if 0 < size <= 8 and -size <= at < size:
                ones = ["0"] * size
                ones[at % size] = "1"
                row = f"[{', '.join(ones)}] @ {name}"
        self.err(
            MissingDifferential,
            f"this term has no differential: the differential `{name}` is indexed, but a differential "
            "closes a term whole and cannot be indexed",
            term.span,
            hint=f"to drive the state by one component of `{name[1:]}`, pick it with a row vector: `{row}` "
            f"(a matrix `M @ {name}` mixes several components)",
        )

    def _check_equations(self, states: list[ast.State]):
        equations = self.spec.of_type(ast.Equation)
        by_state: dict[str, ast.Equation] = {}
        for eq in equations:
            target = eq.lhs[1:] if eq.lhs.startswith("d") else None
            if target is None and eq.lhs in self.states and eq.lhs not in by_state:
                # `x = -x dt + dW`: the differential is missing on the left;
                # one error, and the equation still counts as x's (no E210)
                self.err(
                    EquationForUndeclaredState,
                    f"an equation starts with the differential of its state: `d{eq.lhs} = ...`, not `{eq.lhs} = ...`",
                    eq.lhs_span,
                    hint=f"write `d{eq.lhs} = ...`",
                )
                by_state[eq.lhs] = eq
                continue
            if target is None or target not in self.states:
                if target in self._duplicated or target in self._rejected or target in self.incomplete or (
                    ast.MISSPELT_STATES in self.incomplete and target not in self._decl_nodes
                ):
                    continue  # the declaration's own error is the one to report
                cands = [f"d{s}" for s in self.states]
                if target is not None and target in self._decl_nodes:
                    kind = type(self._decl_nodes[target]).__name__.lower()
                    self.err(
                        EquationForUndeclaredState,
                        f"`{eq.lhs}` is an equation for `{target}`, which is a {kind}, not a state",
                        eq.lhs_span,
                        hint=f"declare `state {target}` instead",
                    )
                else:
                    self.err(
                        EquationForUndeclaredState,
                        f"equation for an undeclared state `{eq.lhs[1:] if target else eq.lhs}`",
                        eq.lhs_span,
                        hint=did_you_mean(eq.lhs, cands)
                        or (
                            (f"declare it under `states:` as `{target}: 0`" if self.spec.path.endswith((".yaml", ".yml")) else f"declare it with `state {target} = 0`")
                            if target else "an equation reads `dX = ... dt + ... dW` for a declared state X"
                        ),
                    )
                continue
            if target in by_state:
                first = by_state[target].span.line
                self.err(DuplicateEquation, f"state `{target}` has a second equation", eq.lhs_span, hint=f"its first equation is on line {first}; merge the terms into one")
                continue
            by_state[target] = eq
        #: the states that have an equation (with a `target`, none need one)
        self.equation_states = frozenset(by_state)
        needs_equations = not self.spec.of_type(ast.Target)
        for s in states:
            if s.name not in by_state and needs_equations and ast.MISSPELT_EQUATIONS not in self.incomplete:
                self.err(
                    MissingEquation,
                    f"state `{s.name}` has no equation",
                    s.name_span,
                    hint=f"add `d{s.name} = ... dt` (write `d{s.name} = 0 dt` for a constant state)",
                )

        # offsets of declared states, then hidden fractional states
        offset = 0
        layout: dict[str, tuple[int, int]] = {}
        for s in states:
            size = int(np.prod(self.state_shapes[s.name], dtype=int))
            layout[s.name] = (offset, size)
            offset += size

        drift_terms: dict[str, list[ir.IExpr]] = {s.name: [] for s in states}
        noise_terms: dict[str, list[tuple]] = {s.name: [] for s in states}
        used_blocks: dict[str, tuple] = {}  # block name -> (shape, implicit, brownian)
        for s in states:
            eq = by_state.get(s.name)
            if eq is None:
                continue
            shape = self.state_shapes[s.name]
            for term in eq.terms:
                self._check_term(term, s.name, shape, drift_terms, noise_terms, used_blocks)

        # then the hidden states of the fractional motions that drive an
        # equation; an unused one adds nothing (the driver warns about it,
        # as about any unused Brownian motion)
        self.fractional = {b: h for b, h in self.fractional.items() if b in used_blocks}
        num_ou = self._num_ou() if self.fractional else 0
        fbm_states = {b: f"_fbm_{b}" for b in self.fractional}
        for b, sname in fbm_states.items():
            layout[sname] = (offset, num_ou)
            offset += num_ou
        n = offset

        # ---- noise blocks
        implicit = [b for b, (_, imp, _) in used_blocks.items() if imp]
        declared = [b for b in self.brownians if b in used_blocks]
        diagonal_layout = (
            bool(implicit)
            and not declared
            and not self.fractional
            and all(not matrix for terms in noise_terms.values() for (_, _, matrix) in terms)
            and all(len({blk for (_, blk, _) in terms}) <= 1 for terms in noise_terms.values())
        )
        blocks: list[ir.NoiseBlock] = []
        if diagonal_layout:
            for s in states:
                off, size = layout[s.name]
                blk = next((blk for (_, blk, _) in noise_terms[s.name]), f"{s.name}.dW")
                blocks.append(ir.NoiseBlock(blk, self.state_shapes[s.name], off, size, True))
            m = n
        else:
            m = 0
            for blk in implicit:
                shape = used_blocks[blk][0]
                size = int(np.prod(shape, dtype=int))
                blocks.append(ir.NoiseBlock(blk, shape, m, size, True))
                m += size
            for b in self.brownians:
                if b not in used_blocks and b not in self.fractional:
                    continue
                shape = self.brownian_shapes[b]
                size = int(np.prod(shape, dtype=int))
                if b in self.fractional:
                    blocks.append(ir.NoiseBlock(b, (), m, 1, False, "fractional", self.fractional[b], fbm_states[b]))
                else:
                    blocks.append(ir.NoiseBlock(b, shape, m, size, False))
                m += size

        # ---- IR per state
        states_ir: list[ir.StateIR] = []
        drift: dict[str, ir.IExpr | None] = {}
        noise: dict[str, list[ir.NoiseTerm]] = {}
        for s in states:
            off, size = layout[s.name]
            shape = self.state_shapes[s.name]
            value = init = None
            if s.value is not None:
                v = self._state_value(s)
                if v is not BAD:
                    if broadcast(v.shape, shape) != shape:
                        self.err(ShapeMismatch, f"the initial value of `{s.name}` has shape {fmt_shape(v.shape)}, but the state has shape {fmt_shape(shape)}", s.value.span)
                    value = v
            if s.init is not None:
                d = self._dist(s.init, allow_states=False)
                if d is not BAD:
                    if broadcast(d.shape, shape) != shape:
                        dims = ", ".join(str(n) for n in d.shape)
                        self.err(
                            ShapeMismatch,
                            f"the initial distribution of `{s.name}` has shape {fmt_shape(d.shape)}, but the state has shape {fmt_shape(shape)}",
                            s.init.span,
                            hint=f"declare the state's shape: `state {s.name}[{dims}] ~ ...` (a distribution does not give a state its shape)"
                            if tuple(shape) == () else "give the distribution's arguments the state's shape",
                        )
                    init = d
            states_ir.append(ir.StateIR(s.name, shape, off, size, value, init, data=s.data))
            drift[s.name] = sum_terms(drift_terms[s.name], shape)
            noise[s.name] = [ir.NoiseTerm(c, blk, mat) for (c, blk, mat) in noise_terms[s.name]]
        for b, sname in fbm_states.items():
            off, size = layout[sname]
            states_ir.append(ir.StateIR(sname, (num_ou,), off, size, ir.Const(np.zeros(()), ()), None, hidden=True))
            y = ir.Ref("state", sname, (num_ou,))
            gam = ir.Ref("fbm_gamma", b, (num_ou,))
            drift[sname] = ir.Op("neg", (ir.Op("*", (gam, y), (num_ou,)),), (num_ou,))
            noise[sname] = [ir.NoiseTerm(ir.Const(np.ones(num_ou), (num_ou,)), b, False)]
        return states_ir, drift, noise, blocks, n, m

    def _check_term(self, term: ast.Term, state: str, shape, drift_terms, noise_terms, used_blocks) -> None:
        coef, diff, matrix = term.coefficient, term.differential, False
        diff_span = term.differential_span
        sign = term.sign
        if diff is None:
            # a bare differential has coefficient 1, so it may be negated:
            # `dx = -dW`, `dx = -dt + dW`
            while isinstance(coef, ast.Unary) and coef.op in ("-", "+") and self._is_bare_differential(coef.operand):
                sign = -sign if coef.op == "-" else sign
                coef = coef.operand
            if isinstance(coef, ast.Name) and self._is_differential(coef.id):
                diff, diff_span, coef = coef.id, coef.span, None
            elif (
                isinstance(coef, ast.Binary)
                and coef.op in ("*", "@")
                and isinstance(coef.right, ast.Name)
                and self._is_differential(coef.right.id)
            ):
                diff, diff_span, matrix, coef = coef.right.id, coef.right.span, coef.op == "@", coef.left
            else:
                last = coef.right if isinstance(coef, ast.Binary) and coef.op in ("*", "@") else coef
                if isinstance(last, ast.Name) and last.id.startswith("d") and self.symbols.get(last.id[1:], ("",))[0] == "state":
                    # `dx = -x dt + dy` with `y` a state: a differential, but not one that closes a term
                    kind = self.symbols[last.id[1:]][0]
                    self.err(
                        MissingDifferential,
                        f"this term has no differential: `{last.id}` is the differential of {kind} `{last.id[1:]}`, "
                        "and only `dt` and Brownian differentials close a term",
                        term.span,
                        hint=f"for a noise, name its Brownian motion differently from the {kind} (`dW`, `dB`)",
                    )
                    return
                if isinstance(last, ast.Index) and self._is_bare_differential(last.value):
                    self._indexed_differential(last, term)
                    return
                self.err(
                    MissingDifferential,
                    "this term has no differential",
                    term.span,
                    hint="end every term with `dt` or a noise `dW`; a sum needs parentheses: `(mu - x) dt`",
                )
                return
        if diff[1:] in self.incomplete or (diff[1:] in self.brownians and diff[1:] in self.failed):
            return  # a Brownian motion that lost a misspelt key or its size: that is the error
        if diff != "dt" and not self._is_differential(diff):
            func = coef.operand if isinstance(coef, ast.Unary) else coef
            if isinstance(func, ast.Name) and func.id in FUNCTIONS and func.id not in self.symbols:
                # `dx = -log x + 1 dt`: the function is read as the term's coefficient and its argument as
                # the term's differential
                self.err(
                    BadDifferential,
                    f"`{func.id} {diff}`: a function's argument goes in parentheses",
                    Span(func.span.path, func.span.line, func.span.column, diff_span.end_line, diff_span.end_column,
                         source=func.span.source),  # fmt: skip
                    hint=f"write `{func.id}({diff})`, and end the term with `dt` or `dW`: "
                    f"`{'-' if (sign < 0) != (isinstance(coef, ast.Unary) and coef.op == '-') else ''}{func.id}({diff}) * dt`",
                )
                return
            if diff.startswith("d") and diff[1:] in self.symbols:
                kind = self.symbols[diff[1:]][0]
                msg = f"`{diff}` is the differential of {kind} `{diff[1:]}`; only `dt` and Brownian differentials may close a term"
            elif diff in self._decl_nodes:
                msg = f"`{diff}` is not a differential"
            else:
                msg = f"`{diff}` is not a differential"
            self.err(BadDifferential, msg, diff_span, hint="a term ends in `dt` or `dW` (or `dB` for a declared `brownian B`); is an operator missing?")
            return
        c = ir.Const(np.asarray(1.0), ()) if coef is None else self._expr(coef, allow_states=True)
        if c is BAD:
            return
        if sign < 0:
            c = ir.Op("neg", (c,), c.shape)
        if diff == "dt":
            if matrix:
                self.err(BadDifferential, "`@ dt` has no meaning: `dt` is a scalar", diff_span, hint="write `EXPR dt`")
                return
            if broadcast(c.shape, shape) != shape:
                self.err(
                    ShapeMismatch,
                    f"this drift term has shape {fmt_shape(c.shape)}, but state `{state}` has shape {fmt_shape(shape)}",
                    term.span,
                    hint=_shape_fix_hint(c.shape, tuple(shape), f"state `{state}`"),
                )
                return
            drift_terms[state].append(c)
            return
        base = diff[1:]
        if base in self.brownians:
            bshape = self.brownian_shapes[base]
            block = base
            implicit = False
        else:
            bshape = shape
            block = f"{state}.{diff}"
            implicit = True
        if base in self.fractional:
            if matrix:
                self.err(ShapeMismatch, "a fractional Brownian motion is scalar: use `EXPR dB`, not `@`", diff_span)
                return
            if broadcast(c.shape, shape) != shape:
                self.err(ShapeMismatch, f"this noise term has shape {fmt_shape(c.shape)}, but state `{state}` has shape {fmt_shape(shape)}", term.span,
                         hint=_shape_fix_hint(c.shape, tuple(shape), f"state `{state}`"))  # fmt: skip
                return
            used_blocks[block] = ((), False, base)
            drift_terms[state].append(ir.Op("neg", (ir.Op("*", (c, ir.FbmDrift(base)), c.shape),), c.shape))
            scale = ir.Ref("fbm_scale", base, ())
            noise_terms[state].append((ir.Op("*", (c, scale), c.shape), block, False))
            return
        if matrix:
            out = matmul_shape(c.shape, bshape)
            if out != shape:
                self._matrix_noise_mismatch(c.shape, base, tuple(bshape), state, tuple(shape), out, term.span, implicit)
                return
        elif (inner := broadcast(c.shape, bshape)) is None or broadcast(inner, shape) != tuple(shape):
            self.err(
                ShapeMismatch,
                f"this noise term's coefficient has shape {fmt_shape(c.shape)} and `d{base}` has shape {fmt_shape(bshape)}, "
                f"which together do not fit state `{state}` of shape {fmt_shape(shape)}",
                term.span,
                hint=f"use `@ d{base}` for a matrix, or declare `brownian {base}` with a fitting shape" if not implicit else None,
            )
            return
        used_blocks[block] = (bshape, implicit, base)
        noise_terms[state].append((c, block, matrix))

    def _matrix_noise_mismatch(self, cshape, base: str, bshape, state: str, shape, out, span, implicit: bool = False) -> None:
        """E230 for a matrix noise term ``L @ dB`` whose shapes do not fit."""
        if not cshape or not bshape:
            scalars = [w for w, s in (("the coefficient", cshape), (f"`d{base}`", bshape)) if not s]
            message = (
                f"`@ d{base}` is a matrix product, but {' and '.join(scalars)} "
                + ("are scalars" if len(scalars) == 2 else "is a scalar")
            )
            hint = f"write `EXPR d{base}` without `@` for elementwise noise"
            if not bshape and cshape:
                hint += f", or declare `brownian {base}[M]` for M driving noises"
            self.err(ShapeMismatch, message, span, hint=hint)
            return
        result = "the inner sizes do not match" if out is None else f"the product has shape {fmt_shape(out)}"
        message = (
            f"a coefficient of shape {fmt_shape(cshape)} cannot multiply `d{base}` of shape {fmt_shape(bshape)} "
            f"with `@` for state `{state}` of shape {fmt_shape(shape)}: {result}"
        )
        hint = None
        if len(bshape) == 1:
            need = tuple(shape) + bshape
            hint = f"the coefficient needs shape {fmt_shape(need)}"
            if implicit and len(cshape) == 2 and len(shape) == 1 and cshape[0] == shape[0]:
                # `L @ dW` with L of shape (n, m): the user meant m driving noises
                hint += (
                    f"; an undeclared `d{base}` is shaped like the state, so for {cshape[1]} driving noises "
                    f"declare `brownian {base}[{cshape[1]}]`"
                )
        self.err(ShapeMismatch, message, span, hint=hint)

    # -------------------------------------------------------- observations

    def _check_observations(self) -> list[ir.ObservationIR]:
        out = []
        for o in self.spec.of_type(ast.Observe):
            if self._decl_nodes.get(o.name) is not o:
                continue
            shape = self._shape(o.shape, f"observation `{o.name}`")
            d = self._dist(o.dist, allow_states=True)
            if d is BAD:
                continue
            if shape is None:
                shape = d.shape
            elif broadcast(d.shape, shape) != tuple(shape):
                self.err(
                    ShapeMismatch,
                    f"the distribution of `{o.name}` has shape {fmt_shape(d.shape)}, but the observation is declared {fmt_shape(shape)}",
                    o.dist.span,
                    hint=(f"declare `observe {o.name}[{', '.join(map(str, d.shape))}]`, or " if d.shape else "")
                    + "index the state in the law (`x[0:2]`) to give it the declared shape",
                )
                continue
            out.append(ir.ObservationIR(o.name, tuple(shape), d))
        return out

    # ------------------------------------------------------- distributions

    def _dist(self, call: ast.Call, allow_states: bool, known: dict[str, np.ndarray] | None = None, **hints):
        """The checked law ``call``; ``hints`` (``time_hint``, ``state_hint``)
        say why a time or a state may not stand in its arguments.

        An argument known at compile time (numbers, dims, consts, the values
        of parameters) is checked against what the law allows (a positive
        scale, a probability in [0, 1], ``low < high`` for ``Uniform``);
        ``known``, when given, receives those values by parameter name.
        """
        sig = DISTRIBUTIONS.get(call.func)
        if sig is None:
            if call.func in FUNCTIONS:
                return self.err(UnknownDistribution, f"`{call.func}` is a function, not a distribution", call.func_span, hint=did_you_mean(call.func, DISTRIBUTIONS))
            return self.err(
                UnknownDistribution,
                f"unknown distribution `{call.func}`",
                call.func_span,
                hint=did_you_mean(call.func, DISTRIBUTIONS) or f"known: {', '.join(DISTRIBUTIONS)}",
            )
        options = sig.alternatives or (sig.params,)
        kw_names = [k.name for k in call.kwargs]
        chosen = None
        for params in options:
            if len(call.args) <= len(params) and all(k in params for k in kw_names):
                chosen = params
                break
        if chosen is None:
            allp = sorted({p for ps in options for p in ps})
            bad_kw = [k for k in call.kwargs if all(k.name not in ps for ps in options)]
            if bad_kw:
                return self.err(BadArguments, f"`{call.func}` has no parameter `{bad_kw[0].name}`", bad_kw[0].span, hint=FOREIGN_LAW_PARAMETERS.get((call.func, bad_kw[0].name)) or did_you_mean(bad_kw[0].name, allp) or f"its parameters are {', '.join(allp)}")
            if len(options) > 1 and len(call.args) <= max(len(ps) for ps in options):
                # each keyword is some form's, but no form has them all: `Bernoulli(logits = x, p = 0.3)`
                forms = " or ".join(f"`{call.func}({', '.join(ps)})`" for ps in options)
                return self.err(
                    BadArguments,
                    f"`{call.func}` has the forms {forms}, and these arguments mix them",
                    call.span,
                    hint="give the arguments of one form",
                )
            return self.err(
                UnknownDistribution,
                f"`{call.func}` takes {len(sig.params)} argument{'s' if len(sig.params) != 1 else ''} ({', '.join(sig.params)}), got {len(call.args)}",
                call.span,
                hint=f"write `{call.func}({', '.join(sig.params)})`",
            )
        bound: dict[str, ast.Expr] = dict(zip(chosen, call.args))
        for k in call.kwargs:
            if k.name in bound:
                return self.err(BadArguments, f"`{k.name}` is given twice", k.span)
            bound[k.name] = k.value
        missing = [p for p in chosen if p not in bound]
        if missing:
            return self.err(
                UnknownDistribution,
                f"`{call.func}` is missing its `{missing[0]}`",
                call.span,
                hint=f"write `{call.func}({', '.join(chosen)})`",
            )
        args = []
        values: dict[str, np.ndarray] = {}
        shape: tuple = ()
        for p in chosen:
            v = self._expr(bound[p], allow_states=allow_states, **hints)
            if v is BAD:
                return BAD
            new = broadcast(shape, v.shape)
            if new is None:
                return self.err(ShapeMismatch, f"the arguments of `{call.func}` have shapes that do not broadcast: {fmt_shape(shape)} and {fmt_shape(v.shape)}", bound[p].span)
            shape = new
            args.append((p, v))
            value = self._constant_arg(bound[p])
            if value is not None:
                if self._bad_law_arg(call.func, p, value, bound[p]):
                    return BAD
                values[p] = value
        if call.func == "Uniform" and self._empty_uniform(call, values):
            return BAD
        if known is not None:
            known.update(values)
        return ir.DistIR(call.func, tuple(args), shape)

    def _constant_arg(self, expr: ast.Expr) -> np.ndarray | None:
        """The value of a law's argument known at compile time, or ``None``
        (an argument that reads a state, the time or a drawn parameter is
        checked when the model runs)."""
        try:
            return np.asarray(const_eval(expr, self.consts), np.float64)
        except (NotConstant, DyncError):
            return None

    def _bad_law_arg(self, law: str, name: str, value: np.ndarray, expr: ast.Expr) -> bool:
        """Report a constant argument the law does not allow: one that is not
        finite, a scale that is not positive (`Normal(x, -0.5)`), a negative
        rate or count, a probability outside [0, 1]."""
        rule = _ARG_RULES.get((law, name)) or _ARG_RULES.get(("*", name))
        finite = np.isfinite(value)
        if not np.all(finite):
            bad = _first(value, ~finite)
            self.err(BadArguments, f"the `{name}` of `{law}` must be a finite number, got {bad:g}", expr.span,
                     hint="1/0 and log(0) are infinite, and a literal beyond ±1.8e308 overflows: give a finite value")  # fmt: skip
            return True
        if rule is None:
            return False
        test, needs, hint = rule
        ok = test(value)
        if np.all(ok):
            return False
        bad = _first(value, ~ok)
        self.err(BadArguments, f"the `{name}` of `{law}` must be {needs}, got {bad:g}", expr.span, hint=hint.format(law=law, name=name))
        return True

    def _empty_uniform(self, call: ast.Call, values: dict[str, np.ndarray]) -> bool:
        """Report a ``Uniform(low, high)`` whose bounds are known (``values``)
        and not ordered (`Uniform(1, 0)`): its density is nowhere defined."""
        low, high = values.get("low"), values.get("high")
        if low is None or high is None:
            return False
        try:
            low, high = np.broadcast_arrays(low, high)
        except ValueError:  # pragma: no cover - the shapes were checked above
            return False
        bad = ~(low < high)
        if not np.any(bad):
            return False
        lo, hi = _first(low, bad), _first(high, bad)
        where = "" if low.shape == () else " (in some component)"
        self.err(
            BadArguments,
            f"`{call.func}(low, high)` needs `low` below `high`, but here low = {lo:g} and high = {hi:g}{where}: "
            "the interval is empty",
            call.span,
            hint="swap the bounds" if lo > hi else "give the interval a width: `low < high`",
        )
        return True


def _first(value: np.ndarray, mask: np.ndarray) -> float:
    """The first element of ``value`` where ``mask`` holds, as a float."""
    return float(value[mask].flat[0]) if value.ndim else float(value)


#: what a law allows of its constant arguments, by ``(law, argument)``
#: (``"*"``: any law): ``(test, what it must be, hint)``
_ARG_RULES: dict[tuple[str, str], tuple] = {
    **{("*", n): (lambda v: v > 0, "positive", "give `{law}` a positive `{name}`")
       for n in ("scale", "rate", "df", "a", "b", "shape", "concentration")},  # fmt: skip
    # a Poisson rate or a negative binomial mean may be 0 (every draw is 0)
    ("Poisson", "rate"): (lambda v: v >= 0, "at least 0", "give `{law}` a `{name}` >= 0"),
    ("NegativeBinomial", "mean"): (lambda v: v >= 0, "at least 0", "give `{law}` a `{name}` >= 0"),
    ("Binomial", "n"): (lambda v: (v >= 0) & (v == np.floor(v)), "a whole number of at least 0",
                        "`n` counts trials: 0, 1, 2, ..."),  # fmt: skip
    ("Bernoulli", "p"): (lambda v: (v >= 0) & (v <= 1), "a probability in [0, 1]",
                         "a value on the log-odds scale is written `Bernoulli(logits = ...)`"),  # fmt: skip
    ("Binomial", "p"): (lambda v: (v >= 0) & (v <= 1), "a probability in [0, 1]", "give `{law}` a `{name}` between 0 and 1"),
}


def sum_terms(terms: list[ir.IExpr], shape) -> ir.IExpr | None:
    if not terms:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = ir.Op("+", (total, t), broadcast(total.shape, t.shape))
    return total


def _shape_fix_hint(got: tuple, want: tuple, what: str) -> str:
    """How to make a term of shape ``got`` fit ``want``: index a length-1
    vector (an `out = 1` net's output), sum, or reshape the declaration."""
    if got == (1,) and want == ():
        return "it is a vector of one element (an `out = 1` network gives one): take it with `[0]`, like `g(y)[0]`"
    if want == () and len(got) == 1:
        return f"a scalar {what} takes a scalar: index the term (`[0]`) or reduce it (`sum(...)`)"
    return f"give the term the shape of {what} (or a shape that broadcasts to it)"
