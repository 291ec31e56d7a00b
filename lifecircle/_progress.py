"""Terminal progress for long steps (rich), silent when disabled (tests, batch use)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Reporter:
    """Prints step starts/ends, facts and warnings; draws bars for long loops.

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
            self.console.print(f"[bold cyan]→[/] {step} …")

    def step_done(self, step: str, seconds: float) -> None:
        """Report a finished step with its duration."""
        if self.enabled:
            self.console.print(f"  [green]✓[/] {step} ({seconds:.1f} s)")

    def info(self, message: str) -> None:
        """Print a fact."""
        if self.enabled:
            self.console.print(f"    {message}", highlight=False)

    def warn(self, message: str) -> None:
        """Print a warning (always, even when progress is off: warnings must be seen)."""
        self.console.print(f"[bold yellow]warning:[/] {message}", highlight=False)

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
def collected_warnings(reporter: Reporter, category: type[Warning]) -> Iterator[list[str]]:
    """Collect warnings of ``category`` raised inside the block, printing each one.

    Yields
    ------
    list of str
        Filled with the messages when the block ends. Other warnings go back to Python's
        warning machinery unchanged.
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", category)
        yield notes
    for warning in caught:
        if issubclass(warning.category, category):
            notes.append(str(warning.message))
            reporter.warn(str(warning.message))
        else:
            # Not ours: hand it back to the normal warning machinery.
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
