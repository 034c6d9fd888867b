"""What the run commands do, as Python functions the CLI and users share.

One module per command: :mod:`.simulate` (``dync simulate``), :mod:`.fitting`
(``dync fit``), :mod:`.sampling` (``dync sample``), :mod:`.plot` (``dync plot``). Each reads its spec once, merges
its settings with :mod:`dync.settings`, compiles with
:mod:`dync.compiler.driver` and runs the model with :mod:`dync.runtime`. The
package imports JAX only when a function runs.
"""

from __future__ import annotations

from .fitting import fit, fit_file, fit_spec, write_fit
from .sampling import sample, sample_file, sample_spec, sample_summary
from .simulate import simulate_file, simulate_spec

__all__ = [
    "fit",
    "fit_file",
    "fit_spec",
    "sample",
    "sample_file",
    "sample_spec",
    "sample_summary",
    "simulate_file",
    "simulate_spec",
    "write_fit",
]
