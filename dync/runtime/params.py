"""Views of a compiled model's parameters: constrained (user) space and
unconstrained space, by name.

A compiled model (:class:`~dync.runtime.model.AbstractModel`) stores every
parameter as an array field holding its *unconstrained* value $u$; the user
sees $x = f(u)$, where $f$ is the bijection of the parameter's constraint (see
:mod:`dync.info.constraints`). This module is the one place that reads and
writes those fields by parameter name:

* :func:`with_params` sets parameters from *constrained* values (checked
  against their constraints), the way a user overrides a parameter;
* :func:`unconstrained_params` / :func:`with_unconstrained_params` read and
  write the unconstrained leaves of the non-fixed parameters: the *position*
  that optimisers and samplers move (see :mod:`dync.runtime.logdensity`);
* :func:`constrain` / :func:`unconstrain` map such a position to user space
  and back;
* :func:`learnable_filter` marks the learnable leaves of a model (non-fixed
  parameters and, optionally, the weights of its neural nets) for
  ``eqx.partition``.

``const`` declarations are parameters with ``fixed=True``: they are array
fields too, but no position ever contains them and no fitting changes them.

A parameter that the compiler reads when the spec compiles (an index or a
shape, ``roll(x, k)``, a network's size, a constraint's bound;
``ParamInfo.compile_time`` says where) keeps its spec value in the compiled
code whatever its field holds. So no position contains it either,
:func:`with_params` refuses another value for it, and :func:`hold_fixed`
refuses to fit it unless it is held at its value.

Every function here is pure and returns new values; the ones that take
unconstrained values work on traced values (under ``jit``, ``grad``, ``vmap``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PyTree

from ..errors import UsageError, did_you_mean
from ..info.constraints import Real, from_tuple
from .model import AbstractModel, ModelInfo, ParamInfo

__all__ = [
    "check_compile_time_held",
    "check_compile_time_value",
    "checked_value",
    "compile_time_refusal",
    "constrain",
    "hold_fixed",
    "learnable_filter",
    "lookup_param",
    "param_infos",
    "set_param",
    "unconstrain",
    "unconstrained_params",
    "with_params",
    "with_unconstrained_params",
]


# ---------------------------------------------------------------------------
# Looking up and checking parameters
# ---------------------------------------------------------------------------


def param_infos(info: ModelInfo) -> dict[str, ParamInfo]:
    """Parameter name → :class:`ParamInfo`, in declaration order."""
    return {p.name: p for p in info.params}


def lookup_param(info: ModelInfo, name: str, what: str) -> ParamInfo:
    """The parameter called ``name``.

    Args:
        info: the model's metadata.
        name: a parameter name as the spec writes it.
        what: what the caller is doing, the start of the error message
            (``"params"``, ``"sweep"``, ...).

    Raises:
        UsageError: no such parameter; the message lists the parameters and
            the hint names the closest one.
    """
    params = param_infos(info)
    if name not in params:
        known = ", ".join(f"`{n}`" for n in params) or "none"
        raise UsageError(
            f"{what}: model `{info.name}` has no parameter `{name}` (its parameters: {known})",
            hint=did_you_mean(name, params),
        )
    return params[name]


def _constraint(p: ParamInfo):
    """The bijection of a parameter's constraint; ``None`` for ``real`` (identity)."""
    constraint = from_tuple(p.constraint)
    return None if isinstance(constraint, Real) else constraint


