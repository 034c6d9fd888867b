"""The YAML form of a spec, read into the same AST as the text form.

The file is composed (never constructed) with PyYAML's safe loader, so every
node keeps its position; each expression, equation, distribution and kind
string is then parsed with the text grammar (:func:`~dync.dsl.parser.parse_fragment`)
through a mapper that moves every position back into the YAML file, so an
error in ``dx = theta * (mu - x) dt + sigm dW`` points at ``sigm`` inside the
YAML string, whatever its quoting or block style.

Reading rules (see docs/language.md):

- the file is at most 1 MiB and nested at most 32 collections deep; anchors
  may be set but aliases (``*name``) are refused, so a spec cannot blow up;
- one extension to YAML: inside a flow collection (``{...}``, ``[...]``), a
  plain scalar keeps the commas, colons and brackets that stand inside its own
  parentheses or brackets, so ``{prior: LogNormal(0, 1)}`` reads as written in
  LANGUAGE.md (standard YAML would split it at the comma);
- a section left empty (``params:``) is an empty section; ``dync:`` may be
  omitted but must be ``1`` when present;
- every independent mistake (an unknown key, a value of the wrong YAML type,
  a duplicate key, a syntax error inside a string) is collected and all are
  raised together as one :class:`~dync.errors.SpecErrors`.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import math
import re
from collections.abc import Callable

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import (
    BadValue,
    DuplicateDeclaration,
    DyncError,
    DyncSyntaxError,
    InvalidSpec,
    Span,
    SpecErrors,
    UnknownKey,
    did_you_mean,
)
from . import ast, sections
from .limits import MAX_SPEC_BYTES as MAX_SPEC_BYTES
from .parser import SpanMapper, parse_fragment
from .vocabulary import CALCULI, DISTRIBUTION_NAMES, NET_OPTIONS, foreign_section

#: the deepest nesting of YAML collections read
MAX_DEPTH = 32

_TAG = "tag:yaml.org,2002:"
_STR = _TAG + "str"
_INT = _TAG + "int"
_FLOAT = _TAG + "float"
_BOOL = _TAG + "bool"
_NULL = _TAG + "null"
_YAML12_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+\Z")
_TEXT_TAGS = frozenset({_TAG + "timestamp", _TAG + "value", _TAG + "merge"})
_STANDARD_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL, _TAG + "map", _TAG + "seq"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SPACE_OR_BREAK = "\0 \t\r\n\x85\u2028\u2029"

SECTIONS: tuple[str, ...] = (
    "dync",
    "model",
    "doc",
    "calculus",
    "dims",
    "params",
    "inputs",
    "brownian",
    "states",
    "let",
    "nets",
    "equations",
    "observe",
    "target",
    "score",
    "expect",
    "simulate",
    "fit",
    "check",
    "test",
    "sample",
    "train",
)
SETTINGS_SECTIONS: tuple[str, ...] = tuple(sections.SECTIONS)
_SECTION_NOTES = {"let": " (a potential is a named expression, `let: {U: ...}`, used as `grad(U, x)`)",
                  "params": " (a constant is a param with `fixed: true`)"}
PARAM_KEYS: tuple[str, ...] = ("value", "shape", "constraint", "prior", "init", "fixed")
STATE_KEYS: tuple[str, ...] = ("shape", "init")
BROWNIAN_KEYS: tuple[str, ...] = ("shape", "kind", "hurst")
INPUT_KEYS: tuple[str, ...] = ("shape",)
NET_KEYS: tuple[str, ...] = ("type", *NET_OPTIONS)
OBSERVE_KEYS: tuple[str, ...] = ("shape", "dist")


# ------------------------------------------------------------ YAML reading


class _Refused(Exception):
    """A YAML document the loader will not read (too deep, an alias)."""

    def __init__(self, message: str, mark, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.hint = hint


class _SpecYamlLoader(yaml.SafeLoader):
    """The safe loader, composing nodes only, with bounded nesting, no aliases,
    and flow scalars that keep their bracketed commas."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def resolve(self, kind, value, implicit):
        # YAML 1.1 reads some plain words as dates (`2001-12-14`), `=` as a
        # "value" and `<<` as a merge key; in a spec they are plain text, read
        # by the expression grammar as the text form reads them
        tag = super().resolve(kind, value, implicit)
        if tag == _STR and kind is ScalarNode and implicit[0] and _YAML12_FLOAT.match(value):
            return _FLOAT  # `1e-3`: a string to YAML 1.1 (no dot), a number to YAML 1.2 and to the text form
        return _STR if tag in _TEXT_TAGS else tag

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise _Refused(
                "YAML aliases (`*name`) are not allowed in a spec",
                self.peek_event().start_mark,
                hint="write the value out in full",
            )
        collection = self.check_event(yaml.MappingStartEvent, yaml.SequenceStartEvent)
        if collection:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise _Refused(f"the YAML is nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            if collection:
                self._depth -= 1

    def scan_plain(self):
        # PyYAML's Scanner.scan_plain, with one change: in the flow context a
        # `,` `?` `]` or `:` inside the scalar's own parentheses or brackets
        # does not end it, so `{prior: LogNormal(0, 1)}` keeps its call whole.
        chunks: list[str] = []
        start_mark = self.get_mark()
        end_mark = start_mark
        indent = self.indent + 1
        spaces: list[str] = []
        parens = brackets = 0
        while True:
            length = 0
            if self.peek() == "#":
                break
            while True:
                ch = self.peek(length)
                nested = parens or brackets
                if ch in _SPACE_OR_BREAK:
                    break
                if ch == ":" and self.peek(length + 1) in _SPACE_OR_BREAK + (",[]{}" if self.flow_level and not nested else ""):
                    break
                if self.flow_level:
                    if ch == "(":
                        parens += 1
                    elif ch == ")":
                        parens = max(parens - 1, 0)
                    elif ch == "[":
                        if not (length or chunks):
                            break
                        brackets += 1
                    elif ch == "]":
                        if not brackets:
                            break
                        brackets -= 1
                    elif ch in "{}" or (ch in ",?" and not nested):
                        break
                length += 1
            if length == 0:
                break
            self.allow_simple_key = False
            chunks.extend(spaces)
            chunks.append(self.prefix(length))
            self.forward(length)
            end_mark = self.get_mark()
            spaces = self.scan_plain_spaces(indent, start_mark)
            if not spaces or self.peek() == "#" or (not self.flow_level and self.column < indent):
                break
        return yaml.tokens.ScalarToken("".join(chunks), True, start_mark, end_mark)


def _compose(text: str) -> Node | None:
    loader = _SpecYamlLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


_INDENT_HINT = (
    "this line is indented differently from the lines above it: keys of one mapping start in the same column, "
    "and top-level sections (`params:`, `states:`, ...) in column 1"
)
_KEY_LINE = re.compile(r"^( *)([A-Za-z_][\w.-]*)\s*:(\s|$)")


def _misindented_key(lines: list[str], line: int) -> tuple[int, int, str, list[tuple[int, int, str]]] | None:
    """For a block key that YAML found indented between the mappings above
    it: ``(line, its indent, the key, levels)``, ``levels`` the indents a key
    there may have, nearest first, each ``(indent, line, key on that line)``;
    ``None`` when the line is not a ``key:`` line."""
    if not 0 < line <= len(lines):
        return None
    m = _KEY_LINE.match(lines[line - 1])
    if m is None:
        return None
    indent = len(m.group(1))
    levels: list[tuple[int, int, str]] = []
    for number in range(line - 1, 0, -1):
        above = _KEY_LINE.match(lines[number - 1])
        if above is None:
            continue  # a blank line, a comment, a list item, a continued value
        level = len(above.group(1))
        if not levels or level < levels[-1][0]:
            levels.append((level, number, above.group(2)))
        if level == 0:
            break
    if not levels or indent in {i for i, _, _ in levels}:
        return None
    return line, indent, m.group(2), levels


def _deeper_key(lines: list[str], line: int) -> tuple[int, int, str, tuple[str, int, str, str | None]] | None:
    """For a ``key:`` line indented deeper than the ``key: value`` line above
    it (YAML reads it as more of that value, then refuses its colon):
    ``(line, its indent, the key, (the key above, its line, its value, that
    key's parent or None))``."""
    if not 0 < line <= len(lines):
        return None
    m = _KEY_LINE.match(lines[line - 1])
    if m is None:
        return None
    for number in range(line - 1, 0, -1):
        above = _KEY_LINE.match(lines[number - 1])
        if above is None:
            if lines[number - 1].strip() and not lines[number - 1].lstrip().startswith("#"):
                return None  # a list item or a continued value: not this case
            continue
        value = lines[number - 1][above.end():].split(" #", 1)[0].strip()
        if len(above.group(1)) >= len(m.group(1)) or not value:
            return None
        outer = (_KEY_LINE.match(lines[k - 1]) for k in range(number - 1, 0, -1))
        parent = next((o.group(2) for o in outer if o is not None and len(o.group(1)) < len(above.group(1))), None)
        return line, len(m.group(1)), m.group(2), (above.group(2), number, value, parent)
    return None


def _with_parents(levels: list[tuple[int, int, str]], section: bool = False) -> list[tuple[int, int, str, str | None]]:
    """Each level with the key its keys belong to (the next, shallower
    level's), ``None`` for the top level; the nearest two only, the top
    level first for a key that names a section (`equations:`)."""
    out = [(i, at, key, levels[k + 1][2] if k + 1 < len(levels) else None) for k, (i, at, key) in enumerate(levels)]
    if section and out[-1][3] is None:
        out = [out[-1]] + out[:-1]
    return out[:2]


def _spaces(n: int) -> str:
    return f"{n} space{'s' if n != 1 else ''}"


_YAML_HINTS = {
    "found character '\\t' that cannot start any token": "indent with spaces: YAML does not allow tabs",
    "mapping values are not allowed here": "quote a value that contains `: `",
    "found undefined alias": "aliases (`*name`) are not allowed in a spec",
    "expected <block end>, but found '<block mapping start>'": _INDENT_HINT,
    "expected <block end>, but found '<block sequence start>'": _INDENT_HINT,
    "expected <block end>, but found '<scalar>'": _INDENT_HINT,
    "expected <block end>, but found '-'": "a list item `- ...` must line up with the other items of its list",
    "could not find expected ':'": "a line in a mapping reads `key: value` (a space after the colon); check this line's colon and indentation",
}


# ------------------------------------------------------------ positions


@dataclasses.dataclass(frozen=True)
class _ScalarMapper(SpanMapper):
    """Maps a position in a (one-line) YAML string to the file, character by
    character: the string's ``i``-th character stands from ``starts[i]`` to
    ``ends[i]`` (exclusive) in the file, so quoting, escapes, folding and block
    indentation all map right."""

    starts: tuple[tuple[int, int], ...] = ()
    ends: tuple[tuple[int, int], ...] = ()

    def _start(self, index: int) -> tuple[int, int]:
        if not self.starts:
            return self.line, self.column + max(index, 0)
        if index < len(self.starts):
            return self.starts[max(index, 0)]
        line, column = self.ends[-1]
        return line, column + index - len(self.starts)

    def _end(self, index: int) -> tuple[int, int]:
        """Where the character before ``index`` ends."""
        if not self.ends or index <= 0:
            line, column = self._start(index)
            return line, column + 1
        if index <= len(self.ends):
            return self.ends[index - 1]
        line, column = self.ends[-1]
        return line, column + index - len(self.ends)

    def span(self, line: int, column: int, end_line: int, end_column: int) -> Span:
        # the parsed text has no line breaks (they were replaced by spaces)
        start, end = column - 1, end_column - 1
        l0, c0 = self._start(start)
        l1, c1 = self._end(end) if end > start else (l0, c0 + 1)
        return Span(self.path, l0, c0, l1, c1, self.source)


def _escape_length(source: str, j: int) -> int:
    """Length of the double-quoted escape sequence starting at ``source[j]``."""
    nxt = source[j + 1] if j + 1 < len(source) else ""
    return {"x": 4, "u": 6, "U": 10}.get(nxt, 2)


def _align(value: str, source: str, start: int, end: int, style: str | None) -> list[tuple[int, int]]:
    """For each character of a scalar's value, where it stands in the raw
    source: ``(start, end)`` indices, end exclusive.

    The value is what YAML made of ``source[start:end]``: quotes removed,
    escapes decoded, line breaks folded, block indentation dropped. Walks both
    together; a character that cannot be matched keeps the last position.
    """
    out: list[tuple[int, int]] = []
    j = start
    for c in value:
        while True:
            if j >= end:
                last = max(min(j, end) - 1, start)
                out.append((last, last + 1))
                break
            r = source[j]
            if r == c:
                out.append((j, j + 1))
                j += 1
                break
            if style == '"' and r == "\\":
                if j + 1 < end and source[j + 1] in "\r\n":
                    j += 1  # an escaped line break: no character in the value
                    continue
                n = _escape_length(source, j)
                out.append((j, j + n))
                j += n
                break
            if style == "'" and r == "'":
                j += 1  # the second quote of ''
                continue
            if c in " \n" and r in "\r\n":
                out.append((j, j + 1))  # a folded line break
                j += 2 if source.startswith("\r\n", j) else 1
                while j < end and source[j] in " \t":
                    j += 1
                break
            if r in " \t\r\n":
                j += 1
                continue
            out.append((j, j + 1))
            if c not in " \t\n":
                j += 1
            break
    return out


# ------------------------------------------------------------ the reader


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag in (_INT, _FLOAT):
        return f"the number `{node.value}`"
    if node.tag == _BOOL:
        return f"`{node.value}` (true/false)"
    if node.tag == _NULL:
        return "nothing"
    return f"the string `{node.value}`" if len(node.value) <= 40 else "a string"


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL and node.style is None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class _SpecReader:
    """Walks the composed YAML, building AST nodes and collecting errors."""

    def __init__(self, text: str, path: str):
        self.text = text
        self.path = path
        self.errors: list[DyncError] = []
        #: declarations that lost a misspelt key (see :attr:`ast.Spec.incomplete`)
        self.incomplete: set[str] = set()
        self.setting_spans: list = []  # (section, key, span of the value) of the run settings
        self._line_starts = [0]
        for line in text.splitlines(keepends=True):
            self._line_starts.append(self._line_starts[-1] + len(line))

    # -- positions
    def pos(self, index: int) -> tuple[int, int]:
        if index >= len(self.text) and len(self._line_starts) > 1:
            # the end of the file (an empty last key `?`): just after the last
            # line's last character, a place the diagnostic can show
            return len(self._line_starts) - 1, len(self.text.splitlines()[-1]) + 1
        line = max(bisect.bisect_right(self._line_starts, index), 1)
        line = min(line, len(self._line_starts))
        return line, index - self._line_starts[line - 1] + 1

    def end_pos(self, end: int) -> tuple[int, int]:
        """The (exclusive) end position of a region ending before index ``end``."""
        line, column = self.pos(max(end - 1, 0))
        return line, column + 1

    def span_of_indices(self, start: int, end: int) -> Span:
        l0, c0 = self.pos(start)
        if end <= start:
            return Span(self.path, l0, c0, l0, c0 + 1, self.text)
        l1, c1 = self.pos(end - 1)
        return Span(self.path, l0, c0, l1, c1 + 1, self.text)

    def span(self, node: Node, until: Node | None = None) -> Span:
        """From the start of ``node`` to the end of ``until`` (default: ``node``)."""
        start, end = node.start_mark.index, (until or node).end_mark.index
        # a block collection or block scalar ends where the next token starts
        while end > start + 1 and self.text[end - 1] in " \t\r\n":
            end -= 1
        return self.span_of_indices(start, end)

    def mark_span(self, mark) -> Span:
        if mark is None:
            return Span(self.path, 1, 1, source=self.text)
        return self.index_span(mark.index)

    def index_span(self, index: int) -> Span:
        """One character at ``index``; past the last line, just after the
        file's last character, so the diagnostic can show that line."""
        end_of_text = len(self.text.rstrip())
        if index >= end_of_text and end_of_text > 0:
            line, column = self.pos(end_of_text - 1)
            return Span(self.path, line, column + 1, line, column + 2, self.text)
        return self.span_of_indices(index, index + 1)

    # -- errors
    def error(self, cls: type[DyncError], message: str, node: Node, hint: str | None = None) -> None:
        self.errors.append(cls(message, self.span(node), hint=hint))

    def expected(self, where: str, what: str, node: Node, hint: str | None = None) -> None:
        self.error(BadValue, f"`{where}` expects {what}, found {_describe(node)}", node, hint)

    # -- structure
    def mapping(self, node: Node, where: str, what: str = "a mapping (`key: value`)") -> list[tuple[ScalarNode, Node, str]]:
        """The ``(key node, value node, key)`` entries of a mapping; a null
        node is an empty mapping. Reports non-scalar and duplicate keys."""
        if _is_null(node):
            return []
        if not isinstance(node, MappingNode):
            self.expected(where, what, node)
            return []
        entries: list[tuple[ScalarNode, Node, str]] = []
        first: dict[str, ScalarNode] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                self.error(BadValue, f"a key in `{where}` must be a plain name, found {_describe(key)}", key)
                continue
            name = key.value
            if name in first:
                line, column = self.pos(first[name].start_mark.index)
                self.error(
                    DuplicateDeclaration,
                    f"`{_join(where, name)}` is given twice",
                    key,
                    hint=f"first given at line {line}, column {column}",
                )
                continue
            first[name] = key
            options = {"params": PARAM_KEYS, "states": STATE_KEYS}.get(where, ())
            previous = entries[-1] if entries else None
            if (
                name in options
                and previous is not None
                and isinstance(previous[1], MappingNode)
                and not previous[1].flow_style
                and previous[1].value
            ):
                # `theta:` / `  value: 1` / `  constraint: positive` written one
                # level too shallow: valid YAML, but a declaration named
                # `constraint` (and an undefined name `positive`) follows
                owner, inner = previous[2], previous[1].value[0][0]
                line, _ = self.pos(inner.start_mark.index)
                self.error(
                    InvalidSpec,
                    f"`{name}:` is lined up with `{owner}:`, so it is read as a {'parameter' if where == 'params' else 'state'} "
                    f"of its own, not as a key of `{owner}`",
                    key,
                    hint=f"indent it like `{inner.value}:` (line {line}), {_spaces(inner.start_mark.column)}, "
                    f"to make it a key of `{owner}`",
                )
                continue
            if where in SECTIONS and name in SECTIONS and _is_null(value):
                self.error(
                    InvalidSpec,
                    f"`{name}:` is indented under `{where}:`, so it is read as an entry of `{where}`, not as a section",
                    key,
                    hint="start the sections in column 1, and indent their entries below them",
                )
                continue
            entries.append((key, value, name))
        return entries

    def check_keys(self, entries, allowed: tuple[str, ...], where: str) -> dict[str, tuple[ScalarNode, Node]]:
        known: dict[str, tuple[ScalarNode, Node]] = {}
        previous: tuple[ScalarNode, Node, str] | None = None
        for key, value, name in entries:
            before, previous = previous, (key, value, name)
            if name in allowed:
                known[name] = (key, value)
                continue
            foreign = foreign_section(name) if not where else None
            empty = before is not None and not where and before[2] in SECTIONS and _is_null(before[1])
            hint = (
                (f"`{before[2]}:` (line {self.pos(before[0].start_mark.index)[0]}) is empty: indent `{name}:` below "
                 f"it (2 spaces) to make it an entry of `{before[2]}`" if empty and before is not None else None)
                or (f"dync calls this section `{foreign}`" + _SECTION_NOTES.get(foreign, "") if foreign else None)
                or ("a state's initial value or law is its `init` (`init: 0`, `init: Normal(0, 1)`)"
                    if where.startswith("states.") and name in ("value", "initial", "x0", "start") and "init" in allowed else None)
                or did_you_mean(name, allowed)
                or "expected one of " + ", ".join(f"`{a}`" for a in allowed)
            )
            where_text = f"in `{where}`" if where else "at the top level"
            self.error(UnknownKey, f"unknown key `{name}` {where_text}", key, hint)
        return known

    def keeps(self, name: str | None, before: int) -> bool:
        """Whether a declaration read with errors since ``before`` stays in
        the (partial) spec: it does when every such error is an unknown key,
        and its name is then marked incomplete, so the checker stays silent
        about its uses instead of reporting what the misspelt key would have
        given it."""
        if not name or not all(isinstance(e, UnknownKey) for e in self.errors[before:]):
            return False
        if len(self.errors) > before:
            self.incomplete.add(name)
        return True

    def decl_name(self, key: ScalarNode, what: str) -> str | None:
        name = key.value
        if not _IDENTIFIER.match(name):
            self.error(BadValue, f"`{name}` is not a valid {what} name", key, hint=_name_hint(name, what))
            return None
        # reserved words are the checker's business, as for the text form
        return name

    def identifier(self, node: Node, where: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag != _NULL and _IDENTIFIER.match(node.value):
            return node.value
        self.expected(where, "a name", node)
        return None

    # -- strings in the expression grammar
    def mapper_for(self, node: ScalarNode) -> tuple[str, _ScalarMapper]:
        """The text to parse for a scalar and the mapper back into the file.

        Comments are blanked and line breaks become spaces, so an expression
        may run over several lines of a block scalar; every character keeps
        its index, hence its position.
        """
        value = node.value
        start, end = node.start_mark.index, node.end_mark.index
        style = node.style
        if style in ('"', "'"):
            start, end = start + 1, max(end - 1, start + 1)
        elif style in ("|", ">"):
            newline = self.text.find("\n", start, end)
            start = newline + 1 if newline >= 0 else end
        extents = _align(value, self.text, start, end, style)
        starts = tuple(self.pos(a) for a, _ in extents)
        ends = tuple(self.end_pos(b) for _, b in extents)
        line, column = starts[0] if starts else self.pos(start)
        mapper = _ScalarMapper(self.path, self.text, line, column, starts, ends)
        lines = [ln.split("#", 1)[0] if "#" in ln else ln for ln in value.split("\n")]
        blanked = "\n".join(ln.ljust(len(orig)) for ln, orig in zip(lines, value.split("\n")))
        return blanked.replace("\r", " ").replace("\n", " "), mapper

    def fragment(self, node: ScalarNode, kind: str):
        text, mapper = self.mapper_for(node)
        return parse_fragment(text, kind, mapper)

    def number(self, node: ScalarNode, where: str) -> ast.Expr | None:
        """A YAML number the expression grammar cannot spell (``0x1F``,
        ``1_000``, ``.inf``): its value, if finite."""
        if ":" in node.value:
            value = yaml.constructor.SafeConstructor().construct_object(node)
            self.error(
                BadValue,
                f"`{node.value}` in `{where}` is not a dync expression (YAML 1.1 reads it as the base-60 number {value})",
                node,
                hint="`:` is no operator in an expression; write the value you mean, such as `1 / 3`",
            )
            return None
        value = yaml.constructor.SafeConstructor().construct_object(node)
        if isinstance(value, float) and not math.isfinite(value):
            self.error(BadValue, f"`{where}` must be a finite number, found `{node.value}`", node)
            return None
        span = self.span(node)
        magnitude = abs(value)
        text = str(magnitude) if isinstance(magnitude, int) else repr(magnitude)
        number = ast.Number(float(magnitude), text, span)
        return ast.Unary("-", number, span) if value < 0 else number

    def expr(self, node: Node, where: str) -> ast.Expr | None:
        """A number, an expression string, or a (nested) YAML list of them."""
        if isinstance(node, SequenceNode):
            if not node.value:
                self.expected(where, "a value", node, hint="an array needs at least one element")
                return None
            elements = [self.expr(item, where) for item in node.value]
            if any(e is None for e in elements):
                return None
            return ast.ArrayLit(tuple(elements), self.span(node))  # type: ignore[arg-type]
        if not isinstance(node, ScalarNode) or _is_null(node):
            self.expected(where, "a number or an expression", node)
            return None
        try:
            return self.fragment(node, "expr")
        except DyncSyntaxError as exc:
            if node.style is None and node.tag in (_INT, _FLOAT):
                return self.number(node, where)
            self.errors.append(exc)
            return None

    def string_fragment(self, node: Node, kind: str, where: str, what: str, hint: str | None = None):
        """A distribution, kind or equation string; ``hint`` for a syntax
        error that has none of its own."""
        if not isinstance(node, ScalarNode) or node.tag in (_NULL, _INT, _FLOAT) and node.style is None:
            self.expected(where, what, node)
            return None
        try:
            return self.fragment(node, kind)
        except DyncSyntaxError as exc:
            if exc.hint is None:
                exc.hint = hint
            self.errors.append(exc)
            return None

    def dist(self, node: Node, where: str) -> ast.Call | None:
        return self.string_fragment(node, "dist", where, "a distribution such as `Normal(0, 1)`")

    def kind(self, node: Node, where: str) -> ast.Name | ast.Call | None:
        return self.string_fragment(node, "kind", where, "a name such as `positive` or a call such as `interval(0, 1)`")

    def shape(self, node: Node, where: str) -> tuple[ast.Expr, ...] | None:
        """``[N, K]``, a single size ``N`` / ``8``, or a string ``"[N, K]"``."""
        hint = "write a shape as a list of sizes, like `[N, K]`"
        if isinstance(node, SequenceNode):
            if not node.value:
                self.expected(where, "a shape like `[N, K]`", node, hint="leave `shape` out for a scalar")
                return None
            sizes = []
            for item in node.value:
                if not isinstance(item, ScalarNode):
                    self.expected(where, "a size (a number or a name)", item, hint)
                    sizes.append(None)
                else:
                    sizes.append(self.expr(item, where))
            return None if any(s is None for s in sizes) else tuple(sizes)  # type: ignore[arg-type]
        if isinstance(node, ScalarNode) and not _is_null(node):
            value = self.expr(node, where)
            if value is None:
                return None
            if isinstance(value, ast.ArrayLit) and node.value.lstrip().startswith("["):
                return value.elements
            return (value,)
        self.expected(where, "a shape like `[N, K]`", node, hint)
        return None

    def boolean(self, node: Node, where: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag == _BOOL:
            return bool(yaml.constructor.SafeConstructor().construct_object(node))
        self.expected(where, "`true` or `false`", node)
        return None

    # -- sections
    def read(self) -> ast.Spec:
        try:
            root = _compose(self.text)
        except _Refused as exc:
            raise SpecErrors([InvalidSpec(exc.message, self.mark_span(exc.mark), hint=exc.hint)]) from None
        except yaml.MarkedYAMLError as exc:
            raise SpecErrors([self.yaml_syntax_error(exc)]) from None
        except yaml.reader.ReaderError as exc:  # a character YAML does not allow
            code = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "\0")
            message = f"invalid YAML: the character #x{code:04x} is not allowed"
            raise SpecErrors([DyncSyntaxError(message, self.index_span(exc.position))]) from None
        spec = self.spec(root)
        if self.errors:
            recoverable = all(isinstance(e, UnknownKey) for e in self.errors)
            raise SpecErrors(self.errors, partial=spec if recoverable else None)
        return spec

    def yaml_syntax_error(self, exc: yaml.MarkedYAMLError) -> DyncSyntaxError:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        if problem == "could not find expected ':'" and exc.context_mark is not None:
            mark = exc.context_mark  # the line without a colon, not the next one where YAML noticed
        hint = _YAML_HINTS.get(problem)
        if hint is None and exc.context and exc.context_mark is not None and exc.problem:
            line, column = self.pos(exc.context_mark.index)
            hint = f"{exc.context} at line {line}, column {column}"
        if problem == "mapping values are not allowed here" and mark is not None:
            deeper = _deeper_key(self.text.split("\n"), self.pos(mark.index)[0])
            if deeper is not None:
                line, indent, key, (above, at, value, parent) = deeper
                column = _KEY_LINE.match(self.text.split("\n")[at - 1]).end(1) + 1  # type: ignore[union-attr]
                return DyncSyntaxError(
                    f"invalid YAML: `{key}:` is indented more than `{above}:` (line {at}), so it is read as the rest "
                    f"of the value `{value}` of `{above}`",
                    Span(self.path, line, indent + 1, line, indent + 1 + len(key), source=self.text),
                    hint=(f"start it in column 1 like `{above}:`" if column == 1 else f"indent it {_spaces(column - 1)} like `{above}:`")
                    + (f" to make it a key of `{parent}:`" if parent else " to make it a top-level section"),
                )  # fmt: skip
        if hint is _INDENT_HINT:
            problem = "this line's indentation does not fit the lines above it"
            if mark is not None:
                misplaced = _misindented_key(self.text.split("\n"), self.pos(mark.index)[0])
                if misplaced is not None:
                    line, indent, key, levels = misplaced
                    columns = [str(i) for i, _, _ in levels]
                    shown = columns[0] if len(columns) == 1 else f"{', '.join(columns[:-1])} or {columns[-1]}"
                    problem = (f"`{key}:` is indented {_spaces(indent)}, but the keys above it are indented {shown}: "
                               "it belongs to none of their mappings")  # fmt: skip
                    hint = ", or ".join(
                        f"indent it {_spaces(i)} to make it a key of `{parent}:` like `{sibling}:` (line {at})"
                        if parent else "start it in column 1 to make it a top-level section"
                        for i, at, sibling, parent in _with_parents(levels, section=key in SECTIONS)
                    )  # fmt: skip
                    span = Span(self.path, line, indent + 1, line, indent + 1 + len(key), source=self.text)
                    return DyncSyntaxError(f"invalid YAML: {problem}", span, hint=hint)
        return DyncSyntaxError(f"invalid YAML: {problem}", self.mark_span(mark), hint=hint)

    def spec(self, root: Node | None) -> ast.Spec:
        span = Span(self.path, 1, 1, source=self.text)
        if root is None:
            return ast.Spec("", "", (), path=self.path, source=self.text, span=span)
        if not isinstance(root, MappingNode):
            text_form = isinstance(root, ScalarNode) and re.match(r"\s*model\s+[A-Za-z_]\w*(\s|$)", str(root.value))
            self.error(
                BadValue,
                f"a spec is a mapping of sections (`model:`, `params:`, ...), found {_describe(root)}",
                root,
                hint="this is the text form of a spec (`model NAME`, `state x = 0`): rename the file to end in .dync"
                if text_form
                else None,
            )
            return ast.Spec("", "", (), path=self.path, source=self.text, span=span)
        for node in _walk(root):
            if node.tag not in _STANDARD_TAGS:
                tag = node.tag.replace(_TAG, "!!", 1)
                self.error(BadValue, f"the YAML tag `{tag}` is not allowed in a spec", node, hint="remove the tag")
        entries = self.mapping(root, "")
        sections = self.check_keys(entries, SECTIONS, "")
        for meant, marker in (("equations", ast.MISSPELT_EQUATIONS), ("states", ast.MISSPELT_STATES)):
            if meant not in sections and any(
                n not in SECTIONS
                and (foreign_section(n) == meant or difflib.get_close_matches(n, [meant], n=1, cutoff=0.75))
                for _, _, n in entries
            ):
                # a misspelt section (its E260 says so): no follow-on error for
                # every state without an equation, or every equation without a state
                self.incomplete.add(marker)
            at = next((k for k, (_, _, n) in enumerate(entries) if n == meant), None)
            if (
                at is not None
                and _is_null(entries[at][1])
                and at + 1 < len(entries)
                and entries[at + 1][2] not in SECTIONS
            ):
                # an empty section followed by an unknown key: its entries
                # were not indented (the E260 says so), the same follow-ons
                self.incomplete.add(marker)

        def section(name: str, build: Callable[[Node], list]) -> list:
            return build(sections[name][1]) if name in sections else []

        if "dync" in sections:
            self.version(sections["dync"][1])
        name = ""
        statements: list = []
        if "model" in sections:
            node = sections["model"][1]
            name = self.identifier(node, "model") or ""
            if name:
                statements.append(ast.ModelName(name, self.span(node)))
        doc = self.doc(sections["doc"][1]) if "doc" in sections else ""
        statements += section("calculus", self.calculus)
        statements += section("dims", self.dims)
        statements += section("params", self.params)
        statements += section("inputs", self.inputs)
        statements += section("brownian", self.brownians)
        statements += section("states", self.states)
        statements += section("let", self.lets)
        statements += section("nets", self.nets)
        statements += section("equations", self.equations)
        statements += section("observe", self.observations)
        statements += section("target", self.target)
        statements += section("score", self.scores)
        statements += section("expect", self.expectations)
        settings = tuple(
            (name_, self.settings(name_, sections[name_][1])) for name_ in SETTINGS_SECTIONS if name_ in sections
        )
        return ast.Spec(
            name, doc, tuple(statements), settings, path=self.path, source=self.text, span=span,
            incomplete=frozenset(self.incomplete), setting_spans=tuple(self.setting_spans),
        )

    def version(self, node: Node) -> None:
        if isinstance(node, ScalarNode) and node.tag == _INT and node.value == "1":
            return
        self.error(BadValue, f"unsupported spec version: `dync` is {_describe(node)}", node, hint='this dync reads `dync: 1`')

    def doc(self, node: Node) -> str:
        if _is_null(node):
            return ""
        if not isinstance(node, ScalarNode):
            self.expected("doc", "a string", node)
            return ""
        # the block's own indentation is YAML's; a line's indentation beyond it is the doc's
        return "\n".join(line.rstrip() for line in node.value.strip("\n").rstrip().splitlines())

    def calculus(self, node: Node) -> list:
        if isinstance(node, ScalarNode) and node.value in CALCULI and node.tag == _STR:
            return [ast.Calculus(node.value, self.span(node))]
        if isinstance(node, ScalarNode) and node.tag == _STR and node.value:
            # the text form's message and code (E261) for `calculus Ito`
            hint = did_you_mean(node.value, CALCULI) or "write `ito` or `stratonovich`"
            self.error(BadValue, f"unknown calculus `{node.value}`", node, hint)
            return []
        self.expected("calculus", "`ito` or `stratonovich`", node)
        return []

    def dims(self, node: Node) -> list:
        out = []
        for key, value, _ in self.mapping(node, "dims"):
            name = self.decl_name(key, "dim")
            expr = self.expr(value, _join("dims", key.value))
            if name and expr is not None:
                out.append(ast.Dim(name, expr, self.span(key, value), self.span(key)))
        return out

    def params(self, node: Node) -> list:
        out = []
        for key, value, _ in self.mapping(node, "params"):
            name = self.decl_name(key, "parameter")
            where = _join("params", key.value)
            if isinstance(value, MappingNode):
                param = self.param_mapping(name, key, value, where)
            elif _is_null(value):
                param = ast.Param(name or "", span=self.span(key, value), name_span=self.span(key))
            else:
                expr = self.expr(value, where)
                param = None if expr is None else ast.Param(name or "", value=expr, span=self.span(key, value), name_span=self.span(key))
            if name and param is not None:
                out.append(param)
        return out

    def param_mapping(self, name: str | None, key: ScalarNode, node: MappingNode, where: str) -> ast.Param | None:
        read_from = len(self.errors)
        parts = self.check_keys(self.mapping(node, where), PARAM_KEYS, where)
        self.keeps(name, read_from)
        before = len(self.errors)
        got: dict[str, object] = {}
        readers = {
            "value": self.expr,
            "shape": self.shape,
            "constraint": self.kind,
            "prior": self.dist,
            "init": self.dist,
            "fixed": self.boolean,
        }
        for part, (_, value) in parts.items():
            got[part] = readers[part](value, _join(where, part))
        fixed = bool(got.get("fixed"))
        if fixed:
            extra = [p for p in ("constraint", "prior", "init") if p in parts]
            for part in extra:
                self.error(
                    InvalidSpec,
                    f"a fixed parameter takes only `value` and `shape`, not `{part}`",
                    parts[part][0],
                    hint="remove `fixed: true` to make it a parameter, or remove this key",
                )
            if "value" not in parts:
                self.error(InvalidSpec, f"the fixed parameter `{key.value}` needs a `value`", parts["fixed"][0])
        if len(self.errors) > before or name is None:
            return None
        return ast.Param(
            name,
            shape=got.get("shape"),  # type: ignore[arg-type]
            value=got.get("value"),  # type: ignore[arg-type]
            constraint=got.get("constraint"),  # type: ignore[arg-type]
            prior=got.get("prior"),  # type: ignore[arg-type]
            init=got.get("init"),  # type: ignore[arg-type]
            fixed=fixed,
            span=self.span(key, node),
            name_span=self.span(key),
        )

    def states(self, node: Node) -> list:
        out = []
        for key, value, _ in self.mapping(node, "states"):
            name = self.decl_name(key, "state")
            where = _join("states", key.value)
            shape = None
            init_node: Node | None = value
            before = len(self.errors)
            if isinstance(value, MappingNode):
                parts = self.check_keys(self.mapping(value, where), STATE_KEYS, where)
                if "shape" in parts:
                    shape = self.shape(parts["shape"][1], _join(where, "shape"))
                init_node = parts["init"][1] if "init" in parts else None
                if init_node is None and len(self.errors) > before:
                    # a misspelt key was reported; `init` is likely it: keep
                    # the state, without an initial value, for the checker
                    if self.keeps(name, before):
                        out.append(ast.State(name, shape, None, None, self.span(key, value), self.span(key)))  # type: ignore[arg-type]
                    continue
            if init_node is None or _is_null(init_node):
                self.error(
                    InvalidSpec,
                    f"the state `{key.value}` needs `init`: an initial value or distribution",
                    key,
                    hint="add `init: 0.0` or `init: Normal(0, 1)`",
                )
                continue
            init = self.expr(init_node, _join(where, "init") if init_node is not value else where)
            if name is None or init is None or not self.keeps(name, before):
                continue
            span, name_span = self.span(key, value), self.span(key)
            if isinstance(init, ast.Name) and init.id == "data":
                out.append(ast.State(name, shape, None, None, span, name_span, data=True))
            elif isinstance(init, ast.Call) and init.func in DISTRIBUTION_NAMES:
                out.append(ast.State(name, shape, None, init, span, name_span))
            else:
                out.append(ast.State(name, shape, init, None, span, name_span))
        return out

    def brownians(self, node: Node) -> list:
        out = []
        for key, value, _ in self.mapping(node, "brownian"):
            name = self.decl_name(key, "Brownian motion")
            where = _join("brownian", key.value)
            before = len(self.errors)
            shape = kind = None
            if isinstance(value, MappingNode):
                parts = self.check_keys(self.mapping(value, where), BROWNIAN_KEYS, where)
                if "shape" in parts:
                    shape = self.shape(parts["shape"][1], _join(where, "shape"))
                if "kind" in parts:
                    kind = self.kind(parts["kind"][1], _join(where, "kind"))
                if "hurst" in parts:
                    kind = self.with_hurst(kind, parts, where)
            elif not _is_null(value):
                self.expected(where, "a mapping (`{shape, kind, hurst}`) or nothing", value)
            if self.keeps(name, before):
                out.append(ast.Brownian(name, shape, kind, self.span(key, value), self.span(key)))  # type: ignore[arg-type]
        return out

    def with_hurst(self, kind, parts, where: str):
        hurst_key, hurst_node = parts["hurst"]
        hurst = self.expr(hurst_node, _join(where, "hurst"))
        if "kind" not in parts:
            self.error(InvalidSpec, "`hurst` needs `kind: fractional`", hurst_key, hint="add `kind: fractional`")
            return None
        if hurst is None or kind is None:
            return None
        keyword = ast.Keyword("hurst", hurst, self.span(hurst_key, hurst_node))
        if isinstance(kind, ast.Name):
            return ast.Call(kind.id, (), (keyword,), kind.span, kind.span)
        if any(k.name == "hurst" for k in kind.kwargs):
            self.error(InvalidSpec, "`hurst` is given twice: in `kind` and as its own key", hurst_key)
            return None
        return dataclasses.replace(kind, kwargs=kind.kwargs + (keyword,))

    def inputs(self, node: Node) -> list:
        out = []
        for key, value, _ in self.mapping(node, "inputs"):
            name = self.decl_name(key, "input")
            where = _join("inputs", key.value)
            before = len(self.errors)
            shape = None
            if isinstance(value, MappingNode):
                parts = self.check_keys(self.mapping(value, where), INPUT_KEYS, where)
                if "shape" in parts:
                    shape = self.shape(parts["shape"][1], _join(where, "shape"))
            elif not _is_null(value):
                self.expected(where, "a mapping (`{shape}`) or nothing", value)
            if self.keeps(name, before):
                out.append(ast.Input(name, shape, self.span(key, value), self.span(key)))  # type: ignore[arg-type]
        return out

    def lets(self, node: Node) -> list:
        out = []
        for key, value, _ in self.mapping(node, "let"):
            name = self.decl_name(key, "named expression")
            expr = self.expr(value, _join("let", key.value))
            if name and expr is not None:
                out.append(ast.Let(name, expr, self.span(key, value), self.span(key)))
        return out

    def nets(self, node: Node) -> list:
        out = []
        for key, value, _ in self.mapping(node, "nets"):
            name = self.decl_name(key, "network")
            where = _join("nets", key.value)
            if not isinstance(value, MappingNode):
                self.expected(where, "a mapping (`{type: mlp, in: ..., out: ...}`)", value)
                continue
            before = len(self.errors)
            parts = self.check_keys(self.mapping(value, where), NET_KEYS, where)
            func = None
            if "type" in parts:
                type_node = parts["type"][1]
                func = self.identifier(type_node, _join(where, "type"))
            elif len(self.errors) == before:  # else a misspelt key was reported
                self.error(InvalidSpec, f"the network `{key.value}` needs a `type`", key, hint="add `type: mlp`")
            kwargs = []
            for option in NET_OPTIONS:
                if option in parts:
                    k, v = parts[option]
                    expr = self.expr(v, _join(where, option))
                    if expr is not None:
                        kwargs.append(ast.Keyword(option, expr, self.span(k, v)))
            if not self.keeps(name, before) or func is None:
                continue
            call = ast.Call(func, (), tuple(kwargs), self.span(value), self.span(parts["type"][1]))
            out.append(ast.Net(name, call, self.span(key, value), self.span(key)))
        return out

    def equations(self, node: Node) -> list:
        if _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.expected("equations", "a list of equations", node, hint="write each equation as `- dx = ...` on its own line")
            return []
        out = []
        for item in node.value:
            eq = self.string_fragment(item, "equation", "equations", "an equation such as `dx = -x dt + dW`")
            if eq is not None:
                out.append(eq)
        return out

    def observations(self, node: Node) -> list:
        out = []
        for key, value, _ in self.mapping(node, "observe"):
            name = self.decl_name(key, "observation")
            where = _join("observe", key.value)
            before = len(self.errors)
            shape = dist = None
            if isinstance(value, MappingNode):
                parts = self.check_keys(self.mapping(value, where), OBSERVE_KEYS, where)
                if "shape" in parts:
                    shape = self.shape(parts["shape"][1], _join(where, "shape"))
                if "dist" in parts:
                    dist = self.dist(parts["dist"][1], _join(where, "dist"))
                elif len(self.errors) == before:  # else a misspelt key was reported
                    self.error(InvalidSpec, f"the observation `{key.value}` needs `dist`", key, hint="add `dist: Normal(x, 0.1)`")
            else:
                dist = self.dist(value, where)
            if self.keeps(name, before) and dist is not None:
                out.append(ast.Observe(name, shape, dist, self.span(key, value), self.span(key)))
        return out

    # -- version 1.1: target, score, expect
    def target(self, node: Node) -> list:
        if _is_null(node):
            return []
        value = self.expr(node, "target")
        return [] if value is None else [ast.Target(value, self.span(node))]

    def scores(self, node: Node) -> list:
        out = []
        for key, value, _ in self.mapping(node, "score", "a mapping `STATE: EXPR`"):
            name = self.decl_name(key, "state")
            expr = self.expr(value, _join("score", key.value))
            if name and expr is not None:
                out.append(ast.Score(name, expr, self.span(key, value), self.span(key)))
        return out

    def expectations(self, node: Node) -> list:
        if _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.expected("expect", "a list of expectations", node, hint="write each as `- mean(x) = ...` on its own line")
            return []
        out = []
        for item in node.value:
            e = self.string_fragment(
                item, "expectation", "expect", "an expectation such as `always x > 0` or `mean(x) = 0`",
                hint="an expectation reads `always COND`, `mean(EXPR) = RHS`, `var(EXPR) = RHS` or `stationary STATE ~ DIST`",
            )
            if e is not None:
                out.append(dataclasses.replace(e, span=self.span(item)))
        return out

    # -- run settings
    def bad_range(self, where: str, node: MappingNode) -> None:
        """The first entry of a ``ranges:`` mapping that is not ``NAME: [LO,
        HI]`` with LO below HI, at that entry."""
        for k, v in node.value:
            if _named_ranges(MappingNode(node.tag, [(k, v)])):
                continue
            label = f"{where}.{k.value}" if isinstance(k, ScalarNode) else where
            if isinstance(v, SequenceNode) and _numbers(v) and len(v.value) == 2:
                lo, hi = (yaml.constructor.SafeConstructor().construct_object(x) for x in v.value)
                self.error(
                    BadValue, f"`{label}` is [{lo}, {hi}]: the lower bound must be below the upper one", v,
                    hint=f"write [{min(lo, hi)}, {max(lo, hi)}]" if lo != hi else "to hold a value fixed, use --set NAME=VALUE",
                )  # fmt: skip
            else:
                self.expected(label, "two numbers `[LO, HI]`", v)
            return
        self.expected(where, "a mapping NAME: [LO, HI]", node)

    def settings(self, section: str, node: Node) -> tuple[tuple[str, object], ...]:
        entries = self.mapping(node, section)
        for _key, value, name in entries:
            self.setting_spans.append((section, name, self.span(value)))
            if isinstance(value, MappingNode):  # `fix: {k: 3}`: each entry, `fix.k`, for an error about it
                for k, v in value.value:
                    if isinstance(k, ScalarNode):
                        self.setting_spans.append((section, f"{name}.{k.value}", self.span(k, v)))
        out = []
        keys = sections.yaml_keys(section)
        if keys is not None:
            known = self.check_keys(entries, tuple(keys), section)
            for name, (key, value) in known.items():
                setting = keys[name]
                if sections.DIST in setting.accepts:
                    law = self.dist(value, _join(section, name))
                    if law is not None:
                        out.append((name, law))
                elif any(_ACCEPTS[kind](value) for kind in setting.accepts):
                    out.append((name, _construct(value)))
                elif sections.NAMED_RANGES in setting.accepts and isinstance(value, MappingNode):
                    self.bad_range(_join(section, name), value)
                else:
                    self.expected(_join(section, name), setting.what, value)
            return tuple(out)
        for key, value, name in entries:
            if isinstance(value, ScalarNode) or (
                isinstance(value, SequenceNode) and all(isinstance(v, ScalarNode) for v in value.value)
            ):
                out.append((name, _construct(value)))
            else:
                self.expected(_join(section, name), "a value or a list of values", value)
        return tuple(out)


def _walk(root: Node):
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


def _construct(node: Node) -> object:
    value = yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    return _frozen(value)


def _frozen(value: object) -> object:
    """Lists as tuples, at any depth (settings are immutable data)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def _is(*tags: str) -> Callable[[Node], bool]:
    return lambda node: isinstance(node, ScalarNode) and node.tag in tags


def _numbers(node: Node) -> bool:
    return isinstance(node, SequenceNode) and bool(node.value) and all(_is(_INT, _FLOAT)(v) for v in node.value)


#: the YAML key that holds each declaration's content beside its shape
_SHAPED_CONTENT = {"parameter": "value: ...", "state": "init: ...", "observation": "dist: ...",
                   "Brownian motion": "", "input": ""}  # fmt: skip
_SHAPED_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\[(.*)\]\s*$")


def _name_hint(name: str, what: str) -> str:
    """The hint for a declaration key that is not a name: a text-form shape
    (`y[M]`) gets the YAML way to write it."""
    shaped = _SHAPED_NAME.match(name)
    if shaped and what in _SHAPED_CONTENT:
        base, shape = shaped.group(1), shaped.group(2).strip()
        rest = _SHAPED_CONTENT[what]
        inner = f"shape: [{shape}]" + (f", {rest}" if rest else "")
        return f"in YAML the shape is a key of its own: write `{base}: {{{inner}}}`"
    if not name.isascii():  # `σ`: a letter, but not one a name may hold
        return "a name starts with a letter or `_` and has only letters, digits and `_`, all ASCII (write `sigma` for `σ`, `theta` for `θ`)"
    return "a name starts with a letter or `_` and has only letters, digits and `_`"


def _named_numbers(node: Node) -> bool:
    return isinstance(node, MappingNode) and all(
        _is(_STR)(k) and _is(_INT, _FLOAT)(v) for k, v in node.value
    )


def _named_ranges(node: Node) -> bool:
    """``{theta: [0.5, 2.0]}``: names to two increasing numbers."""
    if not isinstance(node, MappingNode):
        return False
    for k, v in node.value:
        if not (_is_(k, _STR) and _numbers(v) and len(v.value) == 2):
            return False
        try:
            lo, hi = (float(yaml.constructor.SafeConstructor().construct_object(x)) for x in v.value)
        except (OverflowError, ValueError):  # an integer too large for a float
            return False
        if not lo < hi:
            return False
    return True


def _is_(node: Node, *tags: str) -> bool:
    return _is(*tags)(node)


#: what a YAML node must look like for each kind a setting accepts
_ACCEPTS: dict[str, Callable[[Node], bool]] = {
    sections.INT: _is(_INT),
    sections.NUMBER: _is(_FLOAT),
    sections.STRING: _is(_STR),
    sections.BOOL: _is(_BOOL),
    sections.NUMBERS: _numbers,
    sections.NAMED_NUMBERS: _named_numbers,
    sections.NAMED_RANGES: _named_ranges,
}


# ------------------------------------------------------------ entry point


def load_yaml_spec(text: str, path: str = "<string>") -> ast.Spec:
    """Read the YAML form of a spec into the same AST the text form gives.

    Statements come out in the canonical order of :func:`dync.dsl.format.canonical`
    (model, calculus, dims, params, inputs, brownians, states, lets, nets,
    equations, observations, target, scores, expectations); ``let``,
    ``equations`` and ``expect`` keep their order.

    Args:
        text: the YAML document.
        path: the file name used in spans and diagnostics.

    Returns:
        The spec, every node's span pointing into ``text``.

    Raises:
        SpecErrors: every problem found, sorted by position: YAML syntax
            (:class:`~dync.errors.DyncSyntaxError`), unknown keys (E260),
            values of the wrong YAML type (E261), duplicate keys (E202), a file
            too large or too deep (E290), syntax errors inside strings.

    Example:
        >>> spec = load_yaml_spec("model: m\\nstates: {x: {init: 0.0}}\\nequations: [dx = -x dt + dW]\\n")
        >>> [type(s).__name__ for s in spec.statements]
        ['ModelName', 'State', 'Equation']
    """
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_SPEC_BYTES:
        raise SpecErrors(
            [InvalidSpec(f"the spec is {size} bytes long; the limit is {MAX_SPEC_BYTES} bytes (1 MiB)", Span(path, 1, 1))]
        )
    return _SpecReader(text, path).read()
