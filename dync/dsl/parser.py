"""The text-form parser: Lark (LALR, built once) → explicit Transformer → AST.

The same grammar parses every expression, equation, distribution and kind
string inside a YAML spec (:func:`parse_fragment`), with a :class:`SpanMapper`
that moves positions into the YAML file, so error locations always point at
what the user wrote.

Syntax errors become :class:`~dync.errors.DyncSyntaxError` with a message for
the common mistakes (an unclosed or unmatched bracket, a missing ``=``, a stray
token, a character that is not part of the language). All syntax errors of a
file are reported at once: after an error the offending line is blanked and
parsing starts again.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from importlib import resources

import lark
from lark import Token, v_args
from lark.visitors import Transformer_NonRecursive
from lark.lexer import PatternStr

from ..errors import DyncSyntaxError, InvalidSpec, Span, SpecErrors
from . import ast
from .limits import MAX_RANK
from .vocabulary import FOREIGN_WORDS, FUNCTION_NAMES

_STARTS = ("start", "expr_only", "equation_only", "dist_only", "kind_only", "expectation_only")
_OPEN = {"LPAR": "(", "LSQB": "["}
_CLOSE = {"RPAR": ")", "RSQB": "]"}
_MAX_ERRORS = 50


def grammar_text() -> str:
    return resources.files("dync.dsl").joinpath("grammar.lark").read_text(encoding="utf-8")


class _BracketNewlines(lark.lark.PostLex):
    """Drops newlines inside brackets (a long call or array may span lines) and
    merges the newlines around comment lines into one."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        last_was_newline = False
        previous = None
        for tok in stream:
            if (
                tok.type == "NAME" and previous is not None and previous.type == "NUMBER"
                and previous.end_pos == tok.start_pos
                and (tok.value[:1] in "eE_" or (previous.value == "0" and tok.value[:1] in "xXoObB"))
            ):  # fmt: skip
                # `1e`, `1_000`, `0x1F`: a malformed number, not a number times a name
                raise lark.exceptions.UnexpectedToken(tok, set())
            previous = tok
            if tok.type in _OPEN:
                depth += 1
            elif tok.type in _CLOSE:
                depth = max(depth - 1, 0)
            elif tok.type == "_NL" and (depth > 0 or last_was_newline):
                continue
            last_was_newline = tok.type == "_NL"
            yield tok


@functools.lru_cache(maxsize=2)
def build_parser(strict: bool = False) -> lark.Lark:
    """The LALR parser for every start symbol (built once per process)."""
    return lark.Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        start=list(_STARTS),
        propagate_positions=True,
        maybe_placeholders=True,
        postlex=_BracketNewlines(),
        strict=strict,
        # lark keeps the LALR tables in the temp directory, keyed by a hash of
        # the grammar and options: a fresh process then loads them in a few ms
        # instead of building them (~100 ms); a bad cache file is rebuilt
        cache=not strict,
    )


@dataclasses.dataclass(frozen=True)
class SpanMapper:
    """Maps positions inside a parsed string to positions in the user's file.

    For a ``.dync`` file this is the identity. For a string inside a YAML file,
    ``line`` / ``column`` are where the string's first character stands.
    """

    path: str
    source: str
    line: int = 1
    column: int = 1

    def span(self, line: int, column: int, end_line: int, end_column: int) -> Span:
        def move(ln: int, col: int) -> tuple[int, int]:
            if ln <= 1:
                return self.line, self.column + col - 1
            return self.line + ln - 1, col

        l0, c0 = move(line, column)
        l1, c1 = move(end_line, end_column)
        return Span(self.path, l0, c0, l1, c1, self.source)

    def of_token(self, tok: Token) -> Span:
        return self.span(tok.line, tok.column, tok.end_line, tok.end_column)

    def of_meta(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.path, self.line, self.column, source=self.source)
        return self.span(meta.line, meta.column, meta.end_line, meta.end_column)


@dataclasses.dataclass(frozen=True)
class _Tagged:
    """An intermediate result: a labelled optional part of a statement."""

    tag: str
    value: object