def checked_value(p: ParamInfo, value: ArrayLike, what: str) -> np.ndarray | Array:
    """``value`` as a float64 array of the parameter's shape, inside its constraint.

    A traced value (under ``jax.grad``, ``jit`` or ``vmap``) is only
    broadcast to the shape: its numbers are not known, so not checked.

    Args:
        p: the parameter.
        value: a constrained (user-space) value, broadcast to ``p.shape``.
        what: the start of the error message.

    Raises:
        UsageError: not a number, the wrong shape, or outside the constraint
            (or not finite).
    """
    if isinstance(value, jax.core.Tracer):
        try:
            return jnp.broadcast_to(value, tuple(p.shape))
        except ValueError:
            raise UsageError(
                f"{what}: parameter `{p.name}` has shape {tuple(p.shape)}, got a value of shape {jnp.shape(value)}"
            ) from None
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{what}: parameter `{p.name}` must be a number, got {value!r}") from None
    try:
        v = np.broadcast_to(v, p.shape).copy() if v.shape != tuple(p.shape) else v
    except ValueError:
        raise UsageError(
            f"{what}: parameter `{p.name}` has shape {tuple(p.shape)}, got a value of shape {v.shape}"
        ) from None
    constraint = _constraint(p)
    inside = bool(np.all(np.isfinite(v)))
    if inside and constraint is not None:
        inside = bool(np.all(np.asarray(constraint.contains(jnp.asarray(v)))))
    if not inside:
        shown = v.item() if v.ndim == 0 else v.tolist()
        raise UsageError(
            f"{what}: parameter `{p.name}` = {shown} violates its constraint: it must be "
            f"{from_tuple(p.constraint).explain()}" + ("" if constraint is not None else " and finite"),
        )
    return v


def _shown(value: Any) -> str:
    v = np.asarray(value, dtype=float)
    return f"{v.item():g}" if v.ndim == 0 else str(v.tolist())


def compile_time_refusal(model: AbstractModel, p: ParamInfo, what: str, given: Any = None) -> UsageError:
    """The error for giving parameter ``p``, read when the spec compiles, a
    value the compiled code would not see (``given``: that value; ``None``:
    a value to vary, as a sweep or a fit would)."""
    value = _shown(model.constrained_params()[p.name])
    if given is None:
        what_then = "it cannot be fitted, sampled or varied"
        hint = f"declare it `const {p.name} = {value}`, or hold it at {value} (`--fix {p.name}={value}`; in Python `fix={{\"{p.name}\": {value}}}`)"
    else:
        what_then = f"the value given ({_shown(given)}) would be ignored"
        hint = (f"to use another value, change it in the spec (or, if it is a size, declare it `dim {p.name} = ...`: "
                "--set recompiles a dim)")  # fmt: skip
    return UsageError(
        f"{what}: parameter `{p.name}` is read as {p.compile_time} when the spec compiles, so model "
        f"`{model.info.name}` keeps its value {value}: {what_then}",
        hint=hint,
    )


def check_compile_time_value(model: AbstractModel, p: ParamInfo, value: Any, what: str) -> None:
    """Refuse ``value`` (constrained, checked) for a parameter read when the
    spec compiles unless it is the value compiled in; a traced value cannot
    be compared, and is refused too.

    Raises:
        UsageError: naming the parameter, what reads it, and the fix.
    """
    if not p.compile_time:
        return
    if isinstance(value, jax.core.Tracer):
        raise compile_time_refusal(model, p, what)
    current = np.asarray(model.constrained_params()[p.name], dtype=float)
    given = np.asarray(value, dtype=float)
    if not np.allclose(given, current, rtol=1e-6, atol=0.0):
        raise compile_time_refusal(model, p, what, given)


def set_param(model: AbstractModel, p: ParamInfo, value: np.ndarray | Array) -> AbstractModel:
    """Store the constrained ``value`` as the model's unconstrained leaf.

    ``value`` is expected to have been through :func:`checked_value`.

    Raises:
        UsageError: the parameter is compiled in as a constant (not an array
            field) and cannot be overridden.
    """
    field = getattr(p, "field", p.name)
    leaf = getattr(model, field, None)
    if not eqx.is_array(leaf):
        raise UsageError(
            f"parameter `{p.name}` of model `{model.info.name}` is compiled in as a constant "
            "and cannot be overridden",
            hint="declare it as a (non-fixed) parameter in the spec",
        )
    constraint = _constraint(p)
    x = jnp.asarray(value, dtype=leaf.dtype)
    u = x if constraint is None else constraint.inverse(x)
    u = jnp.asarray(u, dtype=leaf.dtype).reshape(leaf.shape)
    return eqx.tree_at(lambda m: getattr(m, field), model, u)


