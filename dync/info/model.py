"""The static description of a compiled model: what the compiler knows and
the runtime needs, with no JAX in it.

The code generator builds a :class:`ModelInfo` from the checked IR
(:func:`dync.compiler.describe.describe_model`) and writes it into the
generated module; ``dync check`` prints the same object; the runtime lays out
states and noise from it; the solver rule (:mod:`dync.info.solvers`) reads it.
So every fact about a model is stated once, here.

Conventions
-----------
* The state of one path is a flat vector ``y`` of length ``state_size``; each
  declared state occupies ``y[offset : offset + size]`` reshaped to its
  declared shape (row-major). Hidden states added by the compiler (the
  Ornstein-Uhlenbeck components of a fractional Brownian motion) come after
  the declared ones and are flagged ``hidden``.
* The driving noise of one path is a vector ``dw`` of length ``noise_size``:
  every implicit (per-equation) noise and every declared Brownian motion,
  concatenated in declaration order.
"""

from __future__ import annotations

import dataclasses

from .constraints import AbstractConstraint, Real

__all__ = [
    "NOISE_STRUCTURES",
    "SAMPLERS",
    "ExpectInfo",
    "LangevinInfo",
    "ModelInfo",
    "NoiseInfo",
    "ObservationInfo",
    "ParamInfo",
    "SpecSource",
    "StateInfo",
]

#: The noise structures the compiler can infer, from most to least special.
NOISE_STRUCTURES = ("none", "additive", "diagonal", "scalar", "shared", "general")

#: The Markov chain Monte Carlo kernels that sample a ``target`` (LANGUAGE.md
#: §9); a model whose every state has an equation adds ``dynamics``, its own
#: simulated dynamics, as one more.
SAMPLERS = ("ula", "mala", "baoab", "hmc", "nuts")


@dataclasses.dataclass(frozen=True)
class StateInfo:
    """One state variable's place in the flat state vector."""

    name: str
    shape: tuple[int, ...]
    offset: int
    size: int
    hidden: bool = False


@dataclasses.dataclass(frozen=True)
class ParamInfo:
    """A parameter: its shape, its constraint and whether fitting may change it."""

    name: str
    shape: tuple[int, ...]
    constraint: AbstractConstraint = Real()
    #: a ``const``: compiled in, never fitted
    fixed: bool = False
    #: name of the prior distribution (``LogNormal``), ``""`` without one
    prior: str = ""
    #: drawn at construction (``~ init DIST``) rather than given a value
    init: bool = False
    #: attribute of the module holding the unconstrained value ("" = same as name;
    #: differs when the name is a Python keyword such as ``lambda``)
    attr: str = ""
    #: what reads it when the spec compiles, "" if nothing: an index or a
    #: shape, a library call's static argument (``roll(x, k)``), a network's
    #: size, a constraint's bound ("an index or a size (line 6)"). The
    #: compiled code keeps its spec value, so no value given at run time
    #: reaches it: it is never fitted, drawn or set to another value
    compile_time: str = ""

    @property
    def field(self) -> str:
        """The attribute of the model that holds the unconstrained value."""
        return self.attr or self.name

    @property
    def has_prior(self) -> bool:
        """Whether the spec gives the parameter a prior (``~ DIST``)."""
        return bool(self.prior)


@dataclasses.dataclass(frozen=True)
class NoiseInfo:
    """One block of the driving-noise vector ``dw``."""

    name: str
    shape: tuple[int, ...]
    offset: int
    size: int
    implicit: bool
    kind: str = "brownian"  # or "fractional"
    #: whether any equation uses it: the diagonal layout gives every state a
    #: block (``m == n``), but a state without a noise term leaves its block
    #: unused, and solvers need not draw it
    drives: bool = True


@dataclasses.dataclass(frozen=True)
class ObservationInfo:
    """An observation model ``observe NAME[SHAPE] ~ DIST``."""

    name: str
    shape: tuple[int, ...]
    distribution: str
    discrete: bool


@dataclasses.dataclass(frozen=True)
class LangevinInfo:
    """A recognised underdamped-Langevin pair, for splitting integrators.

    The pair is ``dx = v dt``, ``dv = (-gamma v + force(x)) dt + sigma dW`` with
    ``gamma`` and ``sigma`` independent of the state.
    """

    position: str
    velocity: str


@dataclasses.dataclass(frozen=True)
class NetInfo:
    """A learnable network ``net NAME = mlp(...)``."""

    name: str
    in_size: int
    out_size: int
    width: int
    depth: int
    activation: str
    attr: str = ""

    @property
    def field(self) -> str:
        """The attribute of the model that holds the network."""
        return self.attr or self.name


