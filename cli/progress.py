"""Progress for people: a bar while history is backfilled, a status line while `up` runs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from usagectl.processors.processor import Processor
from usagectl.producers.producer import Producer, SyncStats

from .settings import Settings

OnProgress = Callable[[SyncStats], None]
OnReady = Callable[[Producer, Processor], None]


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]backfill"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[events]:,} events"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@contextlib.contextmanager
def sync_progress(console: Console) -> Iterator[OnProgress]:
    with _bar(console) as bar:
        task = bar.add_task("backfill", total=None, events=0)

        def update(stats: SyncStats) -> None:
            bar.update(task, completed=stats.bytes, total=stats.backlog_bytes or None,
                       events=stats.events)  # fmt: skip

        yield update


@contextlib.contextmanager
def up_display(console: Console, settings: Settings) -> Iterator[tuple[OnProgress, OnReady]]:
    """During backfill a bar; then one compact status line, rewritten at most once a second."""
    last = [0.0]
    with sync_progress(console) as on_progress:

        def ready(producer: Producer, processor: Processor) -> None:
            def status(stats: SyncStats) -> None:
                now = time.monotonic()
                if now - last[0] < 1 or not console.is_terminal:
                    return
                last[0] = now
                console.print(
                    f"[dim]usagectl up[/] {settings.machine} · {stats.files:,} files · "
                    f"{stats.events:,} events · read model at seq {processor.progress.seq:,}",
                    end="\r",
                )

            producer.on_progress = status
            console.print(
                f"following transcripts on {settings.machine}; read model {settings.db_path} "
                "(Ctrl-C to stop)"
            )

        yield on_progress, ready
