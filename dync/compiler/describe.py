"""The checked IR, described: build the JAX-free :class:`~dync.info.ModelInfo`.

The code generator writes this object into the generated module, and
``dync check`` prints it and asks :func:`dync.info.choose_solver` what
``auto`` runs, so the compiler, the summary and the runtime read one
description of the model.
"""

from __future__ import annotations

from ..info.model import (
    ExpectInfo,
    LangevinInfo,
    ModelInfo,
    NetInfo,
    NoiseInfo,
    ObservationInfo,
    ParamInfo,
    StateInfo,
)
from . import analysis, ir
from .library import DISTRIBUTIONS

__all__ = ["describe_model"]


def describe_model(model: ir.ModelIR) -> ModelInfo:
    """The static description of a checked model.

    Example:
        >>> describe_model(check_spec(load_spec("specs/ou.dync"))).noise_structure
        'additive'
    """
    return ModelInfo(
        name=model.name,
        calculus=model.calculus,
        noise_structure=model.noise_structure,
        states=tuple(StateInfo(s.name, tuple(s.shape), s.offset, s.size, hidden=s.hidden) for s in model.states),
        state_size=model.state_size,
        noises=tuple(_noise(model, b) for b in model.noise_blocks),
        noise_size=model.noise_size,
        params=tuple(_param(p) for p in model.params),
        observations=tuple(
            ObservationInfo(o.name, tuple(o.shape), o.dist.name, DISTRIBUTIONS[o.dist.name].discrete)
            for o in model.observations
        ),
        inputs=tuple((n, tuple(s)) for n, s in model.inputs),
        dims=tuple(model.dims),
        nets=tuple(
            NetInfo(n.name, n.in_size, n.out_size, n.width, n.depth, n.activation, attr=n.attr if n.attr != n.name else "")
            for n in model.nets
        ),
        langevin=LangevinInfo(*model.langevin) if model.langevin else None,
        diffusion_is_elementwise=model.diffusion_is_elementwise,
        diagonal_noise=analysis.is_diagonal_layout(model),
        fbm_num_ou=model.fbm_num_ou,
        linear_gaussian=analysis.is_linear_gaussian(model),
        target=model.target_text,
        score_state=model.score.state if model.score is not None else None,
        score=model.score.text if model.score is not None else None,
        expectations=tuple(_expect(e) for e in model.expectations),
        data_states=tuple(s.name for s in model.states if s.data),
        has_dynamics=model.has_dynamics,
        data_dim=model.data_dim,
    )


def _expect(e: ir.ExpectationIR) -> ExpectInfo:
    return ExpectInfo(
        e.kind,
        e.lhs_text,
        e.rhs_text,
        e.line,
        e.column,
        state=e.state,
        distribution=e.dist.name if e.dist is not None else "",
        shape=tuple(e.lhs.shape),
    )


def _noise(model: ir.ModelIR, b: ir.NoiseBlock) -> NoiseInfo:
    drives = analysis.drives(model, b)
    return NoiseInfo(b.name, tuple(b.shape), b.offset, b.size, implicit=b.implicit, kind=b.kind, drives=drives)


def _param(p: ir.ParamIR) -> ParamInfo:
    prior = p.prior.name if p.prior is not None else ""
    attr = p.attr if p.attr != p.name else ""
    return ParamInfo(
        p.name, tuple(p.shape), p.constraint, fixed=p.fixed, prior=prior, init=p.init is not None, attr=attr,
        compile_time=p.compile_time,
    )
