"""The canonical form of a spec, in both spellings: what ``dync fmt`` writes.

:func:`canonical` puts a spec's statements in one order and one
representation; :func:`format_text` and :func:`format_yaml` write that
canonical spec as a ``.dync`` or a YAML file. The laws (tested in
``tests/dsl/test_format.py``)::

    canonical(parse_spec(format_text(s)))     == canonical(s)
    load_yaml_spec(format_yaml(s))            == canonical(s)
    format_text(parse_spec(format_text(s)))   == format_text(s)

What is not kept: comments other than the model's doc (the comment block
after ``model NAME``), blank lines and the order of statements of different
kinds; ``calculus ito`` (the default) is dropped; ``**`` is written ``^``;
parentheses are only those the tree needs. Numbers keep the spelling they were
written with. The text form has no run settings: :func:`format_text` drops
them, :func:`format_yaml` writes them after the model.

Expressions are printed with the fewest parentheses that give back the same
tree. Precedence, low to high: ``or``, ``and``, ``not``, comparisons,
``+ -``, ``* / @``, unary ``- +``, ``^`` (right-associative), then calls,
indexing and atoms. So ``-x^2`` is ``-(x^2)`` and needs none, ``(-x)^2``
keeps them, ``a - (b - c)`` keeps them, ``2^3^4`` needs none.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math

from .._deep import deepest_statement, run_deep
from . import ast
from .vocabulary import CALCULI, DISTRIBUTION_NAMES, NET_OPTIONS

#: the canonical order of statement kinds
STATEMENT_ORDER: tuple[type, ...] = (
    ast.ModelName,
    ast.Calculus,
    ast.Dim,
    ast.Param,
    ast.Input,
    ast.Brownian,
    ast.State,
    ast.Let,
    ast.Net,
    ast.Equation,
    ast.Observe,
    ast.Target,
    ast.Score,
    ast.Expect,
)

# ------------------------------------------------------------ canonical


def _canonical_term(term: ast.Term) -> ast.Term:
    """A term as the parser reads it back: ``L @ dW`` and a bare ``dW`` are
    coefficient expressions without a differential (the compiler recognises
    them), so both representations compare equal after canonicalisation."""
    if term.differential is None:
        return term
    if term.coefficient is None:
        name = ast.Name(term.differential, term.differential_span)
        return dataclasses.replace(term, coefficient=name, differential=None, matrix=False)
    if term.matrix:
        name = ast.Name(term.differential, term.differential_span)
        product = ast.Binary("@", term.coefficient, name, term.span, term.span)
        return dataclasses.replace(term, coefficient=product, differential=None, matrix=False)
    return term


def _canonical_statement(stmt):
    if isinstance(stmt, ast.Equation):
        return dataclasses.replace(stmt, terms=tuple(_canonical_term(t) for t in stmt.terms))
    if isinstance(stmt, ast.Net):
        rank = {name: i for i, name in enumerate(NET_OPTIONS)}
        kwargs = sorted(stmt.call.kwargs, key=lambda k: rank.get(k.name, len(rank)))
        return dataclasses.replace(stmt, call=dataclasses.replace(stmt.call, kwargs=tuple(kwargs)))
    return stmt


def canonical(spec: ast.Spec) -> ast.Spec:
    """The spec with its statements in canonical order and representation.

    Statements are stably sorted by kind (:data:`STATEMENT_ORDER`: model,
    calculus, dims, params and consts, inputs, brownians, states, lets, nets,
    equations, observations, target, scores, expectations), so statements of one kind keep their order.
    ``calculus ito`` (the default) is dropped, a network's keyword arguments
    are put in the order ``in, out, width, depth, activation``, and equation
    terms take the parser's representation (see :class:`~dync.dsl.ast.Term`).

    Example:
        >>> from dync.dsl.parser import parse_spec
        >>> spec = canonical(parse_spec("state x = 0\\nmodel m\\ndx = -x dt\\n"))
        >>> [type(s).__name__ for s in spec.statements]
        ['ModelName', 'State', 'Equation']
    """
    rank = {kind: i for i, kind in enumerate(STATEMENT_ORDER)}
    kept = [
        _canonical_statement(s)
        for s in spec.statements
        if not (isinstance(s, ast.Calculus) and s.value == CALCULI[0])
    ]
    kept.sort(key=lambda s: rank.get(type(s), len(rank)))
    return dataclasses.replace(spec, statements=tuple(kept))


# ------------------------------------------------------------ expressions

# binding strength of each construct; an operand needs at least the level
# its position asks for, or parentheses
_OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _POWER, _POSTFIX = range(1, 10)
_BINARY_LEVEL = {"or": _OR, "and": _AND, "+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "@": _PRODUCT, "^": _POWER}
_COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!="})


def _number_text(node: ast.Number) -> str:
    if node.text:
        return node.text
    value = float(node.value)
    if not math.isfinite(value):
        raise ValueError(f"a spec cannot spell the number {value!r}")
    return repr(abs(value)) if value < 0 else repr(value)


def _level(node) -> int:
    """How tightly a node binds when printed without parentheses."""
    if isinstance(node, ast.Binary):
        return _COMPARE if node.op in _COMPARISONS else _BINARY_LEVEL.get(node.op, _PRODUCT)
    if isinstance(node, ast.Unary):
        return _NOT if node.op == "not" else _UNARY
    if isinstance(node, ast.Number) and node.value < 0 and not node.text:
        return _UNARY
    return _POSTFIX


def format_expr(node, min_level: int = _OR) -> str:
    """An expression in the text grammar, parenthesised only where needed.

    Args:
        node: an expression node.
        min_level: the binding strength the surrounding position requires.

    Example:
        >>> from dync.dsl.parser import parse_fragment, SpanMapper
        >>> format_expr(parse_fragment("((a - (b - c))) * -x**2", "expr", SpanMapper("f", "")))
        '(a - (b - c)) * -x^2'
    """
    text = _format_expr(node)
    return f"({text})" if _level(node) < min_level else text


def _format_expr(node) -> str:
    if isinstance(node, ast.Number):
        text = _number_text(node)
        return f"-{text}" if node.value < 0 and not node.text else text
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Binary):
        if node.op in _COMPARISONS:
            return f"{format_expr(node.left, _SUM)} {node.op} {format_expr(node.right, _SUM)}"
        level = _BINARY_LEVEL.get(node.op, _PRODUCT)
        if node.op == "^":  # right-associative: a postfix base, a unary exponent
            return f"{format_expr(node.left, _POSTFIX)}^{format_expr(node.right, _UNARY)}"
        return f"{format_expr(node.left, level)} {node.op} {format_expr(node.right, level + 1)}"
    if isinstance(node, ast.Unary):
        if node.op == "not":
            return f"not {format_expr(node.operand, _NOT)}"
        operand = format_expr(node.operand, _UNARY)
        space = " " if operand[:1] in "+-" else ""
        return f"{node.op}{space}{operand}"
    if isinstance(node, ast.Call):
        return _format_call(node)
    if isinstance(node, ast.Index):
        items = ", ".join(_format_index_item(i) for i in node.items)
        return f"{format_expr(node.value, _POSTFIX)}[{items}]"
    if isinstance(node, ast.ArrayLit):
        return "[" + ", ".join(format_expr(e) for e in node.elements) + "]"
    raise TypeError(f"not an expression node: {node!r}")


def _format_call(node: ast.Call) -> str:
    args = [format_expr(a) for a in node.args]
    args += [f"{k.name} = {format_expr(k.value)}" for k in node.kwargs]
    return f"{node.func}({', '.join(args)})"


def _format_index_item(item) -> str:
    if not isinstance(item, ast.Slice):
        return format_expr(item)
    parts = ["" if p is None else format_expr(p) for p in (item.start, item.stop)]
    text = ":".join(parts)
    if item.step is not None:
        text += ":" + format_expr(item.step)
    return text


def _format_kind(node) -> str:
    return node.id if isinstance(node, ast.Name) else _format_call(node)


def _format_shape(shape) -> str:
    return "" if shape is None else "[" + ", ".join(format_expr(s) for s in shape) + "]"


def _format_term(term: ast.Term, first: bool) -> str:
    if term.coefficient is None:
        body = term.differential or ""
    else:
        body = format_expr(term.coefficient, _PRODUCT)
        if term.matrix and term.differential:
            body += f" @ {term.differential}"
        elif term.differential:
            body += f" {term.differential}"
    if first:
        return f"-{body}" if term.sign < 0 else body
    return f"{'-' if term.sign < 0 else '+'} {body}"


def format_equation(eq: ast.Equation) -> str:
    """``dX = TERM + TERM ...`` as the text form writes it.

    Example:
        >>> from dync.dsl.parser import parse_fragment, SpanMapper
        >>> format_equation(parse_fragment("dx=theta*(mu-x)dt-s*y dW", "equation", SpanMapper("f", "")))
        'dx = theta * (mu - x) dt - s * y dW'
    """
    terms = [_format_term(t, i == 0) for i, t in enumerate(eq.terms)]
    return f"{eq.lhs} = {' '.join(terms)}"


def format_expectation(node: ast.Expect) -> str:
    """An expectation without its ``expect`` keyword: the YAML list item.

    Example:
        >>> from dync.dsl.parser import parse_fragment, SpanMapper
        >>> format_expectation(parse_fragment("mean( x )=mu*exp(-t)", "expectation", SpanMapper("f", "")))
        'mean(x) = mu * exp(-t)'
    """
    if node.kind == "always":
        return f"always {format_expr(node.lhs)}"
    if node.kind == "stationary":
        return f"stationary {node.state} ~ {_format_call(node.dist)}"
    return f"{node.kind}({format_expr(node.lhs)}) = {format_expr(node.rhs)}"


# ------------------------------------------------------------ text form


def _format_statement(stmt) -> str:
    if isinstance(stmt, ast.ModelName):
        return f"model {stmt.name}"
    if isinstance(stmt, ast.Calculus):
        return f"calculus {stmt.value}"
    if isinstance(stmt, ast.Dim):
        return f"dim {stmt.name} = {format_expr(stmt.value)}"
    if isinstance(stmt, ast.Param):
        head = f"{stmt.name}{_format_shape(stmt.shape)}"
        if stmt.fixed:
            return f"const {head} = {format_expr(stmt.value)}" if stmt.value is not None else f"const {head}"
        parts = [f"param {head}"]
        if stmt.value is not None:
            parts.append(f"= {format_expr(stmt.value)}")
        if stmt.constraint is not None:
            parts.append(f": {_format_kind(stmt.constraint)}")
        if stmt.init is not None:
            parts.append(f"~ init {_format_call(stmt.init)}")
        if stmt.prior is not None:
            parts.append(f"~ {_format_call(stmt.prior)}")
        return " ".join(parts)
    if isinstance(stmt, ast.Input):
        return f"input {stmt.name}{_format_shape(stmt.shape)}"
    if isinstance(stmt, ast.Brownian):
        kind = f" : {_format_kind(stmt.kind)}" if stmt.kind is not None else ""
        return f"brownian {stmt.name}{_format_shape(stmt.shape)}{kind}"
    if isinstance(stmt, ast.State):
        head = f"state {stmt.name}{_format_shape(stmt.shape)}"
        if stmt.data:
            return f"{head} ~ data"
        if stmt.init is not None and stmt.value is None:
            return f"{head} ~ {_format_call(stmt.init)}"
        return f"{head} = {format_expr(stmt.value)}" if stmt.value is not None else head
    if isinstance(stmt, ast.Let):
        return f"let {stmt.name} = {format_expr(stmt.value)}"
    if isinstance(stmt, ast.Net):
        return f"net {stmt.name} = {_format_call(stmt.call)}"
    if isinstance(stmt, ast.Equation):
        return format_equation(stmt)
    if isinstance(stmt, ast.Observe):
        return f"observe {stmt.name}{_format_shape(stmt.shape)} ~ {_format_call(stmt.dist)}"
    if isinstance(stmt, ast.Target):
        return f"target {format_expr(stmt.value)}"
    if isinstance(stmt, ast.Score):
        return f"score {stmt.state} = {format_expr(stmt.value)}"
    if isinstance(stmt, ast.Expect):
        return f"expect {format_expectation(stmt)}"
    raise TypeError(f"not a statement: {stmt!r}")


def _groups(spec: ast.Spec) -> list[list]:
    """The canonical statements grouped by kind, in canonical order."""
    groups: list[list] = []
    last = None
    for stmt in canonical(spec).statements:
        if type(stmt) is not last:
            groups.append([])
            last = type(stmt)
        groups[-1].append(stmt)
    return groups


def _doc_lines(doc: str) -> list[str]:
    # `#` followed by a space, except before a line that starts with `#` itself
    # (`## title` parses to the doc line `# title` and comes back unchanged)
    return [(f"#{line}" if line.startswith("#") else f"# {line}").rstrip() for line in doc.split("\n")] if doc else []


def format_text(spec: ast.Spec) -> str:
    """The canonical text form of a spec.

    ``model NAME``, the doc as ``#`` comment lines, a blank line, then the
    statements in canonical order, one a line, a blank line between kinds.

    Example:
        >>> from dync.dsl.parser import parse_spec
        >>> print(format_text(parse_spec("model m\\nstate x=0\\ndx=-x dt+dW\\nparam a=1\\n")), end="")
        model m
        <BLANKLINE>
        param a = 1
        <BLANKLINE>
        state x = 0
        <BLANKLINE>
        dx = -x dt + dW
    """
    return run_deep(lambda: deepest_statement(spec), _format_text, spec)


def _format_text(spec: ast.Spec) -> str:
    blocks: list[list[str]] = []
    header: list[str] = []
    for group in _groups(spec):
        lines = [_format_statement(s) for s in group]
        if isinstance(group[0], ast.ModelName):
            header = lines
        else:
            blocks.append(lines)
    header = header + _doc_lines(spec.doc)
    if header:
        blocks.insert(0, header)
    return "\n\n".join("\n".join(block) for block in blocks) + "\n" if blocks else ""


# ------------------------------------------------------------ YAML form


class _Expr(str):
    """An expression string: written as a YAML number when YAML would read it
    back as one (``0.5``, ``-1.0``), as a plain string when it can be, quoted
    only when YAML requires it (``'yes'``, ``'[1, 2] @ x'``)."""


class _Flow(dict):
    """A mapping written in flow style: ``{value: 1.0, constraint: positive}``."""


class _FlowList(list):
    """A list written in flow style: ``[N, K]``."""


@functools.cache
def _dumper() -> type:
    """The YAML dumper of the canonical form (PyYAML is imported only when a
    spec is written as YAML)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False):
            # indent block lists under their key, as LANGUAGE.md writes them
            return super().increase_indent(flow, False)

    def _represent_expr(dumper: yaml.SafeDumper, data: _Expr):
        tag = dumper.resolve(yaml.ScalarNode, str(data), (True, False))
        if not tag.endswith((":int", ":float")):
            tag = "tag:yaml.org,2002:str"
        return dumper.represent_scalar(tag, str(data))

    def _represent_str(dumper: yaml.SafeDumper, data: str):
        # multi-line strings (a long doc) as literal blocks
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)

    _Dumper.add_representer(_Expr, _represent_expr)
    _Dumper.add_representer(str, _represent_str)
    _Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True))
    _Dumper.add_representer(_FlowList, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))
    return _Dumper


