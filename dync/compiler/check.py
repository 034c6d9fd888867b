"""Semantic checks: AST → checked :class:`~dync.compiler.ir.ModelIR`.

One pass over the declarations resolves every name, folds dims to integers,
infers the shape of every expression, checks constraints against values and
splits each equation into drift and noise terms. Every independent error is
collected (a failed sub-expression yields a placeholder that suppresses
cascades) and raised together as :class:`~dync.errors.SpecErrors`.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping

import numpy as np

from .._deep import deepest_statement, run_deep
from ..dsl import ast
from ..dsl.vocabulary import OPERATOR_WORDS
from ..errors import (
    BadArguments,
    BadConstraint,
    BadDifferential,
    BadDim,
    BadGrad,
    ConstraintViolation,
    DuplicateDeclaration,
    DuplicateEquation,
    DyncError,
    EquationForUndeclaredState,
    InvalidSpec,
    MissingDifferential,
    MissingEquation,
    ReservedName,
    ShapeMismatch,
    Span,
    SpecErrors,
    UndefinedName,
    UnknownDistribution,
    UnknownFunction,
    did_you_mean,
)
from . import ir
from .consteval import NotConstant, const_eval
from .library import ACTIVATIONS, CALCULI, CONSTRAINTS, DISTRIBUTIONS, FUNCTIONS, NET_KEYWORDS, RESERVED

#: attribute names of AbstractModel that a parameter field must not shadow
_MODEL_ATTRS = frozenset(
    "info drift noise diffusion diffusion_diagonal initial_state constrained_params log_prior "
    "observation_log_prob observation_sample ito_correction ito_drift stratonovich_drift unpack pack "
    "langevin_parts fbm_horizon fbm_high with_horizon".split()
)
_ELEMENTWISE_OPS = frozenset("+ - * / ^ neg pos < <= > >= == != and or not".split())


class _Bad:
    """Placeholder for an expression that already produced an error."""

    shape = None


BAD = _Bad()


def _fmt_shape(shape) -> str:
    return "scalar ()" if shape == () else str(tuple(shape))


def broadcast(a, b):
    try:
        return tuple(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        return None


def matmul_shape(a, b):
    a, b = tuple(a), tuple(b)
    if not a or not b:
        return None
    if len(a) == 1 and len(b) == 1:
        return () if a[0] == b[0] else None
    if len(b) == 1:
        return a[:-1] if a[-1] == b[0] else None
    if len(a) == 1:
        return b[:-2] + b[-1:] if a[0] == b[-2] else None
    if a[-1] != b[-2]:
        return None
    batch = broadcast(a[:-2], b[:-2])
    return None if batch is None else batch + (a[-2], b[-1])


def depends_on_state(e, lets: Mapping[str, ir.IExpr], states: frozenset | None = None) -> bool:
    """Whether ``e`` reads a state (any state, or one in ``states``)."""
    if isinstance(e, ir.Ref):
        if e.kind == "state":
            return states is None or e.name in states
        if e.kind == "let":
            return depends_on_state(lets[e.name], lets, states)
        return False
    if isinstance(e, ir.Const):
        return False
    if isinstance(e, ir.FbmDrift):
        return True
    if isinstance(e, ir.Grad):
        return states is None or e.wrt in states or depends_on_state(e.body, lets, states)
    if isinstance(e, ir.Op):
        return any(depends_on_state(a, lets, states) for a in e.args)
    if isinstance(e, ir.Index):
        return depends_on_state(e.value, lets, states)
    if isinstance(e, ir.Array):
        return any(depends_on_state(a, lets, states) for a in e.elements)
    if isinstance(e, ir.NetCall):
        return depends_on_state(e.arg, lets, states)
    return True


class Checker:
    """Checks one spec; :meth:`run` returns the IR or raises ``SpecErrors``."""

    def __init__(self, spec: ast.Spec, dims: Mapping[str, int] | None = None, fbm_num_ou: int | None = None):
        self.spec = spec
        self.overrides = dict(dims or {})
        self.errors: list[DyncError] = []
        self.fbm_num_ou = fbm_num_ou
        self.symbols: dict[str, tuple[str, object]] = {}  # name -> (kind, shape or info)
        self.consts: dict[str, np.ndarray] = {}  # dims, params, consts values
        self.lets: dict[str, ir.IExpr] = {}
        self.nets: dict[str, ir.NetIR] = {}
        self.states: dict[str, ast.State] = {}
        self.state_shapes: dict[str, tuple] = {}
        self.brownians: dict[str, ast.Brownian] = {}
        self.brownian_shapes: dict[str, tuple] = {}
        self.fractional: dict[str, ir.IExpr] = {}
        #: declarations that failed their own check: later uses stay silent
        self.failed: set[str] = set()
        #: declarations that lost a misspelt YAML key (a partial spec): the
        #: reading error is reported; their uses and equations stay silent
        self.incomplete: frozenset[str] = spec.incomplete
        self.failed |= self.incomplete
        #: checked initial values of states, so each is checked (and any
        #: error in it reported) once
        self._state_values: dict[str, object] = {}

    # ----------------------------------------------------------- utilities

    def err(self, cls, message: str, span: Span | None, hint: str | None = None) -> _Bad:
        self.errors.append(cls(message, span, hint=hint))
        return BAD

    def _declared_span(self, name: str) -> str:
        node = self._decl_nodes.get(name)
        if node is not None and node.span.line > 0:
            kind = {"Param": "a param", "Const": "a const", "State": "a state", "Dim": "a dim", "Let": "a let",
                    "Brownian": "a brownian", "Input": "an input", "Net": "a net", "Observe": "an observation"}.get(type(node).__name__, "")
            return f"`{name}` was first declared {'as ' + kind + ' ' if kind else ''}on line {node.span.line}; rename one of them"
        return f"`{name}` is already declared"

    # ------------------------------------------------------------- driver

    def run(self) -> ir.ModelIR:
        spec = self.spec
        self._collect_declarations()
        dims = self._check_dims()
        params = self._check_params()
        inputs = self._check_inputs()
        self._check_brownians()
        states = self._check_state_decls()
        self._check_nets()
        self._check_lets()
        states_ir, drift, noise, blocks, n, m = self._check_equations(states)
        observations = self._check_observations()
        if self.errors:
            raise SpecErrors(self.errors)
        calculus = self._calculus()
        model = ir.ModelIR(
            name=self._model_name(),
            doc=spec.doc,
            calculus=calculus,
            dims=tuple(dims.items()),
            params=tuple(params),
            states=tuple(states_ir),
            state_size=n,
            inputs=tuple(inputs),
            lets=tuple(self.lets.items()),
            nets=tuple(self.nets.values()),
            drift=tuple(drift.items()),
            noise=tuple((k, tuple(v)) for k, v in noise.items()),
            noise_blocks=tuple(blocks),
            noise_size=m,
            observations=tuple(observations),
            fbm_num_ou=self._num_ou() if self.fractional else 0,
        )
        from .analysis import analyse  # local: analysis imports this module

        return analyse(model)

    def _num_ou(self) -> int:
        if self.fbm_num_ou is not None:
            return self.fbm_num_ou
        from .fbm_defaults import DEFAULT_NUM_OU

        return DEFAULT_NUM_OU

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
            if isinstance(node, (ast.ModelName, ast.Calculus, ast.Equation)):
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
            if d.name in self.overrides:
                value = float(self.overrides[d.name])
            else:
                value = self._const(d.value, f"dim `{d.name}`", BadDim)
                if value is None or value is BAD:
                    self.failed.add(d.name)
                    continue
                value = float(np.asarray(value))
            if not float(value).is_integer() or value < 1:
                shown = int(value) if float(value).is_integer() else value
                self.err(
                    BadDim,
                    f"dim `{d.name}` must be a positive integer, not {shown}",
                    getattr(d.value, "span", d.span),
                    hint="sizes are whole numbers of at least 1",
                )
                self.failed.add(d.name)
                continue
            dims[d.name] = int(value)
            self.consts[d.name] = np.asarray(float(value))
            self.symbols[d.name] = ("dim", ())
        for c in self.spec.of_type(ast.Calculus):
            if c.value not in CALCULI:
                self.err(
                    InvalidSpec,
                    f"unknown calculus `{c.value}`",
                    c.span,
                    hint=did_you_mean(c.value, CALCULI) or "write `ito` or `stratonovich`",
                )
        return dims

    def _const(self, expr, what: str, cls=InvalidSpec):
        try:
            return const_eval(expr, self.consts)
        except NotConstant as nc:
            if nc.name in self.failed:
                return BAD
            if nc.name in FUNCTIONS or nc.name in self._decl_nodes:
                return self.err(
                    cls,
                    f"{what} must be a constant, but `{nc.name}` is known only at run time",
                    nc.span,
                    hint="use numbers, dims and parameters declared above",
                )
            hint = did_you_mean(nc.name, list(self.consts) + ["pi"])
            if hint is None and cls is BadDim:
                hint = "a dim is a whole number, or an expression of the dims declared before it"
            return self.err(UndefinedName, f"undefined name `{nc.name}`", nc.span, hint=hint)
        except DyncError as e:
            self.errors.append(e)
            return BAD

    def _shape(self, shape_exprs, what: str) -> tuple | None:
        if shape_exprs is None:
            return None
        out = []
        for e in shape_exprs:
            v = self._const(e, f"the shape of {what}", ShapeMismatch)
            if v is BAD or v is None:
                return None
            v = np.asarray(v)
            if v.shape != () or not float(v).is_integer() or v < 1:
                self.err(ShapeMismatch, f"a size in the shape of {what} must be a positive integer", e.span)
                return None
            out.append(int(v))
        return tuple(out)

    # -------------------------------------------------------------- params

    def _constraint(self, node) -> tuple | None:
        if node is None:
            return ("real",)
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
        need = CONSTRAINTS[name]
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
        return (name, *bounds)

    @staticmethod
    def _contains(constraint: tuple, value: np.ndarray) -> bool:
        v = np.asarray(value, dtype=float)
        kind = constraint[0]
        if kind == "real":
            return bool(np.all(np.isfinite(v)))
        if kind == "positive":
            return bool(np.all(v > 0))
        if kind == "negative":
            return bool(np.all(v < 0))
        if kind == "unit":
            return bool(np.all((v > 0) & (v < 1)))
        if kind == "interval":
            return bool(np.all((v > constraint[1]) & (v < constraint[2])))
        if kind == "lower":
            return bool(np.all(v > constraint[1]))
        if kind == "upper":
            return bool(np.all(v < constraint[1]))
        return True

    @staticmethod
    def _describe(constraint: tuple) -> str:
        if len(constraint) == 1:
            return constraint[0]
        return f"{constraint[0]}({', '.join(f'{b:g}' for b in constraint[1:])})"

    @staticmethod
    def _default_value(constraint: tuple) -> float:
        """The value of a parameter declared with neither a value nor ``~ init``
        (with or without a prior): a point inside its constraint, 0 when it
        has none."""
        kind = constraint[0]
        if kind == "interval":
            return 0.5 * (constraint[1] + constraint[2])
        if kind == "lower":
            return constraint[1] + 1.0
        if kind == "upper":
            return constraint[1] - 1.0
        return {"real": 0.0, "positive": 1.0, "negative": -1.0, "unit": 0.5}[kind]

    def _check_params(self) -> list[ir.ParamIR]:
        out: list[ir.ParamIR] = []
        for p in self.spec.of_type(ast.Param):
            if self._decl_nodes.get(p.name) is not p:
                continue
            what = f"{'constant' if p.fixed else 'parameter'} `{p.name}`"
            shape = self._shape(p.shape, what)
            constraint = self._constraint(p.constraint)
            value = None
            if p.value is not None:
                v = self._const(p.value, f"the value of {what}")
                if v is BAD or v is None:
                    self.symbols[p.name] = ("param", shape if shape is not None else ())
                    self.failed.add(p.name)
                    continue
                value = np.asarray(v, dtype=float)
                if shape is None:
                    shape = value.shape
                elif broadcast(value.shape, shape) != tuple(shape):
                    self.err(
                        ShapeMismatch,
                        f"the value of {what} has shape {_fmt_shape(value.shape)}, "
                        f"which does not fit its declared shape {_fmt_shape(shape)}",
                        p.value.span,
                    )
                    continue
                value = np.broadcast_to(value, shape).copy()
            shape = tuple(shape) if shape is not None else ()
            self.symbols[p.name] = ("param", shape)
            if constraint is BAD:
                continue
            if value is not None and not self._contains(constraint, value):
                bad = value if value.shape == () else value[~np.vectorize(lambda x: self._contains(constraint, x))(value)]
                shown = f"{float(bad):g}" if np.asarray(bad).shape == () else f"{float(np.asarray(bad).flat[0]):g}"
                self.err(
                    ConstraintViolation,
                    f"{what} = {shown} breaks its constraint `{self._describe(constraint)}`",
                    p.value.span,
                    hint=f"give a value that is {self._describe(constraint)}",
                )
                continue
            prior = self._dist(p.prior, allow_states=False) if p.prior is not None else None
            init = self._dist(p.init, allow_states=False) if p.init is not None else None
            if prior is BAD or init is BAD:
                continue
            if init is not None and not self._init_fits(init, constraint):
                self._init_outside(what, init, constraint, p.init)
                continue
            if value is None and init is None:
                value = np.full(shape, self._default_value(constraint))
            if value is not None:
                self.consts[p.name] = value
            out.append(ir.ParamIR(p.name, self._attrs[p.name], shape, constraint, value, init, prior, p.fixed))
        return out

    @staticmethod
    def _bounds(constraint: tuple) -> tuple[float, float]:
        """The (open) interval of a constraint or a distribution's support."""
        kind = constraint[0]
        if kind == "interval":
            return constraint[1], constraint[2]
        if kind == "lower":
            return constraint[1], math.inf
        if kind == "upper":
            return -math.inf, constraint[1]
        return {"real": (-math.inf, math.inf), "positive": (0.0, math.inf), "negative": (-math.inf, 0.0), "unit": (0.0, 1.0)}[kind]

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

    def _init_fits(self, dist: ir.DistIR, constraint: tuple) -> bool:
        """Whether every draw of ``dist`` lies inside ``constraint``.

        A discrete distribution takes the ends of its support (a Poisson draw
        may be 0, outside ``positive``); ``Uniform(low, high)`` is checked
        when its bounds are known at compile time, and its ends count as open
        (a draw on a bound has probability zero). Unknown bounds pass.
        """
        lo_c, hi_c = self._bounds(constraint)
        sig = DISTRIBUTIONS[dist.name]
        if dist.name == "Uniform":
            low, high = (self._ir_value(v) for _, v in dist.args)
            if low is None or high is None:
                return True
            return bool(np.all(low >= lo_c) and np.all(high <= hi_c))
        lo, hi = self._bounds(sig.support)
        if sig.discrete:  # the support's finite ends are values it takes
            return (lo > lo_c or (lo == lo_c and math.isinf(lo))) and (hi < hi_c or (hi == hi_c and math.isinf(hi)))
        return lo >= lo_c and hi <= hi_c

    def _init_outside(self, what: str, dist: ir.DistIR, constraint: tuple, node: ast.Call) -> None:
        desc = self._describe(constraint)
        lo_c, hi_c = self._bounds(constraint)
        continuous = [(n, self._bounds(sig.support)) for n, sig in DISTRIBUTIONS.items() if not sig.discrete and n != "Uniform"]
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
            draws = {"real": " (its draws are any real number)", "positive": " (its draws are positive)", "unit": " (its draws lie between 0 and 1)"}.get(sig.support[0], "")
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
            shape = self._shape(i.shape, f"input `{i.name}`") or ()
            self.symbols[i.name] = ("input", shape)
            out.append((i.name, shape))
        return out

    # ----------------------------------------------------------- brownians

    def _check_brownians(self) -> None:
        for b in self.spec.of_type(ast.Brownian):
            if self._decl_nodes.get(b.name) is not b:
                continue
            shape = self._shape(b.shape, f"Brownian motion `{b.name}`") or ()
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
                        self.err(BadArguments, f"unknown keyword `{kw.name}` for fractional", kw.span, hint=did_you_mean(kw.name, ("hurst",)))
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
                self.err(ShapeMismatch, f"the Hurst index must be a scalar, not {_fmt_shape(h.shape)}", hurst_expr.span)
                continue
            if isinstance(h, ir.Const) and not 0 < float(h.value) < 1:
                self.err(ConstraintViolation, f"the Hurst index must lie in (0, 1), not {float(h.value):g}", hurst_expr.span)
                continue
            self.fractional[b.name] = h

    # -------------------------------------------------------------- states

    def _check_state_decls(self) -> list[ast.State]:
        states = []
        decls = [s for s in self.spec.of_type(ast.State) if self._decl_nodes.get(s.name) is s]
        if not self.spec.of_type(ast.State) and self.spec.of_type(ast.ModelName):
            self.err(
                InvalidSpec,
                "the model declares no state, so there is nothing to simulate",
                self.spec.of_type(ast.ModelName)[0].span,
                hint="declare one with `state x = 0` and give it an equation `dx = ... dt`",
            )
        for s in decls:
            shape = self._shape(s.shape, f"state `{s.name}`")
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
        is reported once however often the value is needed)."""
        if s.name not in self._state_values:
            self._state_values[s.name] = self._expr(s.value, allow_states=False)
        return self._state_values[s.name]

    # ---------------------------------------------------------------- nets

    def _check_nets(self) -> None:
        for n in self.spec.of_type(ast.Net):
            if self._decl_nodes.get(n.name) is not n:
                continue
            call = n.call
            if call.func != "mlp":
                self.err(UnknownFunction, f"unknown network type `{call.func}`", call.func_span, hint=did_you_mean(call.func, ("mlp",)) or "use `mlp(...)`")
                continue
            if call.args:
                self.err(BadArguments, "mlp takes keyword arguments only", call.args[0].span, hint="write `mlp(in = 4, out = 1, width = 64, depth = 2)`")
                continue
            values: dict[str, object] = {}
            ok = True
            for kw in call.kwargs:
                if kw.name not in NET_KEYWORDS:
                    self.err(BadArguments, f"unknown keyword `{kw.name}` for mlp", kw.span, hint=did_you_mean(kw.name, NET_KEYWORDS))
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

    def _check_lets(self) -> None:
        lets = [l for l in self.spec.of_type(ast.Let) if self._decl_nodes.get(l.name) is l]
        by_name = {l.name: l for l in lets}
        deps = {l.name: {n for n in _free_names(l.value) if n in by_name} for l in lets}
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
            for d in sorted(deps[name], key=lambda n: lets.index(by_name[n])):
                visit(d, chain + [name])
            state[name] = 2
            order.append(name)

        for l in lets:
            visit(l.name, [])
        self._let_nodes = by_name
        for name in order:
            if name in self.lets:
                continue
            node = by_name[name]
            value = self._expr(node.value, allow_states=True)
            if value is BAD:
                self.symbols[name] = ("let", None)
                continue
            self.lets[name] = value
            self.symbols[name] = ("let", value.shape)

    # ----------------------------------------------------------- equations

    def _is_differential(self, name: str) -> bool:
        if name == "dt":
            return True
        if not name.startswith("d") or len(name) < 2:
            return False
        if name in self._decl_nodes:
            return False
        base = name[1:]
        kind = self.symbols.get(base, (None,))[0]
        return kind in (None, "brownian")

    def _is_bare_differential(self, e) -> bool:
        """``e`` is a differential name, possibly under unary signs (``-dW``)."""
        while isinstance(e, ast.Unary) and e.op in ("-", "+"):
            e = e.operand
        return isinstance(e, ast.Name) and self._is_differential(e.id)

    def _check_equations(self, states: list[ast.State]):
        equations = self.spec.of_type(ast.Equation)
        by_state: dict[str, ast.Equation] = {}
        for eq in equations:
            target = eq.lhs[1:] if eq.lhs.startswith("d") else None
            if target is None or target not in self.states:
                if target in self._duplicated or target in self._rejected or target in self.incomplete:
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
                        or (f"declare it with `state {target} = 0`" if target else "an equation reads `dX = ... dt + ... dW` for a declared state X"),
                    )
                continue
            if target in by_state:
                first = by_state[target].span.line
                self.err(DuplicateEquation, f"state `{target}` has a second equation", eq.lhs_span, hint=f"its first equation is on line {first}; merge the terms into one")
                continue
            by_state[target] = eq
        for s in states:
            if s.name not in by_state:
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
                        self.err(ShapeMismatch, f"the initial value of `{s.name}` has shape {_fmt_shape(v.shape)}, but the state has shape {_fmt_shape(shape)}", s.value.span)
                    value = v
            if s.init is not None:
                d = self._dist(s.init, allow_states=False)
                if d is not BAD:
                    if broadcast(d.shape, shape) != shape:
                        self.err(ShapeMismatch, f"the initial distribution of `{s.name}` has shape {_fmt_shape(d.shape)}, but the state has shape {_fmt_shape(shape)}", s.init.span)
                    init = d
            states_ir.append(ir.StateIR(s.name, shape, off, size, value, init))
            drift[s.name] = _sum(drift_terms[s.name], shape)
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
                self.err(
                    MissingDifferential,
                    "this term has no differential",
                    term.span,
                    hint="end every term with `dt` or a noise `dW`; a sum needs parentheses: `(mu - x) dt`",
                )
                return
        if diff[1:] in self.incomplete:
            return  # a Brownian motion that lost a misspelt key: that key is the error
        if diff != "dt" and not self._is_differential(diff):
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
                    f"this drift term has shape {_fmt_shape(c.shape)}, but state `{state}` has shape {_fmt_shape(shape)}",
                    term.span,
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
                self.err(ShapeMismatch, f"this noise term has shape {_fmt_shape(c.shape)}, but state `{state}` has shape {_fmt_shape(shape)}", term.span)
                return
            used_blocks[block] = ((), False, base)
            drift_terms[state].append(ir.Op("neg", (ir.Op("*", (c, ir.FbmDrift(base)), c.shape),), c.shape))
            scale = ir.Ref("fbm_scale", base, ())
            noise_terms[state].append((ir.Op("*", (c, scale), c.shape), block, False))
            return
        if matrix:
            out = matmul_shape(c.shape, bshape)
            if out != shape:
                self._matrix_noise_mismatch(c.shape, base, tuple(bshape), state, tuple(shape), out, term.span)
                return
        elif (inner := broadcast(c.shape, bshape)) is None or broadcast(inner, shape) != tuple(shape):
            self.err(
                ShapeMismatch,
                f"this noise term has shape {_fmt_shape(c.shape)} times d{base}{_fmt_shape(bshape)}, "
                f"which does not fit state `{state}` of shape {_fmt_shape(shape)}",
                term.span,
                hint=f"use `@ d{base}` for a matrix, or declare `brownian {base}` with a fitting shape" if not implicit else None,
            )
            return
        used_blocks[block] = (bshape, implicit, base)
        noise_terms[state].append((c, block, matrix))

    def _matrix_noise_mismatch(self, cshape, base: str, bshape, state: str, shape, out, span) -> None:
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
        result = "the inner sizes do not match" if out is None else f"the product has shape {_fmt_shape(out)}"
        message = (
            f"a coefficient of shape {_fmt_shape(cshape)} cannot multiply `d{base}` of shape {_fmt_shape(bshape)} "
            f"with `@` for state `{state}` of shape {_fmt_shape(shape)}: {result}"
        )
        hint = None
        if len(bshape) == 1:
            need = tuple(shape) + bshape
            hint = f"the coefficient needs shape {_fmt_shape(need)}"
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
                self.err(ShapeMismatch, f"the distribution of `{o.name}` has shape {_fmt_shape(d.shape)}, but the observation is declared {_fmt_shape(shape)}", o.dist.span)
                continue
            out.append(ir.ObservationIR(o.name, tuple(shape), d))
        return out

    # ------------------------------------------------------- distributions

    def _dist(self, call: ast.Call, allow_states: bool):
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
                return self.err(BadArguments, f"`{call.func}` has no parameter `{bad_kw[0].name}`", bad_kw[0].span, hint=did_you_mean(bad_kw[0].name, allp) or f"its parameters are {', '.join(allp)}")
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
        shape: tuple = ()
        for p in chosen:
            v = self._expr(bound[p], allow_states=allow_states)
            if v is BAD:
                return BAD
            new = broadcast(shape, v.shape)
            if new is None:
                return self.err(ShapeMismatch, f"the arguments of `{call.func}` have shapes that do not broadcast: {_fmt_shape(shape)} and {_fmt_shape(v.shape)}", bound[p].span)
            shape = new
            args.append((p, v))
        return ir.DistIR(call.func, tuple(args), shape)

    # --------------------------------------------------------- expressions

    def _expr(self, e: ast.Expr, allow_states: bool):
        return _ExprChecker(self, allow_states).check(e)


def _sum(terms: list[ir.IExpr], shape) -> ir.IExpr | None:
    if not terms:
        return None
    total = terms[0]
    for t in terms[1:]:
        total = ir.Op("+", (total, t), broadcast(total.shape, t.shape))
    return total


def _free_names(e) -> set[str]:
    out: set[str] = set()

    def walk(x):
        if isinstance(x, ast.Name):
            out.add(x.id)
        elif isinstance(x, ast.Unary):
            walk(x.operand)
        elif isinstance(x, ast.Binary):
            walk(x.left)
            walk(x.right)
        elif isinstance(x, ast.Call):
            for a in x.args:
                walk(a)
            for k in x.kwargs:
                walk(k.value)
        elif isinstance(x, ast.Index):
            walk(x.value)
            for it in x.items:
                walk(it)
        elif isinstance(x, ast.Slice):
            for p in (x.start, x.stop, x.step):
                if p is not None:
                    walk(p)
        elif isinstance(x, ast.ArrayLit):
            for a in x.elements:
                walk(a)

    walk(e)
    return out


class _ExprChecker:
    """Resolves and shape-checks one expression into IR."""

    def __init__(self, checker: Checker, allow_states: bool):
        self.c = checker
        self.allow_states = allow_states

    def err(self, cls, msg, span, hint=None):
        return self.c.err(cls, msg, span, hint)

    def check(self, e):
        method = getattr(self, f"_{type(e).__name__.lower()}")
        return method(e)

    def _number(self, e: ast.Number):
        return ir.Const(np.asarray(float(e.value)), ())

    def _name(self, e: ast.Name):
        c = self.c
        if e.id == "t":
            if not self.allow_states:
                return self.err(InvalidSpec, "time `t` is not known here", e.span, hint="initial values and parameters cannot depend on time")
            return ir.Ref("time", "t", ())
        if e.id == "pi":
            return ir.Const(np.asarray(math.pi), ())
        if e.id == "dt" or (c._is_differential(e.id) and e.id not in c.symbols and len(e.id) > 1 and e.id[1:] in c.brownians):
            return self.err(BadDifferential, f"`{e.id}` can only close a term of an equation", e.span, hint=f"write `EXPR {e.id}` as a term of `dX = ...`")
        sym = c.symbols.get(e.id)
        if e.id in c.failed:
            return BAD
        if sym is None:
            if e.id in c._decl_nodes:
                return BAD  # declared but failed its own check
            cands = [n for n, (k, _) in c.symbols.items() if k != "brownian"] + ["t", "pi"]
            if not self.allow_states:
                cands = [n for n in cands if c.symbols.get(n, ("",))[0] not in ("state", "let")]
            return self.err(UndefinedName, f"undefined name `{e.id}`", e.span, hint=did_you_mean(e.id, cands))
        kind, shape = sym
        if kind == "dim":
            return ir.Const(np.asarray(c.consts[e.id]), ())
        if kind == "param":
            return ir.Ref("param", e.id, shape)
        if kind == "state" or kind == "input":
            if not self.allow_states:
                return self.err(InvalidSpec, f"{kind} `{e.id}` is not known here", e.span, hint="initial values, priors and parameters may use numbers, dims and parameters only")
            return ir.Ref(kind, e.id, shape)
        if kind == "let":
            if shape is None:
                return BAD
            if not self.allow_states:
                if depends_on_state(c.lets[e.id], c.lets) or _reads_time(c.lets[e.id], c.lets):
                    return self.err(InvalidSpec, f"`{e.id}` depends on the state and is not known here", e.span)
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
            if shape is None:
                return self.err(
                    ShapeMismatch,
                    f"cannot multiply matrices of shapes {_fmt_shape(a.shape)} @ {_fmt_shape(b.shape)}",
                    e.op_span,
                    hint="`@` needs the last size on the left to equal the first (or second-to-last) size on the right",
                )
            return ir.Op("@", (a, b), shape)
        shape = broadcast(a.shape, b.shape)
        if shape is None:
            return self.err(
                ShapeMismatch,
                f"shapes {_fmt_shape(a.shape)} and {_fmt_shape(b.shape)} do not broadcast for `{e.op}`",
                e.op_span,
                hint="sizes must be equal or 1, counting from the last axis",
            )
        return ir.Op(e.op, (a, b), shape)

    def _arraylit(self, e: ast.ArrayLit):
        els = [self.check(x) for x in e.elements]
        if any(x is BAD for x in els):
            return BAD
        shapes = {x.shape for x in els}
        if len(shapes) > 1:
            return self.err(ShapeMismatch, f"array elements have different shapes: {', '.join(_fmt_shape(s) for s in sorted(shapes))}", e.span)
        inner = els[0].shape if els else ()
        if all(isinstance(x, ir.Const) for x in els):
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
            return self.err(ShapeMismatch, f"{len(e.items)} indices for an array of shape {_fmt_shape(x.shape)}", e.span, hint=f"it has {len(shape)} axes")
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
            if sym is not None:
                return self.err(UnknownFunction, f"`{name}` is a {sym[0]}, not a function", e.func_span)
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
            return ir.Const(np.zeros(tuple(dims)) if name == "zeros" else np.ones(tuple(dims)), tuple(dims))
        if name == "eye":
            n = static["n"]
            if n < 1:
                return self.err(ShapeMismatch, "`eye` needs a positive size", e.span)
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
                    return self.err(ShapeMismatch, f"the arguments of `{name}` do not broadcast: " + ", ".join(_fmt_shape(args[q].shape) for q in order), e.span)
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
                return self.err(ShapeMismatch, f"axis {axis} is out of range for `{name}` of an array of shape {_fmt_shape(x.shape)}", e.span, hint=f"valid axes are 0 to {nd - 1}" if nd else "a scalar has no axes")
            ax = axis % nd
            shape = x.shape[:ax] + x.shape[ax + 1:]
            return ir.Op(f"call:{name}", (x,), shape, (("axis", ax),))
        if name == "dot":
            a, b = args["a"], args["b"]
            if len(a.shape) != 1 or a.shape != b.shape:
                return self.err(ShapeMismatch, f"`dot` needs two vectors of one length, got {_fmt_shape(a.shape)} and {_fmt_shape(b.shape)}", e.span, hint="use `@` for matrices")
            return ir.Op("call:dot", (a, b), ())
        if name == "outer":
            a, b = args["a"], args["b"]
            if len(a.shape) != 1 or len(b.shape) != 1:
                return self.err(ShapeMismatch, f"`outer` needs two vectors, got {_fmt_shape(a.shape)} and {_fmt_shape(b.shape)}", e.span)
            return ir.Op("call:outer", (a, b), (a.shape[0], b.shape[0]))
        if name == "roll":
            x = args["x"]
            axis = static.get("axis", 0)
            if not x.shape:
                return self.err(ShapeMismatch, "`roll` needs an array, not a scalar", e.span)
            if not -len(x.shape) <= axis < len(x.shape):
                return self.err(ShapeMismatch, f"axis {axis} is out of range for `roll` of shape {_fmt_shape(x.shape)}", e.span)
            return ir.Op("call:roll", (x,), x.shape, (("shift", static.get("shift", 1)), ("axis", axis % len(x.shape))))
        if name in ("concat", "stack"):
            if not vargs:
                return self.err(BadArguments, f"`{name}` needs at least one array", e.span)
            axis = static.get("axis", 0)
            shapes = [v.shape if (v.shape or name == "stack") else (1,) for v in vargs]
            if name == "stack":
                if len(set(shapes)) > 1:
                    return self.err(ShapeMismatch, "`stack` needs arrays of one shape, got " + ", ".join(_fmt_shape(s) for s in shapes), e.span)
                nd = len(shapes[0]) + 1
                if not -nd <= axis < nd:
                    return self.err(ShapeMismatch, f"axis {axis} is out of range for `stack`", e.span)
                ax = axis % nd
                out = shapes[0][:ax] + (len(vargs),) + shapes[0][ax:]
                return ir.Op("call:stack", tuple(vargs), out, (("axis", ax),))
            nd = len(shapes[0])
            if any(len(s) != nd for s in shapes) or not -nd <= axis < nd:
                return self.err(ShapeMismatch, "`concat` needs arrays with the same number of axes, got " + ", ".join(_fmt_shape(s) for s in shapes), e.span)
            ax = axis % nd
            others = {s[:ax] + s[ax + 1:] for s in shapes}
            if len(others) > 1:
                return self.err(ShapeMismatch, "`concat` needs equal sizes off the joined axis, got " + ", ".join(_fmt_shape(s) for s in shapes), e.span)
            out = list(shapes[0])
            out[ax] = sum(s[ax] for s in shapes)
            return ir.Op("call:concat", tuple(vargs), tuple(out), (("axis", ax),))
        if name == "diag":
            x = args["x"]
            if len(x.shape) == 1:
                return ir.Op("call:diag", (x,), (x.shape[0], x.shape[0]))
            if len(x.shape) == 2:
                return ir.Op("call:diag", (x,), (min(x.shape),))
            return self.err(ShapeMismatch, f"`diag` needs a vector or a matrix, got {_fmt_shape(x.shape)}", e.span)
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
                hint=did_you_mean(what, [n for n, (k, _) in c.symbols.items() if k == "state"]) if what else "write `grad(U, x)` for a state x",
            )
        if not self.allow_states:
            return self.err(InvalidSpec, "`grad` of a state is not known here", e.span)
        body = self.check(body_ast)
        if body is BAD:
            return BAD
        if body.shape != ():
            return self.err(
                BadGrad,
                f"`grad` needs a scalar expression, but this has shape {_fmt_shape(body.shape)}",
                body_ast.span,
                hint="sum it first: `grad(sum(...), x)`",
            )
        return ir.Grad(body, wrt.id, c.symbols[wrt.id][1])

    def _net_call(self, e: ast.Call, net):
        if net is None:
            return BAD
        if e.kwargs or len(e.args) != 1:
            return self.err(BadArguments, f"network `{e.func}` takes one argument", e.span)
        x = self.check(e.args[0])
        if x is BAD:
            return BAD
        ok = x.shape == (net.in_size,) or (net.in_size == 1 and x.shape == ())
        if not ok:
            return self.err(ShapeMismatch, f"network `{e.func}` takes a vector of size {net.in_size}, got shape {_fmt_shape(x.shape)}", e.args[0].span)
        return ir.NetCall(net.name, x, (net.out_size,))

    def _slice(self, e):
        return self.err(ShapeMismatch, "a slice can only stand inside `[...]`", e.span)

    def _keyword(self, e):
        return self.err(InvalidSpec, "a keyword argument can only stand inside a call", e.span)


def _reads_time(e, lets) -> bool:
    if isinstance(e, ir.Ref):
        if e.kind in ("time", "input"):
            return True
        if e.kind == "let":
            return _reads_time(lets[e.name], lets)
        return False
    if isinstance(e, ir.Op):
        return any(_reads_time(a, lets) for a in e.args)
    if isinstance(e, ir.Index):
        return _reads_time(e.value, lets)
    if isinstance(e, ir.Array):
        return any(_reads_time(a, lets) for a in e.elements)
    if isinstance(e, (ir.NetCall,)):
        return _reads_time(e.arg, lets)
    return False


def check_spec(spec: ast.Spec, dims: Mapping[str, int] | None = None, fbm_num_ou: int | None = None) -> ir.ModelIR:
    """Check a parsed spec and lower it to the IR.

    Args:
        spec: the parsed spec (either form).
        dims: overrides of ``dim`` values (``--set K=16``).
        fbm_num_ou: number of OU processes per fractional Brownian motion.

    Raises:
        SpecErrors: every independent error, sorted by position; E290 at
            the deepest statement when an expression is nested too deeply.
    """
    return run_deep(lambda: deepest_statement(spec), lambda: Checker(spec, dims, fbm_num_ou).run())
