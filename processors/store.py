"""The read model's write side: one transaction per batch applies the pure folds' results and
records the stream sequence, so a redelivered batch is recognised and skipped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec
from usagectl.projections.columns import QUARTER_COLUMNS, SUM_COLUMNS
from usagectl.projections.events import Hook, Limit, Plan, Usage
from usagectl.projections.ledger import Change, Entry, fold_covered, group_id, to_entry
from usagectl.projections.rollups import Deltas, deltas

from .blockstore import refresh_blocks
from .hookstore import write_hooks
from .limitstore import write_limits
from .migrations import upgrade_in_place
from .planstore import write_plans
from .schema import (
    ACCOUNT_SCOPE,
    DDL,
    LEDGER_COLUMNS,
    MACHINE_SCOPE,
    REQUEST_INDEX,
    REQUEST_OF_KEY,
    SCHEMA_VERSION,
    entry_from_row,
)
from .transactions import rollback
from .zonestore import report_zones, write_zone_days


class SchemaMismatch(Exception):
    """The read model was built by another projection version; replay rebuilds it."""

    user_facing = True


async def open_store(path: Path) -> aiosqlite.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_upgrade_if_there, path)
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await _prepare(db, path)
    except BaseException:
        # aiosqlite's worker thread would otherwise keep the process alive after the error.
        await db.close()
        raise
    return db


def _upgrade_if_there(path: Path) -> None:
    if path.exists():
        upgrade_in_place(path)


async def _prepare(db: aiosqlite.Connection, path: Path) -> None:
    await db.executescript(DDL)
    await _fill_totals(db)
    await db.execute("PRAGMA synchronous = NORMAL")
    await db.execute("PRAGMA cache_size = -32768")  # 32 MiB: the ledger indexes stay hot
    async with db.execute("SELECT value FROM meta WHERE key = 'schema_version'") as cur:
        row = await cur.fetchone()
    if row is None:
        await db.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
    elif int(row[0]) != SCHEMA_VERSION:
        raise SchemaMismatch(
            f"the read model {path} has schema {row[0]}, this version needs {SCHEMA_VERSION}: "
            "run `usagectl replay` to rebuild it from the stream"
        )


async def _fill_totals(db: aiosqlite.Connection) -> None:
    """A read model from before ``usage_totals`` existed gets it from its rollups, once (the
    marker in ``meta`` says it was done; the fill is idempotent if a crash repeats it)."""
    async with db.execute("SELECT 1 FROM meta WHERE key = 'usage_totals'") as cur:
        if await cur.fetchone() is not None:
            return
    sums = ", ".join(f"sum({c})" for c in SUM_COLUMNS)
    await db.execute(
        f"INSERT OR REPLACE INTO usage_totals (account, machine, project, model, "
        f"{', '.join(SUM_COLUMNS)}) SELECT account, machine, project, model, {sums} "
        "FROM rollup GROUP BY account, machine, project, model"
    )
    await db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('usage_totals', '1')")


async def last_seq(db: aiosqlite.Connection, consumer: str) -> int:
    async with db.execute("SELECT stream_seq FROM tracking WHERE consumer = ?", (consumer,)) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def _load_groups(
    db: aiosqlite.Connection, entries: Sequence[Entry]
) -> dict[str, dict[str, Entry]]:
    """The stored copies of every group the entries touch, and of the OpenTelemetry group of
    each transcript copy's request (that copy stops counting once the transcript's arrives)."""
    mids = sorted({e.message_id for e in entries if e.message_id is not None})
    keys = {e.key for e in entries if e.message_id is None}
    if await _has_otlp_copies(db):  # else no stored group to look for: no lookups at all
        keys |= {"r:" + rid for e in entries if not e.via_otlp and (rid := e.request_id)}
    cols = ", ".join(LEDGER_COLUMNS)
    groups: dict[str, dict[str, Entry]] = {}
    for column, values in (("message_id", mids), ("key", sorted(keys))):
        for chunk in _chunks(values):
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {cols} FROM ledger WHERE {column} IN ({marks})"
            async with db.execute(sql, chunk) as cur:
                for row in await cur.fetchall():
                    entry = entry_from_row(row)
                    groups.setdefault(group_id(entry), {})[entry.key] = entry
    return groups


async def _has_otlp_copies(db: aiosqlite.Connection) -> bool:
    """Whether the ledger holds any OpenTelemetry copy (keys ``r:...``; a primary-key range)."""
    async with db.execute("SELECT 1 FROM ledger WHERE key >= 'r:' AND key < 'r;' LIMIT 1") as cur:
        return await cur.fetchone() is not None


async def _covered(db: aiosqlite.Connection, entries: Sequence[Entry]) -> set[str]:
    """Request ids of the batch's OpenTelemetry copies that a stored transcript copy answers."""
    wanted = sorted({rid for e in entries if e.via_otlp and (rid := e.request_id)})
    found: set[str] = set()
    if wanted:
        await db.execute(REQUEST_INDEX)
    for chunk in _chunks(wanted):
        marks = ", ".join("?" * len(chunk))
        sql = (
            f"SELECT DISTINCT {REQUEST_OF_KEY} FROM ledger WHERE message_id IS NOT NULL "
            f"AND {REQUEST_OF_KEY} IN ({marks})"
        )
        async with db.execute(sql, chunk) as cur:
            found.update(str(r[0]) for r in await cur.fetchall())
    return found