@v_args(meta=True)
class _AstBuilder(Transformer_NonRecursive):
    """Turns the Lark tree into AST nodes, one method per grammar rule.

    Non-recursive: a flat sum of thousands of terms is a tree as deep as it is
    long, and the recursive transformer is quadratic in depth (and needs one
    stack frame per level)."""

    def __init__(self, mapper: SpanMapper):
        super().__init__()
        self.m = mapper

    # -- helpers
    def _sp(self, meta) -> Span:
        return self.m.of_meta(meta)

    def _tok(self, tok: Token) -> Span:
        return self.m.of_token(tok)

    @staticmethod
    def _tagged(children, tag, default=None):
        for c in children:
            if isinstance(c, _Tagged) and c.tag == tag:
                return c.value
        return default

    # -- start symbols
    def start(self, meta, children):
        return [c for c in children if c is not None]

    def expr_only(self, meta, children):
        return children[0]

    equation_only = expr_only
    dist_only = expr_only
    kind_only = expr_only
    expectation_only = expr_only

    # -- statements
    def model_stmt(self, meta, ch):
        return ast.ModelName(str(ch[0]), self._sp(meta))

    def dim_stmt(self, meta, ch):
        ch = [c for c in ch if not (isinstance(c, Token) and c.type == "DIM")]
        return ast.Dim(str(ch[0]), ch[1], self._sp(meta), self._tok(ch[0]))

    def shape(self, meta, ch):
        return _Tagged("shape", tuple(ch))

    def param_value(self, meta, ch):
        return _Tagged("value", ch[0])

    def param_constraint(self, meta, ch):
        return _Tagged("constraint", ch[0])

    def param_init(self, meta, ch):
        return _Tagged("init", ch[0])

    def param_prior(self, meta, ch):
        return _Tagged("prior", ch[0])

    def param_stmt(self, meta, ch):
        return ast.Param(
            name=str(ch[0]),
            shape=self._tagged(ch, "shape"),
            value=self._tagged(ch, "value"),
            constraint=self._tagged(ch, "constraint"),
            init=self._tagged(ch, "init"),
            prior=self._tagged(ch, "prior"),
            fixed=False,
            span=self._sp(meta),
            name_span=self._tok(ch[0]),
        )

    def const_stmt(self, meta, ch):
        return ast.Param(
            name=str(ch[0]),
            shape=self._tagged(ch, "shape"),
            value=ch[-1],
            fixed=True,
            span=self._sp(meta),
            name_span=self._tok(ch[0]),
        )

    def state_value(self, meta, ch):
        return ast.State(str(ch[0]), self._tagged(ch, "shape"), ch[-1], None, self._sp(meta), self._tok(ch[0]))

    def state_dist(self, meta, ch):
        return ast.State(str(ch[0]), self._tagged(ch, "shape"), None, ch[-1], self._sp(meta), self._tok(ch[0]))

    def state_data(self, meta, ch):
        return ast.State(str(ch[0]), self._tagged(ch, "shape"), None, None, self._sp(meta), self._tok(ch[0]), data=True)

    def brownian_stmt(self, meta, ch):
        kind = ch[-1] if len(ch) > 1 and not isinstance(ch[-1], _Tagged) else None
        return ast.Brownian(str(ch[0]), self._tagged(ch, "shape"), kind, self._sp(meta), self._tok(ch[0]))

    def input_stmt(self, meta, ch):
        return ast.Input(str(ch[0]), self._tagged(ch, "shape"), self._sp(meta), self._tok(ch[0]))

    def let_stmt(self, meta, ch):
        return ast.Let(str(ch[0]), ch[1], self._sp(meta), self._tok(ch[0]))

    def net_stmt(self, meta, ch):
        return ast.Net(str(ch[0]), ch[1], self._sp(meta), self._tok(ch[0]))

    def observe_stmt(self, meta, ch):
        return ast.Observe(str(ch[0]), self._tagged(ch, "shape"), ch[-1], self._sp(meta), self._tok(ch[0]))

    def calculus_stmt(self, meta, ch):
        return ast.Calculus(str(ch[0]), self._tok(ch[0]))

    # -- version 1.1: expect, target, score
    def expect_stmt(self, meta, ch):
        return dataclasses.replace(ch[0], span=self._sp(meta))

    def expect_always(self, meta, ch):
        span = self._sp(meta)
        return ast.Expect("always", lhs=ch[0], span=span, kind_span=span)

    def expect_moment(self, meta, ch):
        name, lhs, rhs = ch
        return ast.Expect(str(name), lhs=lhs, rhs=rhs, span=self._sp(meta), kind_span=self._tok(name))

    def expect_stationary(self, meta, ch):
        state, dist = ch
        span = self._sp(meta)
        return ast.Expect("stationary", state=str(state), dist=dist, span=span, kind_span=span, state_span=self._tok(state))

    def target_stmt(self, meta, ch):
        return ast.Target(ch[0], self._sp(meta))

    def score_stmt(self, meta, ch):
        return ast.Score(str(ch[0]), ch[1], self._sp(meta), self._tok(ch[0]))

    def kind_name(self, meta, ch):
        return ast.Name(str(ch[0]), self._tok(ch[0]))

    def kind_call(self, meta, ch):
        return ch[0]

    # -- equations
    def equation(self, meta, ch):
        lhs = ch[0]
        terms: list[ast.Term] = []
        sign = 1
        for c in ch[1:]:
            if isinstance(c, Token) and c.type == "ADD_OP":
                sign = -1 if str(c) == "-" else 1
            else:
                terms.append(dataclasses.replace(c, sign=sign))
                sign = 1
        return ast.Equation(str(lhs), tuple(terms), self._sp(meta), self._tok(lhs))

    def term(self, meta, ch):
        coef, diff = ch[0], ch[1] if len(ch) > 1 else None
        if diff is None:
            return ast.Term(1, coef, None, False, self._sp(meta), self._sp(meta))
        return ast.Term(1, coef, str(diff), False, self._sp(meta), self._tok(diff))

    # -- expressions
    def binop(self, meta, ch):
        left, op, right = ch
        o = "^" if str(op) == "**" else str(op)
        return ast.Binary(o, left, right, self._sp(meta), self._tok(op))

    def unary_op(self, meta, ch):
        return ast.Unary(str(ch[0]), ch[1], self._sp(meta))

    def not_op(self, meta, ch):
        return ast.Unary("not", ch[0], self._sp(meta))

    def and_op(self, meta, ch):
        return ast.Binary("and", ch[0], ch[1], self._sp(meta), self._sp(meta))

    def or_op(self, meta, ch):
        return ast.Binary("or", ch[0], ch[1], self._sp(meta), self._sp(meta))

    def number(self, meta, ch):
        tok = ch[0]
        return ast.Number(float(str(tok)), str(tok), self._tok(tok))

    def name(self, meta, ch):
        return ast.Name(str(ch[0]), self._tok(ch[0]))

    def array(self, meta, ch):
        return ast.ArrayLit(tuple(ch), self._sp(meta))

    def index(self, meta, ch):
        return ast.Index(ch[0], tuple(ch[1:]), self._sp(meta))

    def slice(self, meta, ch):
        parts = list(ch) + [None] * (3 - len(ch))
        return ast.Slice(parts[0], parts[1], parts[2], self._sp(meta))

    def call(self, meta, ch):
        name, arguments = ch[0], ch[1] if len(ch) > 1 else None
        args = [a for a in (arguments or []) if not isinstance(a, ast.Keyword)]
        kwargs = [a for a in (arguments or []) if isinstance(a, ast.Keyword)]
        return ast.Call(str(name), tuple(args), tuple(kwargs), self._sp(meta), self._tok(name))

    def arguments(self, meta, ch):
        return list(ch)

    def keyword(self, meta, ch):
        return ast.Keyword(str(ch[0]), ch[1], self._sp(meta))


