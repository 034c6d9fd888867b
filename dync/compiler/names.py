"""Names and declarations: resolution, duplicates and reserved words, dims,
parameters and their constraints, inputs, states, nets and lets.

Stage 2 of the pipeline (:func:`~dync.compiler.check.resolve_names`) runs the
first two checks here; the rest run in :func:`~dync.compiler.check.check_model`.
"""

from __future__ import annotations

import dataclasses
import keyword
import math

import numpy as np

from ..dsl.vocabulary import OPERATOR_WORDS
from ..dsl.compile_time import compile_time_uses
from ..info.constraints import AbstractConstraint, CONSTRAINTS, Real, make_constraint
from ..dsl import ast
from ..errors import (
    BadArguments,
    BadConstraint,
    BadDim,
    BadValue,
    ConstraintViolation,
    DuplicateDeclaration,
    DyncError,
    InvalidSpec,
    ReservedName,
    ShapeMismatch,
    Span,
    UndefinedName,
    UnknownFunction,
    did_you_mean,
)
from . import ir
from ..dsl.limits import MAX_RANK, MAX_SIZE
from .consteval import Budget, NotConstant, TooLarge, check_constant_size, const_eval, exact_int, known_values
from .library import ACTIVATIONS, CALCULI, DISTRIBUTIONS, FUNCTIONS, NET_KEYWORDS, RESERVED
from .shapes import BAD, Bad, broadcast, fmt_shape
from .support import support_constraint, value_outside_prior
from ..dsl.format import format_expr
from ..dsl.ast import free_names
from .expressions import boolean_word_hint


_MODEL_ATTRS = frozenset(
    "info drift noise diffusion diffusion_diagonal initial_state constrained_params log_prior "
    "observation_log_prob observation_sample ito_correction ito_drift stratonovich_drift unpack pack "
    "initial_moments observation_moments "
    "langevin_parts fbm_horizon fbm_high with_horizon "
    "target_log_density score expectation_values expectation_rhs stationary_law".split()
)


#: the hint of every size past :data:`~dync.dsl.limits.MAX_SIZE`
_SIZE_HINT = f"sizes are at most 2^40 = {MAX_SIZE:,} numbers (dync.dsl.limits.MAX_SIZE)"


def _is_whole(v) -> bool:
    """Whether ``v`` (an exact ``int`` or a float) is a finite whole number."""
    return isinstance(v, int) or (math.isfinite(v) and float(v).is_integer())


def _shown_size(n: int) -> str:
    """A size for a message: the digits, or their count when there are many."""
    text = str(n)
    return text if len(text) <= 40 else f"a number of {len(text)} digits"



def _within(inner, outer) -> bool:
    """Whether span ``inner`` lies inside span ``outer`` (same file)."""
    if inner is None or outer is None:
        return False
    end = (outer.end_line or outer.line, outer.end_column or outer.column)
    return (outer.line, outer.column) <= (inner.line, inner.column) < end

