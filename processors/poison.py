"""Events the processor cannot apply: recorded with their stream sequence and why, then skipped.

A stream is shared by every machine of a hub, and a message stays in it: one event that fails
every time (a hostile machine's, or one an old producer let through) would otherwise stop the
counting of everything after it, on every machine, for good. Failures of the disk, the
database or the process are not the event's fault: they still stop the processor, which
resumes from its cursor once the cause is gone.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiosqlite

DDL = (
    "CREATE TABLE IF NOT EXISTS poison (stream_seq INTEGER NOT NULL, event_id TEXT NOT NULL, "
    "machine TEXT NOT NULL, reason TEXT NOT NULL, seen_ms INTEGER NOT NULL, "
    "PRIMARY KEY (stream_seq, event_id)) WITHOUT ROWID"
)
RECENT = 10


@dataclass(frozen=True)
class Poison:
    seq: int
    event_id: str  # "" when the message itself could not be read
    machine: str  # as the subject names it: the one the hub vouches for
    reason: str


def is_poison(err: BaseException) -> bool:
    """Whether applying failed because of the event itself (it would fail the same way every
    time), rather than because of the disk, the database or the process."""
    bad_value = (
        sqlite3.IntegrityError,
        sqlite3.InterfaceError,
        sqlite3.DataError,
        sqlite3.ProgrammingError,
    )
    if isinstance(err, bad_value):
        return True
    if isinstance(err, (sqlite3.Error, OSError, MemoryError)):
        return False
    return isinstance(err, Exception)


def describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:300]


async def record(db: aiosqlite.Connection, items: Sequence[Poison]) -> None:
    """Keep each refused event once (a redelivered batch records nothing new)."""
    if not items:
        return
    now = int(time.time() * 1000)
    await db.execute(DDL)
    await db.executemany(
        "INSERT OR IGNORE INTO poison (stream_seq, event_id, machine, reason, seen_ms) "
        "VALUES (?, ?, ?, ?, ?)",
        [(p.seq, p.event_id, p.machine, p.reason, now) for p in items],
    )


def read(conn: sqlite3.Connection) -> dict[str, Any]:
    """How many events were refused, per machine, and the latest few (for doctor, machines)."""
    try:
        by_machine = dict(
            conn.execute("SELECT machine, count(*) FROM poison GROUP BY machine").fetchall()
        )
        recent = conn.execute(
            "SELECT stream_seq, event_id, machine, reason FROM poison "
            "ORDER BY stream_seq DESC LIMIT ?",
            (RECENT,),
        ).fetchall()
    except sqlite3.OperationalError:  # no event was ever refused: the table is made on demand
        return {"total": 0, "by_machine": {}, "recent": []}
    return {
        "total": sum(by_machine.values()),
        "by_machine": by_machine,
        "recent": [{"seq": s, "event_id": e, "machine": m, "reason": r} for s, e, m, r in recent],
    }
