"""The thin live loop behind `watch`: snapshot, subscribe, fold, redraw."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from rich.console import Console
from rich.live import Live
from usagectl.processors.app.hub_session import Hub, hub
from usagectl.processors.app.settings import Settings
from usagectl.processors.bus import from_its_machine, stream_last_seq
from usagectl.processors.live_source import follow_heartbeats, follow_stream, load_snapshot
from usagectl.projections import live
from usagectl.projections.events import Heartbeat, Limit, Usage, UsageBatch, decode

from .watch_render import emit_json, now_ms, render, view_json


def fold_message(state: live.LiveState, msg: Msg) -> None:
    seq = msg.metadata.sequence.stream
    if seq <= state.seq:
        return  # a re-subscription (see _keep_following) delivers what was folded
    try:
        event = decode(msg.data)
    except msgspec.DecodeError:
        state.seq = seq
        return
    if not from_its_machine(msg.subject, event):
        state.seq = seq
        return
    if isinstance(event, UsageBatch):
        for u in event.events:
            live.apply_usage(state, u, seq)
    elif isinstance(event, Usage):
        live.apply_usage(state, event, seq)
    elif isinstance(event, Limit):
        live.apply_limit(state, event, seq)
    state.seq = max(state.seq, seq)


async def run_watch(
    settings: Settings,
    options: live.Options,
    tz: ZoneInfo,
    refresh: float,
    compact: bool,
    json_out: bool,
) -> None:
    async with hub(settings, service=True) as h:
        snap = await asyncio.to_thread(
            load_snapshot, settings.db_path, settings.account, now_ms(), options.length_ms
        )
        state = live.snapshot(
            settings.account,
            snap.window_start_ms,
            snap.seq,
            snap.entries,
            official=snap.official,
            past_block_tokens=snap.past_block_tokens,
        )
        changed = asyncio.Event()

        async def on_message(msg: Msg) -> None:
            fold_message(state, msg)
            changed.set()

        async def on_heartbeat(msg: Msg) -> None:
            with contextlib.suppress(msgspec.DecodeError):
                beat = decode(msg.data)
                if isinstance(beat, Heartbeat):
                    live.apply_heartbeat(state, beat.machine, int(beat.ts.timestamp() * 1000))
                    changed.set()

        async def subscribe() -> list[JetStreamContext.PushSubscription]:
            return [
                await follow_stream(h.js, h.bus, state.seq, on_message),
                await follow_heartbeats(h.js, h.bus, on_heartbeat),
            ]

        subs = await subscribe()
        guard = asyncio.create_task(_keep_following(h, state, subs, subscribe))
        try:
            await _draw_until_stopped(state, options, tz, refresh, compact, json_out, changed)
        finally:
            guard.cancel()
            for sub in subs:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()


STALL_S = 3.0


async def _keep_following(
    h: Hub,
    state: live.LiveState,
    subs: list[JetStreamContext.PushSubscription],
    subscribe: Callable[[], Awaitable[list[JetStreamContext.PushSubscription]]],
) -> None:
    """nats-py's ordered consumer can go silent for good when the cluster node holding it dies
    (nats.py#510). When the stream is ahead of what was folded and nothing came for a while,
    follow it again from the next sequence (the fold skips anything it already has)."""
    seen, since = state.seq, time.monotonic()
    while True:
        await asyncio.sleep(STALL_S / 3)
        if state.seq != seen:
            seen, since = state.seq, time.monotonic()
            continue
        if time.monotonic() - since < STALL_S:
            continue
        try:
            behind = await stream_last_seq(h.js, h.bus) > state.seq
            if behind:  # the silent subscription goes first: two at once could interleave
                for sub in subs:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                subs[:] = await subscribe()
        except (TimeoutError, nats.errors.Error):
            pass  # the hub is busy electing or away: ask again on the next round
        since = time.monotonic()


async def _draw_until_stopped(
    state: live.LiveState,
    options: live.Options,
    tz: ZoneInfo,
    refresh: float,
    compact: bool,
    json_out: bool,
    changed: asyncio.Event,
) -> None:
    console = Console()
    narrow = compact or console.width < 80

    def frame() -> tuple[live.LiveView, int]:
        t = now_ms()
        return live.view(state, t, options), live.machines_online(state, t, options)

    if json_out:
        while True:
            v, online = frame()
            emit_json(view_json(v, online, state.seq))
            await _next(changed, refresh)
    v, online = frame()
    with Live(
        render(v, online, tz, narrow), console=console, auto_refresh=False, redirect_stdout=False
    ) as screen:
        while True:
            await _next(changed, refresh)
            v, online = frame()
            screen.update(render(v, online, tz, compact or console.width < 80), refresh=True)


async def _next(changed: asyncio.Event, refresh: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(changed.wait(), refresh)
    changed.clear()