class DeclarationChecks:
    """The declarations of a spec: names, dims, params and their constraints,
    inputs, states, nets and lets (a part of :class:`~dync.compiler.check.Checker`)."""

    # -------------------------------------------------------- declarations

    def _collect_declarations(self) -> None:
        self._decl_nodes: dict[str, object] = {}
        #: names declared more than once (reported once; later checks stay quiet)
        self._duplicated: set[str] = set()
        #: names refused outright (operator words): their uses stay quiet
        self._rejected: set[str] = set()
        models = self.spec.of_type(ast.ModelName)
        if not models:
            self.err(
                InvalidSpec,
                "the spec has no model name",
                Span(self.spec.path, 1, 1, source=self.spec.source),
                hint="start the spec with `model NAME` (YAML: `model: NAME`)",
            )
        for extra in models[1:]:
            self.err(DuplicateDeclaration, "the model is named twice", extra.span, hint="keep one `model` line")
        for node in self.spec.statements:
            if isinstance(node, (ast.ModelName, ast.Calculus, ast.Equation, ast.Expect, ast.Target, ast.Score)):
                continue
            name = node.name
            span = node.name_span
            if name in RESERVED:
                self.err(ReservedName, f"`{name}` is reserved and cannot be declared", span, hint="choose another name")
                continue
            if name in OPERATOR_WORDS:
                self.err(
                    ReservedName,
                    f"`{name}` is an operator of the spec language and cannot be declared",
                    span,
                    hint=f"choose another name: inside expressions `{name}` is always the operator",
                )
                self._rejected.add(name)
                continue
            # a Python keyword (`lambda`, `in`) is a valid name: generated code
            # prefixes every local and renames clashing attributes (_attr_names)
            if name in self._decl_nodes:
                self.err(DuplicateDeclaration, f"`{name}` is declared twice", span, hint=self._declared_span(name))
                self._duplicated.add(name)
                continue
            self._decl_nodes[name] = node
        self.failed |= self._rejected
        self._attrs = self._attr_names()
        calc = self.spec.of_type(ast.Calculus)
        for extra in calc[1:]:
            self.err(DuplicateDeclaration, "the calculus is given twice", extra.span, hint="keep one `calculus` line")
        # a declared name that reads like the differential of a state or Brownian motion
        diffs = {
            f"d{n.name}": n.name for n in self.spec.statements if isinstance(n, (ast.State, ast.Brownian))
        }
        for name, node in self._decl_nodes.items():
            if name in diffs:
                self.err(
                    ReservedName,
                    f"`{name}` clashes with the differential of `{diffs[name]}`",
                    node.name_span,
                    hint=f"inside equations `{name}` means d({diffs[name]}); rename this declaration",
                )

    def _attr_names(self) -> dict[str, str]:
        """The attribute of the generated module for each parameter and network.

        A name keeps itself as its attribute unless it is a Python keyword,
        an attribute of the model class or starts with ``_``; such a name gets
        ``NAME_`` (``lambda`` → ``lambda_``; ``_a`` → ``field_a_``), with more
        ``_`` until it clashes with no other attribute (``param lambda`` and
        ``param lambda_`` give ``lambda__`` and ``lambda_``).
        """
        fields = [n for n, node in self._decl_nodes.items() if isinstance(node, (ast.Param, ast.Net))]

        def plain(n: str) -> bool:
            return not (keyword.iskeyword(n) or n in _MODEL_ATTRS or n.startswith("_"))

        taken = set(_MODEL_ATTRS) | {n for n in fields if plain(n)}
        out: dict[str, str] = {}
        for n in fields:
            if plain(n):
                out[n] = n
                continue
            attr = f"field{n}_" if n.startswith("_") else f"{n}_"
            while attr in taken or keyword.iskeyword(attr):
                attr += "_"
            taken.add(attr)
            out[n] = attr
        return out

    def _model_name(self) -> str:
        models = self.spec.of_type(ast.ModelName)
        return models[0].name if models else "model"

    def _calculus(self) -> str:
        calc = self.spec.of_type(ast.Calculus)
        return calc[0].value if calc else "ito"

    # ---------------------------------------------------------------- dims

    def _check_dims(self) -> dict[str, int]:
        dims: dict[str, int] = {}
        for d in self.spec.of_type(ast.Dim):
            if self._decl_nodes.get(d.name) is not d:
                continue
            span = getattr(d.value, "span", d.span)
            if d.name in self.overrides:
                value = self.overrides[d.name]
            else:
                value = self._size_value(d.value, f"dim `{d.name}`", BadDim, dims)
                if value is None or value is BAD:
                    self.failed.add(d.name)
                    continue
            if not _is_whole(value) or value < 1:
                shown = int(value) if _is_whole(value) else value
                self.err(
                    BadDim,
                    f"dim `{d.name}` must be a positive integer, not {shown}",
                    span,
                    hint="sizes are whole numbers of at least 1",
                )
                self.failed.add(d.name)
                continue
            if int(value) > MAX_SIZE:
                self.err(BadDim, f"dim `{d.name}` = {_shown_size(int(value))} is too large", span, hint=_SIZE_HINT)
                self.failed.add(d.name)
                continue
            dims[d.name] = int(value)
            self.consts[d.name] = np.asarray(float(value))
            self.symbols[d.name] = ("dim", ())
        for c in self.spec.of_type(ast.Calculus):
            if c.value not in CALCULI:
                self.err(
                    BadValue,  # E261, as YAML's `calculus: Ito`
                    f"unknown calculus `{c.value}`",
                    c.span,
                    hint=did_you_mean(c.value, CALCULI) or "write `ito` or `stratonovich`",
                )
        return dims

    def _const(self, expr, what: str, cls=InvalidSpec):
        try:
            return const_eval(expr, self.consts, self.budget)
        except NotConstant as nc:
            if nc.name in self.failed:
                return BAD
            node = self._decl_nodes.get(nc.name)
            if isinstance(node, (ast.Dim, ast.Param)) and nc.name not in self.consts and _within(nc.span, node.span):
                kind = "dim" if isinstance(node, ast.Dim) else ("constant" if node.fixed else "parameter")
                return self.err(
                    cls,
                    f"{what} uses {kind} `{nc.name}` itself",
                    nc.span,
                    hint=f"a {kind}'s own declaration cannot read it: use numbers, dims and parameters declared above",
                )
            if isinstance(node, (ast.Dim, ast.Param)) and nc.name not in self.consts and (
                node.span.line, node.span.column) > (nc.span.line, nc.span.column):  # fmt: skip
                kind = "dim" if isinstance(node, ast.Dim) else ("constant" if node.fixed else "parameter")
                return self.err(
                    cls,
                    f"{what} uses {kind} `{nc.name}`, which is declared below it (line {node.span.line})",
                    nc.span,
                    hint="order matters for dims and values: declare what a value uses above it",
                )
            if nc.name in FUNCTIONS or nc.name in self._decl_nodes or nc.name == "t":
                return self.err(
                    cls,
                    f"{what} must be a constant, but `{nc.name}`{' (the time)' if nc.name == 't' else ''} is known only at run time",
                    nc.span,
                    hint="use numbers, dims and parameters declared above",
                )
            hint = boolean_word_hint(nc.name) or did_you_mean(nc.name, list(self.consts) + ["pi"])
            if hint is None and cls is BadDim:
                hint = "a dim is a whole number, or an expression of the dims declared before it"
            return self.err(UndefinedName, f"undefined name `{nc.name}`", nc.span, hint=hint)
        except DyncError as e:
            self.errors.append(e)
            return BAD

    @property
    def budget(self) -> Budget:
        """The work and storage spent on this spec's constants (one per check)."""
        if not hasattr(self, "_budget"):
            self._budget = Budget()
        return self._budget

    def _size_value(self, expr, what: str, cls, ints):
        """The value of a size expression: an exact ``int`` when it is integer
        arithmetic (so ``2^64 + 1`` is not rounded through a float), else the
        float the constant evaluates to; ``BAD`` after an error."""
        try:
            exact = exact_int(expr, ints)
        except TooLarge:
            return self.err(cls, f"{what} is far too large", expr.span, hint=_SIZE_HINT)
        if exact is not None:
            return exact
        v = self._const(expr, what, cls)
        if v is BAD or v is None:
            return BAD
        v = np.asarray(v)
        if v.shape != ():
            return self.err(cls, f"{what} must be a single whole number, not an array of shape {fmt_shape(v.shape)}", expr.span,
                            hint="a size is a whole number of at least 1")
        return float(v)

    def _shape(self, shape_exprs, what: str) -> tuple | None:
        if shape_exprs is None:
            return None
        if len(shape_exprs) > MAX_RANK:
            self.err(ShapeMismatch, f"the shape of {what} has {len(shape_exprs)} axes; arrays have at most {MAX_RANK}",
                     shape_exprs[MAX_RANK].span, hint="use fewer axes")
            return None
        out = []
        for e in shape_exprs:
            v = self._size_value(e, f"a size in the shape of {what}", ShapeMismatch, self.dims or {})
            if v is BAD or v is None:
                return None
            if not _is_whole(v) or v < 1:
                self.err(ShapeMismatch, f"a size in the shape of {what} must be a positive integer", e.span)
                return None
            if int(v) > MAX_SIZE:
                self.err(ShapeMismatch, f"a size in the shape of {what}, {_shown_size(int(v))}, is too large", e.span, hint=_SIZE_HINT)
                return None
            out.append(int(v))
        total = math.prod(out)
        if total > MAX_SIZE:
            self.err(ShapeMismatch, f"{what} would hold {_shown_size(total)} numbers, too many", shape_exprs[0].span, hint=_SIZE_HINT)
            return None
        return tuple(out)

    # -------------------------------------------------------------- params

    def _constraint(self, node) -> AbstractConstraint | Bad:
        if node is None:
            return Real()
        if isinstance(node, ast.Name):
            name, args = node.id, ()
            span = node.span
        else:
            name, args, span = node.func, node.args, node.func_span
            if node.kwargs:
                return self.err(BadConstraint, f"constraint `{name}` takes no keyword arguments", node.kwargs[0].span)
        if name not in CONSTRAINTS:
            return self.err(
                BadConstraint,
                f"unknown constraint `{name}`",
                span,
                hint=did_you_mean(name, CONSTRAINTS) or "use positive, negative, unit, interval(lo, hi), lower(lo) or upper(hi)",
            )
        need = CONSTRAINTS[name].num_bounds
        if len(args) != need:
            return self.err(
                BadConstraint,
                f"constraint `{name}` takes {need} bound{'s' if need != 1 else ''}, got {len(args)}",
                getattr(node, "span", span),
                hint={0: f"write `{name}`", 1: f"write `{name}(VALUE)`", 2: f"write `{name}(LO, HI)`"}[need],
            )
        bounds = []
        for a in args:
            v = self._const(a, "a constraint bound", BadConstraint)
            if v is BAD or v is None:
                return BAD
            if np.asarray(v).shape != ():
                return self.err(BadConstraint, "constraint bounds must be scalars", a.span)
            bounds.append(float(v))
        if name == "interval" and not bounds[0] < bounds[1]:
            return self.err(
                BadConstraint,
                f"interval({bounds[0]:g}, {bounds[1]:g}) is empty: the lower bound must be below the upper",
                node.span,
                hint="swap the bounds",
            )
        return make_constraint(name, *bounds)

    @staticmethod
    def _contains(constraint: AbstractConstraint, value: np.ndarray) -> bool:
        return bool(np.all(constraint.contains(value)))

    def _check_param(self, p: ast.Param) -> tuple[ir.ParamIR, bool] | None:
        """One parameter without its prior (checked once all are declared), and
        whether its value was written; ``None`` after reporting its error."""
        what = f"{'constant' if p.fixed else 'parameter'} `{p.name}`"
        shape = self._shape(p.shape, what)
        if shape is None and p.shape is not None:
            self.failed.add(p.name)  # as for a state: the size's error is the one to report
        constraint = self._constraint(p.constraint)
        value = None
        if p.value is not None:
            v = self._const(p.value, f"the value of {what}")
            if v is BAD or v is None:
                self.symbols[p.name] = ("param", shape if shape is not None else ())
                self.failed.add(p.name)
                return None
            value = np.asarray(v, dtype=float)
            if shape is None:
                shape = value.shape
            elif broadcast(value.shape, shape) != tuple(shape):
                self.err(
                    ShapeMismatch,
                    f"the value of {what} has shape {fmt_shape(value.shape)}, "
                    f"which does not fit its declared shape {fmt_shape(shape)}",
                    p.value.span,
                    hint="give a value of the declared shape, or a scalar (it fills every entry)",
                )
                return None
            if not self._constant_fits(shape, p.value.span, f"the value of {what}", filled=value.size == 1):
                return None
            value = np.broadcast_to(value, shape).copy()
        shape = tuple(shape) if shape is not None else ()
        self.symbols[p.name] = ("param", shape)
        if constraint is BAD:
            return None
        if value is not None and not np.all(np.isfinite(value)):
            bad = float(value[~np.isfinite(value)].flat[0])
            self.err(
                ConstraintViolation,
                f"{what} = {bad:g}: the value is not a finite number",
                p.value.span,
                hint="a literal beyond ±1.8e308 overflows, and 1/0 or log(0) is infinite; give a finite value",
            )
            return None
        if value is not None and not self._contains(constraint, value):
            bad = value if value.shape == () else value[~np.vectorize(lambda x: self._contains(constraint, x))(value)]
            shown = f"{float(bad):g}" if np.asarray(bad).shape == () else f"{float(np.asarray(bad).flat[0]):g}"
            self.err(
                ConstraintViolation,
                f"{what} = {shown} breaks its constraint `{constraint.describe()}`",
                p.value.span,
                hint=f"give a value that is {constraint.explain()}",
            )
            return None
        init = None
        if p.init is not None:
            # the draw is made before the parameter exists: it cannot read it
            own = self.symbols.pop(p.name)
            self._drawing = p.name
            init = self._dist(p.init, allow_states=False)
            self._drawing = None
            self.symbols[p.name] = own
        if init is BAD:
            return None
        if init is not None and not self._init_fits(init, constraint):
            self._init_outside(what, init, constraint, p.init)
            return None
        given = value is not None
        if value is None and init is None:
            if not self._constant_fits(shape, p.span, f"the default value of {what}", filled=True):
                return None
            value = np.full(shape, constraint.default_value())
        if value is not None:
            self.consts[p.name] = value
        return ir.ParamIR(p.name, self._attrs[p.name], shape, constraint, value, init, None, p.fixed), given

    def _check_params(self) -> list[ir.ParamIR]:
        out: list[ir.ParamIR] = []
        static_uses = compile_time_uses(self.spec)
        with_prior: list[tuple[int, ast.Param, str, AbstractConstraint, bool]] = []
        for p in self.spec.of_type(ast.Param):
            if self._decl_nodes.get(p.name) is not p:
                continue
            checked = self._check_param(p)
            if checked is None:
                # its own error is the one to report: a value that reads it is not another
                self.failed.add(p.name)
                continue
            param, given = checked
            read = static_uses.get(p.name)
            if read is not None:  # read when the spec compiles (an index, a shape, a static argument)
                param = dataclasses.replace(param, compile_time=f"{read[1]} (line {read[0].line})")
            out.append(param)
            if p.prior is not None:
                with_prior.append((len(out) - 1, p, f"{'constant' if p.fixed else 'parameter'} `{p.name}`", param.constraint, given))
        # Priors are order-free (hierarchical priors may name a parameter
        # declared below): they are densities evaluated with every parameter
        # known, so they are checked once all parameters are declared.
        dropped: set[int] = set()
        for i, p, what, constraint, given in with_prior:
            prior_args: dict[str, np.ndarray] = {}
            prior = self._dist(p.prior, allow_states=False, known=prior_args)
            # a written value outside the prior is an error; a default one is
            # warning W109 (the spec is valid, and simulates; fitting cannot start)
            if prior is BAD or (given and self._outside_prior(p, what, out[i].value, constraint, prior_args)):
                dropped.add(i)
                continue
            out[i] = dataclasses.replace(out[i], prior=prior)
        return [q for i, q in enumerate(out) if i not in dropped]

    def _outside_prior(
        self, p: ast.Param, what: str, value: np.ndarray, constraint: AbstractConstraint, args: dict[str, np.ndarray]
    ) -> bool:
        """Report a parameter whose written value lies outside the support
        of its prior (`param a = 5 ~ Uniform(0, 1)`): its log-prior is
        $-\\infty$ there, and fitting fails at its first step (a default
        value there is warning W109, :mod:`.analysis`)."""
        outside = value_outside_prior(p.prior.func, args, value)
        if outside is None:
            return False
        shown, words = outside
        fix = support_constraint(p.prior)
        if fix is not None and constraint.kind != fix.split("(")[0]:
            written = f"`constraint: {fix}`" if self.spec.path.endswith((".yaml", ".yml")) else f"the constraint `: {fix}`"
            instead = "" if p.constraint is None else f" (instead of `{constraint.describe()}`)"
            hint = f"give a value inside the prior's support, and {written}{instead} so that fitting keeps it there"
        else:
            hint = "give a value inside the prior's support, or a prior whose support holds this value"
        self.err(
            ConstraintViolation,
            f"{what} = {shown} lies outside the support of its prior `{format_expr(p.prior)}` ({words}): "
            "its log-prior there is not finite, so fitting cannot start",
            p.value.span,
            hint=hint,
        )
        return True

    def _constant_fits(self, shape, span, what: str, filled: bool = False) -> bool:
        """Whether a constant array of ``shape`` may be built (within the
        bounds of :mod:`dync.dsl.limits`, counted in the spec's budget); an
        error otherwise, before anything is allocated. ``filled``: one value
        repeated (written into the model as a number and a shape)."""
        try:
            check_constant_size(tuple(shape), span, what, filled)
            if filled:
                self.budget.spend(math.prod(shape), span)
            else:
                self.budget.store(math.prod(shape), span)
        except DyncError as e:
            self.errors.append(e)
            return False
        return True

    def _ir_value(self, e) -> np.ndarray | None:
        """The value of a distribution argument known at compile time, or ``None``."""
        if isinstance(e, ir.Const):
            return np.asarray(e.value, dtype=float)
        if isinstance(e, ir.Ref) and e.kind == "param" and e.name in self.consts:
            return np.asarray(self.consts[e.name], dtype=float)
        if isinstance(e, ir.Op) and e.op == "neg":
            inner = self._ir_value(e.args[0])
            return None if inner is None else -inner
        return None

    def _init_fits(self, dist: ir.DistIR, constraint: AbstractConstraint) -> bool:
        """Whether every draw of ``dist`` lies inside ``constraint``.

        A discrete distribution takes the ends of its support (a Poisson draw
        may be 0, outside ``positive``); ``Uniform(low, high)`` is checked
        when its bounds are known at compile time, and its ends count as open
        (a draw on a bound has probability zero). Unknown bounds pass.
        """
        lo_c, hi_c = constraint.bounds()
        sig = DISTRIBUTIONS[dist.name]
        if dist.name == "Uniform":
            low, high = (self._ir_value(v) for _, v in dist.args)
            if low is None or high is None:
                return True
            return bool(np.all(low >= lo_c) and np.all(high <= hi_c))
        lo, hi = sig.support.bounds()
        if sig.discrete:  # the support's finite ends are values it takes
            return (lo > lo_c or (lo == lo_c and math.isinf(lo))) and (hi < hi_c or (hi == hi_c and math.isinf(hi)))
        return lo >= lo_c and hi <= hi_c

    def _init_outside(self, what: str, dist: ir.DistIR, constraint: AbstractConstraint, node: ast.Call) -> None:
        desc = constraint.describe()
        lo_c, hi_c = constraint.bounds()
        continuous = [(n, sig.support.bounds()) for n, sig in DISTRIBUTIONS.items() if not sig.discrete and n != "Uniform"]
        # those whose support is the constraint's set, else (for an unbounded
        # set) those whose support lies inside it
        fitting = [n for n, b in continuous if b == (lo_c, hi_c)]
        if not fitting and not (math.isfinite(lo_c) and math.isfinite(hi_c)):
            fitting = [n for n, (lo, hi) in continuous if lo_c <= lo and hi <= hi_c and (lo, hi) != (-math.inf, math.inf)]
        if fitting:
            names = ", ".join(f"`{n}`" for n in fitting)
            hint = f"draw from {'one of ' if len(fitting) > 1 else ''}{names} (draws inside `{desc}`), or give a value"
        elif math.isfinite(lo_c) and math.isfinite(hi_c):
            hint = f"draw from `Uniform({lo_c:g}, {hi_c:g})`, or give a value"
        else:
            hint = f"draw from `Uniform(lo, hi)` with bounds inside `{desc}`, or give a value instead of `~ init`"
        sig = DISTRIBUTIONS[dist.name]
        if dist.name == "Bernoulli":
            draws = " (its draws are 0 or 1)"
        elif sig.discrete:
            draws = " (its draws are whole numbers from 0 up)"
        elif dist.name == "Uniform":
            draws = ""
        else:
            draws = {"real": " (its draws are any real number)", "positive": " (its draws are positive)", "unit": " (its draws lie between 0 and 1)"}.get(sig.support.kind, "")
        self.err(
            ConstraintViolation,
            f"{what} is drawn from `{dist.name}`, which can give values outside its constraint `{desc}`{draws}",
            node.span,
            hint=hint,
        )

    def _check_inputs(self) -> list[tuple[str, tuple]]:
        out = []
        for i in self.spec.of_type(ast.Input):
            if self._decl_nodes.get(i.name) is not i:
                continue
            shape = self._shape(i.shape, f"input `{i.name}`")
            if shape is None and i.shape is not None:
                self.failed.add(i.name)
            shape = shape or ()
            self.symbols[i.name] = ("input", shape)
            out.append((i.name, shape))
        return out

    # -------------------------------------------------------------- states

    def _check_state_decls(self) -> list[ast.State]:
        states = []
        decls = [s for s in self.spec.of_type(ast.State) if self._decl_nodes.get(s.name) is s]
        if not self.spec.of_type(ast.State) and self.spec.of_type(ast.ModelName) and ast.MISSPELT_STATES not in self.incomplete:
            self.err(
                InvalidSpec,
                "the model declares no state, so there is nothing to simulate",
                self.spec.of_type(ast.ModelName)[0].span,
                hint="declare one with `state x = 0` and give it an equation `dx = ... dt`",
            )
        for s in decls:
            shape = self._shape(s.shape, f"state `{s.name}`")
            if shape is None and s.shape is not None:
                self.failed.add(s.name)  # its size was reported (a bad dim): its uses stay silent
            if shape is None:
                shape = ()
                if s.value is not None:
                    # a state's shape may come from its initial value
                    v = self._state_value(s)
                    if v is not BAD:
                        shape = v.shape
            self.states[s.name] = s
            self.state_shapes[s.name] = tuple(shape)
            self.symbols[s.name] = ("state", tuple(shape))
            states.append(s)
        return states

    def _state_value(self, s: ast.State):
        """The checked initial value of a state (checked once: an error in it
        is reported once however often the value is needed). A value known
        at compile time must be finite, as a parameter's must."""
        if s.name not in self._state_values:
            value = self._state_values[s.name] = self._expr(s.value, allow_states=False)
            if value is not BAD:
                self._check_finite_initial_value(s)
        return self._state_values[s.name]

    def _check_finite_initial_value(self, s: ast.State) -> None:
        """E240 for `state x = log(0)` or `state x = 1e400`: a path that
        starts at infinity or NaN (float32 overflow is warning W106, from
        :mod:`.analysis`)."""
        lets = [n for n in _names_and_calls(s.value)[0] if n in self.lets]
        if lets and self._constant_let_values is None:
            state_free = [(n, self._decl_nodes[n].value) for n in self.lets if n not in self._let_blocker]
            self._constant_let_values = known_values(state_free, self.consts, self._values_budget)
        env = dict(self.consts, **(self._constant_let_values or {})) if lets else self.consts
        value = known_values([(s.name, s.value)], env, self._values_budget).get(s.name)
        if value is None or np.all(np.isfinite(value)):
            return
        bad = float(value[~np.isfinite(value)].flat[0]) if value.ndim else float(value)
        self.err(
            ConstraintViolation,
            f"state `{s.name}` = {bad:g}: the initial value is not a finite number",
            s.value.span,
            hint="a literal beyond ±1.8e308 overflows, and 1/0 or log(0) is infinite; give a finite value",
        )

    # ---------------------------------------------------------------- nets

    def _check_nets(self) -> None:
        for n in self.spec.of_type(ast.Net):
            if self._decl_nodes.get(n.name) is not n:
                continue
            call = n.call
            if call.func != "mlp":
                self.err(UnknownFunction, f"unknown network type `{call.func}`", call.func_span, hint=did_you_mean(call.func, ("mlp",)) or "use `mlp(...)`")
                self.symbols[n.name] = ("net", None)  # its calls are not errors of their own
                continue
            if call.args:
                self.err(BadArguments, "mlp takes keyword arguments only", call.args[0].span, hint="write `mlp(in = 4, out = 1, width = 64, depth = 2)`")
                self.symbols[n.name] = ("net", None)
                continue
            values: dict[str, object] = {}
            ok = True
            for kw in call.kwargs:
                if kw.name not in NET_KEYWORDS:
                    self.err(BadArguments, f"unknown keyword `{kw.name}` for mlp", kw.span, hint=did_you_mean(kw.name, NET_KEYWORDS) or "mlp takes " + ", ".join(f"`{k}`" for k in NET_KEYWORDS))
                    ok = False
                    continue
                if kw.name == "activation":
                    if not isinstance(kw.value, ast.Name) or kw.value.id not in ACTIVATIONS:
                        shown = kw.value.id if isinstance(kw.value, ast.Name) else "this"
                        self.err(
                            BadArguments,
                            f"unknown activation `{shown}`",
                            kw.value.span,
                            hint=(did_you_mean(shown, ACTIVATIONS) if isinstance(kw.value, ast.Name) else None)
                            or f"use one of {', '.join(ACTIVATIONS)}",
                        )
                        ok = False
                        continue
                    values["activation"] = kw.value.id
                    continue
                v = self._const(kw.value, f"mlp's `{kw.name}`", BadArguments)
                if v is BAD or v is None:
                    ok = False
                    continue
                if np.asarray(v).shape != () or not float(v).is_integer() or (v < 1 and kw.name != "depth") or v < 0:
                    self.err(BadArguments, f"mlp's `{kw.name}` must be a positive integer", kw.value.span)
                    ok = False
                    continue
                if float(v) > MAX_SIZE:
                    self.err(BadArguments, f"mlp's `{kw.name}` = {_shown_size(int(v))} is too large", kw.value.span, hint=_SIZE_HINT)
                    ok = False
                    continue
                values[kw.name] = int(v)
            missing = [k for k in ("in", "out") if k not in values]
            if ok and missing and n.name in self.incomplete:  # a misspelt key was reported
                ok = False
            elif ok and missing:
                self.err(BadArguments, f"mlp needs `{missing[0]}`", call.span, hint="write `mlp(in = 4, out = 1, width = 64, depth = 2)`")
                ok = False
            if not ok:
                self.symbols[n.name] = ("net", None)
                continue
            net = ir.NetIR(
                n.name,
                self._attrs[n.name],
                values["in"],
                values["out"],
                values.get("width", 64),
                values.get("depth", 2),
                values.get("activation", "tanh"),
            )
            self.nets[n.name] = net
            self.symbols[n.name] = ("net", net)

    # ---------------------------------------------------------------- lets

    def _check_constant_lets(self) -> None:
        """Check, before the states, every let that reads only numbers, dims,
        parameters, constants and other such lets.

        A state's initial value may use these *state-free* lets (language
        §2.13) and a state's shape may come from its initial value, so they
        must be known before the states are. Every other let is checked with
        :meth:`_check_lets`, after the states; :attr:`_let_blocker` records
        why it is not state-free, for the error where an initial value uses it.
        """
        lets = [l for l in self.spec.of_type(ast.Let) if self._decl_nodes.get(l.name) is l]
        by_name = {l.name: l for l in lets}
        blocker: dict[str, str] = {}
        reads = {l.name: _names_and_calls(l.value) for l in lets}
        for l in lets:
            names, funcs = reads[l.name]
            for n in sorted(names):
                node = self._decl_nodes.get(n)
                if n == "t":
                    blocker[l.name] = "time"
                elif isinstance(node, (ast.State, ast.Input)):
                    blocker[l.name] = "the state" if isinstance(node, ast.State) else f"the input `{n}`"
                if l.name in blocker:
                    break
            # a net, called or named bare (`let g = f`, an error said once the nets are known)
            if l.name not in blocker and any(isinstance(self._decl_nodes.get(f), ast.Net) for f in funcs | names):
                blocker[l.name] = "a network"
        deps = {l.name: {n for n in reads[l.name][0] if n in by_name} for l in lets}
        # propagate through let chains: a let reading a blocked let is blocked
        changed = True
        while changed:
            changed = False
            for name, ds in deps.items():
                if name not in blocker:
                    hit = next((d for d in sorted(ds) if d in blocker), None)
                    if hit is not None:
                        blocker[name] = blocker[hit]
                        changed = True
        self._let_blocker = blocker
        self._constant_lets_checked = True
        done: set[str] = set()
        progress = True
        while progress:  # dependency order; a cycle never becomes ready and is reported by _check_lets
            progress = False
            for l in lets:
                if l.name in done or l.name in blocker or not deps[l.name] <= done:
                    continue
                done.add(l.name)
                progress = True
                value = self._expr(l.value, allow_states=True)
                if value is BAD:
                    self.symbols[l.name] = ("let", None)
                    continue
                self.lets[l.name] = value
                self.symbols[l.name] = ("let", value.shape)

    def _check_lets(self) -> None:
        lets = [l for l in self.spec.of_type(ast.Let) if self._decl_nodes.get(l.name) is l]
        by_name = {l.name: l for l in lets}
        position = {l.name: i for i, l in enumerate(lets)}  # not `lets.index`: quadratic in the lets
        deps = {l.name: {n for n in free_names(l.value) if n in by_name} for l in lets}
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, chain: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = chain[chain.index(name):] + [name]
                self.err(
                    InvalidSpec,
                    f"`let {name}` refers to itself: {' -> '.join(cycle)}",
                    by_name[name].name_span,
                    hint="a named expression cannot depend on itself",
                )
                state[name] = 2
                return
            state[name] = 1
            for d in sorted(deps[name], key=position.__getitem__):
                visit(d, chain + [name])
            state[name] = 2
            order.append(name)

        for l in lets:
            visit(l.name, [])
        self._let_nodes = by_name
        for name in order:
            if name in self.lets or name in self.symbols:  # checked early (_check_constant_lets)
                continue
            node = by_name[name]
            value = self._expr(node.value, allow_states=True)
            if value is BAD:
                self.symbols[name] = ("let", None)
                continue
            self.lets[name] = value
            self.symbols[name] = ("let", value.shape)


def _names_and_calls(e) -> tuple[set[str], set[str]]:
    """The names an expression reads and the functions it calls (a call of a
    network reads the network, which :func:`free_names` does not report)."""
    funcs: set[str] = set()

    def walk(x) -> None:
        if isinstance(x, ast.Call):
            funcs.add(x.func)
        if not dataclasses.is_dataclass(x):
            return
        for f in dataclasses.fields(x):
            child = getattr(x, f.name)
            for c in child if isinstance(child, (list, tuple)) else (child,):
                if dataclasses.is_dataclass(c):
                    walk(c)

    walk(e)
    return free_names(e), funcs
