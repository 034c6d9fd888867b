"""Evaluate a one-path function on a batch held along a trailing (minor) axis.

The fused kernels hold the state of ``P`` paths as ``(n, P)``: each state
component is a contiguous row of paths, so every elementwise operation of a
model vectorises over paths. ``jax.vmap`` over that trailing axis gives the
right numbers, but its batching rules move the batch axis to the front
whenever a batched array meets an unbatched one (a constant, a parameter
vector, the zeros of a ``join``), and XLA then fuses the step into one
kernel full of transposes: on the 64-oscillator chain the ``vmap`` of the
potential's gradient took 0.50 s where the same gradient of the summed
potential took 0.33 s.

:func:`minor_batched` instead traces the one-path function once, to a
jaxpr, and evaluates that jaxpr equation by equation on arrays that carry
the batch as their *last* axis: unbatched operands get a trailing axis of
length 1 and are broadcast, axis arguments stay as they are (the batch axis
comes after every one-path axis), and a matrix product keeps the paths
last. An equation this module has no rule for (loops, sorts, gathers,
custom derivatives, ...) is evaluated with ``jax.vmap`` of that equation
alone, so every function still gets the numbers ``jax.vmap`` gives
(``tests/runtime/test_batching.py`` checks that on every spec).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core as jcore

__all__ = ["minor_batched"]

#: primitives whose outputs are elementwise functions of equally shaped
#: (or scalar) operands
_ELEMENTWISE = frozenset(
    """abs acos acosh add add_any and asin asinh atan atan2 atanh cbrt ceil clamp conj
    convert_element_type copy copy_p cos cosh digamma div eq erf erf_inv erfc
    exp exp2 expm1 floor ge gt igamma igammac imag integer_pow is_finite le lgamma
    log log1p logistic lt max min mul ne neg nextafter not or pow real
    reduce_precision rem round rsqrt select_n shift_left shift_right_arithmetic
    shift_right_logical sign sin sinh sqrt square stop_gradient sub tan tanh xor""".split()
)
#: primitives whose axis parameters name one-path axes only (reductions,
#: cumulative operations, split): the paths, last, are never among them, so
#: the primitive applies to the batched value as it is
_SAME_AXES = frozenset(
    """reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or argmax argmin
    cumsum cumprod cummax cummin cumlogsumexp split""".split()
)
_INLINE_CALLS = frozenset("pjit jit closed_call core_call remat checkpoint".split())


class _Batched:
    """An array whose last axis is the batch (of size ``P``)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _is_batched(x) -> bool:
    """Whether ``x`` carries the paths (a :class:`_Batched`)."""
    return isinstance(x, _Batched)


def _one_path_shape(x) -> tuple[int, ...]:
    """The shape ``x`` has for one path."""
    return tuple(x.value.shape[:-1]) if _is_batched(x) else tuple(np.shape(x))


def _to_batched(x, shape: tuple[int, ...], size: int):
    """``x`` (batched or not) as an operand of shape ``shape + (size,)``.

    ``x``'s one-path shape is ``shape``, or a scalar, or (as elementwise
    primitives allow) of the same rank with some dimensions of size 1; those
    stay 1 and the primitive broadcasts them."""
    if _is_batched(x):
        v = x.value
        if v.ndim == len(shape) + 1:
            return v
        return lax.broadcast_in_dim(v, shape + (size,), (len(shape),))
    v = jnp.asarray(x)
    if v.ndim == len(shape):
        return lax.broadcast_in_dim(v, v.shape + (size,), tuple(range(v.ndim)))
    return lax.broadcast_in_dim(v, shape + (size,), ())