@functools.cache
def _analyser():
    import yaml

    return yaml.SafeDumper(io.StringIO())


def _yaml_value(node):
    """An expression as a YAML value: an array literal as a YAML list, anything
    else as an expression string."""
    if isinstance(node, ast.ArrayLit):
        return _FlowList(_yaml_value(e) for e in node.elements)
    return _Expr(format_expr(node))


def _yaml_shape(shape) -> _FlowList:
    return _FlowList(_Expr(format_expr(s)) for s in shape)


def _yaml_entries(stmt) -> dict:
    """The mapping form of a declaration's parts (empty parts left out)."""
    out: dict = {}
    if isinstance(stmt, ast.Param):
        if stmt.value is not None:
            out["value"] = _yaml_value(stmt.value)
        if stmt.shape is not None:
            out["shape"] = _yaml_shape(stmt.shape)
        if stmt.constraint is not None:
            out["constraint"] = _Expr(_format_kind(stmt.constraint))
        if stmt.prior is not None:
            out["prior"] = _Expr(_format_call(stmt.prior))
        if stmt.init is not None:
            out["init"] = _Expr(_format_call(stmt.init))
        if stmt.fixed:
            out["fixed"] = True
    elif isinstance(stmt, ast.State):
        if stmt.shape is not None:
            out["shape"] = _yaml_shape(stmt.shape)
        if stmt.data:
            out["init"] = _Expr("data")
        elif stmt.value is not None:
            out["init"] = _yaml_value(stmt.value)
        elif stmt.init is not None:
            out["init"] = _Expr(_format_call(stmt.init))
    elif isinstance(stmt, ast.Brownian):
        if stmt.shape is not None:
            out["shape"] = _yaml_shape(stmt.shape)
        kind = stmt.kind
        if isinstance(kind, ast.Call) and not kind.args and [k.name for k in kind.kwargs] == ["hurst"]:
            out["kind"] = _Expr(kind.func)
            out["hurst"] = _yaml_value(kind.kwargs[0].value)
        elif kind is not None:
            out["kind"] = _Expr(_format_kind(kind))
    elif isinstance(stmt, ast.Input):
        if stmt.shape is not None:
            out["shape"] = _yaml_shape(stmt.shape)
    elif isinstance(stmt, ast.Net):
        out["type"] = _Expr(stmt.call.func)
        for k in stmt.call.kwargs:
            out[k.name] = _yaml_value(k.value)
    elif isinstance(stmt, ast.Observe):
        if stmt.shape is not None:
            out["shape"] = _yaml_shape(stmt.shape)
        out["dist"] = _Expr(_format_call(stmt.dist))
    return out


