"""Integrators: fused fixed-step kernels and the diffrax backend (the solver
table and the rule that picks one are :mod:`dync.info.solvers`).

The diffrax backend is imported on first use (``import diffrax`` takes about
0.4 s, and a fixed-step run never needs it).
"""

from .fused import SavePlan as SavePlan
from .fused import Stepper as Stepper
from .fused import make_stepper as make_stepper
from .fused import solve_fixed as solve_fixed

_LAZY = {"PathwiseNoiseTerm", "solve_diffrax"}


def __getattr__(name: str):
    if name in _LAZY:
        from . import diffrax_backend

        return getattr(diffrax_backend, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
