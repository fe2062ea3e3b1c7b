"""`up` as a supervisor: what dies is started again, what cannot go on waits, and a stop is a
stop within two seconds whatever state the children are in.

Every pause or restart says so in one line (once per new reason, not once per retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from usagectl.processors.embedded import EmbeddedServerError, dead, restart
from usagectl.producers.checkpoints import disk_full
from usagectl.producers.producer import PublishFailed

from .processor_child import SPAWNED, say

if TYPE_CHECKING:
    from .hub_session import Hub

RETRY_FIRST_S = 0.5
RETRY_MAX_S = 30.0
# After Ctrl-C or SIGTERM, children that have not stopped by then are killed: their work is
# transactional (the read model, the checkpoints) and the stream keeps what was acknowledged.
HARD_STOP_S = 1.5


def stop_within_deadline() -> None:
    """Arm the hard stop: if the orderly one is not done in HARD_STOP_S, kill what is left
    and exit (a stopped child, a hub that does not answer, a close that never returns)."""

    def hard_stop() -> None:
        for proc in list(SPAWNED):
            with contextlib.suppress(OSError):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
        say("stopped (what had not finished stopping was killed; nothing acknowledged is lost)")
        os._exit(0)

    timer = threading.Timer(HARD_STOP_S, hard_stop)
    timer.daemon = True
    timer.start()


def full_disk_line(home: Path) -> str:
    return (
        f"the disk holding {home} is full: counting is paused and resumes by itself once "
        "space is freed there"
    )


class Pauses:
    """One line per reason to wait, until things work again."""

    def __init__(self) -> None:
        self.said = ""

    def note(self, line: str) -> None:
        if line != self.said:
            say(line)
            self.said = line

    def on_pause(self, home: Path) -> Callable[[BaseException | None], None]:
        """For live tailing: a reason to wait, or None once a file went through."""

        def noted(err: BaseException | None) -> None:
            if err is None:
                self.cleared()
            elif isinstance(err, PublishFailed):
                self.note(f"{err}; the hub is away or restarting: trying again")
            else:
                self.note(full_disk_line(home))

        return noted

    def cleared(self) -> None:
        if self.said:
            say("running again")
        self.said = ""


async def retrying(
    work: Callable[[], Awaitable[None]], stop: asyncio.Event, home: Path, pauses: Pauses
) -> None:
    """``work`` until it completes: a hub that is away or restarting, and a full disk, are
    waited out with growing pauses instead of ending `up`."""
    delay = RETRY_FIRST_S
    while not stop.is_set():
        try:
            await work()
            pauses.cleared()
            return
        except PublishFailed as err:
            pauses.note(f"{err}; the hub is away or restarting: trying again")
        except (sqlite3.OperationalError, OSError) as err:
            if not disk_full(err, home):
                raise
            pauses.note(full_disk_line(home))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, RETRY_MAX_S)


async def until_stopped(
    run: Callable[[], Awaitable[None]], stop: asyncio.Event, home: Path
) -> None:
    """`up` as a whole, started again while a full disk keeps it from starting or going on
    (its checkpoints, its lock or the read model cannot be written)."""
    pauses, delay = Pauses(), RETRY_FIRST_S
    while True:
        try:
            await run()
            return
        except (sqlite3.OperationalError, OSError) as err:
            if stop.is_set() or not disk_full(err, home):
                raise
            pauses.note(full_disk_line(home))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return
        delay = min(delay * 2, RETRY_MAX_S / 6)


async def keep_hub(home: Path, h: Hub, stop: asyncio.Event) -> None:
    """The embedded hub, started again on its port and store if it dies: its clients (ours
    and the processor's) reconnect by themselves and the stream is on disk."""
    delay = RETRY_FIRST_S
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
        server = h.server
        if stop.is_set() or server is None or not dead(server):
            continue
        say("the embedded hub stopped; starting it again (same port, same store)")
        try:
            h.server = await asyncio.to_thread(restart, home, server)
            delay = RETRY_FIRST_S
        except (EmbeddedServerError, OSError) as err:
            say(f"the embedded hub did not start ({err}); trying again in {delay:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, RETRY_MAX_S)
