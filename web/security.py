"""Who may ask: the access token for non-loopback binds, a Host check against DNS rebinding on
loopback, per-client rate limiting and a cap on open event streams. One ASGI middleware, in
front of everything, so no route can forget it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from usagectl.processors.app.access import LOOPBACK_NAMES

# The page itself holds no data: it loads without a token and then asks for one.
PUBLIC_PATHS = ("/", "/favicon.ico")
PUBLIC_PREFIXES = ("/static/",)
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]


@dataclass
class RateLimiter:
    """A token bucket per client: ``per_second`` sustained, ``burst`` at once."""

    per_second: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def wait(self, client: str) -> float:
        """0 if ``client`` may go now (and charge it), else seconds until it may."""
        now = self.clock()
        tokens, then = self.buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.per_second)
        if tokens < 1:
            self.buckets[client] = (tokens, now)
            return (1 - tokens) / self.per_second
        self.buckets[client] = (tokens - 1, now)
        if len(self.buckets) > 10_000:  # forget clients whose bucket has refilled
            full = now - self.burst / self.per_second
            self.buckets = {k: v for k, v in self.buckets.items() if v[1] > full}
        return 0.0


def _host_name(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = str(value.decode("latin-1"))
            return host.partition("]")[0] + "]" if host.startswith("[") else host.split(":")[0]
    return ""


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = str(value.decode("latin-1")).partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> None:
    await JSONResponse({"error": message}, status, headers)(scope, receive, send)


class Guard:
    """Host check (loopback binds), rate limit, bearer token (other binds), stream cap."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        loopback: bool,
        limiter: RateLimiter | None,
        max_streams: int = 8,
    ) -> None:
        self.app, self.token, self.loopback = app, token, loopback
        self.limiter, self.max_streams = limiter, max_streams
        self.streams: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        path = scope["path"]
        problem = self._problem(scope, client, path)
        if problem is not None:
            await _refuse(scope, receive, send, *problem)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        if path != "/events":
            await self.app(scope, receive, send_with_headers)
            return
        if self.streams.get(client, 0) >= self.max_streams:
            await _refuse(
                scope,
                receive,
                send,
                429,
                f"more than {self.max_streams} open event streams from this client",
            )
            return
        self.streams[client] = self.streams.get(client, 0) + 1
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self.streams[client] -= 1
            if not self.streams[client]:
                del self.streams[client]

    def _problem(self, scope: Scope, client: str, path: str) -> tuple[Any, ...] | None:
        if self.loopback and _host_name(scope) not in LOOPBACK_NAMES:
            # A page on another site must not reach us by pointing its own name at 127.0.0.1.
            return 400, "invalid Host header: this server answers to localhost only"
        if self.limiter is not None:
            wait = self.limiter.wait(client)
            if wait:
                retry = str(max(1, round(wait + 0.5)))
                return 429, "too many requests: slow down", {"Retry-After": retry}
        if self.token and not _public(path):
            given = _bearer(scope)
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return (
                    401,
                    "missing or wrong access token: send 'Authorization: Bearer <token>' "
                    "(the token is in the server's data directory)",
                    {"WWW-Authenticate": "Bearer"},
                )
        return None
