"""Pairing tool calls and counting sessions from hook events: the same events in any order, in
batches of any size, with duplicates (re-sent copies seen later) give identical read models
and the identical `tools` report."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hookdata import recording
from usagectl.processors.hookstore import CallFilters, tool_calls
from usagectl.processors.store import apply_batch, open_store
from usagectl.projections.events import Hook
from usagectl.projections.hookfold import fold, span_key
from usagectl.projections.hooks import hook_event
from usagectl.projections.toolreport import tool_report

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def event(data: dict[str, Any], at_ms: int, machine: str = "m1") -> Hook:
    e = hook_event(json.dumps(data).encode(), machine=machine, account="acct",
                   now=T0 + timedelta(milliseconds=at_ms))  # fmt: skip
    assert e is not None
    return e


def random_session(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Tool calls of every shape: paired, failed, interrupted, never finished, Post only,
    with and without Claude Code's duration_ms."""
    sid = f"s{n}"
    start = {"session_id": sid, "cwd": f"/p/{n % 3}", "hook_event_name": "SessionStart"}
    out: list[dict[str, Any]] = [start]
    for i in range(rng.randint(5, 40)):
        base = {"session_id": sid, "cwd": f"/p/{n % 3}", "tool_use_id": f"t{n}-{i}",
                "tool_name": rng.choice(["Bash", "Read", "Edit", "mcp__x__y"]),
                "tool_input": {"i": i}}  # fmt: skip
        shape = rng.choice(["ok", "ok", "ok", "fail", "interrupt", "pre", "post", "ok-no-ms"])
        if shape != "post":
            out.append(base | {"hook_event_name": "PreToolUse"})
        ms = {} if shape == "ok-no-ms" else {"duration_ms": rng.randint(1, 90_000)}
        if shape in ("ok", "post", "ok-no-ms"):
            out.append(base | {"hook_event_name": "PostToolUse", "tool_response": "r"} | ms)
        elif shape in ("fail", "interrupt"):
            out.append(base | {"hook_event_name": "PostToolUseFailure", "error": "Exit code 2",
                               "is_interrupt": shape == "interrupt"} | ms)  # fmt: skip
        if rng.random() < 0.2:
            out.append({"session_id": sid, "hook_event_name": "UserPromptSubmit",
                        "prompt": f"p{i}", "prompt_id": f"{sid}-{i}"})  # fmt: skip
    out.append({"session_id": sid, "hook_event_name": "SessionEnd", "reason": "other"})
    return out


def corpus(seed: int) -> list[Hook]:
    rng = random.Random(seed)
    payloads = (
        recording() + recording("second") + [p for n in range(6) for p in random_session(rng, n)]
    )
    return [event(p, 37 * i, machine=f"m{i % 2}") for i, p in enumerate(payloads)]


