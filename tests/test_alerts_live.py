"""Alerts about now: the projected block overrun, the burn rate, the official 5-hour figure, a
producer gone silent and new machines fire from the timer (and from events), reach a webhook
and a NATS subject once, and clear when the condition goes away. `alerts test` and config
mistakes are one clear line each; a failing webhook is retried with backoff."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from conftest import Env
from test_statusline import rate_limits, status_json, statusline, write_recent
from usagectl.projections.events import Heartbeat, encode, subject
from webhook import Receiver, receiving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiving()


class Subscriber:
    """Everything published on ``usagectl.v1.alert.>``, collected by a client of our own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.msgs: list[dict[str, Any]] = []
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    async def _main(self) -> None:
        nc = await nats.connect(self.url)

        async def got(msg: Any) -> None:
            self.msgs.append({"subject": msg.subject, "headers": dict(msg.headers or {}),
                              "body": json.loads(msg.data)})  # fmt: skip

        await nc.subscribe("usagectl.v1.alert.>", cb=got)
        await nc.flush()
        self._ready.set()
        await asyncio.to_thread(self._stop.wait)
        await nc.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def heartbeat(url: str, machine: str, ts: datetime) -> None:
    async def main() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        await js.publish(subject("usagectl", "heartbeat", machine),
                         encode(Heartbeat(ts=ts, machine=machine, version="test")))  # fmt: skip
        await nc.close()

    asyncio.run(main())


LIVE = """
[alerts]
timezone = "UTC"
evaluate_every = "0.3s"

[[alerts.rules]]
name = "overrun"
kind = "block_overrun"
plan = "pro"

[[alerts.rules]]
name = "hot"
kind = "burn_rate"
threshold = 1000

[[alerts.rules]]
name = "official"
kind = "official_5h"
threshold = 80

[[alerts.rules]]
name = "quiet"
kind = "silent"
minutes = 5

[[alerts.rules]]
name = "new"
kind = "new_machine"

[[alerts.sinks]]
type = "webhook"
url = "{url}"

[[alerts.sinks]]
type = "nats"
"""


