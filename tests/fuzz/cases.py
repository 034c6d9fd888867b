"""Fuzz cases for dync: mutated and adversarial specs, and how one case ends.

Shared by the hypothesis tests beside this module (small, in CI) and by
``benchmarks/fuzz.py`` (10^5 cases in worker processes). Every generator
takes a :class:`random.Random`, so a case is reproducible from its seed and
hypothesis can drive the same generators through ``st.randoms()``.

Kinds of case:

* ``text``: grammar-aware mutations of a spec of ``specs/`` (delete,
  duplicate, swap or replace a token, a line, a character; insert a symbol or
  a keyword);
* ``adversarial``: a spec with a hostile piece put in: huge or odd numbers,
  deep nesting, long sums, Unicode, injection payloads, huge sizes, networks
  and constants;
* ``yaml``: structural mutations of a YAML spec (keys dropped, renamed or
  moved, values of the wrong type, deep or huge values) and YAML attacks
  (aliases, bombs, Python tags, merge keys);
* ``repro``: the reproducers of issue 8.

:func:`run_case` runs one case through the in-process API (compile, then
Python's ``compile`` of the generated module and, for the text form, the
formatter) and says how it ended: ``ok``, ``dync_error``, ``memory`` or
``other`` with a signature (exception type and the innermost dync frame).
"""

from __future__ import annotations

import dataclasses
import random
import re
import traceback
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

#: the outcomes a case may have (the harness adds ``timeout`` and ``abort``)
CLEAN = ("ok", "dync_error")


@dataclasses.dataclass(frozen=True)
class Case:
    """One fuzz case: a spec's file name (its suffix picks the form) and text."""

    kind: str
    filename: str
    text: str


def base_specs() -> list[tuple[str, str]]:
    """``(file name, text)`` of every spec under ``specs/``."""
    out = []
    for path in sorted((ROOT / "specs").rglob("*")):
        if path.suffix in (".dync", ".yaml") and path.is_file():
            out.append((path.name, path.read_text(encoding="utf-8")))
    return out


#: the reproducers of issue 8 (file name, text)
REPRODUCERS: tuple[tuple[str, str], ...] = (
    ("nest33.dync", "model m\nstate x = " + "[" * 33 + "0" + "]" * 33 + "\ndx = -x dt\n"),
    ("nest65.dync", "model m\nstate x = " + "[" * 65 + "0" + "]" * 65 + "\ndx = -x dt\n"),
    ("index_number.dync", "model m\nparam a = 1[[0]]\nstate x = 0\ndx = -a * x dt\n"),
    ("index_number2.dync", "model m\nparam P[2, 2] = .5  [[2.0, 0.6], [0.6, 1.0]]\nstate x = 0\ndx = -x dt\n"),
    ("dim_2_64.dync", "model m\ndim N = 2^64\nstate x[N] = 0\ndx = -x dt\n"),
    ("dim_big.dync", "model m\ndim N = 18446744073709551617\nstate x[N] = 0\ndx = -x dt\n"),
    ("state_big.dync", "model m\nstate x[18446744073709551617] = 0\ndx = -x dt\n"),
    ("dim_hex.yaml", "dync: 1\nmodel: m\ndims: {N: 0x7fffffffffffffff}\nstates:\n  x: {shape: [N], init: 0.0}\nequations:\n  - dx = -x dt\n"),
    ("eye_100k.dync", "model m\ndim K = 100000\nparam A[K, K] = eye(K)\nstate x[K] = 0\ndx = -A @ x dt + dW\n"),
    ("eye_30k.dync", "model m\ndim K = 30000\nparam A[K, K] = eye(K)\nstate x[K] = 0\ndx = -A @ x dt + dW\n"),
    ("zeros_big.dync", "model m\nparam A[100000, 100000] = zeros(100000, 100000)\nstate x = 0\ndx = -x dt\n"),
    ("param_1e12.dync", "model m\nparam a[10^12] = 1\nstate x = 0\ndx = -x dt\n"),
    ("dim_2_62.dync", "model m\ndim K = 2^62\nstate x[K] = 0\ndx = -x dt + dW\n"),
    ("mlp_huge.dync", "model m\nnet f = mlp(in = 2, out = 1, width = 100000000, depth = 100000)\nstate x[2] = 0\ndx = f(x) dt + dW\n"),
)

