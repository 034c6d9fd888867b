"""Fuzz dync: N mutated and adversarial specs, each in a worker process with a
time and a memory limit; counts by outcome and every distinct crash, with a
minimal reproducer.

    python3 benchmarks/fuzz.py                       # 10^5 cases
    python3 benchmarks/fuzz.py --cases 3000 --workers 2 --cli-every 50

A case (see ``tests/fuzz/cases.py``) is a grammar-aware mutation of a spec in
``specs/``, an adversarial spec (huge numbers, deep nesting, long sums,
Unicode, injection payloads, huge sizes), a structural mutation of a YAML
spec, or a reproducer of issue 8. It runs through the in-process API
(``compile_file`` on the text: ``dync check`` and ``dync compile``, then
Python's ``compile`` of the generated module and the formatter); every
``--cli-every``-th case also runs through ``python -m dync.cli check`` and
``compile``. The outcomes:

* ``ok``: compiled; ``dync_error``: a :class:`~dync.errors.DyncError` (the
  CLI: exit code 1 or 2 without a traceback);
* ``other``: any other exception (the CLI: another exit code, or a traceback);
* ``timeout``: a command took more than ``--timeout`` seconds of CPU time (a
  busy machine does not count; the CLI's includes the interpreter's
  start-up), or a case ran ten times past its wall-clock limit and was
  killed; ``memory``: a ``MemoryError``
  under the ``--memory`` limit (``RLIMIT_AS`` of the worker);
* ``abort``: the worker died (a signal: SIGABRT, SIGSEGV, ...).

Everything but ``ok`` and ``dync_error`` is an escape: the run prints each
distinct signature once, with its count, the seed of its first case and a
reproducer shrunk by deleting lines and characters while the signature
stays. The exit status is 1 when anything escaped.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz.cases import CLEAN, Case, base_specs, make_case, run_case  # noqa: E402

ESCAPES = ("other", "timeout", "memory", "abort")


# ------------------------------------------------------------------ worker


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _run_cli(case: Case, timeout: float, megabytes: int) -> tuple[str, str]:
    """``python -m dync.cli check`` then ``compile`` on the case, in a
    subprocess with the same limits; the worse outcome."""
    suffix = Path(case.filename).suffix or ".dync"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"case{suffix}"
        path.write_text(case.text, encoding="utf-8", errors="surrogatepass")
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        worst = ("ok", "")
        for command in (["check", str(path)], ["compile", str(path), "-o", str(Path(tmp) / "out.py")]):
            before = _children_cpu()
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", "dync.cli", *command],
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=6 * timeout,  # wall time: start-up, and a busy machine
                    env=env,
                    preexec_fn=lambda: _limit_memory(megabytes),
                )
            except subprocess.TimeoutExpired:
                return "timeout", f"cli {command[0]}"
            out = proc.stdout + proc.stderr
            cpu = _children_cpu() - before
            if cpu > timeout:
                return "timeout", f"cli {command[0]}: {cpu:.1f} s of CPU"
            if proc.returncode < 0:
                return "abort", f"cli {command[0]}: signal {signal.Signals(-proc.returncode).name}"
            if "Traceback" in out or proc.returncode not in (0, 1, 2):
                last = [ln for ln in out.strip().splitlines() if ln.strip()][-1:] or [""]
                kind = "memory" if "MemoryError" in out else "other"
                return kind, f"cli {command[0]} exit {proc.returncode}: {last[0][:200]}"
            if proc.returncode != 0:
                worst = ("dync_error", f"cli exit {proc.returncode}")
        return worst


def _children_cpu() -> float:
    """CPU time of this process's finished children so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _worker(conn, timeout: float, megabytes: int) -> None:
    """Run cases from ``conn`` until it closes: ``(index, case, cli)`` in,
    ``(index, outcome, detail, seconds)`` out (``seconds``: the CPU time of
    the longest in-process command of the case)."""
    _limit_memory(megabytes)
    run_case("warm.dync", "model m\nstate x = 0\ndx = -x dt\n")  # imports once, not in a case's time

    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        index, case, cli = msg
        outcome, detail, seconds = run_case(case.filename, case.text)  # seconds: the longest command
        if cli and outcome in CLEAN:
            cli_outcome, cli_detail = _run_cli(case, timeout, megabytes)
            if cli_outcome not in CLEAN:
                outcome, detail = cli_outcome, cli_detail
        conn.send((index, outcome, detail, seconds))


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) of process ``pid`` so far; 0 if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