def _short_form(stmt):
    """``NAME: VALUE`` where a declaration has nothing but a value, else ``None``."""
    if isinstance(stmt, ast.Param) and not stmt.fixed and stmt.value is not None:
        if (stmt.shape, stmt.constraint, stmt.prior, stmt.init) == (None, None, None, None):
            return _yaml_value(stmt.value)
    if isinstance(stmt, ast.State) and stmt.shape is None and stmt.value is not None and stmt.init is None:
        # a value that calls a distribution would read back as `init`
        if not (isinstance(stmt.value, ast.Call) and stmt.value.func in DISTRIBUTION_NAMES):
            return _yaml_value(stmt.value)
    if isinstance(stmt, ast.Observe) and stmt.shape is None:
        return _Expr(_format_call(stmt.dist))
    return None


def _needs_block(entries: dict) -> bool:
    """Whether a flow mapping would force quotes that a block mapping avoids
    (a comma in ``Normal(0, 1)``)."""
    for value in entries.values():
        if isinstance(value, _Expr):
            analysis = _analyser().analyze_scalar(str(value))
            if analysis.allow_block_plain and not analysis.allow_flow_plain:
                return True
    return False


def _declaration(stmt):
    """A declaration's YAML value: its short form, or its parts as a mapping,
    in flow style unless that would need quotes."""
    short = _short_form(stmt)
    if short is not None:
        return short
    entries = _yaml_entries(stmt)
    return dict(entries) if _needs_block(entries) else _Flow(entries)