#: numbers a hostile user might write
HOSTILE_NUMBERS = (
    "2^64", "2^62", "2^40", "2^41", "18446744073709551617", "9223372036854775807", "1e308", "1e400", "9" * 400,
    "10^12", "10^10^10", "2^1000000", "0", "-1", "0.5", "1e-400", "(0/0)", "(1/0)", "(-1)^0.5", "1e309 - 1e309",
    "4096", "100000", "30000", "262145", "16777217",
)
#: characters outside the language (Unicode, controls, line separators)
HOSTILE_CHARS = ("é", "λ", "\u200b", "\u2028", "\u2029", "\x00", "\ufeff", "𝑥", "\r", "\t", "\x0c", "\x85", "\x1b", "'", '"', "$", "`", "\\", "{", "}", ";")
#: text that must never reach generated code as code
PAYLOADS = (
    "__import__('os').system('true')", "\"; import os #", "{{7*7}}", "${jndi:x}", "lambda: 0", "__class__",
    "self", "jnp", "eval", "exec", "__builtins__", "os", "sys", "None", "True", "import", "def", "class",
    "p_x", "s_x", "_", "__", "x__y", "Model", "INFO", "F", "C",
)
#: whole statements to add
STATEMENTS = (
    "dim K = {n}", "state z[{n}] = 0", "param A[{n}, {n}] = eye({n})", "param a[{n}] = 1",
    "state w = zeros({n}, {n})", "net g = mlp(in = 1, out = 1, width = {n}, depth = {n})",
    "brownian B[{n}]", "let L = outer(ones({n}), ones({n}))", "param q[{n}] ~ init Normal(0, 1)",
    "input u[{n}]", "observe o[{n}] ~ Normal(0, 1)", "const c = diag(ones({n}))", "param r = sum(eye({n}) @ eye({n}))",
    "jump x += 1 at rate 2", "state v = " + "[" * 40 + "0" + "]" * 40, "let s = stack(" + ", ".join(["eye(512)"] * 40) + ")",
    "param d[2] = [1, 2][0:{n}:0]", "param e = sum(ones(3), axis = {n})", "param f = roll([1, 2], shift = {n}, axis = {n})",
)

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+\.?\d*(?:[eE][+-]?\d+)?|\*\*|[<>=!]=|\S")
_NUMBER = re.compile(r"(?<![A-Za-z_])\d+\.?\d*(?:[eE][+-]?\d+)?")
_SYMBOLS = "()[]=~:+-*/@^,.#"
_WORDS = (
    "model", "dim", "param", "const", "state", "brownian", "input", "let", "net", "observe", "calculus", "init",
    "not", "and", "or", "dt", "dW", "t", "pi", "x", "sigma", "Normal", "positive", "interval", "fractional",
    "hurst", "sum", "grad", "mlp", "1", "0.5", "1e-3", "stratonovich", "ito", "lambda", "None", "class", "info",
    "@", "**", "expect", "target", "score", "always", "mean", "var", "stationary", "data", "eye", "zeros",
)


