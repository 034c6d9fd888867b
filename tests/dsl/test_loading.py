"""`load_spec`: the form chosen by suffix or content, unreadable files as
usage errors, size limits."""

from __future__ import annotations

import pytest

from dync.dsl import ast
from dync.dsl.loading import load_spec, looks_like_yaml
from dync.dsl.yaml_loader import MAX_SPEC_BYTES
from dync.errors import InvalidSpec, SpecErrors, UsageError

TEXT = "model m\n# doc\nstate x = 0\ndx = -x dt + dW\n"
YAML = "dync: 1\nmodel: m\ndoc: doc\nstates: {x: 0}\nequations: [dx = -x dt + dW]\n"


@pytest.mark.parametrize("name, content", [("m.dync", TEXT), ("m.yaml", YAML), ("m.yml", YAML), ("m.YAML", YAML)])
def test_the_suffix_picks_the_form(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    spec = load_spec(path)
    assert spec.name == "m" and spec.doc == "doc"
    assert [type(s) for s in spec.statements] == [ast.ModelName, ast.State, ast.Equation]
    assert spec.path == str(path)
    assert load_spec(str(path)) == spec


def test_both_forms_give_the_same_spec(tmp_path):
    (tmp_path / "m.dync").write_text(TEXT)
    (tmp_path / "m.yaml").write_text(YAML)
    assert load_spec(tmp_path / "m.dync") == load_spec(tmp_path / "m.yaml")


@pytest.mark.parametrize(
    "content, is_yaml",
    [
        (YAML, True),
        ("# a comment\n\nmodel: m\n", True),
        ("---\nmodel: m\n", True),
        (TEXT, False),
        ("# only comments\n", False),
        ("", False),
    ],
)
def test_an_unknown_suffix_is_sniffed(tmp_path, content, is_yaml):
    assert looks_like_yaml(content) is is_yaml
    path = tmp_path / "model.spec"
    path.write_text(content)
    spec = load_spec(path)
    assert spec.source == content
    if content.strip() and not content.startswith("# only"):
        assert spec.name == "m"


def test_text_given_in_memory_is_used_and_the_path_only_names_it():
    spec = load_spec("nowhere/m.yaml", YAML)
    assert spec.name == "m" and spec.path == "nowhere/m.yaml"
    with pytest.raises(SpecErrors) as info:
        load_spec("nowhere/m.dync", "model m\nstate x = \n")
    assert info.value.errors[0].span.path == "nowhere/m.dync"


def test_unreadable_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file") as info:
        load_spec(tmp_path / "missing.dync")
    assert info.value.code == "E400"
    with pytest.raises(UsageError, match="is a directory"):
        load_spec(tmp_path)
    bad = tmp_path / "latin1.dync"
    bad.write_bytes("model m\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(UsageError, match="not UTF-8"):
        load_spec(bad)


def test_a_byte_order_mark_is_ignored(tmp_path):
    path = tmp_path / "bom.dync"
    path.write_bytes("\ufeff".encode("utf-8") + TEXT.encode("utf-8"))
    assert load_spec(path).name == "m"


def test_files_over_one_mebibyte_are_refused(tmp_path):
    big = "model m\n" + "# padding line\n" * (MAX_SPEC_BYTES // 15 + 1)
    for name in ("big.dync", "big.yaml"):
        path = tmp_path / name
        path.write_text(big)
        with pytest.raises(SpecErrors) as info:
            load_spec(path)
        (err,) = info.value.errors
        assert isinstance(err, InvalidSpec) and err.code == "E290" and "1 MiB" in err.message
        assert err.span.path == str(path)
    with pytest.raises(SpecErrors):
        load_spec("big.dync", big)


def test_a_spec_read_again_is_not_parsed_again_and_errors_are_not_kept():
    text = "model remembered\nstate x = 0\ndx = -x dt\n"
    first = load_spec("a.dync", text)
    assert load_spec("a.dync", text) is first  # the AST is immutable: shared
    assert load_spec("b.dync", text) is not first  # spans name the file
    bad = "model broken\nstate x = \n"
    for _ in range(2):  # raised every time, with its location
        with pytest.raises(SpecErrors) as err:
            load_spec("bad.dync", bad)
        assert err.value.errors[0].span.line == 2


def test_a_huge_spec_is_parsed_each_time_and_not_kept():
    text = "model big\n" + "# a long comment line\n" * 4000 + "state x = 0\ndx = -x dt\n"  # ~88 KB
    first = load_spec("big.dync", text)
    again = load_spec("big.dync", text)
    assert again == first and again is not first


def test_a_data_file_given_as_the_spec_is_a_usage_error_naming_the_order(tmp_path):
    """`dync fit data.csv spec.dync` (the arguments swapped) is not parsed
    as a spec: the message says which comes first."""
    import pytest

    from dync.dsl.loading import load_spec
    from dync.errors import UsageError

    data = tmp_path / "ou.csv"
    data.write_text("time,y\n0,1\n")
    with pytest.raises(UsageError, match="is a data file") as err:
        load_spec(data)
    assert "SPEC DATA" in err.value.hint
