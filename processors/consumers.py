"""The plug-in point: a consumer is a name, the event kinds it reads, a function that folds a
batch of decoded events into its own SQLite tables, and those tables.

    consumer = Consumer(name="tokens", subjects=("usage",), apply=apply,
                        schema="CREATE TABLE IF NOT EXISTS ...", tables=("...",))

The framework (``consumer_runner``) gives it a durable JetStream pull consumer recreated from
its own tracking row, batching, ONE SQLite transaction per batch holding both its state and
the tracking row (so a redelivered batch is recognised and skipped: exactly-once effect), the
ack after the commit, a graceful stop, an optional timer (``apply`` with no events and the
current time, for rules about time), an optional ``prepare`` step run before the transaction
(reading the read model, say, so the transaction stays short) and replay (its tables and
tracking row dropped, the stream read again from sequence 1, ``Batch.replaying`` set until it
has caught up).

Consumers are found through the ``usagectl.consumers`` entry-point group. An entry point names
either a ``Consumer`` or a factory ``(Context) -> Consumer`` (which may read its config table
``[consumers.<name>]`` and raise an error with ``user_facing = True`` for a bad one).

Each consumer keeps its tables in its own file, ``<data dir>/consumers/<name>.db``, beside the
processor's ``usage.db``: a consumer can neither lock nor corrupt the processor's read model,
`usagectl replay` (which swaps usage.db) keeps consumer state, and one consumer's replay
touches nothing else. A consumer that wants the processor's deduplicated figures reads
``Context.read_model`` (read-only), after ``ready(seq)`` says the processor has applied them.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from usagectl.projections.events import Event

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

    from .bus import BusSettings

GROUP = "usagectl.consumers"
KINDS = ("usage", "hook", "limit", "plan")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
T = TypeVar("T")

TRACKING_DDL = """
CREATE TABLE IF NOT EXISTS tracking (
    consumer TEXT PRIMARY KEY, stream_seq INTEGER NOT NULL, stream_id TEXT NOT NULL DEFAULT '',
    replay_until INTEGER NOT NULL DEFAULT 0, updated_ms INTEGER NOT NULL
);
"""


class ConsumerError(Exception):
    """A consumer cannot be found, loaded or run; the message says which and why."""

    user_facing = True


@dataclass(frozen=True)
class Batch:
    """What ``apply`` gets: events in stream order (a usage batch message arrives flattened),
    the stream sequences they span, the time, and whether this is a replay (nothing a replay
    does may be sent anywhere again). ``timer`` batches carry no events: only ``now`` moved."""

    events: tuple[Event, ...]
    first_seq: int
    last_seq: int
    now: datetime
    replaying: bool = False
    timer: bool = False
    prepared: Any = None  # what ``Consumer.prepare`` returned for this batch


@dataclass(frozen=True)
class Context:
    """Where a consumer runs: handed to a factory, and to ``service``."""

    name: str
    home: Path
    read_model: Path  # the processor's usage.db (open it read-only)
    prefix: str = "usagectl"
    machine: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)  # [consumers.<name>]
    sections: Mapping[str, Any] = field(default_factory=dict)  # every raw table, e.g. alerts
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return db_path(self.home, self.name)


@dataclass
class Service:
    """A consumer's background work beside its batches (e.g. delivering what they decided)."""

    ctx: Context
    stop: asyncio.Event
    committed: asyncio.Event  # set after every commit; the service clears it
    nc: Client
    js: JetStreamContext
    bus: BusSettings
    db: Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]  # one transaction


@dataclass(frozen=True)
class Consumer:
    name: str
    apply: Callable[[sqlite3.Connection, Batch], None]  # runs inside the batch's transaction
    subjects: tuple[str, ...] = ("usage",)  # event kinds: usage, hook, limit, plan
    schema: str = ""  # its tables: CREATE TABLE IF NOT EXISTS ...
    tables: tuple[str, ...] = ()  # what a replay drops (tables it rebuilds from the stream)
    description: str = ""
    tick_every_s: float | None = None  # also call apply(timer batch) this often
    ready: Callable[[int], bool] | None = None  # may the batch ending at seq be applied yet?
    # Work that needs no tables of its own (reading the read model, say), done before the
    # transaction and off its thread, so the transaction stays short; ``batch.prepared``.
    prepare: Callable[[Batch], Any] | None = None
    service: Callable[[Service], Coroutine[Any, Any, None]] | None = None
    backlog: Callable[[sqlite3.Connection, datetime], int] | None = None  # owed work (sync waits)


Factory = Callable[[Context], Consumer]


