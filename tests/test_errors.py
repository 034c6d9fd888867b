"""Rendering diagnostics (dync.errors): what reaches the terminal."""

from __future__ import annotations

from dync.errors import Span, UsageError


def test_control_characters_are_escaped_not_written_to_the_terminal():
    """A NUL byte in a data file's header is shown as \\x00 in the message,
    and as one replacement character in the quoted line (the caret stays
    under the right column)."""
    source = "\0\1ab,time\n"
    err = UsageError("`\0\1ab` is not a column name", Span("d.csv", 1, 1, 1, 5, source), hint="no \x1b[31mcolour")
    text = err.render()
    assert "`\\x00\\x01ab` is not a column name" in text
    assert "\ufffd\ufffdab,time" in text and "no \\x1b[31mcolour" in text
    assert not any(ord(c) < 32 and c != "\n" for c in text)


def test_did_you_mean_sees_a_slip_of_case():
    """`U` for `u`, `di` for `dI`: one letter, so difflib finds no likeness
    without the case-blind fallback; far names stay unsuggested."""
    from dync.errors import did_you_mean

    assert did_you_mean("U", ["u", "tau"]) == "did you mean `u`?"
    assert did_you_mean("di", ["dS", "dE", "dI", "dR"]) == "did you mean `dI`?"
    assert did_you_mean("thetta", ["theta"]) == "did you mean `theta`?"
    assert did_you_mean("q", ["u", "tau"]) is None


def test_did_you_mean_prefers_the_match_that_is_closer_but_for_case():
    """`state x ~ norm(0, 1)` suggested `Uniform` (closer to difflib, which
    counts case), not `Normal`."""
    from dync.errors import did_you_mean

    laws = ["Beta", "Gamma", "LogNormal", "Normal", "Poisson", "Uniform"]
    assert did_you_mean("norm", laws) == "did you mean `Normal`?"
    assert did_you_mean("unifrom", laws) == "did you mean `Uniform`?"
    assert did_you_mean("thetta", ["theta", "sigma"]) == "did you mean `theta`?"