# ------------------------------------------------------------------ errors


def _describe_terminal(parser: lark.Lark, name: str) -> str:
    special = {
        "NAME": "a name",
        "NUMBER": "a number",
        "ADD_OP": "`+` or `-`",
        "MUL_OP": "`*`, `/` or `@`",
        "POW_OP": "`^`",
        "COMP_OP": "a comparison",
        "_NL": "the end of the line",
        "$END": "the end of the input",
    }
    if name in special:
        return special[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name
    if isinstance(pattern, PatternStr):
        return f"`{pattern.value}`"
    return name.lower()


def _describe_token(tok: Token) -> str:
    if tok.type in ("_NL", "$END") or not str(tok).strip():
        return "end of line" if tok.type == "_NL" else "end of input"
    return f"`{tok}`"


#: characters `str.splitlines` (hence the diagnostic renderer) ends a line at
#: but the grammar does not: only `\n` and `\r\n` end a line of a spec
_NOT_LINE_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]|\r(?!\n)")


def _display_source(text: str) -> str:
    """``text`` with every character in :data:`_NOT_LINE_BREAKS` made a space
    (same length, same offsets), so the renderer's lines are the grammar's."""
    return _NOT_LINE_BREAKS.sub(" ", text)


def _grammar_lines(text: str) -> list[str]:
    """The lines of ``text`` as the grammar counts them (split at ``\n``)."""
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    if text.endswith("\n") or not text:
        lines.pop()
    return lines


def _bracket_problem(text: str) -> tuple[int, int, str] | None:
    """The first unmatched closing bracket or the last unclosed opening one,
    as ``(line, column, message)``; ignores comments."""
    stack: list[tuple[str, int, int]] = []
    pairs = {")": "(", "]": "["}
    for ln, line in enumerate(_grammar_lines(text), start=1):
        for col, ch in enumerate(line, start=1):
            if ch == "#":
                break
            if ch in "([":
                stack.append((ch, ln, col))
            elif ch in ")]":
                if not stack or stack[-1][0] != pairs[ch]:
                    return ln, col, f"unmatched `{ch}`"
                stack.pop()
    if stack:
        ch, ln, col = stack[-1]
        return ln, col, f"`{ch}` is never closed"
    return None


_STATEMENT_HINTS = {
    "param": "a parameter reads `param NAME[SHAPE] = VALUE : CONSTRAINT ~ PRIOR`",
    "const": "a constant reads `const NAME = VALUE`",
    "state": "a state reads `state NAME[SHAPE] = VALUE` or `state NAME[SHAPE] ~ DIST`",
    "dim": "a size reads `dim NAME = 8`",
    "let": "a named expression reads `let NAME = EXPR`",
    "net": "a network reads `net NAME = mlp(in = 8, out = 8, width = 64, depth = 2)`",
    "observe": "an observation reads `observe NAME[SHAPE] ~ DIST(...)`",
    "brownian": "a Brownian motion reads `brownian NAME[SHAPE]` or `brownian NAME : fractional(hurst = H)`",
    "model": "the model line reads `model NAME`",
    "calculus": "write `calculus ito` or `calculus stratonovich`",
    "input": "an input reads `input NAME[SHAPE]`",
    "expect": "an expectation reads `expect always COND`, `expect mean(EXPR) = RHS`, `expect var(EXPR) = RHS` or `expect stationary STATE ~ DIST`",
    "target": "a target reads `target EXPR` (a scalar log-density of the states)",
    "score": "a score reads `score STATE = EXPR`",
}


#: characters pasted from typeset text, and what to type instead
_LOOKALIKES = {"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": "*", "\u22c5": "*", "\u00b7": "*",
               "\u2264": "<=", "\u2265": ">=", "\u2260": "!=", "\u2018": "'", "\u2019": "'", "\u00a0": " ",
               "\u2009": " ", "\u00b2": "^2", "\u00b3": "^3", "\u221a": "sqrt(...)"}  # fmt: skip

#: for ``jump x += 1 at rate 2``: what dync can say instead
_JUMP_HINT = (
    "dync models diffusions, `dx = DRIFT dt + NOISE dW`; for a population or reaction model write the diffusion "
    "approximation (drift `up - down` times `dt`, noise `sqrt(up + down)` times `dW`)"
)


