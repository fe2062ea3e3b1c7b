"""Wiring for plug-in consumers: one runs under `consumers run NAME` (alone, or as a child of
`up` and `sync`), and `consumers replay NAME` rebuilds one from the stream's start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from usagectl.processors.consumers import (
    Consumer,
    ConsumerError,
    Context,
    connect_db,
    installed,
    load,
    progress,
    reset_for_replay,
)

from .locks import exclusive
from .settings import Settings

SETTLE_POLL_S = 0.05


def context_for(settings: Settings, name: str, env: dict[str, str] | None = None) -> Context:
    table = settings.sections.get("consumers") or {}
    own = table.get(name) if isinstance(table, dict) else None
    return Context(
        name=name,
        home=settings.home,
        read_model=settings.db_path,
        prefix=settings.prefix,
        machine=settings.machine,
        config=own if isinstance(own, dict) else {},
        sections=settings.sections,
        env=dict(os.environ) if env is None else env,
    )


def enabled(settings: Settings) -> list[tuple[Context, Consumer]]:
    """The consumers the config enables, loaded and validated (a bad config is one line, before
    anything starts)."""
    if not settings.consumers:
        return []
    found = installed()
    unknown = [n for n in settings.consumers if n not in found]
    if unknown:
        raise ConsumerError(
            f"[consumers] enabled names {', '.join(map(repr, unknown))}, which no installed "
            f"package offers (installed: {', '.join(found) or 'none'})"
        )
    out = []
    for name in dict.fromkeys(settings.consumers):
        ctx = context_for(settings, name)
        out.append((ctx, load(ctx, found)))
    return out


def role(name: str) -> str:
    return f"consumer-{name}"


async def run_consumer(
    settings: Settings, name: str, stop: asyncio.Event, parent: int | None = None
) -> None:
    """One consumer until stopped (or, as a child, until its parent is gone)."""
    from usagectl.processors.consumer_runner import Runner

    from .hub_session import hub, stop_when_orphaned

    ctx = context_for(settings, name)
    consumer = load(ctx)
    async with hub(settings, service=True) as h:
        with exclusive(settings.home, role(name)):
            watchdog = asyncio.create_task(stop_when_orphaned(parent, stop))
            try:
                await Runner(consumer, ctx, h.nc, h.js, h.bus).run(stop)
            finally:
                watchdog.cancel()


@dataclass
class ReplayStats:
    events: int
    seq: int


def settled_now(home: Path, consumer: Consumer, target: int, stream: str) -> bool:
    """The consumer's cursor holds ``target`` of this very stream (a recreated stream numbers
    from 1 again) and it owes nothing due soon."""
    tracking, owed = progress(home, consumer, datetime.now(UTC))
    same = tracking.stream_id == stream or target == 0
    return same and tracking.seq >= target and not owed


async def settled(home: Path, consumer: Consumer, target: int, stream: str) -> None:
    """Until ``settled_now``."""
    while True:
        if await asyncio.to_thread(settled_now, home, consumer, target, stream):
            return
        await asyncio.sleep(SETTLE_POLL_S)


async def run_replay(settings: Settings, name: str) -> ReplayStats:
    """Drop the consumer's tables and cursor, read the stream again from sequence 1 until it
    reaches where the stream was when the replay began; nothing is sent again."""
    from usagectl.processors.bus import stream_identity
    from usagectl.processors.consumer_runner import Runner

    from .hub_session import hub, until_done

    ctx = context_for(settings, name)
    consumer = load(ctx)
    async with hub(settings) as h:
        with exclusive(settings.home, role(name)):
            stream, target = await stream_identity(h.js, h.bus)

            def reset() -> None:
                conn = connect_db(ctx.db_path, consumer)
                try:
                    reset_for_replay(conn, consumer, target, int(time.time() * 1000))
                finally:
                    conn.close()

            await asyncio.to_thread(reset)
            stop = asyncio.Event()
            runner = Runner(consumer, ctx, h.nc, h.js, h.bus)
            task = asyncio.create_task(runner.run(stop))
            try:
                done = asyncio.create_task(settled(settings.home, consumer, target, stream))
                await until_done(done, task, stop)
            finally:
                stop.set()
                with contextlib.suppress(Exception):
                    await task
            return ReplayStats(runner.events, runner.seq)
