"""The run-settings sections of a YAML spec, declared once.

A section (``simulate:``, ``fit:``, ``test:``, ``sample:`` and ``train:``) is a table of :class:`SettingKey`: its name, the YAML values it
accepts, the default and the command-line flag that overrides it. The YAML
loader reads this table to refuse unknown keys and wrongly typed values with a
located error (E260, E261); :mod:`dync.settings` reads it to merge the
section with flags and defaults. A section with no table yet (``check:``)
takes any plain value or list of plain values.

This module imports nothing, so both the front end and the settings module
may use it.
"""

from __future__ import annotations

import dataclasses

#: YAML value kinds a setting may accept
INT, NUMBER, STRING, BOOL, NUMBERS = "int", "number", "str", "bool", "numbers"
#: a mapping of names to numbers (``fix: {sigma: 0.5}``)
NAMED_NUMBERS = "named numbers"
#: a mapping of names to ``[lo, hi]`` pairs of numbers (``ranges: {theta: [0.5, 2.0]}``)
NAMED_RANGES = "named ranges"
#: a distribution, parsed by the spec grammar (``prior: "Normal(0, 1)"``): the
#: setting's value is then an ``ast.Call`` with spans into the YAML file
DIST = "distribution"


@dataclasses.dataclass(frozen=True)
class SettingKey:
    """One key of a settings section.

    Attributes:
        name: the key in the YAML section (and the Python keyword argument).
        accepts: the YAML value kinds it takes (:data:`INT`, :data:`NUMBER`,
            :data:`STRING`, :data:`BOOL`, :data:`NUMBERS` — a non-empty list
            of numbers, :data:`NAMED_NUMBERS` — a mapping of names to
            numbers, :data:`NAMED_RANGES` — a mapping of names to
            ``[lo, hi]`` with ``lo < hi``, :data:`DIST` — a distribution
            string, read as an ``ast.Call``); empty for a flag-only setting.
        what: how a message names the accepted values ("an integer").
        default: the value when neither the flag nor the section gives one.
        flag: the command-line flag that overrides it (``--t1``).
    """

    name: str
    accepts: tuple[str, ...]
    what: str
    default: object = None
    flag: str = ""

    @property
    def in_yaml(self) -> bool:
        """Whether the YAML section may give it (else only a flag can)."""
        return bool(self.accepts)


SIMULATE: tuple[SettingKey, ...] = (
    SettingKey("paths", (INT,), "an integer", 1000, "--paths"),
    SettingKey("t0", (INT, NUMBER), "a number", 0.0, "--t0"),
    SettingKey("t1", (INT, NUMBER), "a number", None, "--t1"),
    SettingKey("dt", (INT, NUMBER), "a number", None, "--dt"),
    SettingKey("save", (INT, STRING, NUMBERS), "a number of save points, a list of times or a name", "final", "--save"),
    SettingKey("save_every", (INT,), "an integer", None, "--save-every"),
    SettingKey("solver", (STRING,), "a solver name", "auto", "--solver"),
    SettingKey("seed", (INT,), "an integer", 0, "--seed"),
    SettingKey("chunk_size", (INT,), "an integer", None, "--chunk-size"),
    SettingKey("adaptive", (BOOL,), "`true` or `false`", False, "--adaptive"),
    SettingKey("max_steps", (), "an integer", None, "--max-steps"),
    SettingKey("on_nonfinite", (), "`raise`, `warn` or `keep`", "raise", "--on-nonfinite"),
    SettingKey("x64", (BOOL,), "`true` or `false`", False, "--x64"),
)

FIT: tuple[SettingKey, ...] = (
    SettingKey("method", (STRING,), "`mle`, `map`, `nuts`, `pmmh` or `vi`", "mle", "--method"),
    SettingKey("likelihood", (STRING,), "`auto`, `kalman` or `particle`", "auto", "--likelihood"),
    SettingKey("seed", (INT,), "an integer", 0, "--seed"),
    SettingKey("fix", (NAMED_NUMBERS,), "a mapping NAME: VALUE", None, "--fix"),
    # NUTS
    SettingKey("chains", (INT,), "an integer", 4, "--chains"),
    SettingKey("warmup", (INT,), "an integer", None, "--warmup"),
    SettingKey("draws", (INT,), "an integer", None, "--draws"),
    SettingKey("target_accept", (INT, NUMBER), "a number", None, "--target-accept"),
    # MLE / MAP
    SettingKey("steps", (INT,), "an integer", 2000, "--steps"),
    SettingKey("learning_rate", (INT, NUMBER), "a number", None, "--learning-rate"),
    SettingKey("tolerance", (INT, NUMBER), "a number", 1e-3, "--tolerance"),
    # particle filter
    SettingKey("particles", (INT,), "an integer", 1000, "--particles"),
    SettingKey("dt", (INT, NUMBER), "a number", None, "--dt"),
    # numerics and bookkeeping
    SettingKey("x64", (BOOL,), "`true` or `false`", False, "--x64"),
    SettingKey("pointwise", (BOOL,), "`true` or `false`", True, "--pointwise"),
    SettingKey("checkpoint_every", (INT,), "an integer", None, "--checkpoint-every"),
    # variational inference of latent paths (method vi, docs/latent.md)
    SettingKey("samples", (INT,), "an integer", 4, "--samples"),
    SettingKey("batch_size", (INT,), "an integer", 32, "--batch-size"),
    SettingKey("kl_anneal", (INT,), "an integer", None, "--kl-anneal"),
    SettingKey("hidden", (INT,), "an integer", 64, "--hidden"),
    SettingKey("context", (INT,), "an integer", 16, "--context"),
)

