"""Scenarios shared by the resilience tests and their longer benchmark runs."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from conftest import make_env, start_server
from corpus import generate

TOKENS_SQL = (
    "SELECT coalesce(sum(input + output + cache_write_5m + cache_write_1h + cache_read), 0) "
    "FROM rollup"
)


def read_model_tokens(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(TOKENS_SQL).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_for(predicate: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _grow(source: Path, target: Path, outage_s: float) -> int:
    """Copy a second corpus into the watched root bit by bit, as sessions would write it."""
    files = sorted(p for p in (source / "projects").rglob("*.jsonl") if p.is_file())
    step = outage_s / max(len(files), 1)
    for path in files:
        dest = target / "projects" / path.relative_to(source / "projects")
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        half = data.rfind(b"\n", 0, len(data) // 2) + 1
        dest.write_bytes(data[:half])
        time.sleep(step / 2)
        with dest.open("ab") as f:
            f.write(data[half:])
        time.sleep(step / 2)
    return len(files)


def hub_outage(where: Path, outage_s: float, sessions: int = 8) -> dict[str, Any]:
    """`up` runs against a hub that dies for ``outage_s`` while transcripts keep growing;
    afterwards the read model must hold both corpora exactly once."""
    server = start_server(where)
    env = make_env(where / "machine", server.url)
    first = generate(env.claude, seed=41, sessions=sessions, days=2)
    later = generate(where / "later", seed=42, sessions=sessions, days=2, start="2026-09-05")
    expected = first["totals"]["totalTokens"] + later["totals"]["totalTokens"]
    db = env.home / "usage.db"
    proc = env.popen("up")
    try:
        wait_for(lambda: read_model_tokens(db) == first["totals"]["totalTokens"], 120, "backfill")
        server.kill()
        down = time.monotonic()
        files = _grow(where / "later", env.claude, outage_s)
        time.sleep(max(0.0, outage_s - (time.monotonic() - down)))
        assert proc.poll() is None, f"`up` died during the outage:\n{env.log('up')}"
        server.start()
        caught_up = wait_for(lambda: read_model_tokens(db) == expected, 120, "catch-up")
        time.sleep(2)
        final = read_model_tokens(db)
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        return {"outage_s": time.monotonic() - down - caught_up, "files_written": files,
                "caught_up_s": caught_up, "expected": expected, "final": final,
                "daily": env.json("daily", "-z", "UTC")["totals"]["totalTokens"]}  # fmt: skip
    finally:
        if proc.poll() is None:
            proc.kill()
        server.kill()
        shutil.rmtree(where / "later", ignore_errors=True)
