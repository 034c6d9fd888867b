"""Memory preflight: refuse a run that cannot fit before anything is allocated.

A model can be valid and still far too large for the machine: a network of
``width = 10^8`` and ``depth = 10^5``, a state of 2^40 numbers, a million
paths saved at every one of a million steps. Allocating such a thing does not
raise a Python error: XLA aborts the process (``std::bad_alloc``, "overflow in
static extent product"), with no message a user can act on. So before
``simulate`` builds the model or runs a step, :func:`preflight_simulate`
estimates, from the JAX-free :class:`~dync.info.ModelInfo` and the run
settings alone, the memory of

* the **parameters** and **networks** (on the device and on the host),
* the **working set** of one block of paths on the device (the state, its
  solver stages and temporaries, the Brownian increments, the diffusion
  matrix),
* the **saved output** gathered on the host,

and raises a :class:`~dync.errors.DyncRuntimeError` naming the largest part
and its size when the total does not fit in :data:`MEMORY_SHARE` of the
memory available (the device's for the first two, the host's for the rest).
The estimate errs on the side of running: it only refuses what cannot fit.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from .._memory import MEMORY_SHARE, host_memory_bytes, mlp_weights
from .._memory import format_bytes as _bytes
from ..errors import DyncRuntimeError
from ..info.model import ModelInfo

__all__ = [
    "MEMORY_SHARE",
    "Need",
    "host_memory_bytes",
    "memory_needs",
    "mlp_weights",
    "preflight_simulate",
    "saved_times",
]

#: copies of one path's state in a solver's working set (carry, stages,
#: increments, temporaries); the layout rule counts the same
WORK_STATE_COPIES = 16


@dataclasses.dataclass(frozen=True)
class Need:
    """One part of a run's memory.

    Attributes:
        what: the part, in the user's words (``network `f` (mlp 2→1, ...)``).
        numbers: how many floating-point numbers it holds.
        where: ``"device"`` (parameters, networks, the working set: they also
            count on the host when the device is the host) or ``"host"``
            (the saved output).
        hint: what to change to make it smaller.
    """

    what: str
    numbers: int
    where: str
    hint: str


def saved_times(save: Any, t0: float, t1: float, dt: float) -> int:
    """How many times a run saves (an upper bound): 1 for ``"final"``, the
    initial state and every ``k``-th step for a stride ``k``, the length of
    an array of times."""
    if isinstance(save, str):
        return 1
    if isinstance(save, int) and not isinstance(save, bool):
        if save < 1 or not (dt > 0 and math.isfinite(t1 - t0) and t1 > t0):
            return 1
        steps = (t1 - t0) / dt
        if not math.isfinite(steps):
            return 2**63
        return int(math.ceil(steps)) // save + 2
    try:
        return max(1, len(save))
    except TypeError:
        return 1


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]" if shape else ""


def memory_needs(
    info: ModelInfo,
    *,
    paths: int,
    saves: int,
    sweeps: int = 1,
    block_paths: int = 1,
) -> list[Need]:
    """The parts of the memory of simulating ``info``, largest first.

    Args:
        info: the model's description.
        paths: paths simulated.
        saves: saved times per path (:func:`saved_times`).
        sweeps: values of a parameter sweep (each saves its own output).
        block_paths: paths integrated side by side in one block.
    """
    needs: list[Need] = []
    for p in info.params:
        n = math.prod(p.shape)
        if n > 1:
            needs.append(Need(f"parameter `{p.name}{_shape(p.shape)}`", n, "device",
                              "give it a smaller shape (a smaller dim: `--set NAME=VALUE`)"))
    for net in info.nets:
        needs.append(Need(
            f"network `{net.name}` (mlp {net.in_size}→{net.out_size}, width {net.width}, depth {net.depth})",
            mlp_weights(net),
            "device",
            "make the network smaller: a `width` of a few hundred and a `depth` of a few layers are typical",
        ))
    n, m = info.state_size, info.noise_size
    matrix = 0 if (info.diffusion_is_elementwise or info.diagonal_noise or info.noise_structure == "none") else n * m
    per_path = WORK_STATE_COPIES * n + 2 * m + matrix
    states = ", ".join(f"{s.name}{_shape(s.shape)}" for s in info.states if not s.hidden)
    needs.append(Need(
        f"the working set of a block of {block_paths:,} path{'s' if block_paths != 1 else ''} "
        f"(states {states}: {n:,} numbers per path; {m:,} Brownian increments per step"
        + (f"; a {n:,} x {m:,} diffusion matrix" if matrix else "") + ")",
        per_path * block_paths,
        "device",
        "use smaller dims (`--set NAME=VALUE`)" + (" or noise that needs no full diffusion matrix" if matrix else ""),
    ))
    obs = sum(math.prod(o.shape) for o in info.observations)
    needs.append(Need(
        f"the saved output ({sweeps * paths:,} paths x {saves:,} saved times x {n + obs:,} numbers)",
        sweeps * paths * saves * (n + obs),
        "host",
        "save fewer times (`--save final`, or a larger `--save-every`), or simulate fewer paths per run",
    ))
    return sorted(needs, key=lambda x: -x.numbers)


def check_fits(needs: Sequence[Need], itemsize: int, device_bytes: int | None, host_bytes: int | None,
               device: str, model: str) -> None:
    """Refuse ``needs`` that do not fit.

    Args:
        needs: from :func:`memory_needs`.
        itemsize: bytes of one number.
        device_bytes: the device's memory (``None``: the device is the host).
        host_bytes: the host's memory (``None``: unknown, nothing refused).
        device: the device in words, for the message.
        model: the model's name.

    Raises:
        DyncRuntimeError: naming the largest part and its size.
    """
    checks = []
    on_device = [x for x in needs if x.where == "device"]
    if device_bytes is not None:
        checks.append((on_device, device_bytes, f"the memory of the device ({device})"))
        checks.append(([x for x in needs if x.where == "host"] + on_device, host_bytes, "the host memory available"))
    else:
        checks.append((list(needs), host_bytes, f"the memory available ({device})"))
    for parts, capacity, where in checks:
        if capacity is None or not parts:
            continue
        total = sum(x.numbers for x in parts) * itemsize
        if total <= MEMORY_SHARE * capacity:
            continue
        worst = max(parts, key=lambda x: x.numbers)
        raise DyncRuntimeError(
            f"simulating `{model}` needs about {_bytes(total)}, more than {where}, {_bytes(capacity)}: "
            f"{worst.what} alone takes {worst.numbers:,} numbers, {_bytes(worst.numbers * itemsize)}",
            hint=worst.hint,
        )


def preflight_simulate(
    info: ModelInfo,
    *,
    paths: Any = 1,
    t1: Any = 1.0,
    dt: Any = 1.0,
    t0: Any = 0.0,
    save: Any = "final",
    sweep: Mapping[str, Any] | None = None,
    devices: Any = None,
    device_bytes: int | None = None,
    host_bytes: int | None = None,
    **_: Any,
) -> None:
    """Refuse a simulation whose parameters, networks, working set or saved
    output cannot fit, before anything is allocated.

    Takes the keyword arguments of :func:`dync.simulate` (others are
    ignored); values that are not valid are left for :func:`dync.simulate`
    to report.

    Args:
        info: the model's description (:func:`dync.compiler.describe.describe_model`).
        paths, t1, dt, t0, save, sweep, devices: as for :func:`dync.simulate`.
        device_bytes: the device memory (default: what JAX reports; the host's
            for a CPU).
        host_bytes: the host memory (default: :func:`host_memory_bytes`).

    Raises:
        DyncRuntimeError: what does not fit, its size, and what to change.
    """
    import jax.numpy as jnp

    from .devices import describe_devices, resolve_devices
    from .layout import block_size

    try:
        paths = operator.index(paths)
    except TypeError:
        return
    if isinstance(paths, bool) or paths < 1:
        return
    try:
        t0, t1, dt = float(t0), float(t1), float(dt)
    except (TypeError, ValueError):
        return
    saves = saved_times(save, t0, t1, dt)
    sweeps = 1
    for values in (sweep or {}).values():
        try:
            sweeps = max(sweeps, len(values))
        except TypeError:
            pass
    itemsize = jnp.dtype(jnp.result_type(float)).itemsize
    obs = sum(math.prod(o.shape) for o in info.observations)
    block = block_size(paths, max(1, saves * (info.state_size + obs) * itemsize))
    needs = memory_needs(info, paths=paths, saves=saves, sweeps=sweeps, block_paths=block)
    desc = "cpu"
    if device_bytes is None:
        try:
            d = describe_devices(resolve_devices(devices))
        except Exception:  # noqa: BLE001 - a bad `devices` is simulate's to report
            d = None
        if d is not None:
            desc = d.kind if d.accelerator else "cpu"
            device_bytes = d.memory_bytes if d.accelerator else None
    if host_bytes is None:
        host_bytes = host_memory_bytes()
    check_fits(needs, itemsize, device_bytes, host_bytes, desc, info.name)