#: ``test:`` — what ``dync test`` runs (LANGUAGE.md §8)
TEST: tuple[SettingKey, ...] = (
    SettingKey("paths", (INT,), "an integer", 1000, "--paths"),
    SettingKey("t1", (INT, NUMBER), "a number", None, "--t1"),
    SettingKey("dt", (INT, NUMBER), "a number", None, "--dt"),
    SettingKey("examples", (INT,), "an integer", 20, "--examples"),
    SettingKey("seed", (INT,), "an integer", 0, "--seed"),
    SettingKey("alpha", (INT, NUMBER), "a number", 1e-3, "--alpha"),
    SettingKey("ranges", (NAMED_RANGES,), "a mapping NAME: [LO, HI]", None, "--range"),
    SettingKey("solver", (STRING,), "a solver name or `auto`", "auto", "--solver"),
    SettingKey("skip", (STRING,), "built-in checks to skip, comma-separated (`reproducible,gradients`)", "", "--skip"),
    SettingKey("convergence", (BOOL,), "`true` or `false`", False, "--convergence"),
    SettingKey("sbc", (INT,), "an integer (replications; 0 = off)", 0, "--sbc"),
)

#: ``sample:`` — what ``dync sample`` runs (LANGUAGE.md §9)
SAMPLE: tuple[SettingKey, ...] = (
    SettingKey("method", (STRING,), "`ula`, `mala`, `baoab`, `hmc`, `nuts`, `sgld` or `dynamics`", "nuts", "--method"),
    SettingKey("chains", (INT,), "an integer", 4, "--chains"),
    SettingKey("warmup", (INT,), "an integer", 500, "--warmup"),
    SettingKey("samples", (INT,), "an integer", 1000, "--samples"),
    SettingKey("step", (INT, NUMBER), "a number", None, "--step"),
    SettingKey("thin", (INT,), "an integer", 1, "--thin"),
    SettingKey("seed", (INT,), "an integer", 0, "--seed"),
    SettingKey("friction", (INT, NUMBER), "a number", 1.0, "--friction"),
    SettingKey("mass", (INT, NUMBER), "a number", 1.0, "--mass"),
    SettingKey("target_accept", (INT, NUMBER), "a number in (0, 1)", None, "--target-accept"),
    SettingKey("integration_steps", (INT,), "an integer", 16, "--integration-steps"),
    SettingKey("checkpoint_every", (INT,), "an integer", None, "--checkpoint-every"),
    # a target that sums over data (docs/sampling.md); `data` (below) is its data file
    SettingKey("batch", (INT,), "an integer", None, "--batch"),
    SettingKey("step_decay", (INT, NUMBER), "a non-negative number", 0.0, "--step-decay"),
    SettingKey("decay_steps", (INT, NUMBER), "a positive number", 1000.0, "--decay-steps"),
    # generating from a trained `score` (docs/diffusion.md)
    SettingKey("reverse", (STRING,), "`sde`, `heun`, `ode` or `pc`", None, "--reverse"),
    SettingKey("weights", (STRING,), "a weights file", None, "--weights"),
    SettingKey("steps", (INT,), "an integer", 500, "--steps"),
    SettingKey("snr", (INT, NUMBER), "a number", 0.16, "--snr"),
    SettingKey("corrector_steps", (INT,), "an integer", 1, "--corrector-steps"),
    SettingKey("loglik", (BOOL,), "`true` or `false`", False, "--loglik"),
    # the data of a target model's inputs; with --reverse --loglik, the samples to score
    SettingKey("data", (STRING,), "a data file", None, "--data"),
    SettingKey("anneal", (INT, NUMBER), "a positive number", None, "--anneal"),
    SettingKey("product", (STRING,), "a weights file", None, "--product"),
    SettingKey("guidance", (INT, NUMBER), "a number", None, "--guidance"),
    SettingKey("prior", (DIST,), "a distribution such as `Normal(0, 1)`", None, "--prior"),
    SettingKey("x64", (BOOL,), "`true` or `false`", False, "--x64"),
)

#: ``check:`` — what ``dync check`` runs
CHECK: tuple[SettingKey, ...] = (
    SettingKey("pedantic", (BOOL,), "`true` or `false`", False, "--pedantic"),
)

#: ``train:`` — what ``dync train`` runs (LANGUAGE.md §10, docs/diffusion.md)
TRAIN: tuple[SettingKey, ...] = (
    SettingKey("steps", (INT,), "an integer", 2000, "--steps"),
    SettingKey("batch", (INT,), "an integer", 256, "--batch"),
    SettingKey("lr", (INT, NUMBER), "a number", 1e-3, "--lr"),
    SettingKey("ema", (INT, NUMBER), "a number in [0, 1)", 0.999, "--ema"),
    SettingKey("seed", (INT,), "an integer", 0, "--seed"),
    SettingKey("t_min", (INT, NUMBER), "a number", 1e-3, "--t-min"),
    SettingKey("t1", (INT, NUMBER), "a number", 1.0, "--t1"),
    SettingKey("weighting", (STRING,), "`sigma2` or `likelihood`", "sigma2", "--weighting"),
    SettingKey("checkpoint_every", (INT,), "an integer", None, "--checkpoint-every"),
)

#: the sections a YAML spec may hold, and the declared keys of each (``None``:
#: not declared yet, any plain value is kept)
SECTIONS: dict[str, tuple[SettingKey, ...] | None] = {
    "simulate": SIMULATE,
    "fit": FIT,
    "check": CHECK,
    "test": TEST,
    "sample": SAMPLE,
    "train": TRAIN,
}


def yaml_keys(section: str) -> dict[str, SettingKey] | None:
    """The keys a YAML ``section`` may hold, by name (``None``: any key)."""
    table = SECTIONS[section]
    return None if table is None else {k.name: k for k in table if k.in_yaml}
