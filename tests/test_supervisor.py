"""`up` as a supervisor: a dead embedded hub and a dead processor are started again and the
counting goes on; a stop is a stop even when the children are stuck; `sync` says in one line
what failed and what to do."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos import _children
from conftest import USAGECTL, Env, NatsServer, make_env
from corpus import generate
from resilience import read_model_tokens, wait_for


def _line(mid: str, tokens: int) -> str:
    message = {"id": mid, "model": "claude-sonnet-4-5",
               "usage": {"input_tokens": tokens, "output_tokens": 1}}  # fmt: skip
    line = {"type": "assistant", "timestamp": "2026-09-03T12:00:00.000Z", "sessionId": "s",
            "requestId": "r-" + mid, "message": message}  # fmt: skip
    return json.dumps(line) + "\n"


def _write(env: Env, name: str, tokens: int) -> None:
    folder = env.claude / "projects" / f"-p-{name}"
    folder.mkdir()
    (folder / "s.jsonl").write_text(_line(name, tokens))


def _processor_pid(up: int) -> int:
    for pid in _children(up):
        if b"processor" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    raise AssertionError("no processor child")


def test_up_restarts_a_dead_hub_and_processor_and_stops_when_they_are_stuck(
    tmp_path: Path,
) -> None:
    env = make_env(tmp_path, None)  # the embedded hub, started and watched by `up`
    truth = generate(env.claude, seed=61, sessions=4, days=2)
    want = truth["totals"]["totalTokens"]
    db = env.home / "usage.db"
    proc = env.popen("up")
    hub_pid = 0
    try:
        wait_for(lambda: read_model_tokens(db) == want, 60, "the backfill")
        hub_pid = json.loads((env.home / "nats" / "server.json").read_text())["pid"]
        os.kill(hub_pid, signal.SIGKILL)
        _write(env, "after-hub", 1000)  # on the old main: never counted, `up` hangs
        wait_for(lambda: read_model_tokens(db) == want + 1001, 90, "counting after the hub died")
        assert env.log("up").count("the embedded hub stopped") == 1, env.log("up")

        os.kill(_processor_pid(proc.pid), signal.SIGKILL)
        _write(env, "after-processor", 20000)  # on the old main: `up` exited
        wait_for(lambda: read_model_tokens(db) == want + 1001 + 20001, 90, "the processor back")
        assert env.log("up").count("the processor stopped") == 1, env.log("up")
        assert proc.poll() is None

        # Stuck children (stopped, not dead) do not hold a stop up.
        hub_pid = json.loads((env.home / "nats" / "server.json").read_text())["pid"]
        os.kill(hub_pid, signal.SIGSTOP)
        os.kill(_processor_pid(proc.pid), signal.SIGSTOP)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)  # on the old main: waits for the stopped children, for ever
        assert proc.returncode == 0, env.log("up")
        assert "Traceback" not in env.log("up")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if hub_pid:
            for sig in (signal.SIGKILL, signal.SIGCONT):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(hub_pid, sig)


@contextlib.contextmanager
def _small_disk(where: Path, megabytes: int) -> Iterator[Path]:
    """A file system of its own, small enough to fill (tmpfs; needs root)."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs",
                              str(where)], capture_output=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr!r}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


def test_a_full_disk_pauses_up_and_fails_sync_in_one_line(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    with _small_disk(tmp_path / "small", 8) as disk:
        env = make_env(tmp_path / "world", nats_server.url)
        env.home = disk / "usagectl-home"
        truth = generate(env.claude, seed=62, sessions=3, days=1)
        want = truth["totals"]["totalTokens"]
        env.run("sync")
        filler = _fill(disk)
        _write(env, "while-full", 300)

        synced = env.run("sync", check=False)  # on the old main: "database error: ... full"
        assert synced.returncode == 1 and synced.stderr.count("\n") == 1, synced.stderr
        assert f"the disk holding {env.home}" in synced.stderr and "is full" in synced.stderr

        proc = env.popen("up")
        try:
            wait_for(lambda: "is full" in env.log("up"), 60, "the pause")
            assert proc.poll() is None, env.log("up")  # on the old main: ExceptionGroup, gone
            filler.unlink()
            db = env.home / "usage.db"
            wait_for(lambda: read_model_tokens(db) == want + 301, 90, "counting after the pause")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
        assert proc.returncode == 0, env.log("up")
        assert "Traceback" not in env.log("up")


def test_sync_says_in_one_line_that_the_hub_went_away(env: Env, nats_server: NatsServer) -> None:
    generate(env.claude, seed=63, sessions=600, days=10)
    proc = subprocess.Popen([USAGECTL, "sync"], env=env.vars(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_for(lambda: _checkpointed(env) > 0 or proc.poll() is not None, 60, "a checkpoint")
        assert proc.poll() is None, "sync finished before the hub could be killed"
        nats_server.kill()
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # On the old main: "internal error: ConnectionClosedError" (or a traceback).
    assert proc.returncode == 1 and err.count("\n") == 1, err
    assert "internal error" not in err and "run the command again" in err, err


def _checkpointed(env: Env) -> int:
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{env.home / 'producer.db'}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM files").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
