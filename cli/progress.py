"""Progress for people: a bar while history is backfilled, a status line while `up` runs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text
from usagectl.processors.app.processor_child import read_model_seq
from usagectl.processors.app.settings import Settings
from usagectl.producers.producer import Producer, SyncStats

OnProgress = Callable[[SyncStats], None]
OnReady = Callable[[Producer], None]


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
            bar.update(
                task, completed=stats.bytes, total=stats.backlog_bytes or None, events=stats.events
            )

        yield update


@contextlib.contextmanager
def up_display(console: Console, settings: Settings) -> Iterator[tuple[OnProgress, OnReady]]:
    """During backfill a bar; then one compact status line, redrawn at most once a second."""
    bar = _bar(console)
    task = bar.add_task("backfill", total=None, events=0)
    live = Live(Text(""), console=console, transient=True, auto_refresh=False)
    last = [0.0]

    def backfill(stats: SyncStats) -> None:
        bar.update(
            task, completed=stats.bytes, total=stats.backlog_bytes or None, events=stats.events
        )

    def ready(producer: Producer) -> None:
        bar.stop()
        console.print(
            f"following transcripts on {settings.machine}; read model {settings.db_path} "
            "(Ctrl-C to stop)"
        )
        if console.is_terminal:
            live.start()

        def status(stats: SyncStats) -> None:
            now = time.monotonic()
            if now - last[0] >= 1:
                last[0] = now
                live.update(
                    Text.from_markup(
                        f"[dim]usagectl up[/] {settings.machine} · {stats.files:,} files · "
                        f"{stats.events:,} events published · read model at seq "
                        f"{read_model_seq(settings.db_path):,}"
                    ),
                    refresh=True,
                )

        producer.on_progress = status

    bar.start()
    try:
        yield backfill, ready
    finally:
        bar.stop()
        live.stop()
