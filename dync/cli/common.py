"""What every command of the command line shares: the exit, the echo, the
rendering of an error, and the shape of a checkpointed run (``dync fit``,
``dync sample``, ``dync train``)."""

import json
import sys
from pathlib import Path

from ..atomic import check_writable
from ..errors import DyncError, SpecErrors, UsageError


class _Exit(Exception):
    """Leave a command with an exit code (typer's ``Exit``, without typer)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _echo(text: str, err: bool = False, nl: bool = True) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + ("\n" if nl else ""))
    stream.flush()


def _fail(err: DyncError, fmt: str = "text") -> None:
    code = 2 if isinstance(err, UsageError) else 1
    if fmt == "json":
        payload = err.to_json()
        diagnostics = payload["errors"] if isinstance(err, SpecErrors) else [payload]
        _echo(json.dumps({"ok": False, "diagnostics": diagnostics}, indent=2))
    else:
        _echo(err.render(), err=True)
    raise _Exit(code)


def _warn_plainly():
    """Show Python warnings as ``warning: MESSAGE`` lines on stderr (no file
    and line of dync's source, which mean nothing to a user)."""
    import warnings

    from ..errors import RenderedWarning

    def show(message, category, filename, lineno, file=None, line=None):
        _echo(str(message) if issubclass(category, RenderedWarning) else f"warning: {message}", err=True)

    warnings.showwarning = show


def warn_if_not_netcdf_name(output: Path) -> None:
    """Say so when a NetCDF file is about to be written under another suffix
    (`-o out.txt`): the file is NetCDF whatever its name."""
    if Path(output).suffix.lower() not in (".nc", ".nc4", ".netcdf", ".cdf", ".h5"):
        _echo(f"warning: {output} will be a NetCDF file; name it .nc so that other tools recognise it", err=True)


def _prepare_checkpoints(output: Path, resume: bool) -> tuple[Path, Path]:
    """The checkpoint files of a run writing ``output`` (``OUTPUT.ckpt`` and
    ``OUTPUT.ckpt.warmup``): kept for ``--resume``, else removed so that the
    run starts afresh.

    Raises:
        UsageError: ``--resume`` with no checkpoint to resume.
    """
    from ..commands.fitting import checkpoint_files

    ckpt, warm = checkpoint_files(output)
    if resume:
        if not ckpt.exists() and not warm.exists():
            raise UsageError(f"--resume: no checkpoint {ckpt} to resume", hint="run without --resume to start")
        _echo(f"resuming from {ckpt}", err=True)
    else:
        for f in (ckpt, warm):
            f.unlink(missing_ok=True)
    return ckpt, warm


def _interrupted(ckpt: Path | None, warm: Path | None) -> None:
    """Ctrl-C during a checkpointed run: say where it stands, exit 130."""
    where = ""
    if ckpt is not None and (ckpt.exists() or (warm is not None and warm.exists())):
        where = f"; the checkpoint {ckpt} holds the run so far: rerun with --resume to continue"
    elif ckpt is not None:
        where = " before the first checkpoint, so there is nothing to resume: rerun without --resume to start again"
    _echo(f"interrupted{where}", err=True)
    raise _Exit(130)


def refuse_overwriting_inputs(output: Path, *inputs: Path | None, flag: str = "-o") -> None:
    """Refuse an output that is one of the command's own input files (`dync
    fit m.dync d.nc -o d.nc` would replace the data with the fit).

    Raises:
        UsageError: ``output`` is the same file as an input.
    """
    import os

    for source in inputs:
        if source is None or not Path(source).exists() or not Path(output).exists():
            continue
        if os.path.samefile(source, output):
            raise UsageError(
                f"{flag} {output} is the input file {source}: writing it would destroy the input",
                hint="give the output another name",
            )


def _spec_digest(spec: Path | None, extra: str) -> str:
    """What a checkpoint of ``spec`` depends on beyond the run's settings:
    the spec's bytes and the command's overrides (``--set``, ``--fix``)."""
    import hashlib

    h = hashlib.sha256(extra.encode())
    if spec is not None and Path(spec).is_file():
        h.update(Path(spec).read_bytes())
    return h.hexdigest()


def _check_checkpoint_spec(ckpt: Path, resume: bool, digest: str) -> Path:
    """Keep beside ``OUTPUT.ckpt`` the digest of the spec it was written for;
    on ``--resume`` refuse a checkpoint of another spec (or of this spec
    since edited, or with other overrides): its draws or steps would be
    mixed with the new model's."""
    import json

    marker = ckpt.with_name(ckpt.name + ".spec")
    if resume and marker.exists():
        try:
            stored = json.loads(marker.read_text()).get("digest")
        except (OSError, ValueError, AttributeError):
            stored = None
        if stored != digest:
            raise UsageError(
                f"--resume: the checkpoint {ckpt} was written for another spec (or this spec before an edit, "
                "or other --set/--fix/--x64 values)",
                hint="run without --resume to start afresh",
            )
    if not marker.exists() or not resume:
        from ..atomic import write_text_atomic

        write_text_atomic(marker, json.dumps({"digest": digest}))
    return marker


def _drop_lone_marker(marker: Path | None, ckpt: Path | None, warm: Path | None) -> None:
    """Remove the spec digest of a run that stopped before writing any
    checkpoint (nothing to resume, so nothing to describe)."""
    if marker is not None and not any(f is not None and f.exists() for f in (ckpt, warm)):
        marker.unlink(missing_ok=True)


def _checkpointed_run(
    output: Path, resume: bool, prepare, run, summarise, write=None, *, spec: Path | None = None,
    inputs: tuple = (), overrides: str = "",
) -> None:  # fmt: skip
    """The shape of ``dync fit``, ``dync sample`` and ``dync train``:
    ``prepare()`` reads and checks the spec and settings; ``run(checkpoint)``
    does the work, with checkpoints in ``OUTPUT.ckpt``; ``write(result,
    output)`` writes the result atomically and returns what it wrote (by
    default an InferenceData to ``output``); the checkpoints are removed and
    ``summarise(result)`` printed. Errors are rendered; Ctrl-C says where the
    checkpoint is (exit 130). ``spec`` and ``inputs`` are the command's input
    files (never overwritten); a checkpoint remembers the spec's digest (with
    ``overrides``), and ``--resume`` refuses one of another spec."""
    ckpt = warm = marker = None
    try:
        prepare()
        refuse_overwriting_inputs(output, spec, *inputs)
        check_writable(output, make_parents=write is not None)
        if write is None:
            warn_if_not_netcdf_name(output)
        ckpt, warm = _prepare_checkpoints(output, resume)
        marker = _check_checkpoint_spec(ckpt, resume, _spec_digest(spec, overrides))
        from ..runtime.devices import enable_compilation_cache

        enable_compilation_cache()
        _warn_plainly()
        result = run(ckpt)
        if write is None:
            from ..commands.fitting import write_fit

            write_fit(result, output)
            wrote = str(output)
        else:
            wrote = write(result, output)
    except DyncError as err:
        _drop_lone_marker(marker, ckpt, warm)
        _fail(err)
        return
    except KeyboardInterrupt:
        _drop_lone_marker(marker, ckpt, warm)
        _interrupted(ckpt, warm)
        return
    for f in (ckpt, warm, marker):
        f.unlink(missing_ok=True)
    _echo(summarise(result))
    _echo(f"wrote {wrote}", err=True)
