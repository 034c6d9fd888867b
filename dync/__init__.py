"""dync: declarative stochastic dynamical systems, compiled to JAX.

The public API::

    import dync
    model = dync.load("specs/ou.dync", K=16)         # compile in-process
    ds = dync.simulate(model, jax.random.key(0), paths=1000, t1=1.0, dt=1e-3)
    compiled = dync.compile_file("specs/ou.dync")   # AST, IR and generated source
    summary = dync.check_file("specs/ou.dync")       # the `dync check` summary
    ds = dync.simulate_file("specs/ou.dync", t1=1.0, dt=1e-3)  # what `dync simulate` runs
    y1 = dync.propagate(key, model, y0, 0.0, 1.0, dt=1e-2)   # pure: jit, grad, vmap
    density = dync.parameter_log_density(model, log_likelihood)  # the log-density contract
    run = dync.run_kernel(kernel, state, key, 1000)          # the kernel contract
    ll = dync.log_likelihood(model, "data.csv")              # exact Kalman or a particle filter
    result = dync.train("specs/diffusion/gmm2d_vp.dync", "specs/diffusion/gmm2d.csv")  # a score, by DSM
    trained = dync.load("specs/diffusion/gmm2d_vp.dync", weights="trained.eqx")  # its trained score

How these fit together is in ``docs/architecture.md``; the two contracts are
in ``docs/contracts.md``.

The front end and the compiler import no JAX, so checking and formatting a
spec stays fast; ``load`` and ``simulate`` import it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DyncError as DyncError
from .errors import DyncRuntimeError as DyncRuntimeError
from .errors import DyncSyntaxError as DyncSyntaxError
from .errors import SpecError as SpecError
from .errors import SpecErrors as SpecErrors
from .errors import UsageError as UsageError

from ._version import __version__ as __version__

__all__ = [
    "DyncError",
    "DyncRuntimeError",
    "DyncSyntaxError",
    "SpecError",
    "SpecErrors",
    "UsageError",
    "check_file",
    "compile_file",
    "load",
    "load_spec",
    "simulate",
    "simulate_file",
    "propagate",
    "with_params",
    "LogDensity",
    "parameter_log_density",
    "state_log_density",
    "Kernel",
    "run_kernel",
    "ModelInfo",
    "read_observations",
    "log_likelihood",
    "particle_filter",
    "fit",
    "sample",
    "train",
    "evaluate",
    "fit_point",
    "sample_posterior",
    "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from .compiler.driver import compile_file
    from .commands.loading import load
    from .compiler.summary import check_file
    from .dsl.loading import load_spec
    from .commands import fit, sample, simulate_file
    from .commands.training import train
    from .commands.evaluating import evaluate
    from .info import ModelInfo
    from .runtime.kernels import Kernel, run_kernel
    from .runtime.logdensity import LogDensity, parameter_log_density, state_log_density
    from .runtime.params import with_params
    from .runtime.data import read_observations
    from .runtime.estimate import fit_point
    from .runtime.posterior import sample_posterior
    from .runtime.likelihood import log_likelihood
    from .runtime.particle import particle_filter
    from .runtime.propagate import propagate
    from .runtime.simulate import simulate

_LAZY = {
    "compile_file": ("dync.compiler.driver", "compile_file"),
    "load": ("dync.commands.loading", "load"),
    "check_file": ("dync.compiler.summary", "check_file"),
    "load_spec": ("dync.dsl.loading", "load_spec"),
    "simulate": ("dync.runtime.simulate", "simulate"),
    "simulate_file": ("dync.commands", "simulate_file"),
    "fit": ("dync.commands", "fit"),
    "sample": ("dync.commands", "sample"),
    "train": ("dync.commands.training", "train"),
    "evaluate": ("dync.commands.evaluating", "evaluate"),
    "propagate": ("dync.runtime.propagate", "propagate"),
    "with_params": ("dync.runtime.params", "with_params"),
    "LogDensity": ("dync.runtime.logdensity", "LogDensity"),
    "parameter_log_density": ("dync.runtime.logdensity", "parameter_log_density"),
    "state_log_density": ("dync.runtime.logdensity", "state_log_density"),
    "Kernel": ("dync.runtime.kernels", "Kernel"),
    "run_kernel": ("dync.runtime.kernels", "run_kernel"),
    "ModelInfo": ("dync.info", "ModelInfo"),
    "read_observations": ("dync.runtime.data", "read_observations"),
    "log_likelihood": ("dync.runtime.likelihood", "log_likelihood"),
    "particle_filter": ("dync.runtime.particle", "particle_filter"),
    "fit_point": ("dync.runtime.estimate", "fit_point"),
    "sample_posterior": ("dync.runtime.posterior", "sample_posterior"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dync' has no attribute {name!r}")