def with_params(model: AbstractModel, params: Mapping[str, ArrayLike]) -> AbstractModel:
    """A copy of ``model`` with some parameters set to new constrained values.

    Each value is given in user (constrained) space, checked against the
    parameter's constraint and stored through the constraint's inverse as the
    unconstrained leaf, so the result is an ordinary model of the same
    structure (no recompilation). Values may be traced (``jax.grad`` with
    respect to a parameter, ``jit``, ``vmap``); those are not checked.

    A parameter read when the spec compiles (``ParamInfo.compile_time``:
    an index, a shape, ``roll(x, k)``...) keeps its spec value in the
    compiled code: giving it that value is accepted, another is refused.

    Args:
        model: a compiled model.
        params: parameter name → value (broadcast to the parameter's shape).

    Returns:
        The updated model.

    Raises:
        UsageError: an unknown parameter name (with a did-you-mean hint), a
            value of the wrong shape, or a value outside the constraint, or
            a new value for a parameter read when the spec compiles.

    Example:
        >>> faster = with_params(ou, {"theta": 2.0})  # doctest: +SKIP
    """
    if not isinstance(model, AbstractModel):
        raise UsageError(
            f"with_params needs a compiled dync model, got {type(model).__name__}",
            hint='load one first: model = dync.load("spec.dync")',
        )
    if not isinstance(params, Mapping):
        raise UsageError(f"params must be a mapping of parameter name to value, got {type(params).__name__}")
    info = model.info
    for name, value in params.items():
        p = lookup_param(info, name, "params")
        value = checked_value(p, value, "params")
        check_compile_time_value(model, p, value, "params")
        model = set_param(model, p, value)
    return model


# ---------------------------------------------------------------------------
# Unconstrained views: the position that fitting and sampling move
# ---------------------------------------------------------------------------


def _free_param(model: AbstractModel, name: str, what: str) -> ParamInfo:
    """A non-fixed parameter stored as an array field, or a UsageError."""
    p = lookup_param(model.info, name, what)
    if p.fixed:
        free = [q.name for q in model.info.params if not q.fixed]
        raise UsageError(
            f"{what}: `{name}` of model `{model.info.name}` is a constant (`const`), "
            "not a parameter that can be fitted or sampled",
            hint=did_you_mean(name, free) or "declare it with `param` to fit it",
        )
    if not eqx.is_array(getattr(model, p.field, None)):
        raise UsageError(
            f"{what}: parameter `{name}` of model `{model.info.name}` is compiled in as a constant",
            hint="declare it as a (non-fixed) parameter in the spec",
        )
    if p.compile_time:
        raise compile_time_refusal(model, p, what)
    return p


def unconstrained_params(model: AbstractModel) -> dict[str, Array]:
    """The unconstrained leaves of every non-fixed parameter, by name.

    This is the default *position* of a parameter log-density: a dict
    ``name -> array`` of the parameter's declared shape, in declaration order.
    ``const`` declarations (``fixed=True``) are left out, and so are the
    parameters read when the spec compiles (``ParamInfo.compile_time``),
    whose field the compiled code never reads.

    Example:
        >>> unconstrained_params(ou)  # doctest: +SKIP
        {'theta': Array(0.), 'mu': Array(0.), 'sigma': Array(-0.6931472)}
    """
    return {
        p.name: getattr(model, p.field)
        for p in model.info.params
        if not p.fixed and not p.compile_time and eqx.is_array(getattr(model, p.field, None))
    }


