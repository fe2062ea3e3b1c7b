"""The thin live loop behind `usagectl dash`: a snapshot of the recent ledger at stream
sequence S, the stream from S+1 (usage, limits), every machine's heartbeats and the hook events
of the last hours; the read model's figures are re-read through the report builders whenever
the stream moved (and once a minute, for the clock)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from usagectl.processors.alert_config import AlertConfigError, parse_alerts
from usagectl.processors.app.hub_session import hub
from usagectl.processors.app.settings import Settings
from usagectl.processors.live_source import follow_heartbeats, follow_stream, load_snapshot
from usagectl.processors.ordered import ordered
from usagectl.projections import live
from usagectl.projections.alerts import Rule
from usagectl.projections.blocks import session_ms
from usagectl.projections.events import Heartbeat, Hook, decode
from usagectl.projections.ledger import counted
from usagectl.projections.sessions import LastHook, apply_hook, session_lines

from .dash_data import (
    Detail,
    Overview,
    local_day,
    midnight_ms,
    open_model,
    read_detail,
    read_overview,
)
from .dash_render import DashState, Liveness
from .watch_loop import fold_message

LENGTH_MS = session_ms(5.0)
BEHIND_S = 10.0  # the read model may trail the stream this long before "not live"
REREAD_S = 60.0
FRAME_S = 0.1


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Request:
    """What the detail screen asks for; None while the main screen shows."""

    view: str
    anchor: Any  # a date


@dataclass
class Model:
    """Everything the loop knows; ``state()`` turns it into what the views draw."""

    settings: Settings
    tz: ZoneInfo
    start_of_week: str
    live: live.LiveState
    hooks: dict[str, LastHook] = field(default_factory=dict)
    overview: Overview | None = None
    detail: Detail | None = None
    applied_seq: int = 0
    behind_since: float | None = None

    def liveness(self, now_ms: int) -> Liveness:
        online = live.machines_online(self.live, now_ms, live.Options(length_ms=LENGTH_MS))
        if not any(now_ms - ts <= 120_000 for ts in self.live.heartbeats.values()):
            return Liveness(False, "no producer heartbeat in 2 min", online)
        behind = self.live.seq - self.applied_seq
        if (
            behind > 0
            and self.behind_since is not None
            and (time.monotonic() - self.behind_since >= BEHIND_S)
        ):
            return Liveness(False, f"read model {behind:,} facts behind", online)
        return Liveness(True, "", online)

    def state(self, now_ms: int) -> DashState:
        v = live.view(self.live, now_ms, live.Options(length_ms=LENGTH_MS))
        entries = [e for g in self.live.groups.values() for e in counted(g).values()]
        block = v.block
        lines = session_lines(
            entries,
            self.hooks,
            now_ms,
            block_start_ms=block.start_ms if block else None,
            midnight_ms=midnight_ms(local_day(now_ms, self.tz), self.tz),
            since_ms=now_ms - LENGTH_MS,
        )
        return DashState(
            now_ms,
            self.tz,
            self.liveness(now_ms),
            self.overview,
            lines,
            block.cost() if block else None,
            block.end_ms if block else None,
            self.detail,
        )


def budget_rules(settings: Settings, tz: ZoneInfo) -> tuple[Rule, ...]:
    """The alerts config's budgets, shown as bars; a config the alerts reject shows none."""
    try:
        return parse_alerts(settings.sections.get("alerts") or {}, tz, {}).rules
    except AlertConfigError:
        return ()


Figures = tuple[int, Overview | None, Detail | None]


def read_figures(
    model: Model, now_ms: int, request: Request | None, rules: tuple[Rule, ...]
) -> Figures:
    """One consistent read of the read model (run in a thread)."""
    conn = open_model(model.settings.db_path)
    if conn is None:
        return 0, None, None
    try:
        from usagectl.processors.readmodel import applied_seq

        conn.execute("BEGIN")
        seq = applied_seq(conn)
        overview = read_overview(conn, model.tz, now_ms, model.start_of_week, rules)
        detail = None
        if request is not None:
            detail = read_detail(
                conn, model.tz, now_ms, request.view, request.anchor, model.start_of_week
            )
        conn.execute("COMMIT")
        return seq, overview, detail
    finally:
        conn.close()