def _syntax_error(exc: lark.exceptions.LarkError, text: str, mapper: SpanMapper, parser: lark.Lark) -> DyncSyntaxError:
    lines = _grammar_lines(text)
    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", 1) or 1
    first_word = lines[line - 1].split()[0] if 0 < line <= len(lines) and lines[line - 1].split() else ""
    hint = _STATEMENT_HINTS.get(first_word)
    if first_word.rstrip(":") in ("jump", "jumps"):  # `jump x += 1 at rate 2`
        start = len(lines[line - 1]) - len(lines[line - 1].lstrip()) + 1
        width = len(first_word.rstrip(":"))
        return DyncSyntaxError("jump processes are not supported yet", mapper.span(line, start, line, start + width), hint=_JUMP_HINT)

    failing = getattr(exc, "token", None)
    foreign = _foreign_idiom(
        lines[line - 1] if 0 < line <= len(lines) else "",
        getattr(failing, "column", None) or column,
        str(failing) if getattr(failing, "type", "") in ("NAME", "NUMBER") else "",
    )
    if foreign is not None:
        start, end, msg, foreign_hint = foreign
        return DyncSyntaxError(msg, mapper.span(line, start, line, end), hint=foreign_hint)

    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        msg = f"unexpected character `{ch}`" if ch.isprintable() else f"unexpected character U+{ord(ch):04X}"
        if ch == "\r":
            hint = "end lines with `\\n` or `\\r\\n`: a lone carriage return is not a line break"
        elif ch in "'\"":
            hint = "the language has no strings: write names and numbers without quotes"
        elif ch == ";":
            hint = "write one statement per line, without `;`"
        elif ch in "{}":
            hint = "use `(` `)` for grouping and `[` `]` for shapes, indexing and arrays"
        elif ch in _LOOKALIKES:
            hint = f"write `{_LOOKALIKES[ch]}`: a spec is ASCII outside comments"
        elif ch.isalpha():
            hint = "names are ASCII letters, digits and `_` (write `sigma` for `σ`, `theta` for `θ`)"
        elif ch == "~" or ch == "=" or ch == ":":
            bracket = _bracket_problem(text)
            if bracket is not None:
                bl, bc, bmsg = bracket
                return DyncSyntaxError(bmsg, mapper.span(bl, bc, bl, bc + 1), hint="close every bracket on the statement where it opens")
        return DyncSyntaxError(msg, mapper.span(line, column, line, column + 1), hint=hint)

    tok: Token | None = getattr(exc, "token", None)
    misspelt = _misspelt_statement_word(lines, tok)
    if misspelt is not None:
        word, start, suggestion = misspelt
        return DyncSyntaxError(
            f"unknown statement `{word}`",
            mapper.span(tok.line, start, tok.line, start + len(word)),
            hint=f"did you mean `{suggestion}`?" + (f" ({_STATEMENT_HINTS[suggestion]})" if suggestion in _STATEMENT_HINTS else ""),
        )
    expected = sorted(getattr(exc, "expected", set()) or getattr(exc, "accepts", set()) or set())
    at_end = tok is None or tok.type in ("$END", "_NL")
    bracket = _bracket_problem(text)
    if (
        tok is not None and tok.type == "NAME" and str(tok)[:1] in "eE_xXoObB" and tok.start_pos
        and (text[tok.start_pos - 1].isdigit() or text[tok.start_pos - 1] == ".") and tok.line is not None
    ):  # fmt: skip
        start = tok.start_pos
        while start > 0 and (text[start - 1].isdigit() or text[start - 1] == "."):
            start -= 1
        end = tok.end_pos + (1 if tok.end_pos < len(text) and text[tok.end_pos] in "+-" else 0)
        col = tok.column - (tok.start_pos - start)
        return DyncSyntaxError(
            f"malformed number `{text[start:end]}`",
            mapper.span(tok.line, col, tok.line, col + end - start),
            hint={"_": "write a number without `_`, like `1000`", "e": "an exponent needs digits, like `1e3` or `2.5e-4`"}.get(
                str(tok)[:1].lower(), "write a number in decimal, like `16` or `0.5`"
            ),
        )
    if tok is not None and tok.type == "NUMBER" and tok.start_pos is not None and tok.start_pos > 0:
        before = text[tok.start_pos - 1]
        if before.isdigit() or before == ".":
            start = tok.start_pos
            while start > 0 and (text[start - 1].isdigit() or text[start - 1] in ".eE"):
                start -= 1
            end = tok.end_pos
            while end < len(text) and (text[end].isdigit() or text[end] in ".eE"):
                end += 1
            col = column - (tok.start_pos - start) if (column := tok.column) else 1
            return DyncSyntaxError(
                f"malformed number `{text[start:end]}`",
                mapper.span(tok.line, col, tok.line, col + end - start),
                hint="a number has at most one decimal point, like `1.25` or `1e-3`",
            )
    if bracket is not None:
        bl, bc, bmsg = bracket
        later_line = tok is not None and tok.line is not None and tok.line > bl
        after_open = (
            bmsg.endswith("never closed")
            and tok is not None
            and tok.line == bl
            and (tok.column or 0) > bc
        )
        if at_end or tok.type in _CLOSE or later_line or after_open:
            return DyncSyntaxError(bmsg, mapper.span(bl, bc, bl, bc + 1), hint="every `(` needs a `)` and every `[` a `]`")

    described = [_describe_terminal(parser, e) for e in expected]
    described = sorted(set(described))
    if tok is not None and tok.type not in ("$END",) and tok.line is not None:
        line, column = tok.line, tok.column
        end_line, end_column = tok.end_line or line, tok.end_column or column + 1
        if tok.type == "_NL":
            # point just after the last character of the line
            end_line, end_column = line, column + 1
    else:
        line = len(lines) if lines else 1
        column = len(lines[-1]) + 1 if lines else 1
        end_line, end_column = line, column + 1
    span = mapper.span(line, column, end_line, end_column)

    if "EQUAL" in expected and tok is not None and tok.type not in ("_NL", "$END"):
        msg = f"expected `=` before {_describe_token(tok)}"
        if str(tok) == "[" and first_word not in _STATEMENT_HINTS:  # `dx[i] = ...`
            name = lines[line - 1][: column - 1].strip()
            hint = (f"one equation covers the whole state: write `{name} = ...` once, with elementwise operations "
                    f"(a component is `x[i]` on the right-hand side)")  # fmt: skip
        if hint is None and first_word not in _STATEMENT_HINTS:
            hint = "an equation reads `dx = DRIFT dt + NOISE dW`"
        return DyncSyntaxError(msg, span, hint=hint)
    if at_end:
        msg = "the statement ends too early"
        if described:
            msg += f": expected {_or_list(described)}"
        return DyncSyntaxError(msg, span, hint=hint)
    msg = f"unexpected {_describe_token(tok)}"
    if described and len(described) <= 6:
        msg += f"; expected {_or_list(described)}"
    if tok is not None and str(tok) in _COMPARISONS and 0 < line <= len(lines):
        before = lines[line - 1][: max(column - 1, 0)]
        if re.search(r"(<=|>=|==|!=|<|>)", before.split("(")[-1] if "(" in before else before):
            hint = "comparisons do not chain: write `0 < x and x < 2` for `0 < x < 2`"
    if tok is not None and str(tok) in ("*", "/", "^", "**", "@") and 0 < line <= len(lines):
        closed = re.search(r"(?<![A-Za-z0-9_])(d[A-Za-z_][A-Za-z0-9_]*)\s*$", lines[line - 1][: max(column - 1, 0)])
        if closed is not None:  # `-x dt * 2`: a factor after the differential
            hint = f"`{closed.group(1)}` closes its term: put every factor before it, as in `2 * x {closed.group(1)}`"
    if tok is not None and tok.type == "LSQB" and 0 < line <= len(lines):
        differential = re.search(r"(?<![A-Za-z0-9_])(d[A-Za-z_][A-Za-z0-9_]*)\s*$", lines[line - 1][: max(column - 1, 0)])
        if differential is not None:  # `x dW[0]`: one component of a declared Brownian motion
            name = differential.group(1)
            hint = f"a differential cannot be indexed: pick components with a matrix or a vector, `[1, 0] @ {name}`"
    if tok is not None and tok.type == "NAME" and first_word not in _STATEMENT_HINTS and "_NL" in expected:
        hint = hint or "two names side by side: is an operator (`*`) missing, or a differential misplaced?"
    return DyncSyntaxError(msg, span, hint=hint)


