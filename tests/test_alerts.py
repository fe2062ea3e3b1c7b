"""Alerts as a new user meets them: a local HTTP receiver stands in for Slack; `usagectl sync`
over a corpus sends exactly one POST per rule and window with the reports' figures; kills of
the consumer before a send, after a send and in the middle of one lose nothing and resend only
the one in flight (same Idempotency-Key); a replay sends nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Env
from corpus import generate
from webhook import SECRET_PATH, Receiver, receiving

BLOCK_LIMIT = 500_000


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from receiving()


def config(url: str, *, enabled: bool = True, backoff: str = "0.2s") -> str:
    return f"""
{"[consumers]" if enabled else ""}
{'enabled = ["alerts"]' if enabled else ""}

[alerts]
timezone = "UTC"
max_age = "none"
evaluate_every = "0.5s"

[[alerts.rules]]
name = "daily-budget"
kind = "daily_cost"
threshold = 0.01

[[alerts.rules]]
name = "block-limit"
kind = "block_tokens"
plan = "custom"
threshold = {BLOCK_LIMIT}

[[alerts.rules]]
name = "new-machine"
kind = "new_machine"

[[alerts.sinks]]
type = "webhook"
name = "slack"
url = "{url}"
backoff = "{backoff}"

[[alerts.sinks]]
type = "log"
"""


def write_config(env: Env, text: str) -> None:
    env.home.mkdir(parents=True, exist_ok=True)
    (env.home / "config.toml").write_text(text)


def expected(env: Env) -> dict[str, float]:
    """Every alert id the reports say must fire, with its final figure."""
    out: dict[str, float] = {}
    for day in env.json("daily", "-z", "UTC")["daily"]:
        out[f"daily-budget@{day['date']}"] = day["totalCost"]
    for b in env.json("blocks", "-z", "UTC")["blocks"]:
        if not b["isGap"] and b["totalTokens"] >= BLOCK_LIMIT:
            out[f"block-limit@{b['startTime'][:16]}Z"] = b["totalTokens"]
    out[f"new-machine@{env.machine}"] = 1.0
    return out


def listed(env: Env) -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in json.loads(env.run("alerts", "--json").stdout)}


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert "T0SECRET" not in text and "secret-token" not in text


def test_sync_sends_one_post_per_rule_and_window_with_the_reports_figures(
    env: Env, receiver: Receiver
) -> None:
    generate(env.claude, seed=21, sessions=40, days=5)
    write_config(env, config(receiver.url))
    synced = env.run("sync")
    want = expected(env)
    assert sum(k.startswith("block-limit") for k in want) >= 3
    blocks = [b for b in env.json("blocks", "-z", "UTC")["blocks"] if not b["isGap"]]
    assert any(b["totalTokens"] < BLOCK_LIMIT for b in blocks), "the limit should spare a block"
    got = receiver.ids()
    assert sorted(got) == sorted(want) and set(got.values()) == {1}, got
    for post in receiver.posts:
        body = post.body
        assert post.path == SECRET_PATH and post.headers["Idempotency-Key"] == body["id"]
        assert post.headers["Content-Type"] == "application/json"
        assert body["text"].startswith(f"usagectl [{body['rule']}] ") and not body["test"]
        assert body["trigger"] <= body["value"] <= want[body["id"]] + 1e-9
    alerts = listed(env)
    for alert_id, final in want.items():
        assert alerts[alert_id]["latest"] == pytest.approx(final, abs=1e-9), alert_id
        assert alerts[alert_id]["deliveries"]["slack"]["status"] == "sent"
        assert alerts[alert_id]["deliveries"]["log"]["status"] == "sent"
    log = (env.home / "consumers" / "alerts.log").read_text()
    assert log.count("usagectl alert: ") == len(want)
    assert_no_secret(synced.stderr, log, env.run("alerts").stdout, env.run("doctor").stdout,
                     env.run("consumers", "list").stdout)  # fmt: skip
    # Nothing new: nothing sent. A replay rebuilds the same alerts and sends nothing.
    env.run("sync")
    replayed = env.run("consumers", "replay", "alerts")
    assert "replayed alerts" in replayed.stderr
    assert len(receiver.posts) == len(want)
    again = listed(env)

    def figures(listing: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
        # A new-machine window lasts 10 minutes from the machine's first usage: on a busy
        # machine it may close between the sync and the replay, so its status is not compared.
        return {k: (v["value"], v["latest"], None if k.startswith("new-machine@") else
                    v["status"]) for k, v in listing.items()}  # fmt: skip

    assert figures(again) == figures(alerts)
    assert all(d["status"] == "sent" for a in again.values() for d in a["deliveries"].values())


def _outbox(env: Env) -> dict[str, int]:
    conn = sqlite3.connect(env.home / "consumers" / "alerts.db")
    try:
        rows = conn.execute("SELECT status, count(*) FROM outbox WHERE sink = 'slack' "
                            "GROUP BY status").fetchall()  # fmt: skip
        return {str(s): int(n) for s, n in rows}
    finally:
        conn.close()


def _seqs(env: Env) -> tuple[int, int]:
    """(the processor's stream seq, the alerts consumer's)."""
    seqs = []
    for path, name in ((env.home / "usage.db", "processor"),
                       (env.home / "consumers" / "alerts.db", "alerts")):  # fmt: skip
        try:
            conn = sqlite3.connect(path)
            row = conn.execute("SELECT stream_seq FROM tracking WHERE consumer = ?",
                               (name,)).fetchone()  # fmt: skip
            conn.close()
        except sqlite3.OperationalError:
            row = None
        seqs.append(int(row[0]) if row else 0)
    return seqs[0], seqs[1]


def _until(predicate: Any, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.03)


def _caught_up(env: Env) -> bool:
    processor, alerts = _seqs(env)
    return alerts >= processor > 0


def _add(env: Env, staging: Path) -> None:
    for path in sorted((staging / "projects").rglob("*.jsonl")):
        dest = env.claude / path.relative_to(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)


def test_kills_before_after_and_during_a_send(env: Env, tmp_path: Path) -> None:
    """Three slices of history, far apart in time; the consumer runs alone (`consumers run`)
    while `sync` (without consumers) brings each slice into the read model."""
    slices = []
    for i, start in enumerate(("2026-09-01", "2026-09-10", "2026-09-20")):
        generate(tmp_path / f"slice{i}", seed=40 + i, sessions=12, days=2, start=start)
        slices.append(tmp_path / f"slice{i}")
    receiver = Receiver().start()
    port = receiver.port
    write_config(env, config(receiver.url, enabled=False))
    consumer: subprocess.Popen[bytes] | None = None
    try:
        # 1. Kill after every send was recorded: a restart sends nothing again.
        _add(env, slices[0])
        env.run("sync")
        consumer = env.popen("consumers", "run", "alerts")
        _until(lambda: _caught_up(env) and _outbox(env) == {"sent": len(receiver.posts)} and
               len(receiver.posts) > 0, what="the first slice's sends")  # fmt: skip
        first = len(receiver.posts)
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        consumer = env.popen("consumers", "run", "alerts")
        time.sleep(2.0)  # several timer evaluations
        assert len(receiver.posts) == first
        # 2. Kill after the commit, before the sends succeed (the hook is down): a restart
        #    sends them.
        receiver.stop()
        _add(env, slices[1])
        env.run("sync")
        _until(lambda: _caught_up(env) and _outbox(env).get("pending", 0) > 0,
               what="alerts committed while the hook is down")  # fmt: skip
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        pending = _outbox(env)["pending"]
        assert len(receiver.posts) == first
        receiver = Receiver(port=port, posts=receiver.posts).start()
        consumer = env.popen("consumers", "run", "alerts")
        receiver.wait_for(first + pending)
        # 3. Kill in the middle of a send (the receiver holds it open): that one alert is sent
        #    again after the restart, with the same Idempotency-Key; nothing else is.
        receiver.hold = lambda post: True
        _add(env, slices[2])
        env.run("sync")
        assert receiver.held.wait(30)
        held = receiver.posts[-1].body["id"]
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        receiver.release()
        consumer = env.popen("consumers", "run", "alerts")
        want = expected(env)
        receiver.wait_for(len(want) + 1)
        _until(lambda: _outbox(env) == {"sent": len(want)}, what="every send recorded")
        time.sleep(1.0)
    finally:
        if consumer is not None:
            consumer.send_signal(signal.SIGTERM)
            consumer.wait(timeout=30)
        receiver.stop()
    got = receiver.ids()
    assert sorted(got) == sorted(want)
    assert {k: n for k, n in got.items() if n > 1} == {held: 2}
    keys = [p.headers["Idempotency-Key"] for p in receiver.posts if p.body["id"] == held]
    assert keys == [held, held]
    assert consumer.returncode == 0, env.log("consumers")
    assert_no_secret(env.log("consumers"), (env.home / "consumers" / "alerts.log").read_text()
                     if (env.home / "consumers" / "alerts.log").exists() else "")  # fmt: skip


def _consumer_child(sync: subprocess.Popen[bytes]) -> int | None:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == sync.pid and fields[0] != "Z" and b"consumers\0run" in cmdline:
            return int(stat.parent.name)
    return None


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] == "Z"
    except OSError:
        return True


def _sent_ids(env: Env) -> set[str]:
    conn = sqlite3.connect(f"file:{env.home / 'consumers' / 'alerts.db'}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute(
            "SELECT alert_id FROM outbox WHERE sink = 'slack' AND status = 'sent'")}  # fmt: skip
    finally:
        conn.close()


def test_consumer_killed_mid_stream_during_sync_loses_nothing(env: Env) -> None:
    """`sync` restarts its alerts consumer after each SIGKILL; every window arrives, and a
    window arrives twice only if its POST was in flight at a kill (same Idempotency-Key)."""
    generate(env.claude, seed=23, sessions=150, days=12)
    receiver = Receiver(delay_s=0.04).start()
    write_config(env, config(receiver.url))
    kills: list[tuple[int, set[str]]] = []  # (POSTs seen at the kill, sends recorded by then)
    try:
        sync = env.popen("sync")
        for at in (4, 14):
            _until(lambda n=at: len(receiver.posts) >= n or sync.poll() is not None, 60, "POSTs")
            pid = _consumer_child(sync)
            if pid is None:
                break
            os.kill(pid, signal.SIGKILL)
            kills.append((len(receiver.posts), _sent_ids(env)))
            _until(lambda p=pid: _gone(p), 10, "the kill")
        assert sync.wait(timeout=120) == 0, env.log("sync")
    finally:
        receiver.stop()
    want = expected(env)
    got = receiver.ids()
    assert len(kills) == 2, "sync finished before the kills: make the corpus larger"
    assert sorted(got) == sorted(want)  # none missing, none extra
    twice = {k for k, n in got.items() if n > 1}
    assert all(got[k] == 2 for k in twice)
    for k in twice:  # in flight at a kill: POSTed before it, not yet recorded as sent
        assert any(k in {p.body["id"] for p in receiver.posts[:seen]} and k not in sent
                   for seen, sent in kills), k  # fmt: skip
        assert {p.headers["Idempotency-Key"] for p in receiver.posts if p.body["id"] == k} == {k}
    for seen, sent in kills:  # a send recorded before a kill is never repeated after it
        assert not sent & {p.body["id"] for p in receiver.posts[seen:]}
    print(
        f"\n{len(want)} windows, {len(receiver.posts)} POSTs, {len(kills)} kills, "
        f"resent in flight: {sorted(twice)}"
    )


def test_a_machine_back_after_a_day_does_not_refire_old_windows(
    tmp_path: Path, env: Env, receiver: Receiver
) -> None:
    from conftest import make_env

    # The hub machine runs the alerts; "late" reports the same days only after they fired.
    generate(env.claude, seed=51, sessions=20, days=3)
    write_config(env, config(receiver.url))
    env.run("sync")
    first = receiver.ids()
    assert any(k.startswith("daily-budget@") for k in first)
    late = make_env(tmp_path / "late", env.nats_url)
    late.machine = "late-laptop"
    generate(late.claude, seed=52, sessions=20, days=3)
    late.run("sync")
    before = env.json("daily", "-z", "UTC")
    env.run("sync")
    after = env.json("daily", "-z", "UTC")
    assert after["totals"]["totalCost"] > before["totals"]["totalCost"]  # late usage landed
    got = receiver.ids()
    assert set(got.values()) == {1}, "an alert was sent twice"
    new = set(got) - set(first)
    assert "new-machine@late-laptop" in new
    assert not {k for k in new if k.startswith("daily-budget@")}  # those days had fired
    # Their figures follow the late usage without another send.
    alerts = listed(env)
    for day in after["daily"]:
        assert alerts[f"daily-budget@{day['date']}"]["latest"] == pytest.approx(day["totalCost"])


def test_the_hubs_processor_service_runs_the_alerts(
    tmp_path: Path, env: Env, receiver: Receiver
) -> None:
    from conftest import make_env

    # `service install --role hub` runs `usagectl processor`: it must run the alerts too.
    laptop = make_env(tmp_path / "laptop", env.nats_url)
    laptop.machine = "laptop"
    generate(laptop.claude, seed=61, sessions=10, days=2)
    laptop.run("sync")
    write_config(env, config(receiver.url))
    proc = env.popen("processor")
    try:
        days = {f"daily-budget@{d['date']}" for d in laptop.json("daily", "-z", "UTC")["daily"]}
        deadline = time.monotonic() + 60
        while not days <= set(receiver.ids()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert days <= set(receiver.ids())
        assert "new-machine@laptop" in receiver.ids()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, env.log("processor")
    assert set(receiver.ids().values()) == {1}
