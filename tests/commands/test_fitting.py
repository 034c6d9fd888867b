"""dync fit's driver (dync/commands/fitting.py): what it checks once the
model is built, before it reads the data."""

from __future__ import annotations

import pytest

from dync.commands.fitting import fit_file
from dync.errors import SpecErrors, UsageError

#: `k` is read as an index, and its spec value is computed: only the built
#: model knows it (2), so the settings cannot compare a held value with it
_COMPUTED = """\
model: m
params:
  j: 1
  k: 2 * j
  a: {value: 1, constraint: positive}
states:
  x: [1, 1, 1]
equations:
  - dx = -a * x dt + 0.1 * x[k] dW
observe:
  y: Normal(x[0], 0.1)
fit:
  fix:
    j: 1
    k: FIXED
"""


def test_a_section_holding_a_computed_compile_time_parameter_elsewhere_is_located_there(tmp_path):
    """A YAML `fit: fix: {k: 3}` for `k: 2 * j` read as an index was
    reported as `--fix k=3`, a flag never typed; now it is E261 at the
    `k: 3` entry, as for a literal spec value."""
    with pytest.raises(SpecErrors) as err:
        fit_file("m.yaml", tmp_path / "none.nc", text=_COMPUTED.replace("FIXED", "3"))
    (e,) = err.value.errors
    assert (e.code, e.span.line, e.span.column) == ("E261", 15, 5)
    assert e.message.startswith("fit.fix: parameter `k` is read as an index or a size (line 9) when the spec compiles")
    assert "keeps its value 2: the value given (3) would be ignored" in e.message
    assert e.hint == "hold it at 2, or change its value in the spec"
    rendered = e.render()
    assert "15 |     k: 3\n   |     ^^^^" in rendered and "--fix" not in rendered


def test_the_flag_holding_it_elsewhere_is_still_named_as_the_flag(tmp_path):
    with pytest.raises(UsageError) as err:
        fit_file("m.yaml", tmp_path / "none.nc", text=_COMPUTED.replace("FIXED", "2"), fix=["k=3"])
    assert err.value.message.startswith("`--fix k=3`: parameter `k` is read as an index or a size (line 9)")


def test_a_literal_spec_value_held_elsewhere_in_the_section_is_located_at_its_entry():
    """The settings compare a literal spec value themselves; the error points
    at the entry `k: 3` (was: the first line of the `fix:` mapping)."""
    from dync.dsl.loading import load_spec
    from dync.settings import fit_settings

    spec = load_spec("m.yaml", text=_COMPUTED.replace("2 * j", "2").replace("FIXED", "3"))
    with pytest.raises(SpecErrors) as err:
        fit_settings(spec)
    (e,) = err.value.errors
    assert (e.code, e.span.line, e.span.column) == ("E261", 15, 5)
    assert e.message.startswith("fit.fix: parameter `k`")