#: a Stan declaration: `real<lower=0> a;`, `vector[K] mu;`, `int n = 3;`
_STAN_DECLARATION = re.compile(
    r"^(\s*)(real|int|vector|row_vector|matrix|simplex|ordered|positive_ordered|cov_matrix|corr_matrix)\b\s*"
    r"(?:<(?P<bounds>[^>]*)>)?\s*(?:\[(?P<size>[^\]]*)\])?\s*(?P<name>[A-Za-z_]\w*)\s*(?:=\s*(?P<value>[^;]*?))?\s*;?\s*$"
)
#: Python modules a spec might name, and what they are
_PYTHON_MODULES = {"np": "NumPy", "numpy": "NumPy", "jnp": "JAX", "jax": "JAX", "math": "Python's math",
                   "cmath": "Python's cmath", "torch": "PyTorch", "scipy": "SciPy", "sp": "SciPy", "tf": "TensorFlow"}  # fmt: skip
#: a Python module's function: `np.exp(x)`, `math.sqrt`, `jnp.linalg.norm`
_MODULE_ATTRIBUTE = re.compile(r"\b(" + "|".join(_PYTHON_MODULES) + r")((?:\.[A-Za-z_]\w*)+)")
_FOR_LOOP = re.compile(r"^(\s*)(for)\b\s*(\(|[A-Za-z_]\w*\s+in\b)")
_WHILE_LOOP = re.compile(r"^(\s*)(while)\b")
_DEF = re.compile(r"^(\s*)(def)\s+[A-Za-z_]\w*\s*\(")
_COMPOUND_ASSIGNMENT = re.compile(r"^(\s*)([A-Za-z_]\w*)(?:\[[^\]]*\])?\s*(\+|-|\*\*|\*|/|\^)=")
_IMPORT = re.compile(r"^(\s*)(import|from)\s+[A-Za-z_][\w.]*")
#: Python statements led by a keyword (group 2): the message (``{}`` is the
#: keyword) and the dync way
_LOOP_HINT = (
    "a statement covers a whole array: declare `state x[N]` and write one equation `dx = ...` with "
    "elementwise operations (couple components with `x[1:]`, `roll(x, 1)`, `sum(x)`, `C @ x`)"
)
_KEYWORD_HABITS = (
    (_FOR_LOOP, "a spec has no loops (`{}`)", _LOOP_HINT),
    (_WHILE_LOOP, "a spec has no loops (`{}`)", _LOOP_HINT),
    (_DEF, "a spec has no function definitions (`{}`)",
     "name an expression with `let NAME = EXPR` (it may read states, params and `t`); "
     "a learnable function is `net NAME = mlp(in = ..., out = ..., width = 64, depth = 2)`"),
    (_IMPORT, "a spec imports nothing (`{}`)",
     "its functions (`exp`, `sqrt`, `sum`, ...) and distributions (`Normal`, ...) are built in: call them by name"),
)  # fmt: skip
#: a Stan sampling statement: `a ~ normal(0, 1);`
_SAMPLING_STATEMENT = re.compile(r"^(\s*)([A-Za-z_]\w*)(?:\[[^\]]*\])?\s*~\s*([A-Za-z_]\w*)")
#: Python's conditional expression: `a if c else b`
_CONDITIONAL = re.compile(r"(?:=|^)\s*(?P<a>[^=]+?)\s+(?P<if>if)\s+(?P<c>.+?)\s+else\s+(?P<b>.+?)\s*$")
#: a method call: `x.sum()`, `x.T`
_METHOD = re.compile(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)")
_LAMBDA = re.compile(r"(?:^|[=(,+\-*/~]\s*)(lambda)(?:\s+[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)?\s*:")
#: a function name and its argument without parentheses, just before the
#: failing token: `-exp x dt`
_CALL_WITHOUT_PARENTHESES = re.compile(r"\b([A-Za-z_]\w*)\s+([A-Za-z_]\w*|\d[\w.]*)\s*$")