async def tracked_stream(db: aiosqlite.Connection, consumer: str) -> str | None:
    async with db.execute("SELECT stream_id FROM tracking WHERE consumer = ?", (consumer,)) as cur:
        row = await cur.fetchone()
    return str(row[0]) if row else None


async def apply_batch(
    db: aiosqlite.Connection,
    consumer: str,
    usages: Sequence[Usage],
    seq: int,
    stream_id: str = "",
    limits: Sequence[Limit] = (),
    hooks: Sequence[Hook] = (),
    plans: Sequence[Plan] = (),
) -> int:
    """Fold the batch into the read model and record ``seq``; returns counted changes made."""
    entries = [to_entry(u) for u in usages]
    await db.execute("BEGIN IMMEDIATE")
    try:
        changes: list[Change] = []
        if entries:
            groups = await _load_groups(db, entries)
            folded = fold_covered(groups, entries, await _covered(db, entries))
            changes = folded.changes
            await _write_ledger(db, folded.changed, folded.live)
            await _write_sums(db, changes)
            await _write_spans(db, changes)
            await _mark_blocks_dirty(db, changes)
        if limits:
            await write_limits(db, limits)
        if hooks:
            await write_hooks(db, hooks)
        if plans:
            await write_plans(db, plans)
        await db.execute(
            "INSERT INTO tracking (consumer, stream_seq, updated_ms, stream_id) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (consumer) DO UPDATE SET "
            "stream_seq = excluded.stream_seq, updated_ms = excluded.updated_ms, "
            "stream_id = excluded.stream_id",
            (consumer, seq, int(time.time() * 1000), stream_id),
        )
        await db.execute("COMMIT")
    except BaseException:
        await rollback(db)
        raise
    return len(changes)


async def _write_ledger(
    db: aiosqlite.Connection, changed: dict[str, dict[str, Entry]], live: set[str]
) -> None:
    rows = []
    for members in changed.values():
        for key, e in members.items():
            rows.append((*msgspec.structs.astuple(e), key in live))
    marks = ", ".join("?" * (len(LEDGER_COLUMNS) + 1))
    cols = ", ".join((*LEDGER_COLUMNS, "counted"))
    await db.executemany(f"INSERT OR REPLACE INTO ledger ({cols}) VALUES ({marks})", rows)


def _upsert_sql(table: str, key_cols: Sequence[str], sum_cols: Sequence[str]) -> str:
    cols = (*key_cols, *sum_cols)
    marks = ", ".join("?" * len(cols))
    updates = ", ".join(f"{c} = {c} + excluded.{c}" for c in sum_cols)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(key_cols)}) DO UPDATE SET {updates}"
    )