def db_path(home: Path, name: str) -> Path:
    return home / "consumers" / f"{name}.db"


def installed() -> dict[str, EntryPoint]:
    """Every consumer an installed package offers, by name."""
    return {ep.name: ep for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name)}


def load(ctx: Context, found: Mapping[str, EntryPoint] | None = None) -> Consumer:
    """The consumer ``ctx.name``, loaded and (for a factory) built with its context."""
    found = installed() if found is None else found
    ep = found.get(ctx.name)
    if ep is None:
        names = ", ".join(found) or "none"
        raise ConsumerError(f"no consumer named {ctx.name!r} is installed (installed: {names})")
    try:
        target = ep.load()
    except Exception as err:
        raise ConsumerError(f"consumer {ctx.name!r} ({ep.value}) failed to import: {err}") from err
    consumer = target if isinstance(target, Consumer) else _build(ctx, target)
    _check(ctx.name, consumer)
    return consumer


def _build(ctx: Context, target: Any) -> Consumer:
    if not callable(target):
        raise ConsumerError(
            f"consumer {ctx.name!r}: the entry point is neither a Consumer nor a factory"
        )
    built = target(ctx)
    if not isinstance(built, Consumer):
        raise ConsumerError(f"consumer {ctx.name!r}: the factory returned {type(built).__name__}")
    return built


def _check(name: str, consumer: Consumer) -> None:
    if consumer.name != name:
        raise ConsumerError(f"consumer {name!r} calls itself {consumer.name!r}")
    if not NAME.fullmatch(name):
        raise ConsumerError(f"consumer name {name!r}: lower-case letters, digits, '-', '_'")
    unknown = [s for s in consumer.subjects if s not in KINDS]
    if unknown or not consumer.subjects:
        raise ConsumerError(f"consumer {name!r} reads unknown kinds {unknown}: use {KINDS}")
    if "tracking" in consumer.tables:
        raise ConsumerError(f"consumer {name!r}: the table name 'tracking' is the framework's")


def connect_db(path: Path, consumer: Consumer) -> sqlite3.Connection:
    """The consumer's own file, with the framework's tracking table and its schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(TRACKING_DDL)
    if consumer.schema:
        conn.executescript(consumer.schema)
    return conn


@dataclass(frozen=True)
class Tracking:
    seq: int = 0
    stream_id: str = ""
    replay_until: int = 0
    updated_ms: int = 0


def read_tracking(conn: sqlite3.Connection, name: str) -> Tracking:
    try:
        row = conn.execute(
            "SELECT stream_seq, stream_id, replay_until, updated_ms FROM tracking "
            "WHERE consumer = ?",
            (name,),
        ).fetchone()
    except sqlite3.OperationalError:
        return Tracking()
    return Tracking(int(row[0]), str(row[1]), int(row[2]), int(row[3])) if row else Tracking()


def write_tracking(
    conn: sqlite3.Connection, name: str, seq: int, stream_id: str, now_ms: int
) -> None:
    conn.execute(
        "INSERT INTO tracking (consumer, stream_seq, stream_id, updated_ms) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (consumer) DO UPDATE SET stream_seq = excluded.stream_seq, "
        "stream_id = excluded.stream_id, updated_ms = excluded.updated_ms",
        (name, seq, stream_id, now_ms),
    )


def transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def reset_for_replay(conn: sqlite3.Connection, consumer: Consumer, until: int, now_ms: int) -> None:
    """Drop the consumer's rebuilt tables and rewind its cursor to the stream's start; it is
    replaying until it has applied ``until`` again."""

    def reset(c: sqlite3.Connection) -> None:
        for table in consumer.tables:
            c.execute(f'DROP TABLE IF EXISTS "{table}"')
        write_tracking(c, consumer.name, 0, "", now_ms)
        c.execute("UPDATE tracking SET replay_until = ? WHERE consumer = ?", (until, consumer.name))

    transaction(conn, reset)
    if consumer.schema:
        conn.executescript(consumer.schema)


def progress(home: Path, consumer: Consumer, now: datetime) -> tuple[Tracking, int | None]:
    """The consumer's cursor and owed work, read without disturbing a running consumer."""
    path = db_path(home, consumer.name)
    if not path.exists():
        return Tracking(), None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return Tracking(), None
    try:
        tracking = read_tracking(conn, consumer.name)
        owed = None
        if consumer.backlog is not None:
            try:
                owed = consumer.backlog(conn, now)
            except sqlite3.OperationalError:
                owed = None
        return tracking, owed
    finally:
        conn.close()
