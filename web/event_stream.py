"""``GET /events``: Server-Sent Events fed by NATS subscriptions.

Ids: a ``usage`` or ``limit`` event carries the JetStream sequence of the facts stream as its
``id``, so a client that reconnects with ``Last-Event-ID: N`` (or ``?since=N``) gets every fact
after N, in order, through its own ordered consumer: nothing missed, nothing twice.
``heartbeat`` and ``alert`` events carry no id (heartbeats live in another stream that keeps
only the latest per machine, alerts are plain NATS messages), so they never move a client's
position; a reconnect gets every machine's latest heartbeat again.
A client too far behind (more than MAX_REPLAY facts), or ahead of the stream (it was
recreated), gets one ``reset`` event, with the current sequence as its id, and should reload
its snapshot. A client too slow to drain its queue is disconnected; it resumes by its id.
A ``usage`` event's figures are the published lines' own, before deduplication: it says what
arrived, and the read model (``/api/*``) says what counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from usagectl.processors.bus import BusSettings, stream_last_seq
from usagectl.processors.live_source import follow_heartbeats, follow_stream
from usagectl.projections.events import Heartbeat, Limit, Usage, UsageBatch, decode
from usagectl.projections.ledger import to_entry

from .sources import alert_subject

MAX_REPLAY = 5_000
QUEUE_SIZE = 4 * MAX_REPLAY  # a whole replay fits: only a stalled client overflows
KEEPALIVE_S = 15.0
EVENT_SAMPLE = 20  # a backfill batch is summed up; only its first events are listed
RETRY_MS = 2_000

_json = msgspec.json.Encoder()


@dataclass(frozen=True)
class LiveBus:
    nc: Client
    js: JetStreamContext
    bus: BusSettings


def frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One SSE message; the data is one line of JSON (msgspec never writes a newline)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + _json.encode(data) + b"\n\n"


def _usage(events: tuple[Usage, ...], seq: int) -> dict[str, Any]:
    entries = [to_entry(u) for u in events]
    return {
        "seq": seq,
        "count": len(entries),
        "totalTokens": sum(e.total_tokens for e in entries),
        "costUSD": sum(e.cost_auto for e in entries),
        "machines": sorted({e.machine for e in entries}),
        "events": [
            {
                "ts": u.ts,
                "machine": u.machine,
                "project": u.project,
                "sessionId": u.session_id,
                "model": u.model,
                "totalTokens": e.total_tokens,
                "costUSD": e.cost_auto,
            }
            for u, e in zip(events[:EVENT_SAMPLE], entries, strict=False)
        ],
    }


def fact_frame(data: bytes, seq: int) -> bytes | None:
    """A message of the facts stream as an SSE message; None for kinds the page ignores."""
    try:
        event = decode(data)
    except msgspec.DecodeError:
        return None
    if isinstance(event, UsageBatch):
        return frame("usage", _usage(event.events, seq), seq)
    if isinstance(event, Usage):
        return frame("usage", _usage((event,), seq), seq)
    if isinstance(event, Limit):
        return frame("limit", msgspec.to_builtins(event) | {"seq": seq}, seq)
    return None


class _Client:
    """One SSE client's queue; overflowing it ends the stream (the client resumes by id)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self.overflow = False

    def put(self, item: bytes | None) -> None:
        if item is None or self.overflow:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflow = True

    async def on_fact(self, msg: Msg) -> None:
        self.put(fact_frame(msg.data, msg.metadata.sequence.stream))

    async def on_heartbeat(self, msg: Msg) -> None:
        with contextlib.suppress(msgspec.DecodeError):
            beat = decode(msg.data)
            if isinstance(beat, Heartbeat):
                self.put(frame("heartbeat", msgspec.to_builtins(beat)))

    async def on_alert(self, msg: Msg) -> None:
        try:
            data = msgspec.json.decode(msg.data)
        except msgspec.DecodeError:
            data = {"message": msg.data.decode(errors="replace")}
        self.put(frame("alert", data))


async def start_position(live: LiveBus, after: int | None) -> tuple[int, bytes | None]:
    """Where a client's facts start (the sequence before the first one it gets) and the
    ``reset`` it must be sent first, if any."""
    last = await stream_last_seq(live.js, live.bus)
    if after is None:
        return last, None
    if after > last or last - after > MAX_REPLAY:
        reason = "ahead of the stream" if after > last else "too far behind"
        return last, frame("reset", {"seq": last, "reason": reason}, last)
    return after, None


async def stream(
    live: LiveBus,
    start: int,
    reset: bytes | None,
    stopping: Callable[[], bool],
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """The SSE body: facts after ``start``, heartbeats, alerts, and a comment line every
    KEEPALIVE_S; it ends when the client goes, the server stops or the client falls behind."""
    client = _Client()
    subs: list[Any] = []
    try:
        try:
            subs.append(await follow_stream(live.js, live.bus, start, client.on_fact))
            subs.append(await follow_heartbeats(live.js, live.bus, client.on_heartbeat))
            subs.append(await live.nc.subscribe(alert_subject(live.bus.prefix), cb=client.on_alert))
        except (TimeoutError, nats.errors.Error) as err:
            # The response has started: say why in the stream; the client retries.
            yield frame("error", {"error": f"the hub is unavailable: {err}"})
            return
        yield f"retry: {RETRY_MS}\n\n".encode()
        if reset is not None:
            yield reset
        yield frame("hello", {"from": start + 1})
        quiet_since = time.monotonic()
        while not stopping() and not client.overflow:
            try:
                item = await asyncio.wait_for(client.queue.get(), 0.5)
            except TimeoutError:
                if await disconnected():
                    return
                if time.monotonic() - quiet_since >= KEEPALIVE_S:
                    quiet_since = time.monotonic()
                    yield b": keepalive\n\n"
                continue
            quiet_since = time.monotonic()
            yield item
    finally:
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
