"""``dync.load``: a spec compiled in-process, with trained weights if given.

Compiling a spec and building its model is the compiler's
(:func:`dync.compiler.driver.load`); restoring the weights ``dync train``
wrote is the runtime's (:func:`dync.runtime.score_training.load_weights`).
The compiler may not import the runtime, so the two are put together here,
one layer above both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..compiler.driver import CompiledSpec, build_model, compile_file
from ..errors import UsageError

__all__ = ["build_trained", "load"]


def build_trained(compiled: CompiledSpec, weights: str | os.PathLike) -> tuple[Any, dict]:
    """The compiled model with the weights of ``dync train`` (the EMA
    weights it saved), and what was saved beside them.

    Every array of the model is read from the file, so the key its nets are
    first built with does not matter.

    Returns:
        ``(model, meta)``: ``meta`` holds the time span, the data's moments,
        the training settings and the forward SDE's class.

    Raises:
        UsageError: no such file, not a weights file, or weights trained for
            other nets, dims or precision.
    """
    import jax

    from ..runtime.score_training import load_weights

    return load_weights(build_model(compiled, jax.random.key(0)), weights)


def load(
    path: str | Path,
    key=None,
    *,
    weights: str | os.PathLike | None = None,
    text: str | None = None,
    **dims: int,
):
    """Compile a spec in-process and build its model.

    Args:
        path: a ``.dync`` or ``.yaml`` spec.
        key: PRNG key (or an integer seed) for parameters drawn with
            ``~ init`` and network weights; required exactly when the spec
            has either (there is no hidden default key), unless ``weights``
            gives them all.
        weights: a weights file written by ``dync train -o FILE``: the model
            comes back with the trained (EMA) weights of its nets.
        text: the spec's text, when it is not to be read from ``path``.
        **dims: overrides of the spec's ``dim`` values (the trained ones,
            with ``weights``).

    Raises:
        SpecErrors: the spec's errors.
        UsageError: a missing key, or weights that do not fit the model.

    Example:
        >>> model = dync.load("specs/ou.dync")  # doctest: +SKIP
        >>> net_model = dync.load("specs/neural_langevin.dync", jax.random.key(0))  # doctest: +SKIP
        >>> trained = dync.load("specs/diffusion/gmm2d_vp.dync", weights="trained.eqx")  # doctest: +SKIP
        >>> trained.score(0.5, jnp.zeros(2), None)  # doctest: +SKIP
    """
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(
            f"load needs the spec's path, got {type(path).__name__}",
            hint='with text=..., the path still names the form: "model.dync" or "model.yaml"',
        )
    compiled = compile_file(path, dims, text)
    if key is not None:
        from ..runtime.keys import prng_key

        key = prng_key(key)  # an integer seed, as simulate takes one
    if weights is None:
        return build_model(compiled, key)
    model, _ = build_trained(compiled, weights)
    return model
