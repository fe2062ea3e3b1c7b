"""The hook read models: tool calls and subagent runs (``hook_spans``), per-session counts
(``session_hooks``), and the ids already applied (``hook_seen``).

Writes run inside the batch's transaction (store.apply_batch); what a batch changes is decided
by the pure fold in projections.hookfold, never by SQL, so replay and any arrival order agree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from usagectl.projections.events import Hook
from usagectl.projections.hookfold import (
    SESSION_COLUMNS,
    TOOL,
    SessionHooks,
    Span,
    SpanKey,
    decode_span,
    encode_span,
    fold,
    span_key,
)
from usagectl.projections.toolreport import Call

if TYPE_CHECKING:
    import aiosqlite

_CHUNK = 500
_SPAN_COLUMNS = (
    "span_id",
    "kind",
    "session_id",
    "label",
    "account",
    "machine",
    "project",
    "ts_ms",
    "duration_ms",
    "outcome",
    "error_kind",
    "state",
)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


async def _select_in(
    db: aiosqlite.Connection, sql: str, values: Iterable[str]
) -> list[sqlite3.Row | tuple[Any, ...]]:
    """Rows of ``sql`` (ending in ``IN``) for ``values``, a bounded number per statement."""
    rows: list[Any] = []
    for chunk in _chunks(sorted(set(values))):
        async with db.execute(f"{sql} ({', '.join('?' * len(chunk))})", chunk) as cur:
            rows.extend(await cur.fetchall())
    return rows


def _span_row(span: Span) -> tuple[Any, ...]:
    account, machine, project = span.where
    outcome = None if span.outcome is None else int(span.outcome)
    return (
        *span.key,
        span.label,
        account,
        machine,
        project,
        span.ts_ms,
        span.duration_ms,
        outcome,
        span.error_kind,
        encode_span(span),
    )


async def write_hooks(db: aiosqlite.Connection, hooks: Sequence[Hook]) -> None:
    """Fold ``hooks`` into the stored rows (the caller holds the transaction)."""
    ids = (h.event_id for h in hooks)
    seen = {
        r[0] for r in await _select_in(db, "SELECT event_id FROM hook_seen WHERE event_id IN", ids)
    }
    keys = {k for h in hooks if (k := span_key(h)) is not None}
    spans: dict[SpanKey, Span] = {}
    for (state,) in await _select_in(
        db, "SELECT state FROM hook_spans WHERE span_id IN", (k[0] for k in keys)
    ):
        span = decode_span(state)
        if span.key in keys:
            spans[span.key] = span
    cols = ", ".join(SESSION_COLUMNS)
    sql = f"SELECT {cols} FROM session_hooks WHERE session_id IN"
    rows = await _select_in(db, sql, (h.session_id for h in hooks))
    sessions = {row[0]: SessionHooks(*row) for row in rows}
    folded = fold(seen, spans, sessions, hooks)
    await db.executemany(
        "INSERT INTO hook_seen (event_id) VALUES (?)", [(i,) for i in folded.new_ids]
    )
    marks = ", ".join("?" * len(_SPAN_COLUMNS))
    await db.executemany(
        f"INSERT OR REPLACE INTO hook_spans ({', '.join(_SPAN_COLUMNS)}) VALUES ({marks})",
        [_span_row(s) for _, s in sorted(folded.spans.items())],
    )
    marks = ", ".join("?" * len(SESSION_COLUMNS))
    await db.executemany(
        f"INSERT OR REPLACE INTO session_hooks ({cols}) VALUES ({marks})",
        [tuple(getattr(s, c) for c in SESSION_COLUMNS) for _, s in sorted(folded.sessions.items())],
    )


# --- the read side (reports: synchronous, read-only) ---


@dataclass(frozen=True)
class CallFilters:
    machine: str | None = None
    projects: Sequence[str] | None = None  # already resolved to stored names
    session_id: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None  # exclusive


def hook_projects(conn: sqlite3.Connection) -> list[str]:
    try:
        return [r[0] for r in conn.execute("SELECT DISTINCT project FROM hook_spans")]
    except sqlite3.OperationalError:
        return []  # a read model older than the table


def tool_calls(conn: sqlite3.Connection, f: CallFilters) -> Iterator[Call]:
    clauses, params = ["kind = ?"], list[object]([TOOL])
    for column, op, value in (
        ("machine", "=", f.machine),
        ("session_id", "=", f.session_id),
        ("ts_ms", ">=", f.from_ms),
        ("ts_ms", "<", f.to_ms),
    ):
        if value is not None:
            clauses.append(f"{column} {op} ?")
            params.append(value)
    if f.projects is not None:
        clauses.append(f"project IN ({', '.join('?' * len(f.projects))})")
        params.extend(f.projects)
    where = " AND ".join(clauses)
    sql = f"SELECT label, duration_ms, outcome, error_kind FROM hook_spans WHERE {where}"
    try:
        rows = conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return
    for label, duration_ms, outcome, error_kind in rows:
        yield Call(
            label or "?", duration_ms, None if outcome is None else bool(outcome), error_kind
        )


def session_hooks(conn: sqlite3.Connection) -> dict[str, SessionHooks]:
    """Every session's hook figures; none for a read model older than the table."""
    cols = ", ".join(SESSION_COLUMNS)
    try:
        rows = conn.execute(f"SELECT {cols} FROM session_hooks").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {row[0]: SessionHooks(*row) for row in rows}
