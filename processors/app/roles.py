"""Wiring for the long-running commands: the hub, this machine's producer and the processor."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nats.errors
from usagectl.processors import history
from usagectl.processors.archive import ArchiveCounts, ArchiveResult, apply_archive, archive
from usagectl.processors.bus import (
    BusUnavailable,
    delete_durable,
    may_publish_as,
    stream_identity,
)
from usagectl.processors.consumer_check import ConsumerTampered
from usagectl.processors.hubguard import Guard
from usagectl.processors.machinestore import keep_machines, record_now
from usagectl.processors.processor import (
    Processor,
)
from usagectl.producers.checkpoints import Checkpoints
from usagectl.producers.discovery import claude_roots
from usagectl.producers.file_watch import follow
from usagectl.producers.heartbeat import beat, beat_once
from usagectl.producers.plan_scanner import PlanScanner
from usagectl.producers.producer import Producer, SyncStats
from usagectl.producers.spool import drain, drain_forever

from .consumer_children import ConsumerChildren
from .hub_session import Hub, hub, stop_when_orphaned, until_done
from .locks import Busy, exclusive
from .processor_child import ProcessorChild
from .settings import Settings
from .supervise import Pauses, keep_hub, retrying
from .zones import local_zone

POLL_S = 0.2


def _checkpoints(settings: Settings) -> Checkpoints:
    checkpoints = Checkpoints(settings.producer_db)
    if checkpoints.recovered:
        print(f"usagectl: {checkpoints.recovered}", file=sys.stderr, flush=True)
    return checkpoints


async def make_producer(settings: Settings, h: Hub, checkpoints: Checkpoints) -> Producer:
    roots = claude_roots(settings.claude_config_dir, settings.user_home, settings.xdg_config_home)
    await may_publish_as(h.nc, h.bus, settings.machine)  # a hub's permissions: fail plainly
    # The producer does not trust its offsets over the stream (see Checkpoints.trust).
    checkpoints.trust(*await stream_identity(h.js, h.bus))
    return Producer(h.js, h.bus.prefix, roots, settings.machine, settings.account, checkpoints)


def make_plan_scanner(settings: Settings, h: Hub) -> PlanScanner:
    return PlanScanner(
        h.js, h.bus.prefix, settings.machine, settings.account, settings.plans, settings.plans_state
    )


async def run_sync(
    settings: Settings, on_progress: Callable[[SyncStats], None] | None = None
) -> SyncStats:
    """Publish what is new (unless `up` already follows these transcripts) while a processor
    child applies the stream, then wait until the read model holds everything the stream had
    when publishing ended."""
    consumers = ConsumerChildren(settings)  # a bad [consumers] or [alerts] fails here, first
    async with hub(settings) as h:
        child = ProcessorChild(settings, h.bus.url)
        child.start()
        consumers.start(h.bus.url)
        try:
            with contextlib.ExitStack() as stack:
                producer: Producer | None = None
                try:
                    stack.enter_context(exclusive(settings.home, "producer"))
                    checkpoints = _checkpoints(settings)
                    stack.callback(checkpoints.close)
                    producer = await make_producer(settings, h, checkpoints)
                    producer.on_progress = on_progress
                    await drain(h.js, h.bus.prefix, settings.home)  # statusline and hook spools
                    await producer.sync_all(tails_at_once=True)
                    await make_plan_scanner(settings, h).scan()
                except Busy:
                    pass
                stream, target = await stream_identity(h.js, h.bus)
                await child.wait_until(target)
                await consumers.wait_until(target, stream)
                if producer is not None:
                    last = await beat_once(h.js, h.bus.prefix, producer)
                    await asyncio.to_thread(record_now, settings.db_path, last)
        finally:
            await asyncio.to_thread(consumers.stop)
            await asyncio.to_thread(child.stop)
    return producer.stats if producer is not None else SyncStats()


async def run_up(
    settings: Settings,
    stop: asyncio.Event,
    on_progress: Callable[[SyncStats], None] | None = None,
    on_ready: Callable[[Producer], None] | None = None,
) -> None:
    """Backfill, then follow transcripts live while a processor child keeps the read model
    current, until stopped."""
    from .otlp_role import otlp_receiver

    consumers = ConsumerChildren(settings)
    async with hub(settings, service=True) as h, otlp_receiver(settings, h.js, h.bus.prefix, stop):
        checkpoints = _checkpoints(settings)
        child = ProcessorChild(settings, h.bus.url)
        try:
            with exclusive(settings.home, "producer"):
                producer = await make_producer(settings, h, checkpoints)
                producer.on_progress = on_progress
                child.start()
                consumers.start(h.bus.url)
                side = asyncio.create_task(child.watch(stop))
                keeper = asyncio.create_task(consumers.supervise(stop))
                hub_keeper = asyncio.create_task(keep_hub(settings.home, h, stop))
                pauses = Pauses()
                # What the statusline and the hooks spooled goes out as it arrives.
                spool = asyncio.create_task(drain_forever(h.js, h.bus.prefix, settings.home, stop))
                heart = asyncio.create_task(beat(h.js, h.bus.prefix, producer, stop))
                plans = asyncio.create_task(make_plan_scanner(settings, h).follow(stop))

                async def backfill() -> None:
                    await producer.sync_all(stop)

                async def produce() -> None:
                    await retrying(backfill, stop, settings.home, pauses)
                    if stop.is_set():
                        return
                    if on_ready is not None:
                        on_ready(producer)
                    await follow(producer, stop, on_pause=pauses.on_pause(settings.home))

                try:
                    await until_done(asyncio.create_task(produce()), side, stop)
                    await side
                finally:
                    for task in (spool, heart, plans, keeper, hub_keeper):
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
        finally:
            await asyncio.to_thread(consumers.stop)
            await asyncio.to_thread(child.stop)
            checkpoints.close()


async def run_processor(settings: Settings, stop: asyncio.Event, parent: int | None = None) -> None:
    """The processor alone: apply the stream to the read model until stopped (or, as a child,
    until its parent is gone: a killed `sync` must not leave an orphan holding the role).

    Run on its own (a hub machine's service), it also runs the enabled consumers (alerts), as
    `up` does; as a child of `up` or `sync` it leaves them to its parent. The hub admin's
    (``hub.serve_guard``) also vets every machine's JetStream requests (`hubguard`)."""
    consumers = ConsumerChildren(settings) if parent is None else None
    async with hub(settings, service=True) as h:
        with exclusive(settings.home, "processor"):
            guard = Guard(h.nc, h.bus) if settings.serve_guard else None
            if guard is not None:
                await guard.start()
            watchdog = asyncio.create_task(stop_when_orphaned(parent, stop))
            ready = asyncio.Event()
            machines = asyncio.create_task(
                keep_machines(h.js, h.bus, settings.db_path, stop, ready)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 3)
            keeper = None
            if consumers is not None:
                consumers.start(h.bus.url)
                keeper = asyncio.create_task(consumers.supervise(stop))
            try:
                await _keep_processing(h, settings, stop)
            finally:
                watchdog.cancel()
                stop.set()
                if guard is not None:
                    with contextlib.suppress(nats.errors.Error):
                        await guard.stop()
                await asyncio.gather(machines, return_exceptions=True)
                if keeper is not None and consumers is not None:
                    keeper.cancel()
                    await asyncio.gather(keeper, return_exceptions=True)
                    await asyncio.to_thread(consumers.stop)


def _report_zones() -> tuple[str, ...]:
    """The zones whose day rows the processor keeps: UTC, and this machine's own (the zone
    `daily` uses when none is given)."""
    own = local_zone().key  # None for a zone read from a file that names none
    return tuple(sorted({"UTC", own} if own else {"UTC"}))


async def _keep_processing(h: Hub, settings: Settings, stop: asyncio.Event) -> None:
    """A cluster electing a leader answers "no responders", or nothing, for a few seconds:
    the processor starts over from its read model's cursor instead of failing. Refusals and
    anything that is not the hub's silence still end it."""
    delay = 0.5
    while True:
        try:
            await Processor(h.js, h.bus, settings.db_path, zones=_report_zones()).run(stop)
            return
        except BusUnavailable:
            raise
        except ConsumerTampered as err:  # made again from the read model's cursor
            print(f"usagectl: {err}", file=sys.stderr, flush=True)
            delay = 0.5
        except (TimeoutError, nats.errors.Error) as err:
            if stop.is_set():
                return
            print(
                f"usagectl: the hub did not answer ({type(err).__name__}); the processor "
                f"starts again in {delay:g} s",
                file=sys.stderr,
                flush=True,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 8)


@dataclass
class Replayed:
    events: int
    archive: ArchiveCounts | None
    purged_gap: int  # stream messages gone (purged, aged out) and not in the archive
    lost: dict[str, int]  # what the replaced read model had and this one lacks (--force)
    replaced_unreadable: str = ""  # the replaced model could not be read: why


class ReplayRefused(Exception):
    user_facing = True


async def run_replay(
    settings: Settings,
    archive: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Replayed:
    """Rebuild the read model from the stream (after an archive, if given) into a new file,
    then swap it in atomically, unless it holds less history than the current one (``force``
    swaps it in anyway). ``on_progress(seq, target)`` after each applied batch."""
    async with hub(settings) as h:
        with exclusive(settings.home, "processor"):
            stream_id, target = await stream_identity(h.js, h.bus)
            fresh = settings.db_path.with_name(f"{settings.db_path.name}.replay-{os.getpid()}")
            await asyncio.to_thread(_remove_db, fresh)
            archived, counts = 0, None
            if archive is not None:
                archived, counts = await apply_archive(fresh, archive, stream_id)
            stop = asyncio.Event()
            processor = Processor(h.js, h.bus, fresh, durable="replay", zones=_report_zones())
            if on_progress is not None:
                processor.on_batch = lambda p: on_progress(p.seq, target)
            task = asyncio.create_task(processor.run(stop))
            try:
                await until_done(asyncio.create_task(processor.wait_until(target)), task, stop)
            finally:
                stop.set()
                await asyncio.gather(task, return_exceptions=True)
            with contextlib.suppress(Exception):
                await delete_durable(h.js, h.bus, "replay")
            lost, unreadable = await asyncio.to_thread(_lost, fresh, settings.db_path)
            if lost and not force:
                await asyncio.to_thread(_remove_db, fresh)
                raise ReplayRefused(_refusal(lost, processor.progress.purged_gap, counts))
            await asyncio.to_thread(_swap_in, fresh, settings.db_path)
            events = archived + processor.progress.events
            return Replayed(events, counts, processor.progress.purged_gap, lost, unreadable)


def _lost(fresh: Path, current: Path) -> tuple[dict[str, int], str]:
    try:
        return history.lost(fresh, current), ""
    except history.CurrentUnreadable as err:
        return {}, str(err)


def _refusal(lost: dict[str, int], gap: int, counts: ArchiveCounts | None) -> str:
    what = ", ".join(f"{n:,} {kind}" for kind, n in lost.items())
    why = (
        f"{gap:,} older messages are no longer in the stream"
        if gap
        else "the stream holds less than it did"
    )
    if counts is not None and counts.truncated_files:
        why += f"; truncated archive files: {', '.join(counts.truncated_files)}"
    hint = "add --from-archive DIR, or " if counts is None else ""
    return (
        f"replay refused: the rebuilt read model would lose {what} the current one has "
        f"({why}); the current one is kept: {hint}--force to replace it anyway"
    )


async def run_archive(
    settings: Settings, directory: Path, cutoff: datetime, purge: bool
) -> ArchiveResult:
    """Copy stream history older than ``cutoff`` into day files; optionally drop it from the
    stream once it is safely on disk."""
    async with hub(settings) as h:
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        return await archive(h.js, h.bus, directory, cutoff, purge)


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _swap_in(fresh: Path, target: Path) -> None:
    import sqlite3

    # A stale WAL beside the old file would be replayed onto the new one: fold it in first.
    conn = sqlite3.connect(fresh)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(fresh, target)