def with_unconstrained_params(model: AbstractModel, values: Mapping[str, ArrayLike]) -> AbstractModel:
    """A copy of ``model`` with some unconstrained leaves replaced.

    The inverse of :func:`unconstrained_params`: ``values`` maps parameter
    names to unconstrained values (any subset of the non-fixed parameters).
    Values are cast to the leaf's dtype and must have the parameter's shape
    exactly (no broadcasting: a position has one array per parameter).
    Nothing is checked against a constraint (every real value is valid
    here), so this is traceable: use it inside ``jit``, ``grad`` and ``vmap``.

    Args:
        model: a compiled model.
        values: parameter name → unconstrained value.

    Returns:
        The updated model, with the same pytree structure.

    Raises:
        UsageError: an unknown name (with a did-you-mean hint), a ``const``,
            or a value of the wrong shape.
    """
    for name, value in values.items():
        p = _free_param(model, name, "unconstrained params")
        leaf = getattr(model, p.field)
        if tuple(jnp.shape(value)) != tuple(leaf.shape):
            raise UsageError(
                f"unconstrained params: parameter `{name}` has shape {tuple(leaf.shape)}, "
                f"got a value of shape {tuple(jnp.shape(value))}"
            )
        u = jnp.asarray(value, dtype=leaf.dtype)
        model = eqx.tree_at(lambda m, f=p.field: getattr(m, f), model, u)
    return model


def constrain(model: AbstractModel, values: Mapping[str, ArrayLike]) -> dict[str, Array]:
    """Map unconstrained values (a position) to user space, by name.

    Args:
        model: the compiled model the values belong to.
        values: parameter name → unconstrained value (non-fixed parameters).

    Returns:
        Parameter name → constrained value $f(u)$, for the names given.

    Raises:
        UsageError: an unknown name or a ``const``.
    """
    out = {}
    for name, u in values.items():
        p = _free_param(model, name, "constrain")
        c = _constraint(p)
        out[name] = jnp.asarray(u) if c is None else c.forward(u)
    return out


def unconstrain(model: AbstractModel, values: Mapping[str, ArrayLike]) -> dict[str, Array]:
    """Map constrained (user-space) values to unconstrained ones, by name.

    The inverse of :func:`constrain`. Concrete values are checked against
    their constraints (same messages as :func:`with_params`); traced values
    are only broadcast. Each result has the parameter's shape and the model
    leaf's dtype, ready for :func:`with_unconstrained_params`.

    Args:
        model: the compiled model the values belong to.
        values: parameter name → constrained value (broadcast to its shape).

    Returns:
        Parameter name → unconstrained value $f^{-1}(x)$.

    Raises:
        UsageError: an unknown name, a ``const``, a value of the wrong shape,
            or one outside its constraint.

    Example:
        >>> start = unconstrain(ou, {"theta": 2.0, "sigma": 0.3})  # doctest: +SKIP
    """
    out = {}
    for name, value in values.items():
        p = _free_param(model, name, "unconstrain")
        leaf = getattr(model, p.field)
        x = jnp.asarray(checked_value(p, value, "unconstrain"), dtype=leaf.dtype)
        c = _constraint(p)
        out[name] = (x if c is None else c.inverse(x)).reshape(leaf.shape)
    return out


# ---------------------------------------------------------------------------
# Filters for eqx.partition
# ---------------------------------------------------------------------------


class HeldFixed(NamedTuple):
    """A model with some parameters held fixed, and its free ones.

    Attributes:
        model: the model with the fixed values set.
        fixed: name → the constrained value given.
        held: name → unconstrained value of each fixed parameter.
        free: name → unconstrained value of each parameter left free.
    """

    model: AbstractModel
    fixed: dict[str, Any]
    held: dict[str, Array]
    free: dict[str, Array]

    def at(self, position: Mapping[str, ArrayLike]) -> AbstractModel:
        """The model at ``position`` (free values) with the fixed ones held."""
        return with_unconstrained_params(self.model, {**self.held, **position})


