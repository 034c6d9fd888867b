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

from .cases import CLEAN, REPRODUCERS, ROOT, adversarial, base_specs, mutate_text, mutate_yaml, run_case

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


#: escapes found by `python3 benchmarks/fuzz.py --cases 100000` (2026-12-05), fixed
FOUND = (
    # OverflowError: an integer too large for a float in a `test: ranges` bound
    ("ranges_huge.yaml", (ROOT / "specs" / "ou_tested.yaml").read_text().replace("theta: [0.5, 2.0]", "theta: [0.5, " + "9" * 400 + "]"), "dync_error"),
    # 16 s of CPU in `dync check`: a product of thousands of factors (now linear time)
    # RecursionError in `dync check`'s summary: a drift that is a long sum of bare `dt` terms
    ("long_dt_sum.dync", "model m\nstate x = -1.0\nlet U = (x^2 - 1)^2\ndx = -grad(U, x) dt" + "+dt" * 24 + "+ddt" + "+dt" * 2000 + "\n", "ok"),
    ("long_product.dync", "model m\nstate x = 0\nstate v = 0\ndx = v dt\ndv = (-0.5 * " + "*".join(["v"] * 3000) + ") dt + 0.3 dW\n", "ok"),
)


@pytest.mark.parametrize("name, text, expected", FOUND, ids=[n for n, _, _ in FOUND])
def test_escapes_found_by_the_long_run_end_cleanly(name, text, expected):
    outcome, detail, _ = run_case(name, text)
    assert outcome == expected, detail