def mutate_text(rng: random.Random, text: str) -> str:
    """One grammar-aware mutation of a spec's text (a token, a line, a character)."""
    kind = rng.choice([
        "delete_char", "duplicate_char", "swap_chars", "delete_token", "duplicate_token", "swap_tokens",
        "insert_symbol", "insert_word", "replace_token", "truncate_line", "delete_line", "duplicate_line",
        "swap_lines",
    ])
    if kind in ("delete_char", "duplicate_char", "swap_chars", "insert_symbol", "insert_word"):
        pos = rng.randint(0, len(text))
        if kind == "delete_char" and text:
            pos = min(pos, len(text) - 1)
            return text[:pos] + text[pos + 1:]
        if kind == "duplicate_char" and text:
            pos = min(pos, len(text) - 1)
            return text[:pos] + text[pos] + text[pos:]
        if kind == "swap_chars" and len(text) >= 2:
            pos = min(pos, len(text) - 2)
            return text[:pos] + text[pos + 1] + text[pos] + text[pos + 2:]
        if kind == "insert_symbol":
            return text[:pos] + rng.choice(_SYMBOLS) + text[pos:]
        sep = rng.choice(["", " "])
        return text[:pos] + sep + rng.choice(_WORDS) + sep + text[pos:]
    if kind.endswith("_token") or kind == "swap_tokens":
        toks = list(_TOKEN.finditer(text))
        if not toks:
            return text
        a = rng.choice(toks)
        if kind == "delete_token":
            return text[: a.start()] + text[a.end():]
        if kind == "duplicate_token":
            return text[: a.end()] + " " + a.group() + text[a.end():]
        if kind == "replace_token":
            return text[: a.start()] + rng.choice(_WORDS + tuple(_SYMBOLS)) + text[a.end():]
        b = rng.choice(toks)
        if a.start() == b.start():
            return text
        a, b = (a, b) if a.start() < b.start() else (b, a)
        return text[: a.start()] + b.group() + text[a.end(): b.start()] + a.group() + text[b.end():]
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    if kind == "truncate_line":
        lines[i] = lines[i][: rng.randint(0, len(lines[i]))]
    elif kind == "delete_line":
        del lines[i]
    elif kind == "duplicate_line":
        lines.insert(i, lines[i])
    else:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _nest(rng: random.Random, inner: str, heavy: bool) -> str:
    depth = rng.choice([2, 31, 32, 33, 64, 65, 200] + ([1000, 5000] if heavy else []))
    opener, closer = rng.choice([("(", ")"), ("[", "]"), ("-(", ")"), ("exp(", ")"), ("sum([", "])")])
    return opener * depth + inner + closer * depth


#: declarations repeated by the thousand (``{i}``: the index, ``{j}``: the one before)
BULK = (
    "param a{i} = {i}", "let l{i} = l{j} * 2 + l{j}", "state z{i} = 0\ndz{i} = -z{i} dt + dW",
    "brownian B{i}", "const c{i} = [{i}, {i}]", "dim D{i} = {i} + 1", "let m{i} = exp(m{j}) + sum([m{j}, m{j}])",
    "input u{i}[2]", "observe o{i} ~ Normal(0, 1)", "net n{i} = mlp(in = 1, out = 1, width = 2, depth = 1)",
)


def _bulk(rng: random.Random, heavy: bool) -> str:
    template = rng.choice(BULK)
    n = rng.choice([10, 100, 1000] + ([3000] if heavy else []))
    first = template.split(" ")[1].split("{")[0]
    lines = [f"let {first}0 = 1"] if template.startswith("let") else []
    return "\n".join(lines + [template.format(i=i, j=i - 1) for i in range(1, n)])