#: NumPy / math names that are no dync function, and what to write instead
_MODULE_NAMES = {"pi": "`pi`", "e": "`exp(1)`", "power": "`a ^ b`", "pow": "`a ^ b`",
                 "fabs": "`abs(x)`", "absolute": "`abs(x)`", "matmul": "`A @ x`", "square": "`x ^ 2`",
                 "concatenate": "`concat(a, b)`", "amax": "`max(x)`", "amin": "`min(x)`", "atan": "`arctan(x)`"}  # fmt: skip


def _stan_constraint(bounds: str | None) -> str | None:
    """dync's constraint for Stan's `<lower=L, upper=U>` (`None` for none)."""
    if not bounds:
        return None
    found = dict(re.findall(r"(lower|upper)\s*=\s*([^,]+)", bounds))
    lo, hi = (found.get(k, "").strip() or None for k in ("lower", "upper"))
    if lo is not None and hi is not None:
        return "unit" if (lo, hi) == ("0", "1") else f"interval({lo}, {hi})"
    if lo is not None:
        return "positive" if lo in ("0", "0.0") else f"lower({lo})"
    if hi is not None:
        return "negative" if hi in ("0", "0.0") else f"upper({hi})"
    return None


def _foreign_idiom(line: str, token_column: int, token: str = "") -> tuple[int, int, str, str] | None:
    """``(start, end, message, hint)`` when the line that failed to parse
    is written the way Stan or Python would write it (a typed declaration,
    `np.exp`, a loop, a `def`, `+=`, a lambda, `exp x`): the parser alone
    could only say which token it did not expect."""
    code = line.split("#", 1)[0]
    m = _STAN_DECLARATION.match(code)
    if m is not None:
        name, size, value = m.group("name"), m.group("size"), m.group("value")
        constraint = _stan_constraint(m.group("bounds"))
        written = f"param {name}" + (f"[{size.strip()}]" if size else "") + (f" = {value.strip()}" if value else "")
        written += f" : {constraint}" if constraint else ""
        start = len(m.group(1)) + 1
        return (start, len(code.rstrip()) + 1, f"`{code.strip()}` is a Stan declaration",
                f"dync declares a parameter as `param NAME[SHAPE] = VALUE : CONSTRAINT ~ PRIOR`, one a line and "
                f"without `;`: here `{written}`" + ("" if value else " (or a state: `state NAME = VALUE`)"))  # fmt: skip
    m = _MODULE_ATTRIBUTE.search(code)
    if m is not None:
        attribute = m.group(2).rsplit(".", 1)[1]
        module = _PYTHON_MODULES[m.group(1)]
        if ".random" in m.group(2):
            hint = "a spec draws no random numbers itself: noise enters through `dW` terms, and distributions through `~ DIST`"
        elif attribute in _MODULE_NAMES:
            hint = f"write {_MODULE_NAMES[attribute]}: dync's functions and constants are written without a module"
        else:
            hint = f"write `{attribute}(...)`: dync's functions are called by their own name, without a module"
        start = m.start() + 1
        return start, m.end() + 1, f"`{m.group(0)}` is from {module}: a spec imports no modules", hint
    for pattern, message, hint in _KEYWORD_HABITS:
        m = pattern.match(code)
        if m is not None:
            start = len(m.group(1)) + 1
            return start, start + len(m.group(2)), message.format(m.group(2)), hint
    m = _COMPOUND_ASSIGNMENT.match(code)
    if m is not None and m.group(2) == "target":  # Stan's `target += normal_lpdf(...)`
        start = m.start(3) + 1
        return (start, start + len(m.group(3)) + 1, "`target +=` is Stan: dync's target is written once, whole",
                "write `target EXPR`, the log-density itself (`target -U` with a potential `let U = ...`)")  # fmt: skip
    m = _SAMPLING_STATEMENT.match(code)
    if m is not None and m.group(2) not in _STATEMENT_WORDS:
        name, law = m.group(2), m.group(3)
        start = len(m.group(1)) + 1
        law = law[:1].upper() + law[1:]
        return (start, start + len(name), f"`{name} ~ ...` is a Stan sampling statement",
                f"a prior goes on the declaration, `param {name} ~ {law}(...)`; data are `observe {name} ~ {law}(...)`; "
                f"a state's initial law is `state {name} ~ {law}(...)`")  # fmt: skip
    m = _CONDITIONAL.search(code)
    if m is not None:
        return (m.start("if") + 1, m.end("if") + 1, "`A if C else B` is Python: dync writes `where(C, A, B)`",
                f"write `where({m.group('c')}, {m.group('a')}, {m.group('b')})`")  # fmt: skip
    m = _METHOD.search(code)
    if m is not None:
        obj, attr = m.group(1), m.group(2)
        written = f"transpose({obj})" if attr == "T" else f"{attr}({obj})"
        return (m.start() + 1, m.end(2) + 1, f"`{obj}.{attr}`: a spec has no methods or attributes",
                f"call the function on it: `{written}`")  # fmt: skip
    m = _COMPOUND_ASSIGNMENT.match(code)
    if m is not None:
        op = m.group(3) + "="
        start = m.start(3) + 1
        return (start, start + len(op), f"`{op}` does not exist in a spec: its statements declare, they do not update",
                f"a state changes only through its equation `d{m.group(2)} = DRIFT dt + NOISE dW`; "
                f"a value computed from others is `let NAME = EXPR`")  # fmt: skip
    m = _LAMBDA.search(code)
    if m is not None:
        return (m.start(1) + 1, m.end(1) + 1, "a spec has no `lambda` functions",
                "write the expression itself, or name it with `let NAME = EXPR`; "
                "a learnable function is `net NAME = mlp(...)`")  # fmt: skip
    start = max(token_column - 1, 0)
    before, after = code[:start], code[start:]
    m = _CALL_WITHOUT_PARENTHESES.search(before)
    if m is not None and m.group(1) in FUNCTION_NAMES:
        func, arg, first, last = m.group(1), m.group(2), m.start(1), m.end(2)
    else:  # `-sqrt 2 * x dt`: the argument is the token the parser refused
        bare = re.search(r"\b([A-Za-z_]\w*)\s+$", before)
        if not (token and bare is not None and bare.group(1) in FUNCTION_NAMES):
            return None
        func, arg, first, last = bare.group(1), token, bare.start(1), start + len(token)
        after = code[last:]
    sign = "-" if code[:first].rstrip().endswith("-") else ""
    differential = re.match(r"\s*(d[A-Za-z_]\w*)\b", after)
    written = f"{sign}{func}({arg})"
    hint = f"write `{func}({arg})`"
    if differential is not None:
        d = differential.group(1)
        hint += f": `{written} * {d}` (or `{written} {d}`, the same product)"
    return first + 1, last + 1, f"`{func} {arg}`: a function's argument goes in parentheses", hint


