"""Testing dync models: ``dync test`` and a library for users' own tests.

* ``dync test`` (:func:`dync.testing.spec.test_spec`,
  :func:`dync.testing.runner.run_model_tests`): a spec's ``expect``
  statements and the built-in checks over hypothesis-drawn parameters;
* hypothesis strategies: :func:`params` and :func:`initial_states` of a
  compiled model, :func:`specs` (random valid spec texts) and
  :func:`mutated_specs` (corrupted ones, for parser robustness);
* :func:`assert_moments`: ensemble moments against exact values, at a
  stated false-alarm rate;
* a pytest plugin (:mod:`dync.testing.pytest_plugin`, installed as an entry
  point) that collects specs with ``expect`` lines as test items.

See docs/testing.md.
"""

from __future__ import annotations

from .assertions import assert_moments
from .model_strategies import initial_states, params
from .strategies import mutated_specs, param_values, valid_specs

#: random valid spec texts with what was generated (``(text, SpecMeta)``)
specs = valid_specs

__all__ = [
    "assert_moments",
    "initial_states",
    "mutated_specs",
    "param_values",
    "params",
    "specs",
    "valid_specs",
]
