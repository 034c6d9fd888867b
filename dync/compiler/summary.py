"""The `dync check` summary: what a spec declares and what the compiler
inferred about it, as text for people and as JSON for editors."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from . import analysis, ir
from .check import check_spec
from .driver import _warnings
from .driver import read_spec as load_spec

#: the solvers run by the fused fixed-step kernels (the others run in diffrax);
#: mirrors ``dync.runtime.solvers.selection.FUSED_SOLVERS``
_FUSED = frozenset({"euler_maruyama", "heun", "milstein", "baoab", "rk4"})


def auto_solver(model: ir.ModelIR, adaptive: bool = False) -> str:
    """The solver ``--solver auto`` runs for ``model``.

    The rule of ``dync.runtime.solvers.selection.choose_solver``, restated on
    the IR because the compiler may not import the runtime (it imports JAX);
    ``tests/compiler/test_check_regressions.py`` checks that the two agree on
    every bundled spec.
    """
    noise = model.noise_structure
    if noise == "none":
        return "tsit5"
    if adaptive:
        return "shark" if noise == "additive" else "heun_diffrax"
    if model.langevin is not None:
        x, v = model.state(model.langevin[0]), model.state(model.langevin[1])
        if x.size == v.size and x.size + v.size == model.state_size:
            return "baoab"
    if noise == "additive":
        return "euler_maruyama"
    milstein = noise == "scalar" or (
        noise == "diagonal" and model.diffusion_is_elementwise and model.noise_size == model.state_size
    )
    if milstein:
        return "milstein"
    return "heun" if model.calculus == "stratonovich" else "euler_maruyama"


def solver_line(model: ir.ModelIR) -> str:
    """``auto → NAME (backend, fixed step); NAME with --adaptive``."""
    fixed, adaptive = auto_solver(model), auto_solver(model, adaptive=True)
    backend = "fused" if fixed in _FUSED else "diffrax"
    line = f"auto → {fixed} ({backend}, fixed step)"
    return line + (f"; {adaptive} with --adaptive" if adaptive != fixed else "; adaptive with --adaptive")


@dataclasses.dataclass(frozen=True)
class CheckSummary:
    path: str
    model: ir.ModelIR
    warnings: tuple[str, ...]

    def to_json(self) -> dict:
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
                {"name": p.name, "shape": list(p.shape), "constraint": list(p.constraint), "fixed": p.fixed, "prior": p.prior.name if p.prior else None}
                for p in m.params
            ],
            "observations": [{"name": o.name, "shape": list(o.shape), "distribution": o.dist.name} for o in m.observations],
            "langevin": list(m.langevin) if m.langevin else None,
            "warnings": list(self.warnings),
            "diagnostics": [],
        }

    def to_text(self) -> str:
        m = self.model

        def shape(s) -> str:
            return f"[{', '.join(map(str, s))}]" if s else ""

        def constraint(c) -> str:
            if c[0] == "real":
                return ""
            return " : " + (c[0] if len(c) == 1 else f"{c[0]}({', '.join(f'{b:g}' for b in c[1:])})")

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
        drawn = sum(b.size for b in m.noise_blocks if analysis.drives(m, b))
        noise = f"{m.noise_structure}" + (f", {drawn} Brownian increment{'s' if drawn != 1 else ''} per step" if drawn else "")
        lines.append(f"  noise       {noise}")
        lines.append(f"  calculus    {'Stratonovich' if m.calculus == 'stratonovich' else 'Itô'}")
        if m.langevin:
            lines.append(f"  structure   underdamped Langevin pair ({m.langevin[0]}, {m.langevin[1]}): BAOAB applies")
        if m.observations:
            lines.append("  observe     " + ", ".join(f"{o.name}{shape(o.shape)} ~ {o.dist.name}" for o in m.observations))
        lines.append(f"  solver      {solver_line(m)}")
        lines.extend(self.warnings)
        return "\n".join(lines)


def check_file(path: str | Path, dims: Mapping[str, int] | None = None, text: str | None = None) -> CheckSummary:
    """Parse and check a spec without generating code.

    Raises:
        SpecErrors: every error of the spec.
    """
    spec = load_spec(path, text)
    from .driver import compile_ast  # dims validation lives there

    if dims:
        compiled = compile_ast(spec, dims)
        model = compiled.model
    else:
        model = check_spec(spec)
    return CheckSummary(str(path), model, _warnings(spec, model))
