"""``dync sample``."""

from pathlib import Path
from typing import Annotated, Optional

from .common import _checkpointed_run


def run_sample(spec: Path, output: Path, *, sets, resume: bool, progress: bool, **flags) -> None:
    """``dync sample``: :func:`dync.commands.sample_spec`, written to NetCDF,
    with its diagnostics table on stdout. Checkpoints go to ``OUTPUT.ckpt``."""
    from ..compiler.driver import read_spec
    from ..settings import sample_settings

    read: dict = {}

    def prepare():
        read["spec"] = read_spec(spec)
        read["settings"] = sample_settings(read["spec"], sets=sets, **flags)

    def run(ckpt):
        from ..commands.sampling import sample_spec

        return sample_spec(read["spec"], read["settings"], checkpoint=ckpt, progress=progress)

    def summarise(idata):
        from ..commands.sampling import sample_summary

        return sample_summary(idata)

    inputs = (flags.get("data"), flags.get("weights"), flags.get("product"))
    _checkpointed_run(output, resume, prepare, run, summarise, spec=spec, inputs=inputs, overrides=f"set={sorted(sets or [])} x64={flags.get('x64')}")


def register(app, run, SpecArg, SetOpt) -> None:
    """Add sample to the typer ``app``; ``run`` calls a command function,
    turning its exit into typer's."""
    import typer

    @app.command()
    def sample(
        spec: SpecArg,
        output: Annotated[Path, typer.Option("-o", "--output", help="NetCDF file to write (ArviZ InferenceData)")] = Path("samples.nc"),
        method: Annotated[Optional[str], typer.Option(help="ula, mala, baoab, hmc, nuts, sgld or dynamics")] = None,
        chains: Annotated[Optional[int], typer.Option(help="Chains, run side by side")] = None,
        warmup: Annotated[Optional[int], typer.Option(help="Warm-up steps per chain (adaptation or burn-in)")] = None,
        samples: Annotated[Optional[int], typer.Option(help="Draws kept per chain")] = None,
        step: Annotated[Optional[float], typer.Option(help="Step size (required for ula, baoab, sgld, dynamics; turns adaptation off)")] = None,
        thin: Annotated[Optional[int], typer.Option(help="Steps per kept draw")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Random seed")] = None,
        friction: Annotated[Optional[float], typer.Option(help="BAOAB friction")] = None,
        mass: Annotated[Optional[float], typer.Option(help="BAOAB mass")] = None,
        target_accept: Annotated[
            Optional[float], typer.Option("--target-accept", help="Acceptance rate the step adapts to (MALA 0.574, HMC/NUTS 0.8)")
        ] = None,
        integration_steps: Annotated[
            Optional[int], typer.Option("--integration-steps", help="HMC leapfrog steps per draw (mean of a jittered length)")
        ] = None,
        batch: Annotated[Optional[int], typer.Option("--batch", help="SGLD: data points per minibatch (default min(N, 32))")] = None,
        step_decay: Annotated[
            Optional[float], typer.Option("--step-decay", help="SGLD: step h_t = STEP (1 + t/DECAY_STEPS)^-STEP_DECAY (0: constant)")
        ] = None,
        decay_steps: Annotated[Optional[float], typer.Option("--decay-steps", help="SGLD: the schedule's time scale (steps)")] = None,
        checkpoint_every: Annotated[Optional[int], typer.Option("--checkpoint-every", help="Draws (reverse: steps) between checkpoints")] = None,
        reverse: Annotated[
            Optional[str], typer.Option("--reverse", help="Generate from a trained score instead: sde, heun, ode or pc")
        ] = None,
        weights: Annotated[Optional[str], typer.Option("--weights", help="Weights written by `dync train` (with --reverse)")] = None,
        steps: Annotated[Optional[int], typer.Option("--steps", help="Reverse sampler's time steps (sde, heun, pc)")] = None,
        snr: Annotated[Optional[float], typer.Option("--snr", help="PC corrector's signal-to-noise ratio")] = None,
        corrector_steps: Annotated[Optional[int], typer.Option("--corrector-steps", help="PC Langevin steps per time")] = None,
        loglik: Annotated[
            Optional[bool], typer.Option("--loglik/--no-loglik", help="Exact log-likelihoods via the probability-flow ODE")
        ] = None,
        data: Annotated[Optional[str], typer.Option("--data", help="A target model's data file (its inputs by name); with --reverse --loglik, the samples to score")] = None,
        anneal: Annotated[Optional[float], typer.Option("--anneal", help="Feynman-Kac annealing: sample p^BETA (with --reverse sde)")] = None,
        product: Annotated[
            Optional[str], typer.Option("--product", help="Feynman-Kac product of experts with a second weights file")
        ] = None,
        guidance: Annotated[
            Optional[float], typer.Option("--guidance", help="With --product: sample p1^W p2^(1-W) (classifier-free-style)")
        ] = None,
        prior: Annotated[
            Optional[str], typer.Option("--prior", help='Law the reverse process starts from at t1, e.g. "Normal(0, 1)" (default: the forward SDE\'s)')
        ] = None,
        x64: Annotated[Optional[bool], typer.Option("--x64/--x32", help="Compute in float64 (other numbers than float32 for the same seed)")] = None,
        set_: SetOpt = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from OUTPUT.ckpt")] = False,
        progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    ) -> None:
        """Draw the states from the spec's `target` density with MCMC and write an ArviZ NetCDF file;
        with --reverse, generate samples from the spec's trained `score` (see docs/diffusion.md)."""
        run(run_sample, spec, output, sets=set_, resume=resume, progress=progress, method=method, chains=chains,
            warmup=warmup, samples=samples, step=step, thin=thin, seed=seed, friction=friction, mass=mass,
            target_accept=target_accept, integration_steps=integration_steps, checkpoint_every=checkpoint_every,
            batch=batch, step_decay=step_decay, decay_steps=decay_steps,
            reverse=reverse, weights=weights, steps=steps, snr=snr, corrector_steps=corrector_steps, loglik=loglik,
            data=data, anneal=anneal, product=product, guidance=guidance, prior=prior, x64=x64)  # fmt: skip
