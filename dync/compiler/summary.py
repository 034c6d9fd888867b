"""The `dync check` summary: what a spec declares and what the compiler
inferred about it, as text for people and as JSON for editors."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from .._deep import run_deep
from ..errors import SpecWarning, render_warning
from ..info.model import ModelInfo
from ..info.solvers import solver_summary
from . import ir
from ..info.forward import FORWARD_CLASSES, OBJECTIVES
from .analysis import forward_sde_class, linear_gaussian_reason
from .describe import describe_model
from .driver import CheckedSpec, check_ast, read_spec

@dataclasses.dataclass(frozen=True)
class CheckSummary:
    """What ``dync check`` reports: the checked IR, its description and the
    warnings, printed as text or JSON."""

    path: str
    model: ir.ModelIR
    warnings: tuple[SpecWarning, ...]

    @classmethod
    def of(cls, checked: CheckedSpec, path: str | Path | None = None) -> CheckSummary:
        """The summary of a checked spec (``path`` defaults to the spec's)."""
        return cls(str(checked.spec.path if path is None else path), checked.model, checked.warnings)

    @property
    def info(self) -> ModelInfo:
        """The model's static description (the generated code embeds the same)."""
        return describe_model(self.model)

    def to_json(self) -> dict:
        """The summary as JSON-ready data (``dync check --format json``)."""
        return run_deep(lambda: None, self._to_json)  # a long sum nests deep in the analyses

    def _to_json(self) -> dict:
        m = self.model
        return {
            "ok": True,
            "file": self.path,
            "model": m.name,
            "doc": m.doc,
            "calculus": m.calculus,
            "noise_structure": m.noise_structure,
            "state_size": m.state_size,
            "noise_size": m.noise_size,
            "dims": dict(m.dims),
            "states": [{"name": s.name, "shape": list(s.shape), "hidden": s.hidden} for s in m.states],
            "params": [
                {"name": p.name, "shape": list(p.shape), "constraint": list(p.constraint.as_tuple()), "fixed": p.fixed, "prior": p.prior.name if p.prior else None}
                for p in m.params
            ],
            "observations": [{"name": o.name, "shape": list(o.shape), "distribution": o.dist.name} for o in m.observations],
            "langevin": list(m.langevin) if m.langevin else None,
            "linear_gaussian": linear_gaussian_reason(m) is None,
            "target": m.target_text,
            "samplers": list(self.info.samplers),
            "score": self._score_json(),
            "expectations": [
                {"kind": e.kind, "lhs": e.lhs_text, "rhs": e.rhs_text, "line": e.line, "column": e.column}
                for e in m.expectations
            ],
            "data_states": [s.name for s in m.states if s.data],
            "warnings": [render_warning(w) for w in self.warnings],
            "diagnostics": [w.to_json() for w in self.warnings],
        }

    def _score_json(self) -> dict | None:
        m = self.model
        if m.score is None:
            return None
        kind = forward_sde_class(m)[0]
        return {"state": m.score.state, "value": m.score.text, "forward": kind, "objective": OBJECTIVES[kind]}

    def to_text(self) -> str:
        """The summary ``dync check`` prints."""
        return run_deep(lambda: None, self._to_text)  # a long sum nests deep in the analyses

    def _to_text(self) -> str:
        m = self.model

        def shape(s) -> str:
            return f"[{', '.join(map(str, s))}]" if s else ""

        def constraint(c) -> str:
            return "" if c.kind == "real" else f" : {c.describe()}"

        lines = [f"{self.path}: model `{m.name}`" + (f" — {m.doc.splitlines()[0]}" if m.doc else "")]
        if m.dims:
            lines.append("  dims        " + ", ".join(f"{k} = {v}" for k, v in m.dims))
        visible = [s for s in m.states if not s.hidden]
        lines.append("  states      " + ", ".join(f"{s.name}{shape(s.shape)}" for s in visible) + f"   ({m.state_size} number{'s' if m.state_size != 1 else ''} per path)")
        hidden = [s for s in m.states if s.hidden]
        if hidden:
            lines.append("  hidden      " + ", ".join(f"{s.name}{shape(s.shape)}" for s in hidden) + "   (fractional-noise OU components)")
        params = [p for p in m.params if not p.fixed]
        consts = [p for p in m.params if p.fixed]
        if params:
            lines.append(
                "  params      "
                + ", ".join(f"{p.name}{shape(p.shape)}{constraint(p.constraint)}" + (f" ~ {p.prior.name}" if p.prior else "") for p in params)
            )
        if consts:
            lines.append("  consts      " + ", ".join(f"{p.name}{shape(p.shape)}" for p in consts))
        if m.nets:
            lines.append("  nets        " + ", ".join(f"{n.name}: mlp {n.in_size}→{n.out_size} (width {n.width}, depth {n.depth}, {n.activation})" for n in m.nets))
        # count what a step draws (a diagonal layout's slots for states without noise stay zero)
        info = self.info
        drawn = info.drawn_noise_size
        noise = f"{m.noise_structure}" + (f", {drawn} Brownian increment{'s' if drawn != 1 else ''} per step" if drawn else "")
        lines.append(f"  noise       {noise}")
        lines.append(f"  calculus    {'Stratonovich' if m.calculus == 'stratonovich' else 'Itô'}")
        if m.langevin:
            lines.append(f"  structure   underdamped Langevin pair ({m.langevin[0]}, {m.langevin[1]}): BAOAB applies")
        if m.observations:
            lines.append("  observe     " + ", ".join(f"{o.name}{shape(o.shape)} ~ {o.dist.name}" for o in m.observations))
            lines.append(f"  likelihood  {likelihood_summary(m)}")
        if info.data_states:
            lines.append(
                "  data        "
                + ", ".join(f"{s.name}{shape(s.shape)} ~ data" for s in m.states if s.data)
                + ": the initial law is a data set, so simulating needs samples of it"
            )
        if info.has_dynamics:
            lines.append(f"  solver      {solver_summary(info)}")
        else:
            lines.append("  solver      none: not every state has an equation, so the model is sampled, not simulated")
        if info.target is not None:
            lines.append(f"  target      {info.target}   (samplers: {', '.join(info.samplers)})")
        if info.score is not None:
            lines.append(f"  score       {info.score_state} = {info.score}")
            kind, reason = forward_sde_class(m)
            lines.append(f"  forward     {kind}: {FORWARD_CLASSES[kind]}" + (f" ({reason})" if reason else ""))
            lines.append(f"  training    {OBJECTIVES[kind]} (dync train)")
        for e in info.expectations:
            lines.append(f"  expect      {_expectation_text(e)}   (line {e.line})")
        lines.extend(render_warning(w) for w in self.warnings)
        return "\n".join(lines)


def _expectation_text(e) -> str:
    """An expectation as the text form writes it, without ``expect``."""
    if e.kind == "always":
        return f"always {e.lhs}"
    if e.kind == "stationary":
        return f"stationary {e.lhs} ~ {e.rhs}"
    return f"{e.kind}({e.lhs}) = {e.rhs}"


def likelihood_summary(model: ir.ModelIR) -> str:
    """Which likelihood ``auto`` fitting uses: ``linear-Gaussian: exact Kalman
    likelihood`` or ``particle filter (not linear-Gaussian: REASON)``."""
    reason = linear_gaussian_reason(model)
    if reason is None:
        return "linear-Gaussian: exact Kalman likelihood"
    return f"particle filter (not linear-Gaussian: {reason})"


def check_file(
    path: str | Path, dims: Mapping[str, int] | None = None, text: str | None = None, *, pedantic: bool = False
) -> CheckSummary:
    """Parse and check a spec without generating code; with ``pedantic``,
    the warnings of ``dync check --pedantic`` too (:mod:`dync.compiler.pedantic`).

    Raises:
        SpecErrors: every error of the spec.
        UsageError: a ``dims`` override names no ``dim`` of the spec.
    """
    checked = check_ast(read_spec(path, text, dims), dims)
    if pedantic:
        from .pedantic import with_pedantic_warnings

        checked = with_pedantic_warnings(checked)
    return CheckSummary.of(checked, path)
