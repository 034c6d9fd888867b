"""One spec through ``dync test``: compile it and run its checks.

:func:`test_spec` is what ``dync test``, :func:`dync.commands.testing.test_file`
and the pytest plugin (:mod:`dync.testing.pytest_plugin`) share.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

from ..compiler.driver import build_model, compile_ast
from ..compiler.overrides import check_law_arguments
from ..dsl import ast
from ..settings.test import TestSettings

__all__ = ["test_spec"]


def test_spec(
    spec: ast.Spec, settings: TestSettings, *, path: str | None = None, progress: bool | None = None, inputs: Any = None
):
    """Compile a parsed spec with the settings' dims and test it.

    Args:
        spec: the parsed spec (read once, by the caller).
        settings: from :func:`dync.settings.test.test_settings`.
        path: the spec's path as reports should name it (default: the
            spec's own).
        progress: a progress bar over the parameter draws.
        inputs: the model's ``input`` series: a data file (CSV or NetCDF,
            as ``dync simulate --inputs`` reads it), an ``xarray.Dataset``,
            or name → ``(times, values)``; every run of the test reads them.

    Returns:
        A :class:`~dync.testing.report.TestReport`.
    """
    import jax
    import xarray as xr

    from ..runtime.data import read_input_series
    from .properties import run_builtin_checks
    from .runner import relative_path, run_model_tests

    compiled = compile_ast(spec, settings.dims)
    # --set values replace the spec's after its laws were checked
    check_law_arguments(spec, settings.dims, settings.params, "--set")
    model = build_model(compiled, jax.random.key(settings.seed))
    if inputs is not None:
        settings = dataclasses.replace(
            settings,
            inputs=read_input_series(inputs, model.info) if isinstance(inputs, (str, os.PathLike, xr.Dataset)) else inputs,
            inputs_file=os.fspath(inputs) if isinstance(inputs, (str, os.PathLike)) else None,
        )
    once = functools.partial(run_builtin_checks, spec=spec)
    rebuild = lambda dims: build_model(compile_ast(spec, dims), jax.random.key(settings.seed))  # noqa: E731
    shown = path if path is not None else relative_path(spec.path) if getattr(spec, "path", None) else "<spec>"
    return run_model_tests(model, settings, spec_path=shown, once=once, rebuild=rebuild, progress=progress)


test_spec.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
