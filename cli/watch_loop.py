"""The thin live loop behind `watch`: snapshot, subscribe, fold, redraw."""

from __future__ import annotations

import asyncio
import contextlib
from zoneinfo import ZoneInfo

import msgspec
from nats.aio.msg import Msg
from rich.console import Console
from rich.live import Live
from usagectl.processors.bus import from_its_machine
from usagectl.processors.live_source import follow_heartbeats, follow_stream, load_snapshot
from usagectl.projections import live
from usagectl.projections.events import Heartbeat, Limit, Usage, UsageBatch, decode

from .runtime import hub
from .settings import Settings
from .watch import emit_json, now_ms
from .watch_render import render, view_json


def fold_message(state: live.LiveState, msg: Msg) -> None:
    seq = msg.metadata.sequence.stream
    try:
        event = decode(msg.data)
    except msgspec.DecodeError:
        return
    if not from_its_machine(msg.subject, event):
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
    settings: Settings, options: live.Options, tz: ZoneInfo, refresh: float, compact: bool,
    json_out: bool,
) -> None:  # fmt: skip
    async with hub(settings, service=True) as h:
        snap = await asyncio.to_thread(
            load_snapshot, settings.db_path, settings.account, now_ms(), options.length_ms
        )
        state = live.snapshot(settings.account, snap.window_start_ms, snap.seq, snap.entries,
                              official=snap.official,
                              past_block_tokens=snap.past_block_tokens)  # fmt: skip
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

        subs = [
            await follow_stream(h.js, h.bus, snap.seq, on_message),
            await follow_heartbeats(h.js, h.bus, on_heartbeat),
        ]
        try:
            await _draw_until_stopped(state, options, tz, refresh, compact, json_out, changed)
        finally:
            for sub in subs:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()


async def _draw_until_stopped(
    state: live.LiveState, options: live.Options, tz: ZoneInfo, refresh: float, compact: bool,
    json_out: bool, changed: asyncio.Event,
) -> None:  # fmt: skip
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
    with Live(render(v, online, tz, narrow), console=console, auto_refresh=False,
              redirect_stdout=False) as screen:  # fmt: skip
        while True:
            await _next(changed, refresh)
            v, online = frame()
            screen.update(render(v, online, tz, compact or console.width < 80), refresh=True)


async def _next(changed: asyncio.Event, refresh: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(changed.wait(), refresh)
    changed.clear()
