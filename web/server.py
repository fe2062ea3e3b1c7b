"""Running the server: the hub connection for live events, a socket we bind ourselves (so a
taken port is one clear line, not a log record), and uvicorn serving the app on it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn
from usagectl.processors.app.access import access_token, is_loopback
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.hub_session import hub
from usagectl.processors.app.settings import Settings

from .api import ServerState
from .app import build_app
from .connections import ACCEPT_BATCH, BoundedH11, quiet_resource_errors
from .event_stream import LiveBus
from .security import RateLimiter

GRACE_S = 3  # open event streams end on shutdown; this is the most uvicorn then waits


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8787
    rate: float = 20.0  # requests per second per client, sustained; 0 turns limiting off
    burst: int = 100


def bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as err:
        raise UserError(f"cannot listen on {host}:{port}: {err}") from err
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as err:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def _signals_end_serving() -> Iterator[None]:
    """uvicorn handles SIGINT/SIGTERM itself and re-raises them when it is done; harmless
    handlers underneath make that re-raise a clean exit instead of a KeyboardInterrupt."""
    old = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


async def serve(settings: Settings, options: ServeOptions, on_ready: Callable[[str], None]) -> None:
    loopback = is_loopback(options.host)
    token = None if loopback else access_token(settings.home)
    sock = bind(options.host, options.port)
    limiter = RateLimiter(options.rate, options.burst) if options.rate > 0 else None
    try:
        async with hub(settings, service=True) as h:
            # `stopping` is read only while serving, when `server` exists.
            state = ServerState(settings, LiveBus(h.nc, h.js, h.bus), lambda: server.should_exit)
            app = build_app(state, token=token, loopback=loopback, limiter=limiter)
            config = uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                proxy_headers=False,
                server_header=False,
                lifespan="off",
                ws="none",
                http=BoundedH11,
                timeout_graceful_shutdown=GRACE_S,
                backlog=ACCEPT_BATCH,
            )
            server = uvicorn.Server(config)
            quiet_resource_errors()
            port = sock.getsockname()[1]
            shown = f"[{options.host}]" if ":" in options.host else options.host
            ready = asyncio.create_task(_announce(server, f"http://{shown}:{port}/", on_ready))
            loop = asyncio.get_running_loop()
            # A closed terminal (SIGHUP) stops it as Ctrl-C does: an embedded hub it started
            # is then stopped too.
            loop.add_signal_handler(signal.SIGHUP, setattr, server, "should_exit", True)
            try:
                with _signals_end_serving():
                    await server.serve(sockets=[sock])
            finally:
                loop.remove_signal_handler(signal.SIGHUP)
                ready.cancel()

    finally:
        sock.close()


async def _announce(server: uvicorn.Server, url: str, on_ready: Callable[[str], None]) -> None:
    # uvicorn offers no event for this, only the flag.
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    on_ready(url)