def resent(events: list[Hook], rng: random.Random) -> list[Hook]:
    """Copies Claude Code (or a replayed recording) delivered again later: same id, later time."""
    return [
        Hook(**{**{f: getattr(e, f) for f in e.__struct_fields__},
                "ts": e.ts + timedelta(minutes=rng.randint(1, 90))})
        for e in rng.sample(events, len(events) // 4)
    ]  # fmt: skip


def messy(events: list[Hook], rng: random.Random) -> list[Hook]:
    """Shuffled, with exact duplicates (a redelivery, a producer that sent twice)."""
    out = events + rng.sample(events, len(events) // 3)
    rng.shuffle(out)
    return out


def chunked(events: list[Hook], rng: random.Random) -> list[list[Hook]]:
    out, i = [], 0
    while i < len(events):
        n = rng.choice([1, 2, 7, 64, 500])
        out.append(events[i : i + n])
        i += n
    return out


async def build(db_path: Path, batches: list[list[Hook]]) -> None:
    db = await open_store(db_path)
    try:
        for seq, batch in enumerate(batches, 1):
            await apply_batch(db, "processor", [], seq, "stream", (), batch)
    finally:
        await db.close()


def dump(db_path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db_path)
    try:
        out: dict[str, Any] = {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("hook_seen", "hook_spans", "session_hooks")
        }
        out["report"] = tool_report(tool_calls(conn, CallFilters()))
        return out
    finally:
        conn.close()


COUNTS = "SELECT session_id, events, prompts, tool_calls, tool_failures, subagents, compactions, "
COUNTS += "end_reason FROM session_hooks ORDER BY 1"


def counts(db_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(COUNTS).fetchall()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_any_order_any_batches_any_duplicates_same_read_model(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    events = corpus(seed)
    stream = events + resent(events, rng)  # what the stream holds, in the order stored
    await build(tmp_path / "once.db", [events])
    await build(tmp_path / "clean.db", [stream])
    await build(tmp_path / "messy.db", chunked(messy(stream, rng), rng))
    clean, other = dump(tmp_path / "clean.db"), dump(tmp_path / "messy.db")
    assert len(clean["hook_seen"]) == len({e.event_id for e in events})
    assert clean["report"]["totals"]["calls"] > 50
    assert other == clean
    # Copies delivered again change no count, no pairing, no duration.
    assert dump(tmp_path / "once.db")["report"] == clean["report"]
    assert counts(tmp_path / "once.db") == counts(tmp_path / "clean.db")


def test_post_before_pre_pairs_the_same() -> None:
    pre = {"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash",
           "tool_use_id": "t1", "cwd": "/w"}  # fmt: skip
    post = pre | {"hook_event_name": "PostToolUse", "tool_response": {"stdout": "x"}}
    events = [event(pre, 0), event(post, 2500)]
    for order in (events, events[::-1], events + events[::-1]):
        folded = fold(set(), {}, {}, order)
        [span] = folded.spans.values()
        assert (span.label, span.duration_ms, span.outcome) == ("Bash", 2500.0, True)
        assert span.where == ("acct", "m1", "/w")
        [session] = folded.sessions.values()
        assert (session.tool_calls, session.tool_failures, session.events) == (1, 0, 2)
    reported = [event(pre, 0), event(post | {"duration_ms": 42}, 2500)]
    [span] = fold(set(), {}, {}, reported[::-1]).spans.values()
    assert span.duration_ms == 42.0  # Claude Code's own measure wins over our clocks
    # Folding onto stored state: the Post alone first, then its Pre in a later batch.
    first = fold(set(), {}, {}, [events[1]])
    second = fold({events[1].event_id}, first.spans, first.sessions, [events[0]])
    [span] = second.spans.values()
    assert span.duration_ms == 2500.0
    assert second.sessions["s"].tool_calls == 1 and second.sessions["s"].events == 2


def test_failures_unfinished_and_percentiles() -> None:
    def call(i: int, name: str, **extra: Any) -> list[Hook]:
        pre = {"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash",
               "tool_use_id": f"t{i}"}  # fmt: skip
        out = [event(pre, i * 10_000)]
        if name:
            out.append(event(pre | {"hook_event_name": name} | extra, i * 10_000 + 1))
        return out

    events = [e for i in range(1, 11) for e in call(i, "PostToolUse", duration_ms=i * 100)]
    events += call(11, "PostToolUseFailure", error="ENOENT: no such file", duration_ms=5)
    events += call(12, "PostToolUseFailure", error="x", is_interrupt=True)
    events += call(13, "")  # still running
    folded = fold(set(), {}, {}, events)
    assert all(span_key(e) is not None for e in events)
    from usagectl.projections.toolreport import Call

    report = tool_report(
        Call(s.label, s.duration_ms, s.outcome, s.error_kind) for s in folded.spans.values()
    )
    [bash] = report["tools"]
    assert (bash["calls"], bash["failures"], bash["unfinished"]) == (13, 2, 1)
    assert bash["failureRate"] == round(2 / 12, 4)
    assert bash["errorKinds"] == {"enoent": 1, "interrupt": 1}
    # 100..1000 ms, 5 ms, and the interrupted call's 1 ms between its Pre and Post.
    assert bash["timedCalls"] == 12
    assert bash["p50DurationMs"] == 450.0
    assert folded.sessions["s"].tool_failures == 2
