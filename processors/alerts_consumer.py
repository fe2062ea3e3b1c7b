"""The alerts consumer: rules from ``[alerts]`` measured on every batch and on a timer, alert
state written with the batch (an outbox), sinks called after the commit.

It is registered like anyone's consumer, through the ``usagectl.consumers`` entry point
(``alerts = "usagectl.processors.alerts_consumer:consumer"``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime

import msgspec
from nats.aio.msg import Msg
from usagectl.projections.alerts import NEW_MACHINE_MS, Reading, new_machine_reading
from usagectl.projections.blocks import DEFAULT_SESSION_HOURS, session_ms
from usagectl.projections.events import Heartbeat, Limit, Usage, decode

from . import alert_store as store
from .alert_config import AlertsConfig, parse_alerts, system_zone
from .alert_figures import Figures, current, machines_now, read_model_ready, touched
from .alert_sinks import Deliverer, unavailable
from .consumer_runner import log
from .consumers import Batch, Consumer, Context, Service
from .live_source import follow_heartbeats

NAME = "alerts"
LENGTH_MS = session_ms(DEFAULT_SESSION_HOURS)


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000 + 0.5)


def config_of(ctx: Context) -> AlertsConfig:
    return parse_alerts(ctx.sections.get("alerts") or {}, system_zone(), ctx.env or os.environ)


class Alerts:
    def __init__(self, ctx: Context, cfg: AlertsConfig) -> None:
        self.ctx, self.cfg = ctx, cfg
        self.sink_states = [store.SinkState(s.name, unavailable(s)) for s in cfg.sinks]

    def _log(self, message: str) -> None:
        log(NAME, message)

    def _record(self, conn: sqlite3.Connection, readings: list[Reading], batch: Batch) -> None:
        store.record(
            conn,
            readings,
            now_ms=_ms(batch.now),
            seq=batch.last_seq,
            replaying=batch.replaying,
            max_age_ms=self.cfg.max_age_ms,
            sinks=self.sink_states,
        )

    def prepare(self, batch: Batch) -> list[Reading] | None:
        """The read model's readings for the batch (or, on the timer, for now), taken before
        the batch's transaction so it stays short: a send is recorded the moment it succeeds.
        None: the read model cannot be measured now (a timer skips; a batch fails)."""
        now_ms = _ms(batch.now)
        if not batch.timer and not any(isinstance(e, Usage | Limit) for e in batch.events):
            return []
        fig = Figures.open(self.ctx.read_model, LENGTH_MS)
        if fig is None:
            if batch.timer:
                return None
            raise RuntimeError(f"the read model {self.ctx.read_model} cannot be read")
        try:
            if batch.timer:
                if self.cfg.needs_blocks and fig.dirty():
                    return None  # the processor is mid-refresh: the next tick measures
                return current(fig, self.cfg, now_ms)
            return touched(fig, self.cfg, batch.events, now_ms)
        finally:
            fig.close()

    def apply(self, conn: sqlite3.Connection, batch: Batch) -> None:
        """Inside the batch's transaction: what needs our own tables, then the alert state and
        its outbox rows."""
        now_ms = _ms(batch.now)
        readings: list[Reading] | None = batch.prepared
        if batch.timer:
            if readings is None:
                return
            beats = store.heartbeats(conn)
            recent = store.recent_machines(conn, now_ms - NEW_MACHINE_MS)
            readings = readings + machines_now(self.cfg, beats, recent, now_ms)
            self._record(conn, readings, batch)
            store.resolve_absent(conn, (r.id for r in readings if r.holds), now_ms)
            return
        first_seen: dict[str, int] = {}
        for e in batch.events:
            if isinstance(e, Usage | Limit):
                ts = _ms(e.ts)
                first_seen[e.machine] = min(first_seen.get(e.machine, ts), ts)
        new = store.note_machines(conn, first_seen)
        fresh = [
            r
            for rule in self.cfg.rules
            if rule.kind == "new_machine"
            for machine, first in new.items()
            if (r := new_machine_reading(rule, machine, first)) is not None
        ]
        self._record(conn, fresh + list(readings or []), batch)

    def _heartbeat(self, conn: sqlite3.Connection, beat: Heartbeat) -> None:
        """A machine first seen by its heartbeat (a producer with nothing to say yet) is new
        too. Heartbeats are not replayed: the latest of each machine comes again on start."""
        ts = _ms(beat.ts)
        if not store.note_heartbeat(conn, beat.machine, ts):
            return
        now = datetime.now(UTC)
        readings = [
            r
            for rule in self.cfg.rules
            if rule.kind == "new_machine"
            if (r := new_machine_reading(rule, beat.machine, ts)) is not None
        ]
        self._record(conn, readings, Batch((), 0, 0, now))

    def ready(self, seq: int) -> bool:
        return read_model_ready(self.ctx.read_model, seq, self.cfg.needs_blocks)

    def backlog(self, conn: sqlite3.Connection, now: datetime) -> int:
        return store.owed(conn, _ms(now))

    async def service(self, svc: Service) -> None:
        """Deliver after each commit; keep the latest heartbeat of every machine."""
        deliverer = Deliverer(self.cfg.sinks, svc.db, svc.nc, self.ctx.prefix, self._log)
        for state in self.sink_states:
            if state.unavailable:
                self._log(
                    f"sink {state.name}: {state.unavailable}; its alerts are recorded as skipped"
                )
        configured = [s.name for s in self.cfg.sinks]
        await svc.db(
            lambda c: c.execute(
                f"UPDATE outbox SET status = ?, reason = ? WHERE status = ? AND sink NOT IN "
                f"({', '.join('?' * len(configured))})",
                (store.SKIPPED, "sink no longer configured", store.PENDING, *configured),
            )
        )

        async def on_heartbeat(msg: Msg) -> None:
            with contextlib.suppress(msgspec.DecodeError):
                beat = decode(msg.data)
                if isinstance(beat, Heartbeat):
                    await svc.db(lambda c: self._heartbeat(c, beat))
                    svc.committed.set()

        sub = None
        if any(r.kind in ("silent", "new_machine") for r in self.cfg.rules):
            sub = await follow_heartbeats(svc.js, svc.bus, on_heartbeat)
        try:
            await deliverer.run(svc.stop, svc.committed)
        finally:
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()


def consumer(ctx: Context) -> Consumer:
    """The entry point: validates ``[alerts]`` (one clear line for a mistake) and builds."""
    cfg = config_of(ctx)
    alerts = Alerts(ctx, cfg)
    return Consumer(
        name=NAME,
        apply=alerts.apply,
        prepare=alerts.prepare,
        subjects=("usage", "limit"),
        schema=store.DDL,
        tables=store.STATE_TABLES,
        description="budgets, block limits, burn rate, official %, silence -> webhook, NATS",
        tick_every_s=cfg.evaluate_every_s,
        ready=alerts.ready,
        service=alerts.service,
        backlog=alerts.backlog,
    )
