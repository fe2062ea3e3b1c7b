"""The alerts consumer's tables: alert state (rebuilt by a replay) and the outbox (kept).

An alert is written in the batch's transaction with its outbox rows, one per sink; sinks are
called after the commit and each success is recorded. So a crash before the commit loses
nothing (the batch comes again), a crash between the commit and a send sends on restart, and a
crash after a recorded send never sends again. The one window left — a send succeeded but the
process died before recording it — resends with the same id (``Idempotency-Key`` for webhooks,
a header for NATS) so a receiver can drop the copy.

The outbox survives a replay: rebuilding the alerts finds their outbox rows already there and
sends nothing; alerts that never had rows get them marked ``skipped: replay``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from usagectl.projections.alerts import Reading, is_over, is_stale, payload

STATE_TABLES = ("alerts", "machines_seen", "heartbeats")
DDL = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, kind TEXT NOT NULL, account TEXT NOT NULL,
    window_key TEXT NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER, status TEXT NOT NULL,
    value REAL NOT NULL, latest REAL NOT NULL, threshold REAL NOT NULL, trigger REAL NOT NULL,
    unit TEXT NOT NULL, text TEXT NOT NULL, fired_ms INTEGER NOT NULL, fired_seq INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL, resolved_ms INTEGER
);
CREATE INDEX IF NOT EXISTS alerts_firing ON alerts (status);
CREATE TABLE IF NOT EXISTS machines_seen (machine TEXT PRIMARY KEY, first_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS heartbeats (machine TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    alert_id TEXT NOT NULL, sink TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
    payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL, sent_ms INTEGER, error TEXT, PRIMARY KEY (alert_id, sink)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_ms);
"""
FIRING, RESOLVED = "firing", "resolved"
PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
SYNC_WAITS_MS = 10_000  # `sync` waits for sends due within this long (not for long backoffs)


@dataclass(frozen=True)
class SinkState:
    name: str
    unavailable: str | None = None  # why this sink cannot send here (e.g. no notify-send)


def _outbox_status(
    sink: SinkState, reading: Reading, now_ms: int, replaying: bool, max_age_ms: int | None
) -> tuple[str, str | None]:
    if replaying:
        return SKIPPED, "replay"
    if is_stale(reading, now_ms, max_age_ms):
        return SKIPPED, "stale: the window ended before max_age"
    if sink.unavailable:
        return SKIPPED, sink.unavailable
    return PENDING, None


def record(
    conn: sqlite3.Connection,
    readings: Iterable[Reading],
    *,
    now_ms: int,
    seq: int,
    replaying: bool,
    max_age_ms: int | None,
    sinks: Sequence[SinkState],
) -> int:
    """Fire the readings that hold and have no alert yet; refresh the figure of those that
    have one and resolve them when they stop holding or their window is over. Returns how many
    fired."""
    fired = 0
    for r in readings:
        row = conn.execute("SELECT status FROM alerts WHERE id = ?", (r.id,)).fetchone()
        over = is_over(r, now_ms)
        if row is not None:
            resolve = row[0] == FIRING and (over or not r.holds)
            conn.execute(
                "UPDATE alerts SET latest = ?, updated_ms = ?, text = CASE WHEN status = ? "
                "THEN ? ELSE text END, status = ?, resolved_ms = CASE WHEN ? THEN ? "
                "ELSE resolved_ms END WHERE id = ?",
                (
                    r.value,
                    now_ms,
                    FIRING,
                    r.text,
                    RESOLVED if resolve else row[0],
                    resolve,
                    now_ms,
                    r.id,
                ),
            )
            continue
        if not r.holds:
            continue
        fired += 1
        conn.execute(
            "INSERT INTO alerts (id, rule, kind, account, window_key, start_ms, end_ms, status, "
            "value, latest, threshold, trigger, unit, text, fired_ms, fired_seq, updated_ms, "
            "resolved_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.id,
                r.rule.name,
                r.rule.kind,
                r.account,
                r.window,
                r.start_ms,
                r.end_ms,
                RESOLVED if over else FIRING,
                r.value,
                r.value,
                r.limit,
                r.trigger,
                r.unit,
                r.text,
                now_ms,
                seq,
                now_ms,
                now_ms if over else None,
            ),
        )
        body = json.dumps(payload(r, now_ms), separators=(",", ":"))
        for sink in sinks:
            status, reason = _outbox_status(sink, r, now_ms, replaying, max_age_ms)
            conn.execute(
                "INSERT OR IGNORE INTO outbox (alert_id, sink, status, reason, payload, next_ms, "
                "created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (r.id, sink.name, status, reason, body, now_ms, now_ms),
            )
    return fired


def resolve_absent(conn: sqlite3.Connection, holding: Iterable[str], now_ms: int) -> None:
    """Firing alerts whose condition no longer holds now (or whose window has passed)."""
    keep = set(holding)
    rows = conn.execute("SELECT id FROM alerts WHERE status = ?", (FIRING,)).fetchall()
    gone = [(RESOLVED, now_ms, now_ms, r[0]) for r in rows if r[0] not in keep]
    conn.executemany(
        "UPDATE alerts SET status = ?, resolved_ms = ?, updated_ms = ? WHERE id = ?", gone
    )