def check_compile_time_held(model: AbstractModel, fix: Mapping[str, Any], purpose: str) -> None:
    """Refuse a fit or a sampler that would move a parameter read when the
    spec compiles: one that ``fix`` leaves free, or gives another value.

    Raises:
        UsageError: a name in ``fix`` is no parameter, or such a parameter
            is left free or held at another value than the compiled one.
    """
    for name in fix:
        p = lookup_param(model.info, name, "fix")
        if p.compile_time and not isinstance(fix[name], jax.core.Tracer):
            check_compile_time_value(model, p, checked_value(p, fix[name], "fix"), "fix")
    for p in model.info.params:
        if p.compile_time and not p.fixed and p.name not in fix:
            raise compile_time_refusal(model, p, purpose)


def hold_fixed(model: AbstractModel, fix: Mapping[str, Any] | None, purpose: str) -> HeldFixed:
    """Set the parameters of ``fix`` (constrained values) and split the
    non-fixed parameters into the held and the free (what estimators move).

    A parameter read when the spec compiles (``ParamInfo.compile_time``)
    cannot move, so it must be held, at the value compiled in: it is refused
    when ``fix`` leaves it free (say so, rather than report an estimate the
    model never saw) or gives it another value.

    Raises:
        UsageError: a name in ``fix`` is no parameter, a parameter read when
            the spec compiles is left free or given another value, or
            nothing is left free (``purpose`` says what: ``"estimate"``,
            ``"sample"``).
    """
    fixed = dict(fix or {})
    check_compile_time_held(model, fixed, purpose)
    model = with_params(model, fixed) if fixed else model
    start = unconstrained_params(model)
    held = {n: v for n, v in start.items() if n in fixed}
    free = {n: v for n, v in start.items() if n not in fixed}
    if not free:
        compiled_in = [p.name for p in model.info.params if p.compile_time and not p.fixed]
        if compiled_in and set(fixed) <= set(compiled_in):  # held only what cannot move anyway
            names = ", ".join(f"`{n}`" for n in compiled_in)
            raise UsageError(
                f"model `{model.info.name}` has no parameter to {purpose}: {names} "
                f"{'is' if len(compiled_in) == 1 else 'are'} read when the spec compiles, and the rest are `const`s",
                hint="declare what should be fitted with `param NAME = VALUE`, read only at run time",
            )
        if not fixed:  # nothing was fixed by the user: the spec has only constants
            raise UsageError(
                f"model `{model.info.name}` has no free parameter (only `const`s): nothing to {purpose}",
                hint="declare what should be fitted with `param NAME = VALUE` (a `const` is never fitted)",
            )
        raise UsageError(f"every parameter is fixed: nothing to {purpose}", hint="fix fewer parameters (--fix)")
    return HeldFixed(model, fixed, held, free)


def _net_fields(model: AbstractModel) -> list[str]:
    """Fields holding the model's neural nets (``net`` declarations)."""
    return [n.field for n in model.info.nets]


def learnable_filter(model: AbstractModel, *, nets: bool = True) -> PyTree[bool]:
    """A filter spec marking the learnable leaves of ``model``.

    ``True`` at the unconstrained leaf of every non-fixed parameter and, when
    ``nets`` is true, at every floating-point array inside the model's neural
    nets; ``False`` everywhere else (``const`` values, fractional-noise
    settings, activation functions, integer arrays). Use it with
    ``eqx.partition`` to split a model into what training moves and the rest.

    Args:
        model: a compiled model.
        nets: include the weights and biases of the model's nets.

    Returns:
        A pytree of booleans with the structure of ``model``.

    Example:
        >>> learn, rest = eqx.partition(model, learnable_filter(model))  # doctest: +SKIP
        >>> model = eqx.combine(learn, rest)  # doctest: +SKIP
    """
    spec = jax.tree_util.tree_map(lambda _: False, model)
    for name in unconstrained_params(model):
        field = param_infos(model.info)[name].field
        spec = eqx.tree_at(lambda m, f=field: getattr(m, f), spec, True)
    if nets:
        for field in _net_fields(model):
            net_spec = jax.tree_util.tree_map(eqx.is_inexact_array, getattr(model, field))
            spec = eqx.tree_at(lambda m, f=field: getattr(m, f), spec, net_spec)
    return spec
