"""Where `watch` starts: the read model's recent window at stream sequence S, read in one
snapshot, and then the stream from S+1 (no gap, no double count)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from usagectl.projections.ledger import Entry
from usagectl.projections.limits import Observation

from .blockstore import _RESTART_SQL, _restart
from .bus import BusSettings
from .limitstore import read_limits
from .ordered import ordered
from .readmodel import NoReadModel, open_read
from .schema import ACCOUNT_SCOPE, CONSUMER, LEDGER_COLUMNS, entry_from_row


@dataclass(frozen=True)
class Snapshot:
    seq: int
    window_start_ms: int
    entries: list[Entry]
    past_block_tokens: list[int]
    official: dict[str, Observation]


def load_snapshot(
    db_path: Path, account: str, now_ms: int, length_ms: int, horizon_ms: int | None = None
) -> Snapshot:
    """The window starts at the block before any block that may still be active (or that
    holds ``horizon_ms``, when earlier: `dash` wants all of today)."""
    try:
        conn = open_read(db_path)
    except NoReadModel:
        return Snapshot(0, 0, [], [], {})
    try:
        conn.execute("BEGIN")
        seq_row = conn.execute(
            "SELECT stream_seq FROM tracking WHERE consumer = ?", (CONSUMER,)
        ).fetchone()
        scope = (ACCOUNT_SCOPE, account, "")
        dirty = conn.execute(
            "SELECT from_ms FROM blocks_dirty WHERE scope = ? AND account = ? AND machine = ?",
            scope,
        ).fetchone()
        horizon = now_ms - length_ms if horizon_ms is None else min(horizon_ms, now_ms - length_ms)
        horizon = horizon if dirty is None else min(dirty[0], horizon)
        start, _ = _restart(conn.execute(_RESTART_SQL, (*scope, horizon)).fetchall())
        cols = ", ".join(LEDGER_COLUMNS)
        entries = [
            entry_from_row(r)
            for r in conn.execute(
                f"SELECT {cols} FROM ledger WHERE account = ? AND ts_ms >= ? AND counted",
                (account, start),
            )
        ]
        past = [
            int(r[0])
            for r in conn.execute(
                "SELECT input + output + cache_create + cache_read FROM blocks WHERE scope = ? "
                "AND account = ? AND machine = ? AND is_gap = 0 AND end_ms <= ?",
                (*scope, now_ms),
            )
        ]
        official = read_limits(conn, account)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return Snapshot(int(seq_row[0]) if seq_row else 0, start, entries, past, official)


async def follow_stream(
    js: JetStreamContext,
    settings: BusSettings,
    after_seq: int,
    on_message: Callable[[Msg], Awaitable[None]],
) -> JetStreamContext.PushSubscription:
    """Every fact after ``after_seq``, in order, through an ordered consumer (the fastest way
    to read a stream from nats-py, and self-healing across reconnects)."""
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE if after_seq else DeliverPolicy.ALL,
        opt_start_seq=after_seq + 1 if after_seq else None,
    )
    return await ordered(
        js, f"{settings.prefix}.v1.>", settings.stream, config, on_message, owner=settings.identity
    )


async def follow_heartbeats(
    js: JetStreamContext,
    settings: BusSettings,
    on_message: Callable[[Msg], Awaitable[None]],
) -> JetStreamContext.PushSubscription:
    """The latest heartbeat of every machine, then each new one."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
    subject = f"{settings.prefix}.v1.heartbeat.>"
    return await ordered(
        js, subject, settings.heartbeat_stream, config, on_message, owner=settings.identity
    )
