"""Materialised blocks after late events equal a full rescan, gaps and order included."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from usagectl.processors.blockstore import read_blocks
from usagectl.processors.schema import ACCOUNT_SCOPE
from usagectl.processors.store import apply_batch, open_store, refresh
from usagectl.projections.blocks import HOUR_MS, Block, identify_blocks, session_ms
from usagectl.projections.events import Source, Usage
from usagectl.projections.ledger import to_entry

FIVE_H = session_ms(5)
T0 = datetime(2026, 9, 1, tzinfo=UTC)
Shape = tuple[int, int, bool, int, int]  # start, end, is_gap, entries, output


def usage(n: int, at: timedelta) -> Usage:
    return Usage(
        event_id=f"e{n}", ts=T0 + at, machine="m", account="a", project="/p", project_dir="-p",
        session_id="s", source=Source("/r/projects/-p/s.jsonl", n), message_id=f"msg_{n}",
        request_id=f"req_{n}", model="claude-haiku-4-5", input=10, output=n,
    )  # fmt: skip


def full_scan(events: list[Usage]) -> list[Shape]:
    from usagectl.processors.blockstore import _to_entries

    rows = sorted(
        (e.ts_ms, e.input, e.output, e.cache_write_5m + e.cache_write_1h, e.cache_read,
         e.cost_calculated, e.reported_cost, e.model)
        for e in map(to_entry, events)
    )  # fmt: skip
    blocks = identify_blocks(_to_entries(rows), FIVE_H)
    return [_shape(b) for b in sorted(blocks, key=lambda b: (b.start_ms, not b.is_gap))]


def _shape(b: Block) -> Shape:
    return (b.start_ms, b.end_ms, b.is_gap, b.entries, b.output)


async def stored(db_path: Path, batches: list[list[Usage]]) -> list[Shape]:
    db = await open_store(db_path)
    try:
        for seq, batch in enumerate(batches, 1):
            await apply_batch(db, "processor", batch, seq)
            await refresh(db, FIVE_H)
    finally:
        await db.close()
    conn = sqlite3.connect(db_path)
    try:
        return [_shape(b) for b in read_blocks(conn, (ACCOUNT_SCOPE, "a", ""), FIVE_H)]
    finally:
        conn.close()


async def test_gap_and_block_starting_in_the_same_hour_both_survive(tmp_path: Path) -> None:
    # A silence of 5h20m: the gap starts at 06:00, exactly where the next block starts.
    events = [usage(1, timedelta(hours=1)), usage(2, timedelta(hours=6, minutes=20))]
    got = await stored(tmp_path / "rm.db", [events])
    assert got == full_scan(events)
    assert [g for _, _, g, _, _ in got] == [False, True, False]  # the gap first on a tie


async def test_late_event_in_a_later_block_keeps_the_earlier_gap(tmp_path: Path) -> None:
    first = [usage(1, timedelta(0)), usage(2, timedelta(hours=5, minutes=15)),
             usage(3, timedelta(hours=11))]  # fmt: skip
    late = [usage(4, timedelta(hours=11, minutes=30))]
    got = await stored(tmp_path / "rm.db", [first, late])
    assert got == full_scan(first + late)


@pytest.mark.parametrize("seed", range(8))
async def test_any_arrival_order_gives_the_blocks_of_a_full_scan(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    minutes = 0
    events = []
    for n in range(60):
        minutes += rng.choice([1, 5, 30, 90, 200, 301, 320, 600])
        events.append(usage(n + 1, timedelta(minutes=minutes)))
    shuffled = events[:]
    rng.shuffle(shuffled)
    cuts = sorted(rng.sample(range(1, len(events)), 6))
    batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
    got = await stored(tmp_path / "rm.db", batches)
    assert got == full_scan(events)
    assert any(g for _, _, g, _, _ in got)
    assert max(b[0] for b in got) > min(b[0] for b in got) + HOUR_MS