@dataclasses.dataclass
class _Slot:
    process: mp.Process
    conn: object
    job: tuple | None = None
    started: float = 0.0
    cpu_started: float = 0.0


class Pool:
    """Worker processes that run one case at a time each; a worker past the
    time limit is killed and replaced, a worker that dies is reported."""

    def __init__(self, workers: int, timeout: float, megabytes: int):
        self.timeout = timeout
        self.megabytes = megabytes
        self.ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self.slots = [self._spawn() for _ in range(workers)]

    def _spawn(self) -> _Slot:
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker, args=(child, self.timeout, self.megabytes), daemon=True)
        p.start()
        child.close()
        return _Slot(p, parent)

    def _replace(self, i: int) -> None:
        slot = self.slots[i]
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join()
        slot.conn.close()
        self.slots[i] = self._spawn()

    def _limit(self, slot: _Slot) -> float:
        """Seconds the slot's job may take: the case, and with the CLI two
        more runs and their interpreters' start-up."""
        cli = bool(slot.job and slot.job[2])
        return 3 * self.timeout + 1.0 + (2 * 6 * self.timeout if cli else 0.0)

    def run(self, jobs):
        """Yield ``(job, outcome, detail, seconds)`` for each ``job =
        (index, case, cli)`` of the iterable, in completion order."""
        jobs = iter(jobs)
        pending = True
        while True:
            for slot in self.slots:
                if slot.job is None and pending:
                    job = next(jobs, None)
                    if job is None:
                        pending = False
                        break
                    slot.job, slot.started = job, time.perf_counter()
                    slot.cpu_started = _cpu_seconds(slot.process.pid)
                    slot.conn.send(job)
            busy = [s for s in self.slots if s.job is not None]
            if not busy:
                return
            now = time.perf_counter()
            ready = wait([s.conn for s in busy], timeout=max(0.5, min(s.started + self._limit(s) for s in busy) - now) + 0.05)
            for i, slot in enumerate(self.slots):
                if slot.job is None:
                    continue
                job = slot.job
                if slot.conn in ready:
                    try:
                        _, outcome, detail, seconds = slot.conn.recv()
                    except (EOFError, OSError):
                        slot.process.join(1)
                        code = slot.process.exitcode
                        name = signal.Signals(-code).name if code is not None and code < 0 else f"exit {code}"
                        slot.job = None
                        self._replace(i)
                        yield job, "abort", f"worker died: {name}", time.perf_counter() - slot.started
                        continue
                    slot.job = None
                    if seconds > self.timeout and outcome in CLEAN:
                        outcome, detail = "timeout", f"{seconds:.1f} s of CPU"
                    yield job, outcome, detail, seconds
                elif time.perf_counter() - slot.started > self._limit(slot):
                    # past the wall-clock limit: a timeout if the case used
                    # its CPU time (a busy machine only slows it down), or
                    # after ten times the limit in any case
                    cpu = _cpu_seconds(slot.process.pid) - slot.cpu_started
                    wall = time.perf_counter() - slot.started
                    cli = bool(job[2])
                    if cpu > self.timeout * (3 if cli else 2) or wall > 10 * self._limit(slot):
                        slot.job = None
                        self._replace(i)
                        yield job, "timeout", f"killed after {wall:.0f} s of wall time, {cpu:.1f} s of CPU", cpu

    def close(self) -> None:
        for slot in self.slots:
            try:
                slot.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for slot in self.slots:
            slot.process.join(2)
            if slot.process.is_alive():
                slot.process.kill()


# ------------------------------------------------------------------ shrinking


def _key(outcome: str, detail: str) -> str:
    """The signature of an escape: the outcome and the exception's place (not
    its message, which varies with the input)."""
    if outcome == "other":
        return "other: " + detail.split(": ")[0]
    if outcome == "abort":
        return "abort: " + detail.split(":")[0] if detail.startswith("cli") else f"abort: {detail}"
    return outcome + (": cli" if detail.startswith("cli") else "")


