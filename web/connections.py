"""Connections are bounded before anyone is authenticated.

Bound to a public address, anyone can open connections and send nothing (or half a request):
each holds a file descriptor, and once they run out every accept fails and nobody, the owner
included, is answered. So: at most ``cap`` connections (well below the process's descriptor
limit); a newcomer past the cap closes the oldest connection that is not in the middle of a
request; a connection that has not sent its request line and headers within
HEADER_TIMEOUT_S is closed (uvicorn's keep-alive timeout closes idle ones after a request).
What is refused or closed is logged at most once a second, without tracebacks.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 1000
# asyncio accepts up to this many connections in one go, before any of them reaches the
# gate: the batch must fit in what the cap leaves free.
ACCEPT_BATCH = 64
# Descriptors kept for everything else (the read model's files, the hub, the log) and for
# one accept batch.
RESERVED_FDS = 192 + ACCEPT_BATCH


def connection_cap() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(16, min(MAX_CONNECTIONS, soft - RESERVED_FDS))


class OncePerSecond(logging.Filter):
    """At most one record a second through a logger, its traceback dropped: a flood of
    failed accepts must not become a flood of stderr."""

    def __init__(self) -> None:
        super().__init__()
        self.last = 0.0
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self.last < 1.0:
            self.dropped += 1
            return False
        self.last = now
        if self.dropped:
            record.msg = f"{record.getMessage()} (and {self.dropped} more in the last second)"
            record.args = ()
        record.exc_info, record.exc_text, self.dropped = None, None, 0
        return True


class Gate:
    """Every open connection, oldest first, and the cap they share."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open: dict[BoundedH11, None] = {}  # insertion order: oldest first
        self.log = OncePerSecond()
        self.evicted = 0

    def admit(self, conn: BoundedH11) -> None:
        self.open[conn] = None
        if len(self.open) <= self.cap:
            return
        victim = next((c for c in self.open if c is not conn and c.idle()), None) or conn
        self.evicted += 1
        self.note(
            f"usagectl serve: {len(self.open) - 1:,} connections open (the cap): "
            f"closed the oldest idle one ({self.evicted:,} so far)"
        )
        victim.transport.abort()
        self.open.pop(victim, None)

    def note(self, line: str) -> None:
        record = logging.LogRecord("usagectl.serve", logging.WARNING, "", 0, line, (), None)
        if self.log.filter(record):
            print(record.getMessage(), file=sys.stderr, flush=True)


GATE = Gate(connection_cap())


class BoundedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, admitted through the gate and with a header deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._no_request)
        GATE.admit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        GATE.open.pop(self, None)
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def idle(self) -> bool:
        """Not in the middle of a request: never started one, or between two."""
        started: object = self.cycle  # uvicorn types it as always set; it is None at first
        return started is None or self.cycle.response_complete

    def _no_request(self) -> None:
        started: object = self.cycle
        if started is None and not self.transport.is_closing():
            self.transport.abort()


def quiet_resource_errors() -> None:
    """asyncio logs every failed accept with a traceback, uvicorn every broken connection."""
    for name in ("asyncio", "uvicorn.error"):
        logging.getLogger(name).addFilter(OncePerSecond())