#: the comparison operators, which do not chain
_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")

#: the words that start a statement (not `init`, `always`, ... that follow one)
_STATEMENT_WORDS = ("model", "dim", "param", "const", "state", "brownian", "input", "let", "net", "observe",
                    "calculus", "expect", "target", "score")  # fmt: skip
_WORD_PAIR = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*)\s+[A-Za-z_]")


def _misspelt_statement_word(lines: list[str], tok: Token | None) -> tuple[str, int, str] | None:
    """``(word, column, statement word)`` when the failing line starts with
    a near miss of a statement word followed by a name (`parm a = 1`,
    `stat x = 0`, `expcet always ...`): the parser could only read it as an
    equation and would say "expected `=`"."""
    if tok is None or not tok.line or tok.line > len(lines):
        return None
    m = _WORD_PAIR.match(lines[tok.line - 1])
    if m is None:
        return None
    word = m.group(2)
    if word in _STATEMENT_WORDS:
        return None
    if word.lower() in FOREIGN_WORDS:
        return word, len(m.group(1)) + 1, FOREIGN_WORDS[word.lower()]
    close = difflib.get_close_matches(word.lower(), _STATEMENT_WORDS, n=1, cutoff=0.7)
    if not close:
        return None
    return word, len(m.group(1)) + 1, close[0]


def _or_list(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]


# ------------------------------------------------------------------ array nesting


def _too_deep_arrays(node) -> InvalidSpec | None:
    """The error for the first array literal nested more than
    :data:`~dync.dsl.limits.MAX_RANK` deep in ``node`` (an array of arrays of
    ... has one axis per level, and arrays have at most that many), or
    ``None``. Iterative, so that any nesting the parser accepts is walked."""
    stack: list[tuple[object, int]] = [(node, 0)]
    while stack:
        x, depth = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend((y, depth) for y in x)
            continue
        names = _CHILD_FIELDS.get(type(x))
        if names is None:
            if not dataclasses.is_dataclass(x) or isinstance(x, (Span, ast.Number, ast.Name)):
                _CHILD_FIELDS[type(x)] = ()
                continue
            names = _CHILD_FIELDS[type(x)] = tuple(
                f.name for f in dataclasses.fields(x) if f.name not in ("span", "name_span", "op_span", "func_span")
            )
        if isinstance(x, ast.ArrayLit):
            depth += 1
            if depth > MAX_RANK:
                return InvalidSpec(
                    f"arrays are nested more than {MAX_RANK} deep here; an array has at most {MAX_RANK} axes",
                    x.span,
                    hint="each `[` inside an array adds an axis: nest arrays less deeply",
                )
        stack.extend((getattr(x, n), depth) for n in names)
    return None


#: the fields of each AST node type that may hold expressions (filled as met)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {str: (), int: (), float: (), bool: (), type(None): ()}


# ------------------------------------------------------------------ entry points


def _parse_tree(text: str, start: str, mapper: SpanMapper):
    parser = build_parser()
    return parser.parse(text, start=start)


#: a YAML spec's first section line: `model: m`, `dync: 1.1`, `states:` ...
_YAML_SECTION = re.compile(r"^(model|dync|params|states|equations|brownian|inputs|observe|let)\s*:(\s|$)")


