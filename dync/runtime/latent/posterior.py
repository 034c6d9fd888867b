"""The posterior SDE of variational latent-path inference.

The prior is the spec's SDE, $dx = f(t, x)\\,dt + G(t, x)\\,dW$ (Itô drift).
The posterior keeps its diffusion and adds a control in *noise space*:

$$dx = \\big(f(t, x) + G(t, x)\\,u(t, x, c_t)\\big)\\,dt + G(t, x)\\,dW,$$

with $u$ an MLP of the state and the encoder's context $c_t$. By Girsanov's
theorem the KL divergence of the posterior path measure from the prior one is
$\\tfrac12\\,\\mathbb E\\int |u|^2 dt$ (the drift difference $Gu$ divided by
the diffusion is $u$ itself). Only the noise components that drive a state
get a control (``NoiseInfo.drives``); so where the diffusion is singular, as
for the position of an underdamped Langevin pair ($dx = v\\,dt$, no noise),
the posterior keeps the prior's drift for those states exactly, and only the
velocity is steered. When $G$ has fewer independent directions than driving
noises, $\\tfrac12|u|^2$ is at least the divergence (the part of $u$ in
$G$'s null space costs KL but moves nothing), so the ELBO stays a lower bound.

One step of the discretised posterior (Euler–Maruyama, by
reparameterisation) is :func:`posterior_step`. Its KL increment,
$\\tfrac12|u|^2 h$, is also the exact KL between the Euler–Maruyama
transition densities of posterior and prior (same covariance $GG^\\top h$,
means differing by $Gu\\,h$) when $G$ has full column rank, and an upper
bound otherwise.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, Scalar

from ..model import AbstractModel, ModelInfo

__all__ = ["Controller", "driven_noise", "posterior_step"]


def driven_noise(info: ModelInfo) -> np.ndarray:
    """The indices, in ``dw``, of the noise components that drive a state:
    the ones the control acts on."""
    return np.concatenate(
        [np.arange(b.offset, b.offset + b.size) for b in info.noises if b.drives] or [np.zeros(0, int)]
    ).astype(np.int32)


class Controller(eqx.Module):
    """$u(x, c)$: an MLP of the state and the context (the encoder's, with
    the phase within the observation interval appended), one output per
    driving noise component. Its last layer starts at zero, so the posterior
    starts as the prior."""

    mlp: eqx.nn.MLP

    def __init__(self, state_size: int, context: int, controls: int, width: int, *, key: PRNGKeyArray):
        # the context of the interval and the phase within it (see .elbo)
        mlp = eqx.nn.MLP(state_size + context + 1, controls, width, 2, activation=jax.nn.softplus, key=key)
        last = mlp.layers[-1]
        mlp = eqx.tree_at(lambda m: (m.layers[-1].weight, m.layers[-1].bias), mlp,
                          (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)))  # fmt: skip
        self.mlp = mlp

    def __call__(self, y: Float[Array, " n"], context: Float[Array, " C"]) -> Float[Array, " a"]:
        return self.mlp(jnp.concatenate([y, context]))


def posterior_step(
    model: AbstractModel,
    controller: Controller,
    driven: np.ndarray,
    t: Scalar,
    y: Float[Array, " n"],
    context: Float[Array, " C"],
    h: Scalar,
    eps: Float[Array, " a"],
) -> tuple[Float[Array, " n"], Scalar]:
    """One Euler–Maruyama step of the posterior SDE, and its KL increment.

    Args:
        model: the prior (a compiled model).
        controller: the control $u$.
        driven: :func:`driven_noise` of the model.
        t, y: time and state at the step's start.
        context: the encoder's context for this step.
        h: the step (may be 0: a padded interval, which changes nothing).
        eps: standard normal draws, one per driving noise component.

    Returns:
        ``(y_next, kl)`` with ``kl`` $= \\tfrac12 |u|^2 h$.
    """
    m = model.info.noise_size
    u = controller(y, context)
    dw = jnp.zeros((m,), y.dtype).at[driven].set(u * h + jnp.sqrt(h) * eps)
    y_next = y + model.ito_drift(t, y) * h + model.noise(t, y, dw)
    return y_next, 0.5 * jnp.sum(u**2) * h