def shrink(pool: Pool, case: Case, key: str, cli: bool, budget: int) -> Case:
    """Delete lines, then runs of characters, while the case keeps ``key``."""

    def same(text: str) -> bool:
        nonlocal budget
        if budget <= 0:
            return False
        budget -= 1
        for _, outcome, detail, _ in pool.run([(0, dataclasses.replace(case, text=text), cli)]):
            return _key(outcome, detail) == key
        return False

    text = case.text
    for unit in ("\n", None):
        parts = text.split("\n") if unit else list(text)
        chunk = max(1, len(parts) // 2)
        while chunk >= 1 and budget > 0:
            i, changed = 0, False
            while i < len(parts) and budget > 0:
                trial = parts[:i] + parts[i + chunk:]
                joined = ("\n" if unit else "").join(trial)
                if trial and same(joined):
                    parts, changed = trial, True
                else:
                    i += chunk
            if not changed:
                chunk //= 2
        text = ("\n" if unit else "").join(parts)
        if len(text) > 4000:  # characters one by one would take too long
            break
    return dataclasses.replace(case, text=text)


# ------------------------------------------------------------------ main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per case")
    ap.add_argument("--memory", type=int, default=2048, help="MiB per worker (RLIMIT_AS)")
    ap.add_argument("--cli-every", type=int, default=100, help="every K-th case also through the CLI (0: never)")
    ap.add_argument("--shrink", type=int, default=150, help="tries to shrink each crash (0: keep it whole)")
    ap.add_argument("--save", type=Path, default=None, help="write each reproducer into this folder")
    args = ap.parse_args(argv)

    bases = base_specs()
    cases: dict[int, Case] = {}

    def jobs():
        for i in range(args.cases):
            case = make_case(random.Random(args.seed * 1_000_003 + i), bases)
            cases[i] = case
            yield i, case, bool(args.cli_every) and i % args.cli_every == 0

    pool = Pool(args.workers, args.timeout, args.memory)
    counts: collections.Counter = collections.Counter()
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    escapes: dict[str, list] = {}
    slowest = (0.0, -1)
    start = time.perf_counter()
    done = 0
    try:
        for (i, case, cli), outcome, detail, seconds in pool.run(jobs()):
            counts[outcome] += 1
            by_kind[case.kind][outcome] += 1
            slowest = max(slowest, (seconds, i))
            if outcome in ESCAPES:
                key = _key(outcome, detail)
                entry = escapes.setdefault(key, [0, i, case, cli, detail])
                entry[0] += 1
                if len(case.text) < len(entry[2].text):
                    entry[1:] = [i, case, cli, detail]
            cases.pop(i, None)
            done += 1
            if done % 1000 == 0:
                rate = done / (time.perf_counter() - start)
                print(f"  {done:,} cases, {rate:.0f}/s, escapes so far: {sum(counts[o] for o in ESCAPES)}", file=sys.stderr, flush=True)
        elapsed = time.perf_counter() - start

        print(f"\n{args.cases:,} cases (seed {args.seed}) in {elapsed:.0f} s on {args.workers} workers; "
              f"limits {args.timeout:g} s and {args.memory} MiB per case; CLI every {args.cli_every or 'never'}")
        outcomes = ("ok", "dync_error") + ESCAPES
        print(f"{'kind':<12}" + "".join(f"{o:>12}" for o in outcomes))
        for kind in sorted(by_kind):
            print(f"{kind:<12}" + "".join(f"{by_kind[kind][o]:>12,}" for o in outcomes))
        print(f"{'total':<12}" + "".join(f"{counts[o]:>12,}" for o in outcomes))
        print(f"slowest case: {slowest[0]:.2f} s of CPU (case {slowest[1]})")
        for key, (n, i, case, cli, detail) in sorted(escapes.items(), key=lambda kv: -kv[1][0]):
            small = shrink(pool, case, key, cli, args.shrink) if args.shrink else case
            print(f"\n=== {key}  ({n} case{'s' if n != 1 else ''}; first shown: case {i}, {case.kind}, {case.filename})")
            print(f"    {detail}")
            print("--- minimal reproducer " + "-" * 40)
            shown = "\n".join(ln if len(ln) <= 300 else ln[:300] + f" ... [{len(ln)} characters]" for ln in small.text[:6000].split("\n"))
            print(shown + (f"\n... [{len(small.text)} characters in all]" if len(small.text) > 6000 else ""))
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"{len(escapes)}_{i}{Path(case.filename).suffix}").write_text(small.text)
        if not escapes:
            print("\nno escapes: every case ended as ok or a DyncError")
    finally:
        pool.close()
    return 1 if escapes else 0


if __name__ == "__main__":
    sys.exit(main())