def _yaml_form_line(text: str) -> tuple[int, int] | None:
    """Where a text that failed to parse as the text form starts as a YAML
    spec does (its first line that is not blank or a comment is a section
    key), or ``None``."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return (number, 1) if _YAML_SECTION.match(line) else None
    return None


def _failing_line(exc: lark.exceptions.LarkError) -> int | None:
    """The line of the token (or character) where the parser stopped."""
    tok = getattr(exc, "token", None)
    line = getattr(tok, "line", None) if tok is not None and getattr(tok, "type", "") != "$END" else None
    return line or getattr(exc, "line", None) or None


def _statement_lines(lines: list[str], index: int, fail: int | None) -> tuple[int, int]:
    """The first and last line (0-based) of the statement that line ``index``
    belongs to: a statement runs on inside an open bracket and after a
    trailing backslash, as the grammar reads it. Blanking the whole statement
    after a syntax error keeps its other lines from being reported again as
    errors of their own (an orphaned `x)` after `let g = (a + ?`).

    A bracket that never closes would make the rest of the file one
    statement; the statement then ends before line ``fail``, where the parser
    stopped, so the statements after it are still checked."""
    depth = 0
    continues: list[bool] = []
    for line in lines:
        code = line.split("#", 1)[0]
        for ch in code:
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth = max(depth - 1, 0)
        continues.append(depth > 0 or code.rstrip(" \t\f").endswith("\\"))
    first = index
    while first > 0 and continues[first - 1]:
        first -= 1
    last = index
    while last < len(lines) - 1 and continues[last]:
        last += 1
    if continues[last]:  # runs to the end of the file: a bracket never closes
        last = max(index, fail - 1) if fail is not None and fail > index else index
    return first, last


def parse_statements(text: str, path: str = "<string>") -> list:
    """Parse a whole ``.dync`` text into a list of declarations.

    Raises:
        SpecErrors: with every syntax error of the file, sorted by position.
    """
    mapper = SpanMapper(path, _display_source(text))
    parser = build_parser()
    work = text if text.endswith("\n") else text + "\n"
    errors: list[DyncSyntaxError] = []
    seen: set[tuple[int, int]] = set()
    while True:
        try:
            tree = parser.parse(work, start="start")
            break
        except lark.exceptions.LarkError as exc:  # UnexpectedInput and friends
            err = _syntax_error(exc, work, mapper, parser)
            key = (err.span.line, err.span.column) if err.span else (0, 0)
            if key not in seen:
                seen.add(key)
                errors.append(err)
            if len(errors) >= _MAX_ERRORS or err.span is None:
                break
            lines = work.split("\n")
            blank = err.span.line - 1
            if not 0 <= blank < len(lines) or not lines[blank].strip():
                break
            fail = _failing_line(exc)
            first, last = _statement_lines(lines, blank, None if fail is None else fail - 1)
            for i in range(first, last + 1):
                lines[i] = " " * len(lines[i])
            work = "\n".join(lines)
    if errors:
        yaml_line = _yaml_form_line(text)
        if yaml_line is not None:  # one error for the file, not one per line
            line, column = yaml_line
            raise SpecErrors([DyncSyntaxError(
                "this is the YAML form of a spec (`model: NAME`, `states:` ...), read as the text form",
                mapper.span(line, column, line, column + 5),
                hint="rename the file to end in .yaml (or .yml), or write the text form: `model NAME`, `state x = 0`",
            )])  # fmt: skip
        raise SpecErrors(errors)
    statements = _AstBuilder(mapper).transform(tree)
    deep = [e for e in map(_too_deep_arrays, statements) if e is not None]
    if deep:
        raise SpecErrors(deep)
    return statements


def parse_fragment(text: str, kind: str, mapper: SpanMapper):
    """Parse one YAML string: ``kind`` is ``expr``, ``equation``, ``dist``,
    ``kind`` or ``expectation``.

    Raises:
        DyncSyntaxError: located inside the YAML file through ``mapper``.
    """
    start = f"{kind}_only"
    parser = build_parser()
    try:
        tree = parser.parse(text, start=start)
    except lark.exceptions.LarkError as exc:
        raise _syntax_error(exc, text, mapper, parser) from None
    node = _AstBuilder(mapper).transform(tree)
    deep = _too_deep_arrays(node)
    if deep is not None:
        raise deep
    return node


def _leading_doc(text: str) -> str:
    """The model's doc: the comment block right after ``model NAME``, or, if
    there is none, the comment block at the top of the file."""
    lines = text.splitlines()

    def block(start: int) -> list[str]:
        out = []
        for line in lines[start:]:
            s = line.strip()
            if s.startswith("#"):
                rest = s[1:]
                # one space after `#` belongs to the comment mark; more is the
                # doc's own indentation, and `## title` keeps its second `#`
                out.append((rest[1:] if rest.startswith(" ") else rest).rstrip())
            else:
                break
        return out

    for i, line in enumerate(lines):
        if line.strip().startswith("model ") or line.strip() == "model":
            after = block(i + 1)
            if after:
                return "\n".join(after)
            break
    top = block(0)
    return "\n".join(top)


def parse_spec(text: str, path: str = "<string>") -> ast.Spec:
    """Parse the text form of a spec into a :class:`~dync.dsl.ast.Spec`.

    Example:
        >>> spec = parse_spec("model m\\nstate x = 0\\ndx = -x dt + dW\\n")
        >>> spec.name
        'm'
    """
    statements = parse_statements(text, path)
    models = [s for s in statements if isinstance(s, ast.ModelName)]
    name = models[0].name if models else ""
    return ast.Spec(
        name=name,
        doc=_leading_doc(text),
        statements=tuple(statements),
        path=path,
        source=text,
        span=Span(path, 1, 1, source=_display_source(text)),
    )
