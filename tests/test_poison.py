"""One bad event never stops the counting: values no response can have are refused where they
enter (the producer) and, when published straight onto the stream, by the processor, which
records them with their stream sequence and goes on."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import nats
from conftest import Env
from corpus import generate
from usagectl.processors import poison
from usagectl.processors.processor import Progress, apply_items
from usagectl.processors.store import last_seq, open_store
from usagectl.projections.events import Source, Usage, UsageBatch, encode, subject


def _usage(
    event_id: str,
    machine: str = "test-machine",
    *,
    input: int = 0,
    output: int = 0,
    cache_read: int = 0,
) -> Usage:
    return Usage(
        event_id=event_id,
        ts=datetime(2026, 9, 3, 12, tzinfo=UTC),
        machine=machine,
        account="default",
        project="/p",
        project_dir="-p",
        session_id="s-" + event_id,
        source=Source("/x.jsonl", 0),
        message_id="m-" + event_id,
        model="claude-x",
        input=input,
        output=output,
        cache_read=cache_read,
    )


async def _publish_hostile(url: str) -> list[int]:
    """What a hostile or broken machine can put on the stream with its own credentials."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        ours = subject("usagectl", "usage", "test-machine")
        good = _usage("good", input=100, output=50)
        seqs = []
        for data in (
            encode(_usage("huge", input=10**15, output=1)),
            encode(_usage("max", cache_read=2**63 - 1)),
            encode(UsageBatch((good, _usage("neg", output=-5)))),
            b"\x00 not an event",
            encode(_usage("liar", machine="desktop", input=7)),
        ):
            seqs.append((await js.publish(ours, data)).seq)
        return seqs
    finally:
        await nc.close()


def test_hostile_values_on_the_stream_do_not_stop_counting(env: Env, tmp_path: Path) -> None:
    first = generate(env.claude, seed=31, sessions=4, days=2)
    env.run("sync")
    seqs = asyncio.run(_publish_hostile(env.nats_url or ""))
    later = generate(tmp_path / "later", seed=32, sessions=4, days=2)
    shutil.copytree(tmp_path / "later" / "projects", env.claude / "projects", dirs_exist_ok=True)

    env.run("sync")  # on the old main: OverflowError, and no sync ever again
    want = first["totals"]["totalTokens"] + later["totals"]["totalTokens"] + 150
    assert env.json("daily", "-z", "UTC")["totals"]["totalTokens"] == want

    refused = env.json("doctor")["read_model"]["refused_events"]
    assert refused["total"] == 5
    assert {(p["seq"], p["event_id"]) for p in refused["recent"]} == {
        (seqs[0], "huge"),
        (seqs[1], "max"),
        (seqs[2], "neg"),
        (seqs[3], ""),
        (seqs[4], ""),
    }
    assert all(p["machine"] == "test-machine" and p["reason"] for p in refused["recent"])
    machines = env.json("machines")
    assert [m["refusedEvents"] for m in machines["machines"] if m["machine"] == "test-machine"] == [
        5
    ]
    assert "refused 5 event(s)" in env.run("doctor").stdout

    env.run("replay")  # a rebuild refuses the same events and keeps every other one
    assert env.json("daily", "-z", "UTC")["totals"]["totalTokens"] == want


def test_the_producer_rejects_impossible_token_counts_with_a_reason(env: Env) -> None:
    folder = env.claude / "projects" / "-p"
    folder.mkdir()
    usage = {"input_tokens": 10**15, "output_tokens": 1}
    message = {"id": "m", "model": "claude-sonnet-4-5", "usage": usage}
    line = {"type": "assistant", "timestamp": "2026-09-03T12:00:00.000Z", "sessionId": "s",
            "requestId": "r", "message": message}  # fmt: skip
    ok = json.loads(json.dumps(line))
    ok["message"] |= {"id": "m2", "usage": {"input_tokens": 10, "output_tokens": 1}}
    (folder / "s.jsonl").write_text(json.dumps(line) + "\n" + json.dumps(ok) + "\n")
    env.run("sync")
    assert env.json("daily", "-z", "UTC")["totals"]["totalTokens"] == 11
    doctor = env.json("doctor")
    assert doctor["producer"]["lines_by_reason"]["rejected:token_value_too_large"] == 1
    assert doctor["read_model"]["refused_events"]["total"] == 0


def test_an_event_the_store_refuses_is_recorded_and_the_rest_applied(tmp_path: Path) -> None:
    """Whatever fails for one event (here a real SQLite constraint refusing it) costs that
    event only: the batch's other events and the next batches are applied."""

    async def run() -> tuple[int, dict[str, object], int]:
        db = await open_store(tmp_path / "usage.db")
        try:
            await db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON ledger WHEN NEW.event_id = 'bad' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
            on = subject("usagectl", "usage", "test-machine")
            items = [
                (1, on, encode(_usage("a", input=1))),
                (2, on, encode(UsageBatch((_usage("b", input=10), _usage("bad", input=100))))),
                (3, on, encode(_usage("c", input=1000))),
            ]
            progress = Progress()
            seq = await apply_items(db, items, 0, progress, "stream-1")
            seq = await apply_items(db, [(4, on, encode(_usage("d", input=10_000)))], seq,
                                    progress, "stream-1")  # fmt: skip
            async with db.execute("SELECT sum(input) FROM rollup") as cur:
                total = (await cur.fetchone() or (0,))[0]
            return seq, {"total": total, "events": progress.events}, await last_seq(db, "processor")
        finally:
            await db.close()

    seq, applied, tracked = asyncio.run(run())
    assert (seq, tracked) == (4, 4)
    assert applied == {"total": 11_011, "events": 4}
    conn = sqlite3.connect(tmp_path / "usage.db")
    try:
        refused = poison.read(conn)
    finally:
        conn.close()
    assert refused["total"] == 1
    assert refused["recent"][0]["seq"] == 2 and refused["recent"][0]["event_id"] == "bad"
    assert "refused" in refused["recent"][0]["reason"]
