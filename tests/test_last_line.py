"""A complete last line without its newline counts once (DESIGN.md §3), as ccusage counts it.

Claude Code may leave a file's final line unterminated for good. The tailer reads such a line
when it is a whole JSON object and the file is quiet (at once in ``sync``); the newline that may
come later is skipped, so the line keeps its one event id and is never counted twice. A partial
tail (not yet a whole object) still waits.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from conftest import Env
from usagectl.producers.tailer import read_chunks

LINE = (
    '{{"type":"assistant","timestamp":"{ts}","sessionId":"s","cwd":"/work/tail","message":'
    '{{"id":"msg_tail_{n}","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":3,'
    '"output_tokens":{out},"cache_read_input_tokens":10}}}},"requestId":"req_tail_{n}"}}'
)


def lines(path: Path, start: int, *, tail: bool, chunk: int = 1 << 20) -> list[tuple[int, bytes]]:
    return [x for c in read_chunks(str(path), start, chunk, tail=tail) for x in c.lines]


def ends(path: Path, start: int, *, tail: bool) -> int:
    return max((c.end for c in read_chunks(str(path), start, tail=tail)), default=start)


def test_quiet_complete_tail_is_read_with_the_offset_and_bytes_it_keeps(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_bytes(b'{"a":1}\n{"b":2}')
    assert lines(f, 0, tail=False) == [(0, b'{"a":1}')]
    assert lines(f, 0, tail=True) == [(0, b'{"a":1}'), (8, b'{"b":2}')]
    assert lines(f, 0, tail=True, chunk=3) == [(0, b'{"a":1}'), (8, b'{"b":2}')]
    assert ends(f, 0, tail=True) == 15
    # The newline arrives with more lines: the tail is not read again, nor a blank line.
    f.write_bytes(b'{"a":1}\n{"b":2}\n{"c":3}\n')
    assert lines(f, 15, tail=True) == [(16, b'{"c":3}')]
    # Read from before the tail (a crash before the checkpoint): the same offset and bytes.
    assert lines(f, 8, tail=False) == [(8, b'{"b":2}'), (16, b'{"c":3}')]


def test_partial_tail_waits_even_when_quiet(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    for partial in (b'{"b":', b'{"b":2', b"[1,2]", b"42", b'"text"', b"   "):
        f.write_bytes(b'{"a":1}\n' + partial)
        assert lines(f, 0, tail=True) == [(0, b'{"a":1}')], partial
        assert ends(f, 0, tail=True) == 8


def test_a_line_after_a_regular_newline_is_not_skipped(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_bytes(b'{"a":1}\n\n{"c":3}\n')
    assert lines(f, 8, tail=False) == [(8, b""), (9, b'{"c":3}')]


def _total_output(env: Env) -> int:
    return int(env.json("daily", "-z", "UTC")["totals"]["outputTokens"])


def test_sync_counts_a_complete_unterminated_last_line_once(env: Env) -> None:
    f = env.claude / "projects" / "-work-tail" / "s.jsonl"
    f.parent.mkdir(parents=True)
    ts = "2026-10-08T10:00:00.000Z"
    f.write_text(LINE.format(ts=ts, n=1, out=100) + "\n" + LINE.format(ts=ts, n=2, out=20))
    env.run("sync")
    assert _total_output(env) == 120
    assert env.json("doctor")["producer"]["tails_held"] == []
    # Its newline and another line arrive later: nothing is counted twice.
    with f.open("a") as out:
        out.write("\n" + LINE.format(ts=ts, n=3, out=3) + "\n")
    env.run("sync")
    assert _total_output(env) == 123
    doctor = env.json("doctor")["producer"]
    assert doctor["lines"] == 3 and doctor["events"] == 3
    assert not any(k.endswith(":blank") for k in doctor["lines_by_reason"])
    # A partial tail waits, and doctor shows it held.
    partial = LINE.format(ts=ts, n=4, out=4)[:50]
    with f.open("a") as out:
        out.write(partial)
    env.run("sync")
    assert _total_output(env) == 123
    held = env.json("doctor")["producer"]["tails_held"]
    assert held == [{"path": str(f), "bytes": 50}]
    assert "held" in env.run("doctor").stdout


def _wait(cond: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _read_model_output(db: Path) -> int:
    if not db.exists():
        return -1
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT coalesce(sum(output), 0) FROM rollup").fetchone()
        return int(row[0])
    except sqlite3.OperationalError:
        return -1
    finally:
        conn.close()


def test_up_counts_a_quiet_unterminated_line_then_ignores_its_late_newline(env: Env) -> None:
    f = env.claude / "projects" / "-work-tail" / "s.jsonl"
    f.parent.mkdir(parents=True)
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    f.write_text(LINE.format(ts=ts, n=1, out=100) + "\n")
    db = env.home / "usage.db"
    proc = env.popen("up")
    try:
        _wait(lambda: _read_model_output(db) == 100, 60)
        with f.open("a") as out:
            out.write(LINE.format(ts=ts, n=2, out=20))  # complete, no newline: counted once quiet
        _wait(lambda: _read_model_output(db) == 120, 60)
        with f.open("a") as out:
            out.write("\n" + LINE.format(ts=ts, n=3, out=3) + "\n")
        _wait(lambda: _read_model_output(db) == 123, 60)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0, env.log("up")
    producer = env.json("doctor")["producer"]
    assert (producer["lines"], producer["events"]) == (3, 3)
