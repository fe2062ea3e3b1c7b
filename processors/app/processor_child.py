"""The processor as a child process: producer and processor then use both cores, and each can
be killed, restarted and measured on its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from .settings import Settings

POLL_S = 0.05
RESTART_FIRST_S = 0.5
RESTART_MAX_S = 30.0
RESTART_CALM_S = 60.0  # a child that ran this long before dying starts its backoff afresh
BUSY_EXIT = 3  # `usagectl processor` exit status when another processor holds the role


def spawn(args: list[str], url: str, home: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``usagectl ARGS`` as a child on the same hub and data directory; it stops by itself
    when this process is gone (USAGECTL_PARENT_PID), and writes to ``log_path``."""
    env = dict(
        os.environ,
        USAGECTL_NATS_URL=url,
        USAGECTL_HOME=str(home),
        USAGECTL_PARENT_PID=str(os.getpid()),
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "usagectl.cli.app", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    SPAWNED.add(proc)
    return proc


# Every child still running: a stop that cannot wait for them kills them (supervise.py).
SPAWNED: set[subprocess.Popen[bytes]] = set()


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM (an orderly stop), then SIGKILL after ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        if proc is not None:
            SPAWNED.discard(proc)
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    SPAWNED.discard(proc)


def last_line(log_path: Path, since: int = 0) -> str:
    """A child's last words (written past byte ``since``): what it says when it fails."""
    try:
        with log_path.open("rb") as f:
            f.seek(since)
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1].removeprefix("usagectl: ") if lines else "no output"


def run_role(role: Callable[[asyncio.Event, int | None], Awaitable[None]]) -> None:
    """A long-running role (`processor`, `consumers run`) until a signal; as a child it exits
    BUSY_EXIT when another process holds the role, so its parent waits its turn."""
    from .locks import Busy

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        parent = os.environ.get("USAGECTL_PARENT_PID")
        await role(stop, int(parent) if parent else None)

    try:
        asyncio.run(main())
    except Busy as err:
        print(f"usagectl: {err}", file=sys.stderr, flush=True)
        raise SystemExit(BUSY_EXIT) from err


class ProcessorFailed(Exception):
    user_facing = True


def read_model_seq(db_path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT max(stream_seq) FROM tracking").fetchone()[0] or 0)
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def caught_up(db_path: Path, target: int) -> bool:
    """The read model holds stream sequence ``target`` and its blocks are refreshed."""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
    except sqlite3.OperationalError:
        return False
    try:
        seq = conn.execute("SELECT max(stream_seq) FROM tracking").fetchone()[0] or 0
        dirty = conn.execute("SELECT count(*) FROM blocks_dirty").fetchone()[0]
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return bool(seq >= target and not dirty)


class ProcessorChild:
    """`usagectl processor` against the same hub and data directory as this process."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = settings
        self.url = url
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = settings.home / "processor.log"
        self.log_at = 0  # where this run's output starts

    def start(self) -> None:
        try:
            self.log_at = self.log.stat().st_size
        except OSError:
            self.log_at = 0
        self.proc = spawn(["processor"], self.url, self.settings.home, self.log)

    def stop(self) -> None:
        terminate(self.proc, 20)

    async def wait_until(self, target: int) -> None:
        """Until the read model reaches ``target``; restarts the child if another processor
        held the role and has gone, and fails plainly if the child failed."""
        while not await asyncio.to_thread(caught_up, self.settings.db_path, target):
            if self.proc is not None and self.proc.poll() is not None:
                if self.proc.returncode != BUSY_EXIT:
                    raise ProcessorFailed(
                        f"the processor stopped: {last_line(self.log, self.log_at)}"
                    )
                self.start()
            await asyncio.sleep(POLL_S)

    async def watch(self, stop: asyncio.Event) -> None:
        """For `up`: the child lives as long as we do (or waits its turn behind another). A
        child that died is started again, after a pause that doubles while it keeps dying,
        with one line per new reason (a full disk says so once, not every restart)."""
        delay, said, started = RESTART_FIRST_S, "", time.monotonic()
        while not stop.is_set():
            if self.proc is not None and self.proc.poll() is not None:
                if self.proc.returncode == BUSY_EXIT:
                    self.start()
                    continue
                if time.monotonic() - started > RESTART_CALM_S:
                    delay = RESTART_FIRST_S  # it ran well for a while: this is a new failure
                why = last_line(self.log, self.log_at)
                why = f"exit {self.proc.returncode}" if why == "no output" else why
                if why != said:
                    say(
                        f"the processor stopped ({why}); restarting it (in {delay:g} s, then "
                        "with longer pauses while it keeps stopping)"
                    )
                    said = why
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                if stop.is_set():
                    return
                delay = min(delay * 2, RESTART_MAX_S)
                self.start()
                started = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


def say(message: str) -> None:
    """One line for the person running `up`."""
    print(f"usagectl: {message}", file=sys.stderr, flush=True)
