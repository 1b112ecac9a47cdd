"""Progress on stderr while a long job runs: a bar with a count and the time left when the total is
known, else a spinner with a live line ("file: 12,000 records read"). Shown only on a terminal and
cleared when done (pipes and logs get nothing): each context yields None when the console is not
a terminal, so the job runs without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


@contextmanager
def counting(console: Console, label: str, total: int | None) -> Iterator[Callable[[], None] | None]:
    """A bar labelled `label` counting to `total`; yields the function that advances it by one."""
    if not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


@contextmanager
def spinning(console: Console, first: str, line: Callable[..., str]) -> Iterator[Callable[..., None] | None]:
    """A spinner with the time elapsed and a line that starts as `first`; yields the function that
    takes what `line(*args)` needs and shows it."""
    if not console.is_terminal:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(first, total=None)
        yield lambda *args: bar.update(task, description=line(*args))
