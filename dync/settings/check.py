"""The run sections of a spec, checked without running anything: what
``dync check`` adds to the compiler's checks, so that a bad value in
``simulate:``, ``fit:``, ``test:``, ``sample:`` or ``train:`` is reported at
the value when the spec is checked, not minutes later when it runs."""

from __future__ import annotations

from collections.abc import Callable

from ..dsl import ast
from ..errors import DyncError, SpecErrors, UsageError
from .fit import fit_settings
from .sample import sample_settings
from .simulate import simulate_settings
from .test import test_settings
from .train import train_settings

__all__ = ["section_errors"]

#: each run section and the function that reads it
_READERS: dict[str, Callable[[ast.Spec], object]] = {
    "simulate": simulate_settings,
    "fit": fit_settings,
    "test": test_settings,
    "sample": sample_settings,
    "train": train_settings,
}


def section_errors(spec: ast.Spec) -> list[DyncError]:
    """The located errors (E261 at the value) of the spec's run sections, the
    first of each section: each is read as its command reads it with no
    flags. An error that a flag could still resolve (``--t1 is required``)
    is not one of the spec's, and is left to the command."""
    errors: list[DyncError] = []
    for name, _ in spec.settings:
        reader = _READERS.get(name)
        if reader is None:
            continue
        try:
            reader(spec)
        except SpecErrors as err:
            errors.extend(err.errors)
        except UsageError:
            pass
    return errors