def adversarial(rng: random.Random, text: str, heavy: bool = True) -> str:
    """The text with one hostile piece put in (``heavy``: also the slow ones,
    sums of thousands of terms and nesting thousands deep)."""
    kind = rng.choice(["number", "nest", "long_sum", "char", "payload", "statement", "statement", "shape", "bulk"])
    if kind == "bulk" and not text.lstrip().startswith(("dync:",)) and "equations:" not in text:
        lines = text.split("\n")
        lines.insert(rng.randint(1, len(lines)), _bulk(rng, heavy))
        return "\n".join(lines)
    numbers = list(_NUMBER.finditer(text))
    toks = list(_TOKEN.finditer(text))
    if kind == "number" and numbers:
        a = rng.choice(numbers)
        return text[: a.start()] + rng.choice(HOSTILE_NUMBERS) + text[a.end():]
    if kind == "nest" and toks:
        a = rng.choice(toks)
        return text[: a.start()] + _nest(rng, a.group(), heavy) + text[a.end():]
    if kind == "long_sum" and toks:
        a = rng.choice(toks)
        n = rng.choice([100, 1000] + ([5000, 20000] if heavy else []))
        return text[: a.start()] + rng.choice(["+", "*", "-", "^", " and "]).join([a.group()] * n) + text[a.end():]
    if kind == "char":
        pos = rng.randint(0, len(text))
        return text[:pos] + rng.choice(HOSTILE_CHARS) * rng.choice([1, 1, 3, 1000]) + text[pos:]
    if kind == "payload" and toks:
        a = rng.choice(toks)
        return text[: a.start()] + rng.choice(PAYLOADS) + text[a.end():]
    if kind == "shape":
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        lines[i] = re.sub(r"\b(state|param|brownian|input|observe) (\w+)\b", lambda m: f"{m.group(1)} {m.group(2)}[{rng.choice(HOSTILE_NUMBERS)}]", lines[i], count=1)
        return "\n".join(lines)
    stmt = rng.choice(STATEMENTS).format(n=rng.choice(HOSTILE_NUMBERS))
    if text.lstrip().startswith(("dync:", "#")) and "equations:" in text:
        return text  # YAML: the statement templates are text form
    lines = text.split("\n")
    lines.insert(rng.randint(1, len(lines)), stmt)
    return "\n".join(lines)


# ------------------------------------------------------------------ YAML

_YAML_VALUES = (
    None, True, False, 0, -1, 1, 2**64, 2**40 + 1, 10**400, 1e308, float("inf"), float("nan"), "", "x + ", "[[[[0]]]]",
    [0.5] * 5000, {f"k{i}": i for i in range(2000)}, " + ".join(["x"] * 3000),
    "0x10", "é", "dW", "Normal(0, 1)", "positive", "mlp(in = 1, out = 1)", [], {}, [1, [2, [3]]], {"a": 1},
    [[0.0] * 3] * 3, "1" * 500, "__import__('os')", "2^64", "eye(30000)", "zeros(100000, 100000)",
)
_YAML_KEYS = (
    "dync", "model", "doc", "dims", "params", "consts", "states", "equations", "observe", "lets", "nets",
    "brownians", "inputs", "calculus", "simulate", "fit", "sample", "value", "init", "shape", "constraint",
    "prior", "expect", "target", "score", "kind", "law", "<<", "!!python/object", "x", "y", "",
)
_YAML_ATTACKS = (
    "a: &a [1, 2]\nb: *a\n",
    "a: &a [\"x\", \"x\"]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n",
    "x: !!python/object/apply:os.system ['true']\n",
    "base: &b {value: 1}\nparams:\n  a: {<<: *b}\n",
    "dync: 1\ndync: 1\n",
    "\ufeffdync: 1\n",
    "params:\n\ta: 1\n",
    "states: {x: {init: " + "[" * 40 + "0" + "]" * 40 + "}}\n",
    "x: " + "[" * 200 + "]" * 200 + "\n",
    "x: " + "{a: " * 100 + "1" + "}" * 100 + "\n",
    "equations: !!binary aGVsbG8=\n",
    "dims: {N: !!float .nan}\n",
    "--- \n--- \n",
    "%YAML 1.1\n---\ndync: 1\n",
)