def _plain(value):
    """A settings value as plain YAML data (a distribution as its text)."""
    if isinstance(value, ast.Call):
        return _Expr(format_expr(value))
    if isinstance(value, (list, tuple)):
        return _FlowList(_plain(v) for v in value)
    if isinstance(value, dict):
        return _Flow({k: _plain(v) for k, v in value.items()})
    return value


_SECTIONS: tuple[tuple[str, type], ...] = (
    ("dims", ast.Dim),
    ("params", ast.Param),
    ("inputs", ast.Input),
    ("brownian", ast.Brownian),
    ("states", ast.State),
    ("let", ast.Let),
    ("nets", ast.Net),
)


def format_yaml(spec: ast.Spec) -> str:
    """The canonical YAML form of a spec (LANGUAGE.md §1).

    ``dync: 1``, ``model``, ``doc``, ``calculus`` (only if not ``ito``), then
    ``dims``, ``params``, ``inputs``, ``brownian``, ``states``, ``let``,
    ``nets``, ``equations``, ``observe``, ``target``, ``score``, ``expect``
    and the run settings. A declaration
    with only a value is written ``NAME: VALUE``, any other as a flow mapping
    ``NAME: {value: 0.5, constraint: positive}``, or as a block mapping (one
    part a line) when a part holds a comma that a flow mapping would have to
    quote (``init: Normal(0, 1)``); a constant is ``{value: V, fixed: true}``;
    a plain Brownian motion or input ``NAME: {}``. Written with PyYAML's safe
    dumper: the output is standard YAML, strings quoted only where YAML needs.

    Example:
        >>> from dync.dsl.parser import parse_spec
        >>> print(format_yaml(parse_spec("model m\\nparam a = 1 : positive\\nstate x = 0\\ndx = -a * x dt + dW\\n")), end="")
        dync: 1
        model: m
        params:
          a: {value: 1, constraint: positive}
        states:
          x: 0
        equations:
          - dx = -a * x dt + dW
    """
    return run_deep(lambda: deepest_statement(spec), _format_yaml, spec)


