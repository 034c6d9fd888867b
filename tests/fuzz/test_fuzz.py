"""Fuzzing in CI: whatever a spec holds, dync answers with a result or a
DyncError, never another exception (issue 8). Grammar-aware mutations of
every spec in specs/, adversarial pieces put into them, structural mutations
of the YAML specs, and the reproducers of issue 8. ``benchmarks/fuzz.py``
runs the same generators at 10^5 cases in worker processes with time and
memory limits."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dync.testing.strategies import mutated_specs

from .cases import CLEAN, REPRODUCERS, adversarial, base_specs, mutate_text, mutate_yaml, run_case

BASES = base_specs()
TEXTS = [t for n, t in BASES if n.endswith(".dync")]
YAMLS = [(n, t) for n, t in BASES if n.endswith(".yaml")]

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _clean(filename: str, text: str) -> None:
    outcome, detail, _ = run_case(filename, text)
    assert outcome in CLEAN, f"{outcome}: {detail}\n--- {filename} ---\n{text[:3000]}"


def test_every_spec_dir_is_covered():
    assert len(TEXTS) >= 20 and len(YAMLS) >= 5


@FUZZ
@given(mutated_specs(TEXTS))
def test_mutated_text_specs_end_cleanly(text):
    _clean("m.dync", text)


@FUZZ
@given(st.randoms(use_true_random=False), st.sampled_from(BASES), st.integers(1, 3))
def test_token_mutations_of_either_form_end_cleanly(rng, base, n):
    name, text = base
    for _ in range(n):
        text = mutate_text(rng, text)
    _clean(name, text)


@FUZZ
@given(st.randoms(use_true_random=False), st.sampled_from(BASES))
def test_adversarial_pieces_end_cleanly(rng, base):
    name, text = base
    _clean(name, adversarial(rng, text, heavy=False))


@FUZZ
@given(st.randoms(use_true_random=False), st.sampled_from(YAMLS), st.integers(1, 3))
def test_yaml_structural_mutations_end_cleanly(rng, base, n):
    name, text = base
    for _ in range(n):
        text = mutate_yaml(rng, text)
    _clean(name, text)


@pytest.mark.parametrize("name, text", REPRODUCERS, ids=[n for n, _ in REPRODUCERS])
def test_issue_8_reproducers_end_cleanly(name, text):
    outcome, detail, _ = run_case(name, text)
    # all but the huge network are spec errors; that one is valid, and
    # refused when simulated (tests/runtime/test_preflight.py)
    assert outcome == ("ok" if name == "mlp_huge.dync" else "dync_error"), detail
