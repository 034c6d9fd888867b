"""The classes of a score model's forward (noising) SDE, and the training
objective each gets: stated once, for ``dync check`` (which classifies by the
equations' form, :func:`dync.compiler.analysis.forward_sde_class`) and
``dync train`` (which confirms the class numerically on the compiled model,
:func:`dync.runtime.forward_sde.classify_forward`, and trains with the
objective). JAX-free."""

from __future__ import annotations

__all__ = ["FORWARD_CLASSES", "OBJECTIVES"]

#: class -> what it is
FORWARD_CLASSES = {
    "linear": "affine drift with state-independent diffusion: the transition is Gaussian and exact",
    "log-linear": "linear in log x (multiplicative noise, e.g. GBM): the transition is log-normal and exact",
    "other": "not affine in the state, or state-dependent diffusion: no Gaussian transition",
}

#: class -> the objective ``dync train`` uses
OBJECTIVES = {
    "linear": "denoising score matching with the exact Gaussian transition",
    "log-linear": "denoising score matching in log x with the exact log-normal transition",
    "other": "sliced score matching on x_t simulated with the model's solver",
}
