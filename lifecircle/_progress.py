"""Terminal progress for long steps (rich), silent when disabled (tests, batch use)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Reporter:
    """Prints step starts/ends, facts and warnings; spinners for waits, bars for long loops.

    A step that can take seconds (reading a file, a download, building a map, writing a file)
    runs inside :meth:`working` or as one of :meth:`steps`: in a terminal a spinner shows what
    is being done while it runs; afterwards (and in logs) one line says what was done and how
    long it took. Messages are printed as plain text (file names may hold ``[`` or ``]``).

    Parameters
    ----------
    enabled : bool
        When False every method is a no-op.
    console : rich.console.Console, optional
        Where to print (default: standard error, so standard output stays clean for data).
    """

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True)

    def step_start(self, step: str) -> None:
        """Announce a step."""
        if self.enabled:
            self.console.print(f"[bold cyan]→[/] {escape(step)} …")

    def step_done(self, step: str, seconds: float) -> None:
        """Report a finished step with its duration."""
        if self.enabled:
            self.console.print(f"  [green]✓[/] {escape(step)} ({seconds:.1f} s)")

    def info(self, message: str) -> None:
        """Print a fact."""
        if self.enabled:
            self.console.print(f"    {escape(message)}", highlight=False)

    def warn(self, message: str) -> None:
        """Print a warning (always, even when progress is off: warnings must be seen)."""
        self.console.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False)

    @contextmanager
    def bar(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A progress bar; yields a function to call with the number of items just done."""
        if not self.enabled or total == 0:
            yield lambda n: None
            return
        columns = (
            TextColumn("    {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n: progress.advance(task, n)

    @contextmanager
    def working(self, message: str) -> Iterator[None]:
        """Show that ``message`` is under way (a spinner in a terminal); print its time after."""
        if not self.enabled:
            yield
            return
        start = time.perf_counter()
        text = escape(message)
        if self.console.is_terminal:
            with self.console.status(f"{text} …", spinner="dots"):
                yield
        else:
            yield
        seconds = time.perf_counter() - start
        self.console.print(f"    [dim]{text} ({seconds:.1f} s)[/]", highlight=False)

    @contextmanager
    def steps(self) -> Iterator[Callable[[str], None]]:
        """A sequence of sub-steps; yields ``announce(message)``.

        Each call ends the previous sub-step (printing it with its time) and starts the next
        (a spinner in a terminal). Pass ``announce`` as a ``progress`` callback to code that
        must not print, such as :func:`lifecircle.write_outputs`.
        """
        if not self.enabled:
            yield lambda message: None
            return
        status = self.console.status("", spinner="dots") if self.console.is_terminal else None
        current: list = []  # [message, start] of the sub-step under way

        def finish() -> None:
            if current:
                seconds = time.perf_counter() - current[1]
                self.console.print(f"    [dim]{escape(current[0])} ({seconds:.1f} s)[/]",
                                   highlight=False)
                current.clear()

        def announce(message: str) -> None:
            finish()
            current.extend([message, time.perf_counter()])
            if status is not None:
                status.update(f"{escape(message)} …")

        if status is not None:
            status.start()
        try:
            yield announce
            finish()
        finally:
            if status is not None:
                status.stop()


@contextmanager
def collected_warnings(reporter: Reporter, category: type[Warning]) -> Iterator[list[str]]:
    """Collect warnings of ``category`` raised inside the block, printing each one.

    Yields
    ------
    list of str
        Filled with the messages when the block ends. Other warnings go back to Python's
        warning machinery unchanged.
    """
    notes: list[str] = []
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", category)
            yield notes
    finally:
        # Also when the block fails: a warning (e.g. an unreadable cache) may explain the error.
        for warning in caught:
            if issubclass(warning.category, category):
                notes.append(str(warning.message))
                reporter.warn(str(warning.message))
            else:
                # Not ours: hand it back to the normal warning machinery.
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
