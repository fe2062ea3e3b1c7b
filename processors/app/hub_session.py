"""A session on the hub (the configured one, or the embedded one started for it) and the two
small rules every role's loop shares: stop when the parent is gone, and a side task's failure
ends the main wait."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js import JetStreamContext
from usagectl.processors.bus import BusSettings, connect, ensure_streams, jetstream
from usagectl.processors.embedded import EmbeddedServer, ensure_embedded
from usagectl.processors.prices import activate as activate_prices

from .settings import Settings

CLOSE_TIMEOUT_S = 2.0


@dataclass
class Hub:
    nc: Client
    js: JetStreamContext
    bus: BusSettings
    server: EmbeddedServer | None


@contextlib.asynccontextmanager
async def hub(settings: Settings, *, service: bool = False) -> AsyncIterator[Hub]:
    """The configured hub, or the embedded one (started here if none runs; stopped if so).

    Whoever uses the hub may price responses: the kept price update applies from here on."""
    activate_prices(settings.home)
    server = None if settings.nats_url else await ensure_embedded(settings.home)
    url = settings.nats_url or (server.url if server else "")
    h: Hub | None = None
    try:
        bus = settings.bus(url)
        nc = await connect(bus, service=service)
        try:
            js = jetstream(nc, bus, publish_async_max_pending=4000)
            await ensure_streams(js, bus)
            h = Hub(nc, js, bus, server)
            yield h
        finally:
            with contextlib.suppress(TimeoutError):  # a hub that went away: nothing to flush
                await asyncio.wait_for(nc.close(), CLOSE_TIMEOUT_S)
    finally:
        server = h.server if h is not None else server  # `up` may have started it again
        if server is not None:
            await asyncio.to_thread(server.stop)


async def until_done(
    main: asyncio.Task[None], side: asyncio.Task[None], stopping: asyncio.Event
) -> None:
    """Await ``main``; a failure of ``side`` (the processor) ends the wait with its error."""
    await asyncio.wait({main, side}, return_when=asyncio.FIRST_COMPLETED)
    if side.done() and not main.done() and side.exception() is None and stopping.is_set():
        await main  # an orderly stop: the processor finished first
    elif side.done() and not main.done():
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await main
        side.result()
        raise RuntimeError("the processor stopped unexpectedly")
    main.result()


async def stop_when_orphaned(parent: int | None, stop: asyncio.Event) -> None:
    while parent is not None and not stop.is_set():
        if os.getppid() != parent:
            stop.set()
        await asyncio.sleep(0.2)