def _until(predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def statuses(env: Env) -> dict[str, str]:
    return {a["id"]: a["status"] for a in json.loads(env.run("alerts", "--json").stdout)}


def test_time_based_rules_fire_once_reach_nats_and_clear(env: Env, receiver: Receiver) -> None:
    assert env.nats_url is not None
    write_recent(env.claude, "live", [(50, 30_000, 20_000), (5, 30_000, 20_000)], "live")
    env.home.mkdir(parents=True, exist_ok=True)
    (env.home / "config.toml").write_text(LIVE.format(url=receiver.url))
    env.extra["USAGECTL_CONSUMERS"] = "alerts"
    env.run("sync")  # the block's alerts, and the streams
    before = set(receiver.ids())
    subscriber = Subscriber(env.nats_url)
    statusline(env, status_json("live", rate_limits(92, 40)))
    env.run("sync")
    now = datetime.now(UTC)
    active = [b for b in env.json("blocks", "-z", "UTC")["blocks"] if b["isActive"]]
    block_id = active[0]["startTime"][:16] + "Z"
    from_events = {f"overrun@{block_id}", f"hot@{block_id}", "new@test-machine"}
    assert from_events == before
    official = [i for i in receiver.ids() if i.startswith("official@")]
    assert len(official) == 1
    # Heartbeats: one machine silent for 20 minutes, one alive; the consumer runs alone now.
    try:
        heartbeat(env.nats_url, "far-away", now - timedelta(minutes=20))
        heartbeat(env.nats_url, "near", now)
        quiet = f"quiet@far-away/{(now - timedelta(minutes=20)).strftime('%Y-%m-%dT%H:%MZ')}"
        env.extra.pop("USAGECTL_CONSUMERS")
        proc = env.popen("consumers", "run", "alerts")
        try:
            _until(lambda: {quiet, "new@far-away", "new@near"} <= set(receiver.ids()))
            assert statuses(env)[quiet] == "firing"
            heartbeat(env.nats_url, "far-away", datetime.now(UTC))  # it is back
            _until(lambda: statuses(env)[quiet] == "resolved")
            time.sleep(1.0)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, env.log("consumers")
    finally:
        subscriber.close()
    ids = receiver.ids()
    assert set(ids.values()) == {1}, ids
    assert set(ids) == from_events | {official[0], quiet, "new@far-away", "new@near"}
    on_nats = {m["body"]["id"]: m for m in subscriber.msgs}
    assert sorted(on_nats) == sorted(set(ids) - before) and len(subscriber.msgs) == len(on_nats)
    assert on_nats[quiet]["subject"] == "usagectl.v1.alert.quiet"
    assert on_nats[quiet]["headers"]["Usagectl-Alert-Id"] == quiet
    assert "silent for 20 min" in on_nats[quiet]["body"]["text"]
    assert on_nats[official[0]]["body"]["value"] == 92


TEST_CONFIG = """
[alerts]
[[alerts.rules]]
name = "daily"
kind = "daily_cost"
threshold = 0.5

[[alerts.sinks]]
type = "webhook"
name = "slack"
url = "{url}"
backoff = "0.1s"

[[alerts.sinks]]
type = "log"

[[alerts.sinks]]
type = "nats"
"""


def test_alerts_test_retries_and_one_line_errors(env: Env, receiver: Receiver) -> None:
    env.home.mkdir(parents=True)
    config = env.home / "config.toml"
    config.write_text(TEST_CONFIG.format(url=receiver.url))
    out = env.run("alerts", "test")
    assert "✓ slack (http://127.0.0.1/***): HTTP 200" in out.stdout
    assert "✓ log: usagectl alert: usagectl [test] test alert from test-machine" in out.stdout
    assert "✓ nats (usagectl.v1.alert.<rule>): usagectl.v1.alert.test" in out.stdout
    assert receiver.posts[-1].body["test"] is True
    # A webhook that answers 503 twice is retried with backoff, with the same key.
    receiver.script = [503, 503]
    env.extra["USAGECTL_CONSUMERS"] = "alerts"
    write_recent(env.claude, "s", [(30, 100_000, 50_000)], "s")
    env.run("sync")
    daily = [p for p in receiver.posts if not p.body["test"]]
    assert len(daily) == 3 and len({p.headers["Idempotency-Key"] for p in daily}) == 1
    log = (env.home / "consumers" / "alerts.log").read_text()
    assert "HTTP 503; retry 1 in 0s" in log and "HTTP 503; retry 2 in 0s" in log
    assert "http://127.0.0.1/***" in log and "SECRET" not in log
    # An unreachable webhook, a bad rule, a bad threshold: one line, exit 1.
    receiver.stop()
    bad = env.run("alerts", "test", check=False)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "slack (http://127.0.0.1/***): unreachable" in bad.stderr and "SECRET" not in bad.stderr
    for text, message in (
        (TEST_CONFIG.replace("daily_cost", "dayly_cost"), "unknown kind 'dayly_cost'"),
        (TEST_CONFIG.replace("0.5", "-3"), "bad threshold"),
        (TEST_CONFIG.replace('type = "log"', 'type = "pager"'), "unknown type 'pager'"),
    ):
        config.write_text(text.format(url=receiver.url))
        for command in (("alerts", "test"), ("sync",)):
            proc = env.run(*command, check=False)
            assert proc.returncode == 1, (command, proc.stderr)
            assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
            assert "Traceback" not in proc.stderr


UP = """
[consumers]
enabled = ["alerts"]

[alerts]
timezone = "UTC"
evaluate_every = "0.3s"

[[alerts.rules]]
name = "daily"
kind = "daily_cost"
threshold = 0.01

[[alerts.rules]]
name = "big-day"
kind = "daily_cost"
threshold = {big}

[[alerts.sinks]]
type = "webhook"
url = "{url}"
"""


def _children_of(pid: int, marker: bytes) -> list[int]:
    from pathlib import Path

    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
            mine = int(fields[1]) == pid and fields[0] != "Z"
            if mine and marker in (stat.parent / "cmdline").read_bytes():
                out.append(int(stat.parent.name))
        except (OSError, IndexError):
            continue
    return out


def test_up_runs_enabled_consumers_and_restarts_a_crashed_one(env: Env, receiver: Receiver) -> None:
    import os

    write_recent(env.claude, "up", [(20, 1000, 1000)], "up")
    env.home.mkdir(parents=True, exist_ok=True)
    (env.home / "config.toml").write_text(UP.format(url=receiver.url, big=10.0))
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    up = env.popen("up")
    try:
        _until(lambda: f"daily@{today}" in receiver.ids())
        first = _children_of(up.pid, b"consumers\0run")
        assert len(first) == 1
        os.kill(first[0], signal.SIGKILL)
        _until(lambda: _children_of(up.pid, b"consumers\0run") not in ([], first))
        # A big response later: the restarted consumer sees it, once.
        write_recent(env.claude, "up2", [(1, 3_000_000, 500_000)], "up2")
        _until(lambda: f"big-day@{today}" in receiver.ids())
        time.sleep(1.0)
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=30) == 0, env.log("up")
    assert receiver.ids() == {f"daily@{today}": 1, f"big-day@{today}": 1}
    assert "the alerts consumer stopped" in env.log("up") and "restarting" in env.log("up")
    assert not _children_of(up.pid, b"consumers\0run")