async def run_live(
    settings: Settings,
    tz: ZoneInfo,
    start_of_week: str,
    clock: Callable[[], int],
    draw: Callable[[DashState], None],
    wanted: Callable[[], Request | None],
    wake: asyncio.Event,
) -> None:
    """Follow the stream and redraw until cancelled. ``wanted`` says which detail to read;
    setting ``wake`` asks for a read now (a key was pressed)."""
    now = clock()
    horizon = min(midnight_ms(local_day(now, tz), tz), now - LENGTH_MS)
    snap = await asyncio.to_thread(
        load_snapshot, settings.db_path, settings.account, now, LENGTH_MS, horizon
    )
    state = live.snapshot(
        settings.account, snap.window_start_ms, snap.seq, snap.entries, official=snap.official
    )
    model = Model(settings, tz, start_of_week, state)
    rules = budget_rules(settings, tz)
    async with hub(settings, service=True) as h:

        async def on_fact(msg: Msg) -> None:
            fold_message(state, msg)
            wake.set()

        async def on_heartbeat(msg: Msg) -> None:
            with contextlib.suppress(msgspec.DecodeError):
                beat = decode(msg.data)
                if isinstance(beat, Heartbeat):
                    live.apply_heartbeat(state, beat.machine, int(beat.ts.timestamp() * 1000))
                    wake.set()

        async def on_hook(msg: Msg) -> None:
            with contextlib.suppress(msgspec.DecodeError):
                event = decode(msg.data)
                if isinstance(event, Hook):
                    apply_hook(model.hooks, event)
                    wake.set()

        since = datetime.fromtimestamp((now - LENGTH_MS) / 1000, UTC)
        subs = [
            await follow_stream(h.js, h.bus, snap.seq, on_fact),
            await follow_heartbeats(h.js, h.bus, on_heartbeat),
            await ordered(
                h.js,
                f"{h.bus.prefix}.v1.hook.>",
                h.bus.stream,
                ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since),
                on_hook,
                owner=h.bus.identity,
            ),
        ]
        try:
            await _loop(model, clock, draw, wanted, wake, rules)
        finally:
            for sub in subs:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()


async def _loop(
    model: Model,
    clock: Callable[[], int],
    draw: Callable[[DashState], None],
    wanted: Callable[[], Request | None],
    wake: asyncio.Event,
    rules: tuple[Rule, ...],
) -> None:
    read_at_seq, read_at, read_request, took = -1, 0.0, None, 0.0
    while True:
        request = wanted()
        waited = time.monotonic() - read_at
        # New facts are read at most every few read-times (a long history reads slower), and
        # while behind the stream now and then (the processor may be catching up); a key
        # pressed is read at once.
        gap = max(1.0, 3 * took)
        stale = waited >= gap and (
            model.live.seq != read_at_seq or model.applied_seq < model.live.seq
        )
        if stale or request != read_request or waited >= REREAD_S:
            read_at_seq, read_at, read_request = model.live.seq, time.monotonic(), request
            seq, model.overview, detail = await asyncio.to_thread(
                read_figures, model, clock(), request, rules
            )
            took = time.monotonic() - read_at
            model.detail = detail if request is not None else None
            model.applied_seq = seq
            behind = model.live.seq > seq
            if not behind:
                model.behind_since = None
            elif model.behind_since is None:
                model.behind_since = time.monotonic()
        draw(model.state(clock()))
        await asyncio.sleep(FRAME_S)  # a backfill's thousands of facts a second: 10 frames
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), 1.0)
        wake.clear()
