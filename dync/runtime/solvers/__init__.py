"""Integrators: fused fixed-step kernels, the diffrax backend, and solver choice."""

from .diffrax_backend import PathwiseNoiseTerm as PathwiseNoiseTerm
from .diffrax_backend import solve_diffrax as solve_diffrax
from .fused import SavePlan as SavePlan
from .fused import Stepper as Stepper
from .fused import make_stepper as make_stepper
from .fused import solve_fixed as solve_fixed
from .selection import SOLVERS as SOLVERS
from .selection import SolverChoice as SolverChoice
from .selection import check_solver as check_solver
from .selection import choose_solver as choose_solver
