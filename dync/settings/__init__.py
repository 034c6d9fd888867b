"""Run settings: a spec's YAML section merged with flags and defaults.

Every command that runs a model (``simulate`` now; ``fit``, ``sample``,
``train``, ``test`` next) reads its settings here, and so does the Python API:
the flags given win over the spec's section (``simulate:``), which wins over
the defaults declared in :mod:`dync.dsl.sections`. Each section's keys are
declared there once; the YAML loader refuses unknown keys with a located error
(E260) and this module refuses unknown keyword arguments with a
:class:`~dync.errors.UsageError`.

One module per command (``simulate``, ``fit``, ``sample``, ...) over
:mod:`.common`. This package imports neither JAX nor numpy at import time, so that the fast
commands (``dync check``, ``dync fmt``) can use it.

Example:
    >>> from dync.dsl.loading import load_spec
    >>> spec = load_spec("specs/ou.dync")
    >>> s = simulate_settings(spec, t1=1.0, dt=1e-3, sets=["theta=0.5"])
    >>> s.paths, s.params
    (1000, {'theta': 0.5})
"""

from __future__ import annotations

from .common import dims_only, merge_section, parse_sets, split_sets
from .fit import FIT_METHODS, FitSettings, fit_settings, parse_fix
from .sample import SAMPLE_METHODS, SampleSettings, sample_settings
from .simulate import SimulateSettings, simulate_settings

__all__ = [
    "FIT_METHODS",
    "FitSettings",
    "SAMPLE_METHODS",
    "SampleSettings",
    "SimulateSettings",
    "dims_only",
    "fit_settings",
    "merge_section",
    "parse_fix",
    "parse_sets",
    "sample_settings",
    "simulate_settings",
    "split_sets",
]
