"""The machines read model: each producer's latest heartbeat, kept beside the facts.

Heartbeats live in a stream that keeps only the newest per machine, so this table is a cache
of that stream: an upsert that never lets an older beat replace a newer one, rebuilt by simply
reading the stream again (no tracking row needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import aiosqlite
import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from usagectl.projections.events import Heartbeat, decode

from .bus import BusSettings
from .live_source import follow_heartbeats

_UPSERT = """
INSERT INTO machines (machine, ts_ms, version, roots, files, lag_bytes, rejected)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (machine) DO UPDATE SET
    ts_ms = excluded.ts_ms, version = excluded.version, roots = excluded.roots,
    files = excluded.files, lag_bytes = excluded.lag_bytes, rejected = excluded.rejected
WHERE excluded.ts_ms >= machines.ts_ms
"""


# What each machine's producer could not read, beside its beat (a table of its own: read
# models built before it simply lack it).
UNREADABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS machine_unreadable (machine TEXT PRIMARY KEY, "
    "ts_ms INTEGER NOT NULL, unreadable TEXT NOT NULL) WITHOUT ROWID"
)
_UPSERT_UNREADABLE = """
INSERT INTO machine_unreadable (machine, ts_ms, unreadable) VALUES (?, ?, ?)
ON CONFLICT (machine) DO UPDATE SET ts_ms = excluded.ts_ms, unreadable = excluded.unreadable
WHERE excluded.ts_ms >= machine_unreadable.ts_ms
"""


def _unreadable_row(beat: Heartbeat) -> tuple[object, ...]:
    return (
        beat.machine,
        int(beat.ts.timestamp() * 1000),
        json.dumps(beat.unreadable, sort_keys=True),
    )


def _row(beat: Heartbeat) -> tuple[object, ...]:
    return (
        beat.machine,
        int(beat.ts.timestamp() * 1000),
        beat.version,
        json.dumps(list(beat.roots)),
        beat.files,
        beat.lag_bytes,
        json.dumps(beat.rejected, sort_keys=True),
    )


async def record(db: aiosqlite.Connection, beat: Heartbeat) -> None:
    await db.execute(_UPSERT, _row(beat))
    await db.execute(_UPSERT_UNREADABLE, _unreadable_row(beat))


async def keep_machines(
    js: JetStreamContext,
    settings: BusSettings,
    db_path: Path,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
) -> None:
    """Copy every machine's latest heartbeat into the read model until ``stop``; ``ready`` is
    set once the beats the stream held at the start are in (a short-lived processor, as under
    `sync`, would otherwise exit before recording them)."""
    from .store import open_store  # the schema (with the machines table) comes with it

    db = await open_store(db_path)
    await db.execute(UNREADABLE_DDL)
    queue: asyncio.Queue[Heartbeat] = asyncio.Queue()
    info = await js.stream_info(settings.heartbeat_stream)
    backlog = int(info.state.messages or 0)

    async def on_message(msg: Msg) -> None:
        with contextlib.suppress(msgspec.DecodeError):
            event = decode(msg.data)
            if isinstance(event, Heartbeat):
                queue.put_nowait(event)

    sub = await follow_heartbeats(js, settings, on_message)
    seen = 0
    try:
        while not stop.is_set():
            if ready is not None and seen >= backlog:
                ready.set()
            with contextlib.suppress(TimeoutError):
                beat = await asyncio.wait_for(queue.get(), 0.5)
                await record(db, beat)
                seen += 1
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        await db.close()


def record_now(db_path: Path, beat: Heartbeat) -> None:
    """Record a beat directly: `sync` exits as soon as the facts are in, before its processor
    child would have seen the beat on the stream."""
    import sqlite3

    from .schema import DDL

    conn = sqlite3.connect(db_path, timeout=10, isolation_level=None)
    try:
        conn.executescript(DDL)
        conn.execute(UNREADABLE_DDL)
        conn.execute(_UPSERT, _row(beat))
        conn.execute(_UPSERT_UNREADABLE, _unreadable_row(beat))
    finally:
        conn.close()