def minor_batched(fn: Callable, in_batched: Sequence[bool]) -> Callable:
    """``fn`` evaluated on arguments batched along their last axis.

    Args:
        fn: a function of arrays for one path.
        in_batched: for each positional argument, whether it carries a
            trailing batch axis (the others are the same for every path).

    Returns:
        A function of the same arguments (batched ones with the extra last
        axis) whose results all carry the batch as their last axis, equal
        to ``jax.vmap(fn, in_axes=(-1 or None, ...), out_axes=-1)``.
    """
    in_batched = tuple(bool(b) for b in in_batched)

    def batched(*args):
        sizes = {np.shape(a)[-1] for a, b in zip(args, in_batched) if b}
        if len(sizes) != 1:
            raise ValueError(f"batched arguments must share their last axis, got sizes {sorted(sizes)}")
        (size,) = sizes
        # Trace for one path, the batched arguments abstract and the others
        # closed over (as values, or as tracers of the enclosing computation).
        idx = [i for i, b in enumerate(in_batched) if b]
        one = [jax.ShapeDtypeStruct(np.shape(args[i])[:-1], jnp.result_type(args[i])) for i in idx]
        closed, out_shapes = jax.make_jaxpr(lambda *xs: fn(*_place(args, in_batched, xs)), return_shape=True)(*one)
        outs = _eval(closed.jaxpr, closed.consts, [_Batched(args[i]) for i in idx], size)
        values = [_to_batched(o, tuple(s.shape), size) for o, s in zip(outs, jax.tree.leaves(out_shapes))]
        return jax.tree.unflatten(jax.tree.structure(out_shapes), values)

    return batched


def _place(args, in_batched, xs):
    """The argument list with the batched positions taken from ``xs``."""
    it = iter(xs)
    return [next(it) if b else a for a, b in zip(args, in_batched)]


def _eval(jaxpr, consts, args, size: int) -> list:
    """Evaluate ``jaxpr`` on ``args`` (some :class:`_Batched`): equations with
    no batched input run as they are, the others through :func:`_apply`."""
    env: dict = {}

    def read(v):
        if isinstance(v, jcore.Literal):
            return v.val
        return env[v]

    def write(v, x):
        if type(v).__name__ != "DropVar":
            env[v] = x

    for v, c in zip(jaxpr.constvars, consts):
        write(v, c)
    for v, a in zip(jaxpr.invars, args):
        write(v, a)
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        if not any(_is_batched(x) for x in ins):
            outs = eqn.primitive.bind(*ins, **eqn.primitive.get_bind_params(eqn.params))
        else:
            outs = _apply(eqn, ins, size)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        for v, x in zip(eqn.outvars, outs):
            write(v, x)
    return [read(v) for v in jaxpr.outvars]


def _apply(eqn, ins: list, size: int):
    """One equation with some batched inputs; results wrapped as batched."""
    prim, params = eqn.primitive, dict(eqn.params)
    name = prim.name
    if name in _ELEMENTWISE:
        shape = tuple(eqn.outvars[0].aval.shape)
        return _Batched(prim.bind(*[_to_batched(x, shape, size) for x in ins], **params))
    if name in _SAME_AXES and len(ins) == 1:
        out = prim.bind(ins[0].value, **params)
        return [_Batched(o) for o in out] if prim.multiple_results else _Batched(out)
    inner = params.get("jaxpr", params.get("call_jaxpr")) if name in _INLINE_CALLS else None
    if inner is not None:
        # a call of a sub-jaxpr (jit, checkpoint): evaluate its body inline
        return _eval(getattr(inner, "jaxpr", inner), getattr(inner, "consts", ()), ins, size)
    rule = _RULES.get(name)
    if rule is not None:
        try:
            return rule(ins, params, size)
        except _NoRule:
            pass
    return _fallback(eqn, ins)


class _NoRule(Exception):
    """The structural rule does not cover these arguments: use the fallback."""


def _fallback(eqn, ins: list):
    """``jax.vmap`` of the equation alone, batch axis last in and out."""
    batched = [_is_batched(x) for x in ins]
    values = [x.value if b else x for x, b in zip(ins, batched)]
    in_axes = tuple(-1 if b else None for b in batched)
    prim = eqn.primitive
    params = prim.get_bind_params(eqn.params)

    def one(*xs):
        out = prim.bind(*xs, **params)
        return tuple(out) if prim.multiple_results else out

    out = jax.vmap(one, in_axes=in_axes, out_axes=-1)(*values)
    if prim.multiple_results:
        return [_Batched(o) for o in out]
    return _Batched(out)


