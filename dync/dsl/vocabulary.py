"""Fixed words of the spec language, shared by the loaders and the formatter.

Kept in one place so that the text parser, the YAML loader, the formatter and
the compiler agree on what a distribution is and which words are keywords.
"""

from __future__ import annotations

#: the distributions of LANGUAGE.md §5; a YAML state ``init`` string that
#: calls one of these is an initial distribution, anything else a value
DISTRIBUTION_NAMES: frozenset[str] = frozenset(
    {
        "Normal",
        "HalfNormal",
        "LogNormal",
        "Uniform",
        "Exponential",
        "Gamma",
        "Beta",
        "StudentT",
        "Cauchy",
        "Laplace",
        "Poisson",
        "Bernoulli",
        "Binomial",
        "NegativeBinomial",
    }
)

#: the keywords of the text form (grammar.lark). The contextual lexer reads
#: the statement words (``model``, ``param``, ..., ``init``) as names wherever
#: a name may stand, so they may name declarations in both forms; only the
#: operator words below cannot
KEYWORDS: frozenset[str] = frozenset(
    {
        "model",
        "dim",
        "param",
        "const",
        "state",
        "brownian",
        "input",
        "let",
        "net",
        "observe",
        "calculus",
        "init",
        "expect",
        "always",
        "stationary",
        "target",
        "score",
        "data",
        "not",
        "and",
        "or",
    }
)

#: the kinds of ``expect`` statements (LANGUAGE.md §8)
EXPECTATION_KINDS: tuple[str, ...] = ("always", "mean", "var", "stationary")

#: keywords that are operators inside expressions, so a declaration named
#: after one could never be used: reserved in both forms (E203)
OPERATOR_WORDS: frozenset[str] = frozenset({"not", "and", "or"})

#: the keyword arguments of a network, in the order the canonical form writes them
NET_OPTIONS: tuple[str, ...] = ("in", "out", "width", "depth", "activation")

#: the values of ``calculus``; the first is the default
CALCULI: tuple[str, ...] = ("ito", "stratonovich")

#: words other modelling tools use for a statement, and dync's statement word
#: (the text parser's "did you mean `let`?" for `potential U = ...`)
FOREIGN_WORDS: dict[str, str] = {
    "potential": "let", "energy": "let", "define": "let", "parameter": "param", "constant": "const",
    "variable": "state", "var": "state", "dimension": "dim", "noise": "brownian", "wiener": "brownian",
    "observation": "observe", "obs": "observe", "network": "net", "nn": "net",
}  # fmt: skip

#: the names of the library's functions (LANGUAGE.md §4; their signatures are
#: :data:`dync.compiler.library.FUNCTIONS`, which a test keeps equal): the
#: parser's hint for `exp x`, a call written without parentheses
FUNCTION_NAMES: frozenset[str] = frozenset(
    "exp log log1p expm1 sqrt abs sign sin cos tan tanh sinh cosh arctan sigmoid softplus relu erf "
    "minimum maximum clip where sum mean prod max min logsumexp norm dot outer roll concat stack diag eye "
    "zeros ones transpose grad".split()
)

#: the library functions' arguments that the compiler must know when the spec
#: compiles (an axis, a shift, a size): function -> {argument: its position
#: when passed positionally, ``None`` if it is keyword-only}; ``*`` stands for
#: every positional argument (the sizes of ``zeros(2, 3)``). The single source
#: for the compiler's library (``FunctionSig.static``) and for ``--set``/
#: ``--sweep``, which refuse a parameter read here (its new value would be
#: ignored: the compiled model keeps the spec's)
COMPILE_TIME_ARGUMENTS: dict[str, dict[str, int | None]] = {
    **{f: {"axis": 1} for f in ("sum", "mean", "prod", "max", "min", "logsumexp", "norm")},
    "roll": {"shift": 1, "axis": 2},
    "concat": {"axis": None},
    "stack": {"axis": None},
    "eye": {"n": 0},
    "zeros": {"*": None},
    "ones": {"*": None},
}  # fmt: skip

#: the YAML section of each statement word
STATEMENT_SECTIONS: dict[str, str] = {
    "dim": "dims", "param": "params", "const": "params", "input": "inputs", "brownian": "brownian",
    "state": "states", "let": "let", "net": "nets", "observe": "observe", "expect": "expect",
}  # fmt: skip


def foreign_section(key: str) -> str | None:
    """The YAML section another tool's name (or a singular or plural slip)
    stands for: `potentials` -> `let`, `parameters` -> `params`, `sdes` ->
    `equations`; ``None`` for any other key.

    Example:
        >>> foreign_section("Potentials"), foreign_section("state"), foreign_section("params")
        ('let', 'states', None)
    """
    word = key.lower()
    if word in ("sde", "sdes", "expectation", "expectations"):
        return "equations" if word.startswith("sde") else "expect"
    for candidate in (word, word[:-1] if word.endswith("s") else word):
        statement = FOREIGN_WORDS.get(candidate, candidate)
        section = STATEMENT_SECTIONS.get(statement)
        if section is not None and section != word:
            return section
    return None
