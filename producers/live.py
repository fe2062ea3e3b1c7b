"""Live tailing: file-system notifications (watchfiles) with a polling sweep as the fallback."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import watchfiles

from .producer import Producer, PublishFailed

SWEEP_INTERVAL_S = 30.0


def _is_transcript(_: watchfiles.Change, path: str) -> bool:
    return path.endswith(".jsonl")


async def _ingest(producer: Producer, path: Path) -> None:
    """A hub that stays away past the retries is no reason to stop following: the producer
    rewound to its last acknowledged offset, and the next change or sweep tries again."""
    with contextlib.suppress(PublishFailed):
        await producer.ingest(path, live=True)


async def _sweep(producer: Producer, stop: asyncio.Event, interval: float) -> None:
    """A full pass now and then catches anything notifications missed (network filesystems)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if not stop.is_set():
            for path in producer.files():
                await _ingest(producer, path)


async def _watch(producer: Producer, stop: asyncio.Event, force_polling: bool | None) -> None:
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
            await _ingest(producer, Path(path))


async def follow(
    producer: Producer,
    stop: asyncio.Event,
    *,
    force_polling: bool | None = None,
    sweep_interval: float = SWEEP_INTERVAL_S,
) -> None:
    """Publish new transcript lines as they are written, until ``stop`` is set.

    Notifications and the sweep run together; if either fails, both stop and the error
    surfaces at once instead of at shutdown.
    """
    async with asyncio.TaskGroup() as group:
        group.create_task(_watch(producer, stop, force_polling))
        group.create_task(_sweep(producer, stop, sweep_interval))