@dataclasses.dataclass(frozen=True)
class ExpectInfo:
    """One ``expect`` statement (LANGUAGE.md §8), the ``index``-th of the
    model: the generated model's ``expectation_values(index, t, y)``,
    ``expectation_rhs(index, t)`` and ``stationary_law(index)`` evaluate it.

    Attributes:
        kind: ``always``, ``mean``, ``var`` or ``stationary``.
        lhs: the canonical text of the left side: the condition (``always``),
            the expression inside ``mean(...)`` / ``var(...)``, or the state
            (``stationary``).
        rhs: the canonical text of the right side: the exact value
            (``mean``, ``var``), the law (``stationary``: ``Normal(mu, 1)``),
            ``""`` for ``always``.
        line: where the statement stands in the spec (1-based).
        column: likewise.
        state: the state of a ``stationary`` expectation, else ``""``.
        distribution: the name of its law (``Normal``), else ``""``.
        shape: the shape of the left side's value.
    """

    kind: str
    lhs: str
    rhs: str
    line: int
    column: int
    state: str = ""
    distribution: str = ""
    shape: tuple[int, ...] = ()

    @property
    def statistical(self) -> bool:
        """Whether checking it is a statistical test (all but ``always``)."""
        return self.kind != "always"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """Static metadata of a compiled model."""

    name: str
    calculus: str  # "ito" or "stratonovich"
    noise_structure: str  # one of NOISE_STRUCTURES
    states: tuple[StateInfo, ...]
    state_size: int
    noises: tuple[NoiseInfo, ...]
    noise_size: int
    params: tuple[ParamInfo, ...]
    observations: tuple[ObservationInfo, ...] = ()
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    dims: tuple[tuple[str, int], ...] = ()
    nets: tuple[NetInfo, ...] = ()
    langevin: LangevinInfo | None = None
    diffusion_is_elementwise: bool = False
    #: G is square and diagonal (m == n, noise block i drives state component i)
    diagonal_noise: bool = False
    #: hidden OU components per fractional Brownian motion (0 if none)
    fbm_num_ou: int = 0
    #: drift affine in the states, additive time-invariant noise, Normal
    #: observations affine in the states, fixed or Normal initial states: the
    #: exact likelihood is a Kalman filter's (:mod:`dync.runtime.kalman`)
    linear_gaussian: bool = False
    #: ``target EXPR``: its canonical text; the model then has
    #: ``target_log_density(y, args)``
    target: str | None = None
    #: ``score STATE = EXPR``: the state, and the expression's canonical
    #: text; the model then has ``score(t, y, args)``
    score_state: str | None = None
    score: str | None = None
    #: the ``expect`` statements, in order
    expectations: tuple[ExpectInfo, ...] = ()
    #: the states declared ``~ data``: their initial law is a data set
    #: (``initial_state`` reads ``args["data"][NAME]``, shape ``(sample, *shape)``)
    data_states: tuple[str, ...] = ()
    #: every state has an equation, so the model can be simulated (a model
    #: with a ``target`` may have none)
    has_dynamics: bool = True
    #: a target model with inputs (no equations): the inputs are static data
    #: arrays (``target_log_density`` reads ``args["data"][NAME]``) sharing
    #: their leading axis, this dim, whose size is the number of data points;
    #: the target may then be sampled with minibatches (``sgld``)
    data_dim: str | None = None

    @property
    def samplers(self) -> tuple[str, ...]:
        """The kernels that can sample the ``target`` (:data:`SAMPLERS`, and
        ``dynamics`` when the model has its own equations); ``()`` without one."""
        if self.target is None:
            return ()
        return SAMPLERS + (("sgld",) if self.data_dim else ()) + (("dynamics",) if self.has_dynamics else ())

    @property
    def driving_noise_segments(self) -> tuple[tuple[int, int, bool], ...]:
        """``(offset, size, drives)`` runs of ``dw`` in order, adjacent blocks
        with the same ``drives`` merged: what a solver must draw and what it
        may leave zero."""
        runs: list[list] = []
        for b in self.noises:
            if runs and runs[-1][2] == b.drives and runs[-1][0] + runs[-1][1] == b.offset:
                runs[-1][1] += b.size
            else:
                runs.append([b.offset, b.size, b.drives])
        return tuple((o, n, d) for o, n, d in runs)

    @property
    def drawn_noise_size(self) -> int:
        """How many Brownian increments a step draws (undriven blocks stay zero)."""
        return sum(b.size for b in self.noises if b.drives)

    @property
    def draws_at_init(self) -> bool:
        """Whether building the model draws numbers (``~ init`` parameters or
        network weights), so that it needs a PRNG key."""
        return bool(self.nets) or any(p.init for p in self.params)

    def state(self, name: str) -> StateInfo:
        """The state called ``name`` (``KeyError`` if none)."""
        return _named(self.states, name)

    def param(self, name: str) -> ParamInfo:
        """The parameter called ``name`` (``KeyError`` if none)."""
        return _named(self.params, name)


def _named(items, name: str):
    for item in items:
        if item.name == name:
            return item
    raise KeyError(name)


@dataclasses.dataclass(frozen=True)
class SpecSource:
    """Where a model came from: the spec's path, its text and its doc comment.

    Kept out of :class:`ModelInfo` so that generated code carries no user text;
    :func:`dync.load` attaches it to the model it builds, and
    ``dync simulate`` records it in its output.
    """

    path: str = ""
    text: str = ""
    doc: str = ""
