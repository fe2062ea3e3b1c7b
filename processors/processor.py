"""The processor: a thin shell that fetches batches, feeds the pure folds and persists.

Per fetched batch: ONE SQLite transaction applies every event and records the last stream
sequence; the ack follows the commit. A batch redelivered after a crash is recognised by its
sequence and skipped, so the effect is exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiosqlite
import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import ServiceUnavailableError
from usagectl.projections.blocks import DEFAULT_SESSION_HOURS, session_ms
from usagectl.projections.events import (
    Hook,
    Limit,
    Plan,
    Usage,
    UsageBatch,
    decode,
    decode_token,
    implausible,
)

from . import poison
from .bus import (
    BusSettings,
    ack_sync,
    fact_subjects,
    from_its_machine,
    pull_from,
    resume_seq,
    stream_identity,
)
from .consumer_check import CHECK_EVERY_S, ConsumerTampered, changed, tampered_line
from .poison import Poison
from .schema import CONSUMER
from .store import apply_batch, last_seq, open_store, refresh, tracked_stream
from .zonestore import add_zones

FETCH_BATCH = 64
IDLE_WAIT_S = 0.2
# Blocks are rescanned from the earliest change, and backfill arrives in file order, not time
# order: refreshing after every batch would rescan history again and again. Reports rescan a
# dirty tail themselves, so the stored blocks may lag while the stream is busy.
BLOCK_REFRESH_EVERY_S = 5.0
REFRESH_SHARE = 10  # while busy, wait this many times the last refresh's duration


@dataclass
class Progress:
    seq: int = 0
    events: int = 0
    undecodable: int = 0
    purged_gap: int = 0  # stream messages gone before this read model applied them
    misattributed: int = 0  # events naming another machine than their subject's
    refused: int = 0  # events recorded as poison and skipped


@dataclass
class _Batch:
    usages: list[Usage]
    limits: list[Limit]
    hooks: list[Hook]
    plans: list[Plan]
    seq: int
    poison: list[Poison] = field(default_factory=list)


Item = tuple[int, str, bytes]  # stream sequence, subject, payload


def decode_batch(items: Iterable[Item], after: int, progress: Progress) -> _Batch:
    """Decode (stream sequence, subject, payload) after ``after`` into one batch by kind;
    what cannot be read or believed goes to ``poison`` with its sequence and why."""
    b = _Batch([], [], [], [], after)
    usages, limits, hooks, plans = b.usages, b.limits, b.hooks, b.plans
    for msg_seq, msg_subject, data in items:
        if msg_seq <= after:
            continue
        b.seq = max(b.seq, msg_seq)
        machine = decode_token(msg_subject.rsplit(".", 1)[-1])
        try:
            event = decode(data)
        except msgspec.DecodeError as err:
            # A message no version of us can read is recorded, never retried forever.
            progress.undecodable += 1
            b.poison.append(Poison(msg_seq, "", machine, f"undecodable: {err}"[:300]))
            continue
        if not from_its_machine(msg_subject, event):
            progress.misattributed += 1
            b.poison.append(Poison(msg_seq, "", machine, "names another machine than its subject"))
            continue
        if isinstance(event, UsageBatch):
            usages.extend(_plausible(event.events, msg_seq, machine, b.poison))
        elif isinstance(event, Usage):
            usages.extend(_plausible((event,), msg_seq, machine, b.poison))
        elif isinstance(event, Limit):
            limits.append(event)
        elif isinstance(event, Hook):
            hooks.append(event)
        elif isinstance(event, Plan):
            plans.append(event)
    return b


def _plausible(
    events: Iterable[Usage], seq: int, machine: str, refused: list[Poison]
) -> Iterator[Usage]:
    # Checked here as well as in the producer: anyone allowed to publish can bypass it.
    for e in events:
        why = implausible(e)
        if why is None:
            yield e
        else:
            refused.append(Poison(seq, e.event_id, machine, why))


async def apply_items(
    db: aiosqlite.Connection,
    items: list[Item],
    after: int,
    progress: Progress,
    stream_id: str | None,
) -> int:
    """Apply the messages after ``after`` in one transaction and return the new cursor; an
    event that cannot be applied is recorded as poison and skipped. ``stream_id`` None: the
    messages come from another stream (an old archive), so no cursor is recorded."""
    b = decode_batch(items, after, progress)
    if b.seq <= after:
        return after
    await _refuse(db, b.poison, progress)
    try:
        await _store(db, b, b.seq, stream_id)
    except Exception as err:
        if not poison.is_poison(err):
            raise
        for item in items:
            if item[0] > after:
                await _apply_alone(db, item, progress, stream_id)
    else:
        progress.events += len(b.usages)
    return b.seq


async def _store(db: aiosqlite.Connection, b: _Batch, seq: int, stream_id: str | None) -> None:
    cursor, stream = (seq, stream_id) if stream_id is not None else (0, "")
    await apply_batch(db, CONSUMER, b.usages, cursor, stream, b.limits, b.hooks, b.plans)


async def _apply_alone(
    db: aiosqlite.Connection, item: Item, progress: Progress, stream_id: str | None
) -> None:
    """One message of a batch that failed; if it fails too, its events one by one. The cursor
    stays before the message until its last event is in: events are idempotent in the read
    model, so a crash in between only applies some of them again."""
    seq, subject_, _ = item
    b = decode_batch([item], seq - 1, Progress())  # its poison is recorded already
    try:
        await _store(db, b, seq, stream_id)
        progress.events += len(b.usages)
        return
    except Exception as err:
        if not poison.is_poison(err):
            raise
    machine = decode_token(subject_.rsplit(".", 1)[-1])
    singles: list[tuple[str, _Batch]] = [
        (u.event_id, _Batch([u], [], [], [], seq)) for u in b.usages
    ]
    singles += [(e.event_id, _Batch([], [e], [], [], seq)) for e in b.limits]
    singles += [(e.event_id, _Batch([], [], [e], [], seq)) for e in b.hooks]
    singles += [(e.event_id, _Batch([], [], [], [e], seq)) for e in b.plans]
    for event_id, one in singles:
        try:
            await _store(db, one, seq - 1, stream_id)
            progress.events += len(one.usages)
        except Exception as err:
            if not poison.is_poison(err):
                raise
            await _refuse(db, [Poison(seq, event_id, machine, poison.describe(err))], progress)
    await _store(db, _Batch([], [], [], [], seq), seq, stream_id)


async def _refuse(db: aiosqlite.Connection, items: list[Poison], progress: Progress) -> None:
    if items:
        await poison.record(db, items)
        progress.refused += len(items)
        first, last = items[0], items[-1]
        where = f"{first.seq}" if first.seq == last.seq else f"{first.seq}-{last.seq}"
        print(
            f"usagectl processor: {len(items)} event(s) refused at stream seq {where} "
            f"({last.reason}); skipped, listed by `usagectl doctor`",
            file=sys.stderr,
            flush=True,
        )


async def _fetch_or_stop(sub: JetStreamContext.PullSubscription, stop: asyncio.Event) -> list[Msg]:
    """The next batch, or nothing once ``stop`` is set: shutting down never waits out a fetch.

    Messages a cancelled fetch had already received are unacked, so they come again to the
    next run, which starts from the read model's own cursor anyway.
    """
    fetch = asyncio.ensure_future(sub.fetch(FETCH_BATCH, timeout=IDLE_WAIT_S))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not fetch.done():
        fetch.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError, nats.errors.TimeoutError):
            await fetch
        return []
    try:
        return fetch.result()
    except (TimeoutError, nats.errors.TimeoutError):
        # nats-py raises its own TimeoutError, or a bare asyncio one when the deadline ran out
        # between its two pull requests (seen under load): both only mean "nothing yet".
        return []
    except (ServiceUnavailableError, nats.errors.NoRespondersError):
        # A cluster electing a new leader for the stream or the consumer answers "no
        # responders" for a few seconds: wait, and ask again.
        await asyncio.sleep(IDLE_WAIT_S)
        return []


class Processor:
    def __init__(
        self,
        js: JetStreamContext,
        settings: BusSettings,
        db_path: Path,
        durable: str = CONSUMER,
        zones: tuple[str, ...] = ("UTC",),
    ) -> None:
        self.js = js
        self.zones = zones
        self.durable = durable
        self.settings = settings
        self.db_path = db_path
        self.progress = Progress()
        self.length_ms = session_ms(DEFAULT_SESSION_HOURS)
        self._advanced = asyncio.Condition()
        self.on_batch: Callable[[Progress], None] | None = None
        self.stream_id = ""

    async def run(self, stop: asyncio.Event) -> None:
        db = await open_store(self.db_path)
        try:
            await add_zones(db, self.zones)
            await self._loop(db, stop)
        finally:
            await db.close()

    async def _loop(self, db: aiosqlite.Connection, stop: asyncio.Event) -> None:
        self.progress.seq = await self._resume_from(db)
        if self.progress.purged_gap:  # the cursor moves past what left the stream unread
            await apply_batch(db, CONSUMER, [], self.progress.seq, self.stream_id)
        sub = await pull_from(self.js, self.settings, self.durable, self.progress.seq + 1)
        dirty = True
        try:
            await self._consume(db, sub, stop, dirty)
        finally:
            await sub.unsubscribe()

    async def _consume(
        self,
        db: aiosqlite.Connection,
        sub: JetStreamContext.PullSubscription,
        stop: asyncio.Event,
        dirty: bool,
    ) -> None:
        refreshed = checked = time.monotonic()
        spacing = BLOCK_REFRESH_EVERY_S
        while not stop.is_set():
            if time.monotonic() - checked > CHECK_EVERY_S:
                checked = time.monotonic()
                await self._check_consumer()
            msgs = await _fetch_or_stop(sub, stop)
            if msgs:
                await self._apply(db, msgs)
                dirty = True
            idle = not msgs or time.monotonic() - refreshed > spacing
            if dirty and len(msgs) < FETCH_BATCH and idle:
                started = time.monotonic()
                await refresh(db, self.length_ms)
                refreshed = time.monotonic()
                # A backfill in file order dirties history from its start, so each refresh
                # while busy rescans more: spaced by its own cost, it stays a tenth of the work.
                spacing = max(BLOCK_REFRESH_EVERY_S, REFRESH_SHARE * (refreshed - started))
                dirty = False
                await self._notify()

    async def _check_consumer(self) -> None:
        """Our durable as we made it, or a restart that makes it again (the caller's)."""
        name = self.settings.durable(self.durable)
        try:
            what = await changed(self.js, self.settings, name, fact_subjects(self.settings.prefix))
        except (TimeoutError, nats.errors.Error):
            return  # a hub that does not answer now is the fetch's business
        if what is not None:
            raise ConsumerTampered(tampered_line(name, what))

    async def _resume_from(self, db: aiosqlite.Connection) -> int:
        """Where to continue: the tracking row, unless the stream itself was recreated.

        A hub that lost its store starts numbering again; its producers resend what they have.
        Sequences then mean nothing, so everything is applied again: each event is idempotent
        in the ledger, and the history already in the read model is kept.
        """
        stream, _ = await stream_identity(self.js, self.settings)
        seq, known = await last_seq(db, CONSUMER), await tracked_stream(db, CONSUMER)
        if known is not None and known != stream:
            seq = 0
        self.stream_id = stream
        seq, self.progress.purged_gap = await resume_seq(self.js, self.settings, seq)
        return seq

    async def _apply(self, db: aiosqlite.Connection, msgs: list[Msg]) -> None:
        items = [(m.metadata.sequence.stream, m.subject, m.data) for m in msgs]
        self.progress.seq = await apply_items(
            db, items, self.progress.seq, self.progress, self.stream_id
        )
        # Committed already: an ack lost to a leader election is covered by the next batch's
        # (AckPolicy.ALL), and a redelivery is skipped by its sequence.
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            await ack_sync(msgs[-1], self.settings)
        if self.on_batch is not None:
            self.on_batch(self.progress)

    async def _notify(self) -> None:
        async with self._advanced:
            self._advanced.notify_all()

    async def wait_until(self, seq: int) -> None:
        """Return once the read model holds everything up to stream sequence ``seq``."""
        async with self._advanced:
            await self._advanced.wait_for(lambda: self.progress.seq >= seq)