async def _write_sums(db: aiosqlite.Connection, changes: list[Change]) -> None:
    d = deltas(changes)
    await _write_tables(db, d)
    await write_zone_days(db, d, await report_zones(db))


async def _write_tables(db: aiosqlite.Connection, d: Deltas) -> None:
    rollup_keys = ("bucket", "account", "machine", "project", "model")
    session_keys = ("project_dir", "session_id", "model")
    totals_keys = rollup_keys[1:]
    hour_keys = ("hour", *totals_keys)
    for table, key_cols, sum_cols, table_deltas in (
        ("rollup", rollup_keys, SUM_COLUMNS, d.rollup),
        ("rollup_hour", hour_keys, (*SUM_COLUMNS, *QUARTER_COLUMNS), d.hour),
        ("session_usage", session_keys, SUM_COLUMNS, d.session),
        ("usage_totals", totals_keys, SUM_COLUMNS, d.totals),
    ):
        sql = _upsert_sql(table, key_cols, sum_cols)
        await db.executemany(sql, [(*k, *v) for k, v in table_deltas.items()])
        # Rows whose entries all moved elsewhere go, so replay and incremental builds match.
        where = " AND ".join(f"{c} = ?" for c in key_cols)
        emptied = [k for k, v in table_deltas.items() if v[0] < 0]
        if emptied:
            await db.executemany(f"DELETE FROM {table} WHERE {where} AND entries = 0", emptied)


async def _write_spans(db: aiosqlite.Connection, changes: list[Change]) -> None:
    spans: dict[tuple[str, str], list[Any]] = {}
    for c in changes:
        e = c.new
        if e is None:
            continue
        span = spans.get((e.project_dir, e.session_id))
        if span is None:
            spans[(e.project_dir, e.session_id)] = [e.ts_ms, e.ts_ms, e.machine, e.project]
        else:
            span[0], span[1] = min(span[0], e.ts_ms), max(span[1], e.ts_ms)
    await db.executemany(
        "INSERT INTO session_span (project_dir, session_id, first_ms, last_ms, machine, project) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_dir, session_id) DO UPDATE SET "
        "first_ms = min(first_ms, excluded.first_ms), last_ms = max(last_ms, excluded.last_ms)",
        [(*k, *v) for k, v in spans.items()],
    )
    removed = {(c.old.project_dir, c.old.session_id) for c in changes if c.old is not None}
    for project_dir, session_id in sorted(removed):
        async with db.execute(
            "SELECT min(ts_ms), max(ts_ms) FROM ledger WHERE counted AND project_dir = ? "
            "AND session_id = ?",
            (project_dir, session_id),
        ) as cur:
            first, last = await cur.fetchone() or (None, None)
        if first is None:
            await db.execute(
                "DELETE FROM session_span WHERE project_dir = ? AND session_id = ?",
                (project_dir, session_id),
            )
        else:
            await db.execute(
                "UPDATE session_span SET first_ms = ?, last_ms = ? WHERE project_dir = ? "
                "AND session_id = ?",
                (first, last, project_dir, session_id),
            )


async def _mark_blocks_dirty(db: aiosqlite.Connection, changes: list[Change]) -> None:
    scopes: dict[tuple[str, str, str], int] = {}
    for change in changes:
        for e in (change.old, change.new):
            if e is None:
                continue
            for scope in ((ACCOUNT_SCOPE, e.account, ""), (MACHINE_SCOPE, e.account, e.machine)):
                scopes[scope] = min(scopes.get(scope, e.ts_ms), e.ts_ms)
    await db.executemany(
        "INSERT INTO blocks_dirty (scope, account, machine, from_ms) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (scope, account, machine) DO UPDATE SET "
        "from_ms = min(from_ms, excluded.from_ms)",
        [(*k, v) for k, v in scopes.items()],
    )


async def refresh(db: aiosqlite.Connection, length_ms: int) -> None:
    """Recompute every dirty block range; the processor calls this when it is caught up."""
    await refresh_blocks(db, length_ms)
