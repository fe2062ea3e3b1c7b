"""The processor as a child process: producer and processor then use both cores, and each can
be killed, restarted and measured on its own."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from .settings import Settings

POLL_S = 0.05
BUSY_EXIT = 3  # `usagectl processor` exit status when another processor holds the role


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

    def start(self) -> None:
        env = dict(
            os.environ,
            USAGECTL_NATS_URL=self.url,
            USAGECTL_HOME=str(self.settings.home),
            USAGECTL_PARENT_PID=str(os.getpid()),
        )
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "usagectl.cli.app", "processor"],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _failure(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1].removeprefix("usagectl: ") if lines else "no output"

    async def wait_until(self, target: int) -> None:
        """Until the read model reaches ``target``; restarts the child if another processor
        held the role and has gone, and fails plainly if the child failed."""
        while not await asyncio.to_thread(caught_up, self.settings.db_path, target):
            if self.proc is not None and self.proc.poll() is not None:
                if self.proc.returncode != BUSY_EXIT:
                    raise ProcessorFailed(f"the processor stopped: {self._failure()}")
                self.start()
            await asyncio.sleep(POLL_S)

    async def watch(self, stop: asyncio.Event) -> None:
        """For `up`: the child lives as long as we do (or waits its turn behind another)."""
        while not stop.is_set():
            if self.proc is not None and self.proc.poll() is not None:
                if self.proc.returncode != BUSY_EXIT:
                    raise ProcessorFailed(f"the processor stopped: {self._failure()}")
                self.start()
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                continue
