"""``dync fit``."""

from pathlib import Path
from typing import Annotated, Optional

from ..errors import UsageError
from .common import _checkpointed_run


def run_fit(spec: Path, data: Path, output: Path, *, sets, fix, resume: bool, progress: bool, **flags) -> None:
    """``dync fit``: :func:`dync.commands.fit_spec`, written to NetCDF, with
    its summary table on stdout. Checkpoints go to ``OUTPUT.ckpt``."""
    from ..compiler.driver import read_spec
    from ..settings import fit_settings

    read: dict = {}

    def prepare():
        read["spec"] = read_spec(spec)
        read["settings"] = fit_settings(read["spec"], sets=sets, fix=fix, **flags)
        if not data.exists():
            raise UsageError(f"no such data file: {data}", hint="give a NetCDF (.nc) or CSV (.csv) file")

    def run(ckpt):
        from ..commands.fitting import fit_spec

        return fit_spec(read["spec"], data, read["settings"], checkpoint=ckpt, progress=progress)

    def summarise(idata):
        from ..runtime.fit import fit_summary

        return fit_summary(idata)

    _checkpointed_run(output, resume, prepare, run, summarise, spec=spec, inputs=(data,),
                      overrides=f"set={sorted(sets or [])} fix={sorted(fix or [])} x64={flags.get('x64')}")


def register(app, run, SpecArg, SetOpt) -> None:
    """Add fit to the typer ``app``; ``run`` calls a command function,
    turning its exit into typer's."""
    import typer

    @app.command()
    def fit(
        spec: SpecArg,
        data: Annotated[Path, typer.Argument(help="Observations: NetCDF (.nc) or CSV (.csv)", show_default=False)],
        output: Annotated[Path, typer.Option("-o", "--output", help="NetCDF file to write (ArviZ InferenceData)")] = Path("fit.nc"),
        method: Annotated[Optional[str], typer.Option(help="mle, map, nuts, pmmh (exact posterior with a particle filter) or vi (variational latent paths, docs/latent.md)")] = None,
        likelihood: Annotated[Optional[str], typer.Option(help="auto, kalman or particle")] = None,
        fix: Annotated[Optional[list[str]], typer.Option(help="Hold a parameter fixed: NAME=VALUE (repeatable)")] = None,
        set_: SetOpt = None,
        seed: Annotated[Optional[int], typer.Option(help="Random seed")] = None,
        chains: Annotated[Optional[int], typer.Option(help="NUTS/PMMH chains")] = None,
        warmup: Annotated[Optional[int], typer.Option(help="NUTS/PMMH warm-up steps per chain (default 500, PMMH 1000)")] = None,
        draws: Annotated[Optional[int], typer.Option(help="NUTS/PMMH draws per chain (default 500, PMMH 2000)")] = None,
        target_accept: Annotated[Optional[float], typer.Option("--target-accept", help="NUTS/PMMH target acceptance (default 0.8, PMMH from the likelihood noise)")] = None,
        steps: Annotated[Optional[int], typer.Option(help="MLE/MAP optimiser steps")] = None,
        learning_rate: Annotated[Optional[float], typer.Option("--learning-rate", help="MLE/MAP Adam step size")] = None,
        tolerance: Annotated[Optional[float], typer.Option(help="MLE/MAP gradient-norm tolerance")] = None,
        particles: Annotated[Optional[int], typer.Option(help="Particle-filter particles per series")] = None,
        dt: Annotated[Optional[float], typer.Option(help="Particle filter: largest solver step")] = None,
        x64: Annotated[Optional[bool], typer.Option("--x64/--x32", help="Compute in float64")] = None,
        pointwise: Annotated[Optional[bool], typer.Option("--pointwise/--no-pointwise", help="Write the log_likelihood group")] = None,
        checkpoint_every: Annotated[Optional[int], typer.Option("--checkpoint-every", help="Steps between checkpoints")] = None,
        samples: Annotated[Optional[int], typer.Option(help="VI: latent paths sampled per series")] = None,
        batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="VI: series per optimiser step")] = None,
        kl_anneal: Annotated[Optional[int], typer.Option("--kl-anneal", help="VI: steps over which the KL weight rises to 1")] = None,
        hidden: Annotated[Optional[int], typer.Option(help="VI: the encoder's GRU width")] = None,
        context: Annotated[Optional[int], typer.Option(help="VI: the encoder's context size")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted fit from OUTPUT.ckpt")] = False,
        progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    ) -> None:
        """Fit a spec to data (MLE, MAP, NUTS, PMMH or VI) and write an ArviZ InferenceData NetCDF file."""
        run(run_fit, spec, data, output, sets=set_, fix=fix, resume=resume, progress=progress, method=method,
            likelihood=likelihood, seed=seed, chains=chains, warmup=warmup, draws=draws, target_accept=target_accept,
            steps=steps, learning_rate=learning_rate, tolerance=tolerance, particles=particles, dt=dt, x64=x64,
            pointwise=pointwise, checkpoint_every=checkpoint_every, samples=samples, batch_size=batch_size,
            kl_anneal=kl_anneal, hidden=hidden, context=context)  # fmt: skip
