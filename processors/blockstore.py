"""Materialised 5-hour blocks: recomputed from the earliest changed instant, not from scratch.

The block rule is a left-to-right scan, so blocks that end before a change cannot move. A
rescan restarts at the block before the one holding the change (which also rebuilds the gap
that ends at that block's first entry).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from usagectl.projections.blocks import Block, BlockEntry, BlockScanner, identify_blocks
from usagectl.projections.rollups import nano

from .schema import ACCOUNT_SCOPE
from .transactions import rollback

if TYPE_CHECKING:
    import aiosqlite

Scope = tuple[str, str, str]

_SCOPE = "scope = ? AND account = ? AND machine = ?"
# The block before the one holding the change, so the gap between them is rebuilt too.
_RESTART_SQL = (
    f"SELECT start_ms, first_ms FROM blocks WHERE {_SCOPE} AND is_gap = 0 AND start_ms <= ? "
    "ORDER BY start_ms DESC LIMIT 2"
)
# What a rescan from (start, first entry) rebuilds: every block from there on, except the gap
# that ends at the restart block's first entry (it may start after that block's floored hour).
_RESCANNED = "(start_ms >= ? AND NOT (is_gap = 1 AND end_ms <= ?))"
# ccusage lists blocks by start time; a gap sharing its start with a block comes first.
_ORDER = "start_ms, is_gap DESC"
_BLOCK_COLS = (
    "start_ms, end_ms, is_gap, first_ms, last_ms, entries, input, output, cache_create, "
    "cache_read, cost_auto, cost_calculated, cost_display, models"
)


def _entries_sql(scope: Scope) -> tuple[str, tuple[Any, ...]]:
    kind, account, machine = scope
    where = "counted AND account = ? AND ts_ms >= ?"
    params: tuple[Any, ...] = (account,)
    if kind != ACCOUNT_SCOPE:
        where += " AND machine = ?"
    sql = (
        "SELECT ts_ms, input, output, cache_write_5m + cache_write_1h, cache_read, "
        f"cost_calculated, reported_cost, model FROM ledger WHERE {where} "
        "ORDER BY ts_ms, source_path, source_offset"
    )
    return sql, params if kind == ACCOUNT_SCOPE else (*params, machine)


def _to_entries(rows: Iterable[Any]) -> Iterator[BlockEntry]:
    for ts, inp, out, create, read, calculated, reported, model in rows:
        auto = reported if reported is not None else calculated
        yield BlockEntry(
            ts, inp, out, create, read, (nano(auto), nano(calculated), nano(reported)), model
        )


def _restart(blocks: list[tuple[int, int]]) -> tuple[int, int]:
    """(start, first entry) of the block a rescan begins with; (0, -1) rescans everything."""
    return (int(blocks[-1][0]), int(blocks[-1][1])) if blocks else (0, -1)


def _block_row(scope: Scope, b: Block) -> tuple[Any, ...]:
    return (
        *scope,
        b.start_ms,
        b.end_ms,
        b.is_gap,
        b.first_ms,
        b.last_ms,
        b.entries,
        b.input,
        b.output,
        b.cache_create,
        b.cache_read,
        *b.costs,
        json.dumps(b.models),
    )


def block_from_row(row: tuple[Any, ...]) -> Block:
    start, end, gap, first, last, n, inp, out, create, read, c0, c1, c2, models = row
    return Block(
        start,
        end,
        bool(gap),
        first,
        last,
        n,
        inp,
        out,
        create,
        read,
        [c0, c1, c2],
        json.loads(models),
    )


async def refresh_blocks(db: aiosqlite.Connection, length_ms: int) -> None:
    await db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('block_length_ms', ?)", (str(length_ms),)
    )
    async with db.execute("SELECT scope, account, machine, from_ms FROM blocks_dirty") as cur:
        dirty = list(await cur.fetchall())
    for kind, account, machine, from_ms in dirty:
        scope: Scope = (kind, account, machine)
        await db.execute("BEGIN IMMEDIATE")
        try:
            async with db.execute(_RESTART_SQL, (*scope, from_ms)) as cur:
                start, first = _restart([tuple(r) for r in await cur.fetchall()])
            sql, params = _entries_sql(scope)
            # Streamed in chunks: a first sync rescans the whole ledger here.
            scanner = BlockScanner(length_ms)
            async with db.execute(sql, (params[0], start, *params[1:])) as cur:
                while rows := await cur.fetchmany(20_000):
                    for entry in _to_entries(rows):
                        scanner.feed(entry)
            blocks = scanner.finish()
            await db.execute(
                f"DELETE FROM blocks WHERE {_SCOPE} AND {_RESCANNED}", (*scope, start, first)
            )
            marks = ", ".join("?" * 17)
            await db.executemany(
                f"INSERT INTO blocks VALUES ({marks})", [_block_row(scope, b) for b in blocks]
            )
            await db.execute(
                f"DELETE FROM blocks_dirty WHERE {_SCOPE} AND from_ms = ?", (*scope, from_ms)
            )
            await db.execute("COMMIT")
        except BaseException:
            await rollback(db)
            raise


def read_blocks(
    conn: sqlite3.Connection, scope: Scope, length_ms: int, since_ms: int = 0
) -> list[Block]:
    """Blocks of one scope for a report: stored ones, with any dirty tail rescanned in memory.

    Stored blocks are built with the default session length; another length rescans all. The
    reads share one snapshot, so a processor refreshing meanwhile is never half-seen.
    ``since_ms`` keeps only blocks starting then or later (the statusline wants the last one,
    not a year of history); a rescan still starts where the block rule needs it to.
    """
    conn.execute("BEGIN")
    try:
        stored_length = conn.execute(
            "SELECT value FROM meta WHERE key = 'block_length_ms'"
        ).fetchone()
        dirty = conn.execute(f"SELECT from_ms FROM blocks_dirty WHERE {_SCOPE}", scope).fetchone()
        if stored_length is None or int(stored_length[0]) != length_ms:
            restart: tuple[int, int] | None = (0, -1)
        elif dirty is None:
            restart = None
        else:
            restart = _restart(conn.execute(_RESTART_SQL, (*scope, dirty[0])).fetchall())
        start, first = restart if restart is not None else (1 << 62, -1)
        kept = [
            block_from_row(r)
            for r in conn.execute(
                f"SELECT {_BLOCK_COLS} FROM blocks WHERE {_SCOPE} AND NOT {_RESCANNED} "
                f"AND start_ms >= ? ORDER BY {_ORDER}",
                (*scope, start, first, since_ms),
            )
        ]
        if restart is None:
            return kept
        sql, params = _entries_sql(scope)
        rows = conn.execute(sql, (params[0], start, *params[1:]))
        rescanned = identify_blocks(_to_entries(rows), length_ms)
        blocks = kept + [b for b in rescanned if b.start_ms >= since_ms]
        return sorted(blocks, key=lambda b: (b.start_ms, not b.is_gap))
    finally:
        conn.execute("COMMIT")