def _paths(obj, prefix=()) -> list[tuple]:
    """Every path of keys and indices into ``obj``."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


def _yaml_value(rng: random.Random):
    value = rng.choice(_YAML_VALUES)
    if rng.random() < 0.1:
        for _ in range(rng.choice([5, 33, 100])):
            value = [value]
    return value


def mutate_yaml(rng: random.Random, text: str) -> str:
    """One structural mutation of a YAML spec (or a YAML attack)."""
    if rng.random() < 0.1:
        attack = rng.choice(_YAML_ATTACKS)
        return attack + text if rng.random() < 0.5 else text + "\n" + attack
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError:
        return mutate_text(rng, text)
    if not isinstance(obj, dict):
        return mutate_text(rng, text)
    try:
        paths = _paths(obj)[1:]
    except RecursionError:  # a self-containing document (`&a [*a]`)
        return mutate_text(rng, text)
    if not paths:
        return text
    path = rng.choice(paths)
    parent, key = _get(obj, path[:-1]), path[-1]
    kind = rng.choice(["delete", "replace", "replace", "rename", "wrap", "move", "duplicate"])
    if kind == "delete":
        del parent[key]
    elif kind == "replace":
        parent[key] = _yaml_value(rng)
    elif kind == "rename" and isinstance(parent, dict):
        new = rng.choice(_YAML_KEYS) if rng.random() < 0.7 else str(key)[:-1] + rng.choice("sxe_")
        if new not in parent:
            parent[new] = parent.pop(key)
    elif kind == "wrap":
        parent[key] = rng.choice([[parent[key]], {"value": parent[key]}, {str(key): parent[key]}])
    elif kind == "move":
        target = _get(obj, rng.choice(paths))
        if isinstance(target, dict) and target is not parent:
            target[str(key)] = parent[key]
        elif isinstance(target, list):
            target.append(parent[key])
    elif kind == "duplicate" and isinstance(parent, list):
        parent.insert(key, parent[key])
    try:
        return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, RecursionError, ValueError):  # a self-containing move
        return text


def make_case(rng: random.Random, bases: list[tuple[str, str]]) -> Case:
    """One random case drawn with ``rng`` from the spec texts ``bases``."""
    roll = rng.random()
    if roll < 0.01:
        name, text = rng.choice(REPRODUCERS)
        return Case("repro", name, text)
    name, text = rng.choice(bases)
    is_yaml = name.endswith(".yaml")
    if roll < 0.5:
        kind = "text"
        for _ in range(rng.randint(1, 3)):
            text = mutate_text(rng, text)
    elif roll < 0.75 or not is_yaml:
        kind = "adversarial"
        text = adversarial(rng, text)
        if rng.random() < 0.3:
            text = mutate_text(rng, text)
    else:
        kind = "yaml"
        for _ in range(rng.randint(1, 3)):
            text = mutate_yaml(rng, text)
    return Case(kind, name, text)


# ------------------------------------------------------------------ running one case


def signature(exc: BaseException) -> str:
    """A crash's signature: its type, and the innermost frame in dync (or the
    innermost frame at all) as ``file:function``."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/dync/" in f.filename.replace("\\", "/")]
    frame = (ours or frames or [None])[-1]
    where = f"{Path(frame.filename).name}:{frame.name}" if frame is not None else "?"
    return f"{type(exc).__name__} at {where}"


def run_case(filename: str, text: str) -> tuple[str, str, float]:
    """Run one case in this process as the commands would: ``dync check`` and
    ``dync compile`` (:func:`~dync.compiler.driver.compile_file`, then
    Python's ``compile`` of the generated module) and, for the text form,
    ``dync fmt``.

    Returns:
        ``(outcome, detail, seconds)``: ``("ok", "", s)``,
        ``("dync_error", code, s)``, ``("memory", signature, s)`` or
        ``("other", "signature: message", s)``, where ``s`` is the CPU
        time of the longer of the two commands (each has the time limit on
        its own; CPU time, so that a busy machine does not make timeouts).
    """
    import time

    from dync.compiler.driver import compile_file, compile_source
    from dync.dsl.format import format_text
    from dync.dsl.parser import parse_spec
    from dync.errors import DyncError

    longest = 0.0
    start = time.process_time()
    try:
        compiled = compile_file(filename, text=text)
        compile_source(compiled.source, "<generated>")  # as dync.load does
        longest = time.process_time() - start
        if filename.endswith(".dync"):
            start = time.process_time()
            format_text(parse_spec(text, filename))
        return "ok", "", max(longest, time.process_time() - start)
    except DyncError as err:
        err.render()  # rendering must not fail either
        return "dync_error", err.code, max(longest, time.process_time() - start)
    except MemoryError as exc:
        return "memory", signature(exc), max(longest, time.process_time() - start)
    except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
        return "other", f"{signature(exc)}: {str(exc)[:200]}", max(longest, time.process_time() - start)
