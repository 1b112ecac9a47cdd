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


@contextmanager
def reading(console: Console, lang: str = "zh") -> Iterator[Callable[..., None] | None]:
    """A live progress line on stderr while an import runs (a terminal only; it is cleared when
    done, and pipes and logs get nothing): records read, and where the reader can tell how much of
    the source that is (JSONL), a bar with the time left."""
    if not console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    label = "{source}：已读 {records:,} 条记录" if lang == "zh" else "{source}: {records:,} records read"
    left = "剩余" if lang == "zh" else "left"
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=16),
                  TaskProgressColumn(), TextColumn(left), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("读取中…" if lang == "zh" else "reading…", total=None)
        current = [None]

        def update(source: str, records: int, fraction: float | None = None) -> None:
            if source != current[0]:  # the next source: its own bar and estimate
                current[0] = source
                bar.reset(task, total=None if fraction is None else 1000)
            bar.update(task, description=label.format(source=source, records=records),
                       completed=None if fraction is None else fraction * 1000)

        yield update
