"""Order independence of the whole read model, through a real stream and the real processor.

The same usage events published in file order, or shuffled with duplicates, in batches of any
size, must leave identical tables: ledger winners, rollups, sessions and 5-hour blocks.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import pytest
from conftest import NatsServer
from corpus import generate
from usagectl.processors.bus import BusSettings, connect, ensure_streams, stream_last_seq
from usagectl.processors.processor import Processor
from usagectl.producers.discovery import session_files
from usagectl.producers.producer import batch_id
from usagectl.producers.tailer import read_chunks
from usagectl.projections.events import Usage, UsageBatch, encode, subject
from usagectl.projections.transcript import file_context, normalise


def corpus_events(root: Path) -> list[Usage]:
    events: list[Usage] = []
    for path in session_files(root):
        ctx = file_context(str(root), str(path), "m1", "acct")
        for chunk in read_chunks(str(path), 0):
            events.extend(
                e for off, line in chunk.lines if isinstance(e := normalise(ctx, off, line), Usage)
            )
    return events


async def build(url: str, prefix: str, messages: list[list[Usage]], db: Path) -> None:
    bus = BusSettings(url=url, prefix=prefix)
    nc = await connect(bus)
    try:
        js = nc.jetstream()
        await ensure_streams(js, bus)
        target = subject(prefix, "usage", "m1")
        for part in messages:
            data = encode(part[0]) if len(part) == 1 else encode(UsageBatch(tuple(part)))
            # Distinct ids per message: duplicates must reach the processor, not stop at the
            # stream's duplicate window, to prove the read model itself is idempotent.
            await js.publish(target, data, headers={"Nats-Msg-Id": f"{batch_id(part)}:{id(part)}"})
        last = await stream_last_seq(js, bus)
        stop = asyncio.Event()
        processor = Processor(js, bus, db)
        task = asyncio.create_task(processor.run(stop))
        await asyncio.wait_for(processor.wait_until(last), 60)
        stop.set()
        await task
    finally:
        await nc.close()


def dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        out = {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4").fetchall()
            for t in ("rollup", "session_usage", "session_span", "blocks")
        }
        out["ledger"] = conn.execute(
            "SELECT key, event_id, counted FROM ledger ORDER BY key"
        ).fetchall()
        return out
    finally:
        conn.close()


def chunked(events: list[Usage], rng: random.Random) -> list[list[Usage]]:
    out, i = [], 0
    while i < len(events):
        n = rng.choice([1, 1, 3, 50, 400])
        out.append(events[i : i + n])
        i += n
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_shuffled_duplicated_events_build_the_identical_read_model(
    tmp_path: Path, nats_server: NatsServer, seed: int
) -> None:
    root = tmp_path / "claude"
    generate(root, seed=20 + seed, sessions=12, days=4)
    events = corpus_events(root)
    assert len(events) > 100
    await build(nats_server.url, "ordered", [events], tmp_path / "ordered.db")
    rng = random.Random(seed)
    messy = events + rng.sample(events, len(events) // 3)
    rng.shuffle(messy)
    await build(nats_server.url, "shuffled", chunked(messy, rng), tmp_path / "shuffled.db")
    ordered, shuffled = dump(tmp_path / "ordered.db"), dump(tmp_path / "shuffled.db")
    assert ordered["rollup"] and ordered["blocks"]
    assert shuffled == ordered
