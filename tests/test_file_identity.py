"""A transcript rewritten in place, truncated, or deleted and recreated under the same inode is
read again from its start, in `sync` and live under `up`; dedup keeps the totals exact."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

from conftest import Env
from resilience import read_model_tokens, wait_for
from usagectl.producers.checkpoints import FileState
from usagectl.producers.identity import fingerprint
from usagectl.producers.tailer import plan_read


def _line(mid: str, tokens: int) -> str:
    usage = {"input_tokens": tokens, "output_tokens": 1}
    message = {"id": mid, "model": "claude-sonnet-4-5", "usage": usage}
    return json.dumps({"type": "assistant", "timestamp": "2026-09-03T12:00:00.000Z",
                       "sessionId": "s", "requestId": "r-" + mid, "cwd": "/p",
                       "message": message}) + "\n"  # fmt: skip


def _session(env: Env) -> Path:
    folder = env.claude / "projects" / "-p"
    folder.mkdir(exist_ok=True)
    return folder / "s.jsonl"


def _tokens(env: Env) -> int:
    return int(env.json("daily", "-z", "UTC")["totals"]["totalTokens"])


def _rewrite_in_place(path: Path, text: str) -> None:
    with path.open("r+") as f:  # same inode: truncated to nothing, then written again
        f.truncate(0)
        f.write(text)


def test_rewritten_in_place_is_read_again_in_sync(env: Env) -> None:
    f = _session(env)
    f.write_text(_line("a", 100) + _line("b", 200))
    env.run("sync")
    assert _tokens(env) == 302
    inode = f.stat().st_ino
    # Claude Code rewrote the session: the same first response, then others, larger than before.
    _rewrite_in_place(f, _line("a", 100) + _line("c", 3000) + _line("d", 40000))
    assert f.stat().st_ino == inode
    env.run("sync")  # on the old main: resumed mid-line, `not_json`, c and d never counted
    assert _tokens(env) == 302 + 3001 + 40001
    reasons = env.json("doctor")["producer"]["lines_by_reason"]
    assert not any(k.startswith("rejected:") for k in reasons), reasons


def test_deleted_and_recreated_with_the_same_inode_is_read_again(env: Env) -> None:
    f = _session(env)
    f.write_text(_line("a", 100) + _line("b", 200))
    env.run("sync")
    f.unlink()
    f.write_text(_line("e", 5000) + _line("f", 60000) + _line("g", 700000))
    # ext4 often hands the freed inode straight back, but not reliably while other processes
    # create files: make the checkpoint's inode the new file's, as that reuse would.
    conn = sqlite3.connect(env.home / "producer.db")
    with conn:
        conn.execute("UPDATE files SET inode = ?", (f.stat().st_ino,))
    conn.close()
    env.run("sync")
    assert _tokens(env) == 302 + 5001 + 60001 + 700001


def test_same_size_rewrite_and_truncation_are_noticed(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_bytes(b"a" * 99 + b"\n" + b"b" * 99 + b"\n")
    st = os.stat(f)
    known = FileState(str(f), st.st_ino, 200, 200, st.st_mtime_ns, 2, 0, fingerprint(str(f), 200))
    assert plan_read(str(f), known) is None  # untouched: nothing to read, nothing re-read
    with f.open("ab") as out:
        out.write(b"c" * 9 + b"\n")
    plan = plan_read(str(f), known)
    assert plan is not None and not plan[1] and plan[0].offset == 200  # appended: read on
    _rewrite_bytes(f, b"x" * 99 + b"\n" + b"b" * 99 + b"\n")  # same size, new first line
    plan = plan_read(str(f), known)
    assert plan is not None and plan[1] and plan[0].offset == 0
    _rewrite_bytes(f, b"a" * 99 + b"\n" + b"y" * 99 + b"\n" + b"z" * 50 + b"\n")  # new tail
    plan = plan_read(str(f), known)
    assert plan is not None and plan[1] and plan[0].offset == 0


def _rewrite_bytes(path: Path, data: bytes) -> None:
    with path.open("r+b") as out:
        out.truncate(0)
        out.write(data)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a coarse clock ticks too


def test_rewritten_in_place_is_read_again_live(env: Env) -> None:
    f = _session(env)
    f.write_text(_line("a", 100) + _line("b", 200))
    db = env.home / "usage.db"
    proc = env.popen("up")
    try:
        wait_for(lambda: read_model_tokens(db) == 302, 60, "the backfill")
        _rewrite_in_place(f, _line("a", 100) + _line("h", 8000) + _line("i", 90000))
        wait_for(lambda: read_model_tokens(db) == 302 + 8001 + 90001, 60, "the rewrite, live")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, env.log("up")
