"""Runs one consumer: what processor.py does for the read model, for anyone's tables.

Per fetched batch ONE transaction in the consumer's own file applies the batch and records the
last stream sequence; the ack follows the commit; a batch redelivered after a crash is
recognised by its sequence and skipped. When the stream has nothing more for the consumer, its
cursor moves to the stream's end (the kinds it does not read count as read), so "caught up"
means the same for every consumer. A stop finishes the batch in hand, then the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from usagectl.projections.events import Event, Heartbeat, UsageBatch, decode, encode_token

from .bus import BusSettings, ack_sync, pull_from, resume_seq, stream_identity
from .consumers import (
    Batch,
    Consumer,
    ConsumerError,
    Context,
    Service,
    connect_db,
    read_tracking,
    reset_for_replay,
    transaction,
    write_tracking,
)
from .processor import _fetch_or_stop

T = TypeVar("T")
SERVICE_STOP_S = 15.0
PROBE_EVERY_S = 0.5
WAIT_NOTE_S = 10.0


def durable_name(name: str, machine: str) -> str:
    """One durable per consumer and data directory (machine): consumers of the same name on
    two machines sharing a hub never move each other's cursor."""
    return f"consumer-{name}-{encode_token(machine)}"


def _now_ms() -> int:
    return int(time.time() * 1000)


def log(name: str, message: str) -> None:
    print(f"usagectl {name}: {message}", file=sys.stderr, flush=True)


