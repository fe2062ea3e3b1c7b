"""`GET /events`: Server-Sent Events from a real hub. Ids are the facts stream's sequences, so a
client that reconnects with Last-Event-ID gets exactly what it missed; heartbeats and alerts
come without ids; a stale or future id gets one `reset`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from conftest import Env, NatsServer
from serving import EventStream, Served, events, serve
from usagectl.processors.bus import BusSettings, connect, ensure_streams
from usagectl.projections.events import (
    Event,
    Heartbeat,
    Hook,
    Limit,
    Source,
    Usage,
    UsageBatch,
    encode,
    subject,
)


def usage(n: int, machine: str = "laptop") -> Usage:
    return Usage(
        event_id=f"ev-{n}", ts=datetime.now(UTC), machine=machine, account="default",
        project="/work/app", project_dir="-work-app", session_id="s1",
        source=Source(f"/r/{n}.jsonl", 0), message_id=f"msg_{n}", request_id=f"req_{n}",
        model="claude-sonnet-4-5-20250929", input=10, output=n,
    )  # fmt: skip


async def _publish(url: str, kind: str, event: Event, machine: str = "laptop") -> int:
    bus = BusSettings(url=url)
    nc = await connect(bus)
    try:
        js = nc.jetstream()
        await ensure_streams(js, bus)
        ack = await js.publish(subject(bus.prefix, kind, machine), encode(event))
        return int(ack.seq)
    finally:
        await nc.close()


def publish(server: NatsServer, *items: Event) -> list[int]:
    """Publish facts (or heartbeats), return their stream sequences."""
    seqs = []
    for item in items:
        kind = {UsageBatch: "usage", Heartbeat: "heartbeat"}.get(type(item), type(item).__name__)
        seqs.append(asyncio.run(_publish(server.url, kind.lower(), item)))
    return seqs


async def _alert(url: str, payload: bytes) -> None:
    nc = await connect(BusSettings(url=url))
    try:
        await nc.publish("usagectl.v1.alert.budget", payload)
        await nc.flush()
    finally:
        await nc.close()


@pytest.fixture
def served(env: Env) -> Iterator[Served]:
    s = serve(env)  # no read model: events need only the hub
    yield s
    s.stop()


def facts(stream: EventStream, n: int) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    while len(out) < n:
        e = stream.next()
        if e.type in ("usage", "limit"):
            out.append((e.type, e.id))
    return out


def test_reconnecting_with_last_event_id_misses_nothing_and_repeats_nothing(
    served: Served, nats_server: NatsServer
) -> None:
    first = publish(nats_server, usage(1), usage(2), usage(3))
    stream = events(served, since=0)
    assert stream.status == 200
    assert stream.response.getheader("content-type", "").startswith("text/event-stream")
    assert stream.until("hello").data == {"from": 1}
    assert facts(stream, 3) == [("usage", s) for s in first]
    stream.close()
    # While the client is away: usage, a hook (not forwarded) and a limit.
    hook = Hook(event_id="h1", ts=datetime.now(UTC), machine="laptop", account="default",
                session_id="s1", name="Stop")  # fmt: skip
    limit = Limit(event_id="l1", ts=datetime.now(UTC), machine="laptop", account="default",
                  session_id="s1", five_hour_pct=33.0)  # fmt: skip
    missed = publish(nats_server, usage(4), usage(5), hook, usage(6), limit)
    again = events(served, since=0, last_id=first[-1])  # the header wins over ?since=
    assert again.until("hello").data == {"from": first[-1] + 1}
    got = facts(again, 4)
    assert got == [("usage", missed[0]), ("usage", missed[1]), ("usage", missed[3]),
                   ("limit", missed[4])]  # fmt: skip
    live = publish(nats_server, UsageBatch((usage(7), usage(8, machine="desktop"))))
    batch = again.until("usage")
    assert batch.id == live[0]
    assert batch.data["count"] == 2 and batch.data["machines"] == ["desktop", "laptop"]
    assert batch.data["totalTokens"] == 10 + 7 + 10 + 8
    again.close()


def test_without_a_position_only_new_facts_arrive(served: Served, nats_server: NatsServer) -> None:
    publish(nats_server, usage(1), usage(2))
    stream = events(served)
    hello = stream.until("hello")
    (new,) = publish(nats_server, usage(3))
    assert hello.data == {"from": new}
    first = stream.until("usage")
    assert (first.id, first.data["events"][0]["totalTokens"]) == (new, 13)
    stream.close()


def test_heartbeats_and_alerts_come_without_ids(served: Served, nats_server: NatsServer) -> None:
    beat = Heartbeat(ts=datetime.now(UTC), machine="laptop", version="0.1.0", files=3)
    publish(nats_server, beat)
    stream = events(served)
    stream.until("hello")
    got = stream.until("heartbeat")  # the latest of every machine, on connect
    assert got.id is None and got.data["machine"] == "laptop" and got.data["files"] == 3
    alert = {"kind": "budget", "severity": "warning", "message": "daily budget 80% used"}
    asyncio.run(_alert(nats_server.url, json.dumps(alert).encode()))
    got = stream.until("alert")
    assert got.id is None and got.data == alert
    stream.close()


def test_an_id_ahead_of_the_stream_gets_a_reset(served: Served, nats_server: NatsServer) -> None:
    (last,) = publish(nats_server, usage(1))
    stream = events(served, last_id=10**9)
    reset = stream.until("reset")
    assert reset.id == last and reset.data == {"seq": last, "reason": "ahead of the stream"}
    (new,) = publish(nats_server, usage(2))
    assert stream.until("usage").id == new
    stream.close()


@pytest.mark.parametrize("header", ["abc", "-1", "1.5", "9" * 30])
def test_a_bad_last_event_id_is_a_400(served: Served, header: str) -> None:
    reply = served.request("/events", headers={"Last-Event-ID": header})
    assert reply.status == 400 and "Last-Event-ID" in reply.json()["error"]
    assert served.request("/events", {"since": "x"}).status == 400


def test_open_streams_end_when_the_server_stops(served: Served) -> None:
    streams = [events(served) for _ in range(3)]
    for s in streams:
        s.until("hello")
    # A client may hold a few streams; past the cap it is refused.
    more = [events(served) for _ in range(5)]
    refused = events(served)
    assert refused.status == 429
    refused.close()
    assert served.stop() == 0
    for s in streams + more:
        with pytest.raises((EOFError, OSError)):
            s.until("usage", timeout=5)
        s.close()
