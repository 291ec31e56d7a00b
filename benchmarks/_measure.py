"""Timing and memory of benchmark methods: medians of repeats in rotated order, set-up apart,
peak resident memory per method, and the comparison tables."""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def log(message: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _status_kb(key: str) -> float:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return float("nan")


def rss_mb() -> float:
    """Resident memory of this process now (MB)."""
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    """Highest resident memory of this process since the last :func:`reset_peak` (MB)."""
    return _status_kb("VmHWM") / 1024


def reset_peak() -> bool:
    """Reset the kernel's resident-memory high-water mark (Linux ``clear_refs`` 5)."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence what compiled libraries print on the process's standard output."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


@dataclass
class Timed:
    """What one call cost: wall and CPU seconds, peak resident memory above the start."""

    wall_s: float
    cpu_s: float
    peak_mb: float
    value: Any = None


def timed(function: Callable[[], Any]) -> Timed:
    """Run ``function`` once; measure wall and CPU time and the resident-memory peak it adds.

    The peak is the kernel's high-water mark (reset before the call) minus the resident memory
    at the start: it counts NumPy, C++ and Rust allocations alike (tracemalloc would see only
    Python's). Memory freed earlier and reused by the allocator is not counted again, so it is
    a lower bound for methods run after others.
    """
    gc.collect()
    can_reset = reset_peak()
    start_rss = rss_mb()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    value = function()
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    peak = peak_rss_mb() - start_rss if can_reset else float("nan")
    return Timed(wall, cpu, max(0.0, peak), value)


@dataclass
class Method:
    """A way to answer a task: set-up (not timed with the run) and run.

    ``scale`` multiplies the measured run time when the method runs on a sample (the time of
    the whole task is then extrapolated, and the table says so).
    """

    name: str
    run: Callable[[Any], Any]
    setup: Callable[[], Any] = lambda: None
    how: str = "all"
    scale: float = 1.0
    repeat: int | None = None
    note: str = ""
    skipped: str = ""
    comparable: bool = True


@dataclass
class Outcome:
    """Measurements of one method on one task."""

    name: str
    how: str
    setup_s: float = float("nan")
    setup_mb: float = float("nan")
    runs_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    peak_mb: float = float("nan")
    scale: float = 1.0
    answer: Any = None
    skipped: str = ""
    note: str = ""
    agreement: dict[str, Any] = field(default_factory=dict)
    comparable: bool = True

    @property
    def median_s(self) -> float:
        """Median run time, extrapolated to the whole task when run on a sample."""
        return statistics.median(self.runs_s) * self.scale if self.runs_s else float("nan")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "method": self.name,
            "how": self.how,
            "setup_s": self.setup_s,
            "setup_peak_mb": self.setup_mb,
            "runs_s": self.runs_s,
            "cpu_s": self.cpu_s,
            "median_s": self.median_s,
            "scale": self.scale,
            "peak_mb": self.peak_mb,
            "skipped": self.skipped,
            "note": self.note,
            "agreement": self.agreement,
            "comparable": self.comparable,
        }


def measure(methods: list[Method], repeat: int) -> list[Outcome]:
    """Set up every method, then time ``repeat`` runs of each, rotating the order per round.

    Rotation spreads the effects of caches and of other jobs on the machine over all methods;
    the median of the runs is reported.
    """
    outcomes, states = [], []
    for method in methods:
        outcome = Outcome(method.name, method.how, scale=method.scale, note=method.note,
                          comparable=method.comparable, skipped=method.skipped)
        if method.skipped:
            states.append(None)
            outcomes.append(outcome)
            continue
        try:
            setup = timed(method.setup)
        except ImportError as exc:
            outcome.skipped = f"not installed ({exc.name or exc}): pip install it to include it"
            states.append(None)
            outcomes.append(outcome)
            continue
        outcome.setup_s, outcome.setup_mb = setup.wall_s, setup.peak_mb
        states.append(setup.value)
        outcomes.append(outcome)
    active = [i for i, o in enumerate(outcomes) if not o.skipped]
    rounds = max([repeat] + [m.repeat or 0 for m in methods])
    for round_number in range(rounds):
        shift = round_number % max(1, len(active))
        for i in active[shift:] + active[:shift]:
            wanted = methods[i].repeat or repeat
            if len(outcomes[i].runs_s) >= wanted:
                continue
            result = timed(lambda i=i: methods[i].run(states[i]))
            outcomes[i].runs_s.append(result.wall_s)
            outcomes[i].cpu_s.append(result.cpu_s)
            outcomes[i].peak_mb = max(result.peak_mb, outcomes[i].peak_mb or 0.0)
            outcomes[i].answer = result.value
    for state in states:
        del state
    gc.collect()
    return outcomes


def fastest_reference(outcomes: list[Outcome], own: set[str]) -> Outcome | None:
    """The fastest method that is not lifecircle's own (the strongest reference)."""
    peers = [o for o in outcomes
             if o.name not in own and not o.skipped and o.runs_s and o.comparable]
    return min(peers, key=lambda o: o.median_s) if peers else None


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain text table, first column left-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if k == 0 else str(c).rjust(w)
            for k, (c, w) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def seconds(value: float) -> str:
    """Seconds with sensible digits."""
    if value != value:  # NaN
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def machine() -> dict[str, Any]:
    """Where the benchmark ran (load matters: the machine is shared)."""
    return {
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": sys.version.split()[0],
    }
