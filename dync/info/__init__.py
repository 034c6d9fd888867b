"""The JAX-free description of a model: :class:`ModelInfo` and its parts, the
typed parameter constraints, and the solver table with the one rule that picks
a solver.

The compiler builds these, ``dync check`` prints them, the generated code
embeds them, and the runtime, the strategies and the formatter read them:
each fact about a model is stated here once. Importing this package imports
no JAX, so the front end (``dync check``, ``dync fmt``) stays fast.
"""

from .constraints import CONSTRAINTS as CONSTRAINTS
from .constraints import AbstractConstraint as AbstractConstraint
from .constraints import Interval as Interval
from .constraints import Lower as Lower
from .constraints import Negative as Negative
from .constraints import Positive as Positive
from .constraints import Real as Real
from .constraints import Unit as Unit
from .constraints import Upper as Upper
from .constraints import from_tuple as from_tuple
from .constraints import make_constraint as make_constraint
from .model import NOISE_STRUCTURES as NOISE_STRUCTURES
from .model import LangevinInfo as LangevinInfo
from .model import ModelInfo as ModelInfo
from .model import NetInfo as NetInfo
from .model import NoiseInfo as NoiseInfo
from .model import ObservationInfo as ObservationInfo
from .model import ParamInfo as ParamInfo
from .model import SpecSource as SpecSource
from .model import StateInfo as StateInfo
from .solvers import SOLVERS as SOLVERS
from .solvers import SolverChoice as SolverChoice
from .solvers import check_solver as check_solver
from .solvers import choose_solver as choose_solver
from .solvers import solver_summary as solver_summary
