"""Live tailing: file-system notifications (watchfiles) with a polling sweep as the fallback."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import watchfiles

from .checkpoints import disk_full
from .producer import QUIET_TAIL_NS, Producer, PublishFailed

SWEEP_INTERVAL_S = 30.0
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 15.0


def _is_transcript(_: watchfiles.Change, path: str) -> bool:
    return path.endswith(".jsonl")


OnPause = Callable[[BaseException | None], None]


class _Behind:
    """Files whose new lines the hub did not take, or whose checkpoint the full disk did not:
    retried with backoff, so a hub that comes back (or space freed) is caught up with in
    seconds, not at the next change or sweep."""

    def __init__(self, on_pause: OnPause | None = None) -> None:
        self.paths: set[Path] = set()
        self.wake = asyncio.Event()
        self.on_pause = on_pause

    async def ingest(self, producer: Producer, path: Path) -> None:
        """A hub that stays away past the retries, or a full disk, is no reason to stop
        following: the producer rewound to its last committed offset, and this file is tried
        again."""
        try:
            await producer.ingest(path, live=True)
        except (PublishFailed, sqlite3.OperationalError, OSError) as err:
            full = disk_full(err, producer.checkpoints.path.parent)
            if not isinstance(err, PublishFailed) and not full:
                raise
            self.paths.add(path)
            self.wake.set()
            if self.on_pause is not None:
                self.on_pause(err)
        else:
            if path in self.paths and self.on_pause is not None:
                self.on_pause(None)
            self.paths.discard(path)

    async def retry(self, producer: Producer, stop: asyncio.Event) -> None:
        delay = RETRY_FIRST_S
        while not stop.is_set():
            if not self.paths:
                delay = RETRY_FIRST_S
                self.wake.clear()
                await _either(stop, self.wake)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            for path in sorted(self.paths):
                if not stop.is_set():
                    await self.ingest(producer, path)
            delay = min(delay * 2, RETRY_MAX_S)


async def _either(a: asyncio.Event, b: asyncio.Event) -> None:
    waits = {asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())}
    _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


async def _sweep(producer: Producer, stop: asyncio.Event, interval: float, behind: _Behind) -> None:
    """A full pass now and then catches anything notifications missed (network filesystems)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if not stop.is_set():
            for path in producer.files():
                await behind.ingest(producer, path)


async def _quiet_tails(producer: Producer, stop: asyncio.Event, behind: _Behind) -> None:
    """Read again, once quiet, the files whose complete last line had no newline yet: no
    notification comes when a file merely stops changing."""
    while not stop.is_set():
        if not producer.held:
            producer.tails_waiting.clear()
            await _either(stop, producer.tails_waiting)
            continue
        due = min(producer.held.values()) + QUIET_TAIL_NS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(due - time.time_ns(), 0) / 1e9 + 0.05)
        now = time.time_ns()
        for path, mtime_ns in sorted(producer.held.items()):
            if not stop.is_set() and mtime_ns + QUIET_TAIL_NS <= now:
                await behind.ingest(producer, Path(path))


async def _watch(
    producer: Producer, stop: asyncio.Event, force_polling: bool | None, behind: _Behind
) -> None:
    dirs = [str(root / "projects") for root in producer.roots]
    async for changes in watchfiles.awatch(
        *dirs,
        watch_filter=_is_transcript,
        stop_event=stop,
        debounce=20,
        step=10,
        force_polling=force_polling,
        poll_delay_ms=200,
        recursive=True,
    ):
        for path in sorted({p for _, p in changes}):
            await behind.ingest(producer, Path(path))


async def follow(
    producer: Producer,
    stop: asyncio.Event,
    *,
    force_polling: bool | None = None,
    sweep_interval: float = SWEEP_INTERVAL_S,
    on_pause: OnPause | None = None,
) -> None:
    """Publish new transcript lines as they are written, until ``stop`` is set.

    Notifications and the sweep run together; if either fails, both stop and the error
    surfaces at once instead of at shutdown.
    """
    behind = _Behind(on_pause)
    async with asyncio.TaskGroup() as group:
        group.create_task(_watch(producer, stop, force_polling, behind))
        group.create_task(_sweep(producer, stop, sweep_interval, behind))
        group.create_task(behind.retry(producer, stop))
        group.create_task(_quiet_tails(producer, stop, behind))
