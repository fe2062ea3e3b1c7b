"""Enabled consumers as child processes of `up` and `sync`, like the processor: each can crash,
be killed and restarted on its own without touching the read model or the others."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time

from usagectl.processors.consumers import Consumer, Context

from .consumer_host import enabled, settled_now
from .processor_child import BUSY_EXIT, last_line, spawn, terminate
from .settings import Settings

POLL_S = 0.05
SYNC_RESTARTS = 5  # `sync` restarts a consumer that died this often before it gives up
MAX_BACKOFF_S = 60.0


class ConsumerFailed(Exception):
    user_facing = True


class ConsumerChild:
    """`usagectl consumers run NAME` against the same hub and data directory."""

    def __init__(self, settings: Settings, ctx: Context, consumer: Consumer) -> None:
        self.settings, self.ctx, self.consumer = settings, ctx, consumer
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = settings.home / "consumers" / f"{consumer.name}.log"
        self.restarts = 0
        self.next_start = 0.0

    def start(self, url: str) -> None:
        self.proc = spawn(
            ["consumers", "run", self.consumer.name], url, self.settings.home, self.log
        )

    def stop(self) -> None:
        terminate(self.proc, 30)

    def failure(self) -> str:
        code = self.exited()
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return last_line(self.log)

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()


class ConsumerChildren:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children = [ConsumerChild(settings, ctx, c) for ctx, c in enabled(settings)]
        self.url = ""

    def start(self, url: str) -> None:
        self.url = url
        for child in self.children:
            child.start(url)

    def stop(self) -> None:
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in self.children:
            child.stop()

    def _restart(self, child: ConsumerChild, code: int, limit: int | None) -> None:
        """Another runner holding the role is not a failure: wait for it, and try again later.
        A crash is restarted with backoff, up to ``limit`` times."""
        now = time.monotonic()
        if code != BUSY_EXIT:
            if limit is not None and child.restarts >= limit:
                raise ConsumerFailed(
                    f"the {child.consumer.name} consumer stopped: {child.failure()}"
                )
            if child.next_start == 0.0:
                child.restarts += 1
                wait = min(MAX_BACKOFF_S, 0.5 * 2 ** (child.restarts - 1))
                child.next_start = now + wait
                print(
                    f"usagectl: the {child.consumer.name} consumer stopped "
                    f"({child.failure()}); restarting in {wait:.0f}s",
                    file=sys.stderr,
                )
        elif child.next_start == 0.0:
            child.next_start = now + 2.0
        if now >= child.next_start:
            child.next_start = 0.0
            child.start(self.url)

    def _settled(self, child: ConsumerChild, target: int, stream: str) -> bool:
        return settled_now(self.settings.home, child.consumer, target, stream)

    async def wait_until(self, target: int, stream: str) -> None:
        """For `sync`: every consumer has applied ``target`` of this ``stream`` and sent what is
        due."""
        waiting = list(self.children)
        while waiting:
            for child in list(waiting):
                if await asyncio.to_thread(self._settled, child, target, stream):
                    waiting.remove(child)
                    continue
                code = child.exited()
                if code is not None:
                    self._restart(child, code, SYNC_RESTARTS)
            if waiting:
                await asyncio.sleep(POLL_S)

    async def supervise(self, stop: asyncio.Event) -> None:
        """For `up`: keep every consumer running; a crashing plug-in never stops `up`."""
        while not stop.is_set():
            for child in self.children:
                code = child.exited()
                if code is not None:
                    self._restart(child, code, None)
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                continue
