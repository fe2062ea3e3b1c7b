"""The pipeline end to end, as a user runs it: sync, replay, crashes, live tailing, doctor."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Env, NatsServer, make_env, start_server
from corpus import generate

REPORTS = (("daily",), ("monthly",), ("weekly",), ("session",), ("blocks",))


def report_texts(env: Env) -> dict[str, str]:
    return {r[0]: env.run(*r, "--json", "-z", "UTC").stdout for r in REPORTS}


def read_model_dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4").fetchall()
            for table in ("rollup", "session_usage", "session_span", "blocks")
        } | {"ledger": conn.execute(
            "SELECT key, event_id, counted FROM ledger ORDER BY key").fetchall()}  # fmt: skip
    finally:
        conn.close()


def test_replay_rebuilds_byte_identical_reports(env: Env) -> None:
    generate(env.claude, seed=3, sessions=25, days=6)
    env.run("sync")
    before, dump = report_texts(env), read_model_dump(env.home / "usage.db")
    replayed = env.run("replay")
    assert "replayed" in replayed.stderr
    assert report_texts(env) == before
    assert read_model_dump(env.home / "usage.db") == dump


def test_sync_twice_adds_nothing_and_new_lines_only_once(env: Env) -> None:
    truth = generate(env.claude, seed=4, sessions=10, days=3)
    env.run("sync")
    first = env.json("daily", "-z", "UTC")
    env.run("sync")
    assert env.json("daily", "-z", "UTC") == first
    assert first["totals"]["totalTokens"] == truth["totals"]["totalTokens"]


def test_kill_9_mid_backfill_then_rerun_loses_and_doubles_nothing(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    crashy = make_env(tmp_path / "crashy", nats_server.url)
    truth = generate(crashy.claude, seed=9, sessions=800, days=20)
    rng = random.Random(5)
    kills = 0
    for _ in range(4):
        proc = crashy.popen("sync")
        time.sleep(rng.uniform(0.3, 1.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1, "sync finished before any kill: make the corpus larger"
    crashy.run("sync")
    crashed = crashy.json("daily", "-z", "UTC")
    assert crashed["totals"]["totalTokens"] == truth["totals"]["totalTokens"]
    for row in crashed["daily"]:
        expected = truth["daily"][row["date"]]["totals"]
        assert row["outputTokens"] == expected["outputTokens"], row["date"]
        assert row["cacheReadTokens"] == expected["cacheReadTokens"], row["date"]
    # A clean build needs its own hub: on the same one it would share the stream.
    clean_server = start_server(tmp_path / "clean-hub")
    try:
        clean = make_env(tmp_path / "clean", clean_server.url)
        generate(clean.claude, seed=9, sessions=800, days=20)
        clean.run("sync")
        assert clean.json("daily", "-z", "UTC") == crashed
        assert clean.json("blocks", "-z", "UTC") == crashy.json("blocks", "-z", "UTC")
    finally:
        clean_server.kill()


def _total(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT coalesce(sum(output), 0) FROM rollup").fetchone()
        return int(row[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _wait(predicate: Callable[[], object], timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError("timed out")


ASSISTANT = (
    '{{"type":"assistant","timestamp":"{ts}","sessionId":"live","cwd":"/work/live","message":'
    '{{"id":"msg_live_{n}","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":3,'
    '"output_tokens":{out},"cache_read_input_tokens":10}}}},"requestId":"req_live_{n}"}}\n'
)


def test_line_appended_while_up_runs_shows_in_daily_within_a_second(env: Env) -> None:
    generate(env.claude, seed=5, sessions=5, days=2)
    transcript = env.claude / "projects" / "-work-live" / "live.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text("")
    db = env.home / "usage.db"
    proc = env.popen("up")
    try:
        _wait(lambda: _total(db) > 0, 30)
        time.sleep(0.5)
        base = _total(db)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        with transcript.open("a") as f:
            f.write(ASSISTANT.format(ts=ts, n=1, out=7777))
        took = _wait(lambda: _total(db) == base + 7777, 10)
        assert took < 1.0, f"appended line took {took:.2f}s to reach the read model"
        today = env.json("daily", "-z", "UTC")["daily"][-1]
        assert "claude-sonnet-4-5-20250929" in today["modelsUsed"]
        # A partial line waits for its newline; then it counts exactly once.
        line = ASSISTANT.format(ts=ts, n=2, out=11)
        with transcript.open("a") as f:
            f.write(line[:40])
            f.flush()
            time.sleep(0.4)
            assert _total(db) == base + 7777
            f.write(line[40:])
        _wait(lambda: _total(db) == base + 7777 + 11, 10)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0, env.log("up")


def test_malformed_lines_are_counted_by_reason(env: Env) -> None:
    truth = generate(env.claude, seed=11, sessions=30, days=10, quirks=True)
    env.run("sync")
    report = env.json("doctor")
    reasons = report["producer"]["lines_by_reason"]
    lines = truth["lines"]
    assert reasons["rejected:not_json"] == lines["malformed_not_json"] + lines[
        "malformed_truncated"]  # fmt: skip
    assert reasons["rejected:missing_token_field"] == lines["malformed_missing_input_tokens"]
    bad = sum(lines[f"malformed_{k}_tokens"] for k in ("negative", "float", "string"))
    assert reasons["rejected:bad_token_value"] == bad
    assert reasons["rejected:bad_timestamp"] == lines["malformed_bad_timestamp"]
    assert reasons["skipped:progress"] == lines["progress"]
    assert report["producer"]["lines"] == lines["total"]
    assert report["bus"]["reachable"] and report["bus"]["consumer_lag"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("daily", "-z", "Mars/Olympus"), "invalid --timezone"),
        (("daily", "--since", "2026-13-45"), "invalid --since"),
        (("blocks", "--token-limit", "lots"), "invalid --token-limit"),
        (("weekly", "--start-of-week", "someday"), "invalid --start-of-week"),
        (("daily",), "no read model"),
    ],
)
def test_bad_input_is_one_clear_line(env: Env, args: tuple[str, ...], message: str) -> None:
    proc = env.run(*args, check=False)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_unreadable_data_root_is_one_clear_line(env: Env) -> None:
    env.extra["CLAUDE_CONFIG_DIR"] = str(env.root / "does-not-exist")
    proc = env.run("sync", check=False)
    assert proc.returncode == 1
    assert "no Claude data directory" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_full_disk_is_one_clear_line(env: Env) -> None:
    small = env.root / "small"
    small.mkdir()
    if os.system(f"mount -t tmpfs -o size=64k tmpfs {small} 2>/dev/null") != 0:
        pytest.skip("cannot mount a tiny tmpfs here (needs root)")
    try:
        generate(env.claude, seed=1, sessions=20, days=3)
        env.extra["USAGECTL_HOME"] = str(small / "home")
        proc = env.run("sync", check=False)
        assert proc.returncode == 1
        assert "No space left on device" in proc.stderr or "full" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert "Traceback" not in proc.stderr
    finally:
        os.system(f"umount {small}")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_embedded_hub_is_started_and_stopped_by_sync(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    truth = generate(env.claude, seed=2, sessions=300, days=5)
    # A sync killed before it could clean up leaves its hub; the next one adopts and stops it.
    proc = env.popen("sync")
    _wait(lambda: (env.home / "nats" / "server.json").exists(), 30)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    env.run("sync")
    state = json.loads((env.home / "nats" / "server.json").read_text())
    _wait(lambda: not _alive(state["pid"]), 5)
    assert env.json("daily", "-z", "UTC")["totals"]["totalTokens"] == truth["totals"][
        "totalTokens"]  # fmt: skip
    # History survives: a second sync restarts the hub on the same store and adds nothing.
    env.run("sync")
    assert env.json("doctor")["read_model"]["responses_counted"] > 0


def test_hub_that_lost_its_store_gets_everything_again_counted_once(
    env: Env, nats_server: NatsServer
) -> None:
    truth = generate(env.claude, seed=6, sessions=15, days=4)
    env.run("sync")
    before = env.json("daily", "-z", "UTC")
    nats_server.kill()
    shutil.rmtree(nats_server.store)
    nats_server.start()
    transcript = env.claude / "projects" / "-work-live" / "late.jsonl"
    transcript.parent.mkdir(parents=True)
    transcript.write_text(ASSISTANT.format(ts="2026-09-02T10:00:00.000Z", n=9, out=4242))
    env.run("sync")
    after = env.json("daily", "-z", "UTC")
    assert after["totals"]["outputTokens"] == before["totals"]["outputTokens"] + 4242
    assert after["totals"]["totalTokens"] == truth["totals"]["totalTokens"] + 4242 + 3 + 10
    # The rebuilt stream holds everything again: a replay gives the same reports.
    env.run("replay")
    assert env.json("daily", "-z", "UTC") == after


def test_default_time_zone_is_the_systems_with_its_rules(env: Env) -> None:
    generate(env.claude, seed=12, sessions=20, days=6)
    env.run("sync")
    utc = env.json("daily", "-z", "UTC")
    explicit = env.json("daily", "-z", "Pacific/Kiritimati")
    env.extra["TZ"] = "Pacific/Kiritimati"
    assert env.json("daily") == explicit != utc
    env.extra["TZ"] = ":/etc/localtime"  # a common setting that names a file, not a zone
    assert env.run("daily", "--json").returncode == 0