class Runner:
    def __init__(
        self, consumer: Consumer, ctx: Context, nc: Client, js: JetStreamContext, bus: BusSettings
    ) -> None:
        self.consumer, self.ctx, self.nc, self.js, self.bus = consumer, ctx, nc, js, bus
        self.seq = 0
        self.replay_until = 0
        self.stream_id = ""
        self.events = 0
        self.undecodable = 0
        self.committed = asyncio.Event()
        self._advanced = asyncio.Condition()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"consumer-{consumer.name}")
        self._conn: sqlite3.Connection | None = None

    async def _call(self, fn: Callable[[], T]) -> T:
        """Every use of the connection runs on the one thread that opened it, one at a time."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def db(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """``fn`` in its own transaction, serialised with the batches (for the service)."""
        conn = self._conn
        assert conn is not None
        return await self._call(lambda: transaction(conn, fn))

    async def run(self, stop: asyncio.Event) -> None:
        self._conn = await self._call(lambda: connect_db(self.ctx.db_path, self.consumer))
        service_stop = asyncio.Event()
        service: asyncio.Task[None] | None = None
        try:
            await self._resume()
            sub = await self._subscribe(self.seq + 1)
            if self.consumer.service is not None:
                svc = Service(
                    self.ctx, service_stop, self.committed, self.nc, self.js, self.bus, self.db
                )
                service = asyncio.create_task(self.consumer.service(svc))
            try:
                await self._consume(sub, stop, service)
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        finally:
            service_stop.set()
            if service is not None:
                await self._stop_service(service)
            conn, self._conn = self._conn, None
            await self._call(conn.close)
            self._executor.shutdown(wait=True)

    async def _stop_service(self, service: asyncio.Task[None]) -> None:
        done, _ = await asyncio.wait({service}, timeout=SERVICE_STOP_S)
        if not done:
            service.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await service
        elif not service.cancelled() and service.exception() is not None:
            log(self.consumer.name, f"service failed: {service.exception()}")

    async def _resume(self) -> None:
        """The tracking row, unless the stream was recreated (a hub that lost its store: its
        sequences restart and producers publish their history again). Then the consumer is
        rebuilt like a replay: its tables dropped, the new stream read from the start, nothing
        it already sent sent again."""
        stream, end = await stream_identity(self.js, self.bus)
        conn, consumer = self._conn, self.consumer
        assert conn is not None
        tracked = await self._call(lambda: read_tracking(conn, consumer.name))
        if tracked.stream_id not in ("", stream):
            log(consumer.name, "the stream was recreated: rebuilding from its start")
            await self._call(lambda: reset_for_replay(conn, consumer, end, _now_ms()))
            tracked = await self._call(lambda: read_tracking(conn, consumer.name))
        self.stream_id, self.replay_until = stream, tracked.replay_until
        self.seq, gap = await resume_seq(self.js, self.bus, tracked.seq)
        if gap:  # purged before we read them: the cursor moves past, so `sync` stops waiting
            log(consumer.name, f"{gap:,} messages left the stream before it read them")
            seq, now = self.seq, _now_ms()

            def past_gap(c: sqlite3.Connection) -> None:
                write_tracking(c, consumer.name, seq, stream, now)

            await self._call(lambda: transaction(conn, past_gap))

    async def _subscribe(self, start: int) -> JetStreamContext.PullSubscription:
        durable = durable_name(self.consumer.name, self.ctx.machine)
        subjects = [f"{self.bus.prefix}.v1.{k}.>" for k in self.consumer.subjects]
        return await pull_from(self.js, self.bus, durable, start, subjects=subjects, named=True)

    async def _consume(
        self,
        sub: JetStreamContext.PullSubscription,
        stop: asyncio.Event,
        service: asyncio.Task[None] | None,
    ) -> None:
        every = self.consumer.tick_every_s
        next_tick = time.monotonic()
        end, probed = None, 0.0
        while not stop.is_set():
            if service is not None and service.done():
                service.result()
                raise RuntimeError("the consumer's service stopped")
            try:
                # The stream's end, read BEFORE a fetch: if that fetch finds nothing, everything
                # of ours up to that end has been applied (read at most twice a second).
                if end is None or time.monotonic() - probed > PROBE_EVERY_S:
                    end, probed = (await stream_identity(self.js, self.bus))[1], time.monotonic()
                msgs = await _fetch_or_stop(sub, stop)
            except (nats.errors.Error, OSError) as err:
                log(self.consumer.name, f"hub: {err or type(err).__name__}; retrying")
                await _sleep(stop, 1.0)
                continue
            if msgs:
                await self._apply(msgs, stop)
            elif end > self.seq and not stop.is_set():
                await self._advance(end)
            if every and time.monotonic() >= next_tick and not stop.is_set():
                next_tick = time.monotonic() + every
                await self._tick()

    def _decode(self, msgs: list[Msg]) -> tuple[list[Event], int, int]:
        events: list[Event] = []
        first, last = 0, self.seq
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            if seq <= self.seq:
                continue
            first, last = first or seq, max(last, seq)
            try:
                event = decode(msg.data)
            except msgspec.DecodeError:
                self.undecodable += 1  # never retried forever; counted
                continue
            if isinstance(event, UsageBatch):
                events.extend(event.events)
            elif not isinstance(event, Heartbeat):
                events.append(event)
        return events, first, last

    async def _apply(self, msgs: list[Msg], stop: asyncio.Event) -> None:
        events, first, last = self._decode(msgs)
        if last > self.seq:
            if not await self._ready(last, stop):
                return  # stopping: unacked, so it comes again to the next run
            batch = await self._prepared(
                Batch(
                    tuple(events),
                    first,
                    last,
                    datetime.now(UTC),
                    replaying=first <= self.replay_until,
                )
            )
            name, stream_id, apply = self.consumer.name, self.stream_id, self.consumer.apply

            def unit(conn: sqlite3.Connection) -> None:
                _guarded(apply, conn, batch, name)
                write_tracking(conn, name, last, stream_id, _now_ms())

            await self.db(unit)
            self.events += len(events)
            await self._moved(last)
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            await ack_sync(msgs[-1], self.bus)  # a lost ack: a redelivery we will skip

    async def _ready(self, seq: int, stop: asyncio.Event) -> bool:
        ready = self.consumer.ready
        if ready is None:
            return True
        started, noted = time.monotonic(), False
        while not stop.is_set():
            if await asyncio.to_thread(ready, seq):
                return True
            if not noted and time.monotonic() - started > WAIT_NOTE_S:
                noted = True
                log(self.consumer.name, f"waiting for the read model to reach stream seq {seq}")
            await _sleep(stop, 0.1)
        return False

    async def _prepared(self, batch: Batch) -> Batch:
        prepare = self.consumer.prepare
        if prepare is None:
            return batch
        name = self.consumer.name
        try:
            result = await asyncio.to_thread(prepare, batch)
        except Exception as err:
            what = "its timer" if batch.timer else f"stream seq {batch.first_seq}-{batch.last_seq}"
            raise ConsumerError(
                f"the {name} consumer failed to prepare {what}: {type(err).__name__}: {err}"
            ) from err
        return dataclasses.replace(batch, prepared=result)

    async def _advance(self, end: int) -> None:
        name, stream_id = self.consumer.name, self.stream_id
        await self.db(lambda c: write_tracking(c, name, end, stream_id, _now_ms()))
        await self._moved(end)

    async def _tick(self) -> None:
        replaying = self.seq < self.replay_until
        timer = Batch((), self.seq, self.seq, datetime.now(UTC), replaying, timer=True)
        batch = await self._prepared(timer)
        apply, name = self.consumer.apply, self.consumer.name
        await self.db(lambda c: _guarded(apply, c, batch, name))
        self.committed.set()

    async def _moved(self, seq: int) -> None:
        self.seq = seq
        self.committed.set()
        async with self._advanced:
            self._advanced.notify_all()

    async def wait_until(self, seq: int) -> None:
        """Return once everything up to stream sequence ``seq`` is applied."""
        async with self._advanced:
            await self._advanced.wait_for(lambda: self.seq >= seq)


def _guarded(
    apply: Callable[[sqlite3.Connection, Batch], None],
    conn: sqlite3.Connection,
    batch: Batch,
    name: str,
) -> None:
    """A consumer's own failure stops it with one line naming the batch (it is not skipped:
    the batch comes again to the next run)."""
    try:
        apply(conn, batch)
    except Exception as err:
        what = "its timer" if batch.timer else f"stream seq {batch.first_seq}-{batch.last_seq}"
        raise ConsumerError(
            f"the {name} consumer failed on {what}: {type(err).__name__}: {err}"
        ) from err


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