def _broadcast_in_dim(ins, params, size):
    (x, *dyn) = ins
    if dyn:
        raise _NoRule
    shape = tuple(params["shape"])
    dims = tuple(params["broadcast_dimensions"]) + (len(shape),)
    return _Batched(lax.broadcast_in_dim(x.value, shape + (size,), dims))


def _reshape(ins, params, size):
    (x, *dyn) = ins
    if dyn or params.get("dimensions") is not None:
        raise _NoRule
    return _Batched(lax.reshape(x.value, tuple(params["new_sizes"]) + (size,)))


def _squeeze(ins, params, size):
    (x,) = ins
    return _Batched(lax.squeeze(x.value, tuple(params["dimensions"])))


def _transpose(ins, params, size):
    (x,) = ins
    perm = tuple(params["permutation"])
    return _Batched(lax.transpose(x.value, perm + (len(perm),)))


def _slice(ins, params, size):
    (x,) = ins
    strides = params.get("strides")
    return _Batched(
        lax.slice(
            x.value,
            tuple(params["start_indices"]) + (0,),
            tuple(params["limit_indices"]) + (size,),
            None if strides is None else tuple(strides) + (1,),
        )
    )


def _rev(ins, params, size):
    (x,) = ins
    return _Batched(lax.rev(x.value, tuple(params["dimensions"])))


def _concatenate(ins, params, size):
    values = [_to_batched(x, _one_path_shape(x), size) for x in ins]
    return _Batched(lax.concatenate(values, params["dimension"]))


def _pad(ins, params, size):
    x, pad_value = ins
    if _is_batched(pad_value):
        raise _NoRule
    config = tuple(params["padding_config"]) + ((0, 0, 0),)
    return _Batched(lax.pad(_to_batched(x, _one_path_shape(x), size), pad_value, config))


def _dynamic_slice(ins, params, size):
    x, *idx = ins
    if any(_is_batched(i) for i in idx) or not _is_batched(x):
        raise _NoRule
    zero = jnp.zeros((), jnp.result_type(idx[0]) if idx else jnp.int32)
    sizes = tuple(params["slice_sizes"]) + (size,)
    return _Batched(lax.dynamic_slice(x.value, list(idx) + [zero], sizes))


def _dynamic_update_slice(ins, params, size):
    x, update, *idx = ins
    if any(_is_batched(i) for i in idx):
        raise _NoRule
    zero = jnp.zeros((), jnp.result_type(idx[0]) if idx else jnp.int32)
    xv = _to_batched(x, _one_path_shape(x), size)
    uv = _to_batched(update, _one_path_shape(update), size)
    return _Batched(lax.dynamic_update_slice(xv, uv, list(idx) + [zero]))


def _dot_general(ins, params, size):
    lhs, rhs = ins
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    kw = {k: v for k, v in params.items() if k not in ("dimension_numbers", "out_sharding")}
    if _is_batched(lhs) and _is_batched(rhs):
        lr, rr = lhs.value.ndim - 1, rhs.value.ndim - 1
        dn = ((tuple(lc), tuple(rc)), (tuple(lb) + (lr,), tuple(rb) + (rr,)))
        out = lax.dot_general(lhs.value, rhs.value, dn, **kw)
        # the new batch dimension comes after the existing ones: move it last
        nb = len(lb)
        return _Batched(jnp.moveaxis(out, nb, -1))
    if _is_batched(rhs):
        out = lax.dot_general(lhs, rhs.value, ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb))), **kw)
        return _Batched(out)  # the paths are rhs's last free dimension: last in the output
    out = lax.dot_general(lhs.value, rhs, ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb))), **kw)
    # output: batch dims, lhs free dims (paths last among them), rhs free dims
    rhs_free = np.ndim(rhs) - len(rc) - len(rb)
    return _Batched(jnp.moveaxis(out, out.ndim - 1 - rhs_free, -1))


_RULES: dict[str, Callable] = {
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": _reshape,
    "squeeze": _squeeze,
    "transpose": _transpose,
    "slice": _slice,
    "rev": _rev,
    "concatenate": _concatenate,
    "pad": _pad,
    "dynamic_slice": _dynamic_slice,
    "dynamic_update_slice": _dynamic_update_slice,
    "dot_general": _dot_general,
}