def note_machines(conn: sqlite3.Connection, first_seen: dict[str, int]) -> dict[str, int]:
    """Record when machines were first seen; returns the ones never seen before."""
    new = {}
    for machine, ts in sorted(first_seen.items()):
        row = conn.execute(
            "SELECT first_ms FROM machines_seen WHERE machine = ?", (machine,)
        ).fetchone()
        if row is None:
            new[machine] = ts
            conn.execute(
                "INSERT INTO machines_seen (machine, first_ms) VALUES (?, ?)", (machine, ts)
            )
        elif ts < row[0]:
            conn.execute("UPDATE machines_seen SET first_ms = ? WHERE machine = ?", (ts, machine))
    return new


def note_heartbeat(conn: sqlite3.Connection, machine: str, ts_ms: int) -> bool:
    """Keep a machine's latest heartbeat; True when the machine was never seen before."""
    conn.execute(
        "INSERT INTO heartbeats (machine, ts_ms) VALUES (?, ?) ON CONFLICT (machine) DO UPDATE "
        "SET ts_ms = max(ts_ms, excluded.ts_ms)",
        (machine, ts_ms),
    )
    return bool(note_machines(conn, {machine: ts_ms}))


def heartbeats(conn: sqlite3.Connection) -> dict[str, int]:
    return {str(m): int(t) for m, t in conn.execute("SELECT machine, ts_ms FROM heartbeats")}


def recent_machines(conn: sqlite3.Connection, since_ms: int) -> dict[str, int]:
    rows = conn.execute(
        "SELECT machine, first_ms FROM machines_seen WHERE first_ms >= ?", (since_ms,)
    )
    return {str(m): int(t) for m, t in rows}


ALERT_COLUMNS = (
    "id",
    "rule",
    "kind",
    "account",
    "window_key",
    "start_ms",
    "end_ms",
    "status",
    "value",
    "latest",
    "threshold",
    "trigger",
    "unit",
    "text",
    "fired_ms",
    "resolved_ms",
)


@dataclass(frozen=True)
class Due:
    alert_id: str
    sink: str
    payload: dict[str, Any]
    attempts: int


def due(conn: sqlite3.Connection, sink: str, now_ms: int, limit: int = 100) -> list[Due]:
    rows = conn.execute(
        "SELECT alert_id, payload, attempts FROM outbox WHERE status = ? AND sink = ? "
        "AND next_ms <= ? ORDER BY next_ms, created_ms, alert_id LIMIT ?",
        (PENDING, sink, now_ms, limit),
    ).fetchall()
    return [Due(r[0], sink, json.loads(r[1]), int(r[2])) for r in rows]


def next_due_ms(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT min(next_ms) FROM outbox WHERE status = ?", (PENDING,)).fetchone()
    return None if row[0] is None else int(row[0])


def mark_sent(conn: sqlite3.Connection, d: Due, now_ms: int) -> None:
    conn.execute(
        "UPDATE outbox SET status = ?, attempts = attempts + 1, sent_ms = ?, error = NULL "
        "WHERE alert_id = ? AND sink = ?",
        (SENT, now_ms, d.alert_id, d.sink),
    )


def mark_failure(
    conn: sqlite3.Connection, d: Due, error: str, next_ms: int | None, status: str = FAILED
) -> None:
    """A failed attempt: retried at ``next_ms``, or given up (``next_ms`` None)."""
    conn.execute(
        "UPDATE outbox SET status = ?, attempts = attempts + 1, next_ms = coalesce(?, next_ms), "
        "error = ? WHERE alert_id = ? AND sink = ?",
        (PENDING if next_ms is not None else status, next_ms, error, d.alert_id, d.sink),
    )


def owed(conn: sqlite3.Connection, now_ms: int) -> int:
    """Sends due now or soon: what `sync` waits for before it stops the consumer."""
    row = conn.execute(
        "SELECT count(*) FROM outbox WHERE status = ? AND next_ms <= ?",
        (PENDING, now_ms + SYNC_WAITS_MS),
    ).fetchone()
    return int(row[0])


def listing(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every alert with its deliveries, newest first (for `usagectl alerts`)."""
    cols = ALERT_COLUMNS
    out: dict[str, dict[str, Any]] = {}
    for row in conn.execute(
        f"SELECT {', '.join(cols)} FROM alerts ORDER BY fired_ms DESC, start_ms DESC, id"
    ):
        out[row[0]] = dict(zip(cols, row, strict=True)) | {"deliveries": {}}
    for alert_id, sink, status, reason, attempts, sent_ms, error in conn.execute(
        "SELECT alert_id, sink, status, reason, attempts, sent_ms, error FROM outbox"
    ):
        if alert_id in out:
            out[alert_id]["deliveries"][sink] = {
                "status": status,
                "reason": reason,
                "attempts": attempts,
                "sent_ms": sent_ms,
                "error": error,
            }
    return list(out.values())