def _format_yaml(spec: ast.Spec) -> str:
    spec = canonical(spec)
    doc: dict = {"dync": 1}
    if spec.name:
        doc["model"] = spec.name
    if spec.doc:
        doc["doc"] = spec.doc
    for calculus in spec.of_type(ast.Calculus):
        doc["calculus"] = calculus.value
    for section, kind in _SECTIONS:
        entries = {}
        for stmt in spec.of_type(kind):
            if isinstance(stmt, ast.Dim):
                entries[stmt.name] = _yaml_value(stmt.value)
            elif isinstance(stmt, ast.Let):
                entries[stmt.name] = _yaml_value(stmt.value)
            else:
                entries[stmt.name] = _declaration(stmt)
        if entries:
            doc[section] = entries
    equations = [_Expr(format_equation(eq)) for eq in spec.of_type(ast.Equation)]
    if equations:
        doc["equations"] = equations
    observe = {}
    for stmt in spec.of_type(ast.Observe):
        observe[stmt.name] = _declaration(stmt)
    if observe:
        doc["observe"] = observe
    for stmt in spec.of_type(ast.Target):
        doc["target"] = _Expr(format_expr(stmt.value))
    scores = {stmt.state: _Expr(format_expr(stmt.value)) for stmt in spec.of_type(ast.Score)}
    if scores:
        doc["score"] = scores
    expectations = [_Expr(format_expectation(e)) for e in spec.of_type(ast.Expect)]
    if expectations:
        doc["expect"] = expectations
    for section, values in spec.settings:
        doc[section] = {key: _plain(value) for key, value in values}  # type: ignore[union-attr]
    import yaml

    return yaml.dump(
        doc,
        Dumper=_dumper(),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
    )
