"""``GET /metrics``: the read model in Prometheus' text format, through ``prometheus_client``.

A custom Collector reads the read model at scrape time, so every counter is exactly what the
reports say (no second count kept in memory that could drift, nothing lost on a restart).
Counters are all-time sums of counted responses; a response whose better copy replaces it can
lower a sum a little, which Prometheus reads as a counter reset (``rate`` copes).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from usagectl.processors import readmodel
from usagectl.processors.blockstore import read_blocks
from usagectl.processors.bus import stream_last_seq
from usagectl.processors.consumers import db_path
from usagectl.processors.limitstore import read_limits
from usagectl.processors.machineread import read_beats
from usagectl.processors.metricsread import Total, firing_by_rule, read_totals
from usagectl.processors.schema import ACCOUNT_SCOPE, MACHINE_SCOPE
from usagectl.projections.blocks import (
    Block,
    burn_rate,
    is_active,
    max_completed_tokens,
    projection,
    session_ms,
)
from usagectl.projections.limits import FIVE_HOUR, SEVEN_DAY, expired
from usagectl.projections.machines import status

from .api import HUB_ERRORS, ServerState
from .metrics_counters import CounterText

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LENGTH_MS = session_ms(5.0)
HUB_WAIT_S = 2.0  # a scrape never waits long on the hub: the pending gauge is then left out
WINDOWS = {FIVE_HOUR: "5h", SEVEN_DAY: "7d"}


@dataclass(frozen=True)
class Scrape:
    """What one scrape reads besides the read model: the time and the hub's last sequence."""

    now_ms: int
    project_label: bool
    alerts_db: Path
    stream_last: int | None


def _active(conn: sqlite3.Connection, scope: tuple[str, str, str], now_ms: int) -> Block | None:
    recent = read_blocks(conn, scope, LENGTH_MS, now_ms - LENGTH_MS)
    found = [b for b in recent if is_active(b, now_ms, LENGTH_MS)]
    return found[-1] if found else None


def _blocks(conn: sqlite3.Connection, totals: list[Total], now_ms: int) -> Iterator[Metric]:
    g = {
        name: GaugeMetricFamily(f"usagectl_block_{name}", text, labels=["account"])
        for name, text in (
            ("tokens", "Tokens in the active 5-hour block (0 when none is active)"),
            ("cost_usd", "Cost in USD of the active 5-hour block"),
            ("burn_rate_tokens_per_minute", "Burn rate of the active block"),
            ("burn_rate_usd_per_hour", "Cost burn rate of the active block"),
            ("projected_tokens", "Tokens the active block will reach at this burn rate"),
            ("projected_cost_usd", "Cost the active block will reach at this burn rate"),
            ("remaining_minutes", "Minutes until the active block ends"),
            ("token_limit", "The largest completed block's tokens (ccusage's `max` limit)"),
        )
    }
    per_machine = GaugeMetricFamily(
        "usagectl_machine_block_tokens",
        "Tokens in each machine's active 5-hour block",
        labels=["account", "machine"],
    )
    for account in sorted({t.account for t in totals}):
        every = read_blocks(conn, (ACCOUNT_SCOPE, account, ""), LENGTH_MS)
        g["token_limit"].add_metric([account], max_completed_tokens(every, now_ms, LENGTH_MS))
        block = next((b for b in reversed(every) if is_active(b, now_ms, LENGTH_MS)), None)
        rate = None if block is None else burn_rate(block, now_ms, LENGTH_MS)
        proj = None if block is None else projection(block, now_ms, LENGTH_MS)
        values = {
            "tokens": 0 if block is None else block.total_tokens,
            "cost_usd": 0.0 if block is None else block.cost(0),
            "burn_rate_tokens_per_minute": 0.0 if rate is None else rate.tokens_per_minute,
            "burn_rate_usd_per_hour": 0.0 if rate is None else rate.cost_per_hour,
            "projected_tokens": 0 if proj is None else proj.total_tokens,
            "projected_cost_usd": 0.0 if proj is None else proj.total_cost,
            "remaining_minutes": 0 if block is None else round((block.end_ms - now_ms) / 60_000),
        }
        for name, value in values.items():
            g[name].add_metric([account], value)
        for machine in sorted({t.machine for t in totals if t.account == account}):
            mine = _active(conn, (MACHINE_SCOPE, account, machine), now_ms)
            if mine is not None:
                per_machine.add_metric([account, machine], mine.total_tokens)
    yield from (*g.values(), per_machine)


def _official(conn: sqlite3.Connection, accounts: set[str], now_ms: int) -> Iterator[Metric]:
    used = GaugeMetricFamily(
        "usagectl_official_utilisation_percent",
        "Claude Code's own rate-limit utilisation (statusLine), while its window lasts",
        labels=["account", "window"],
    )
    resets = GaugeMetricFamily(
        "usagectl_official_resets_timestamp_seconds",
        "When that window resets",
        labels=["account", "window"],
    )
    for account in sorted(accounts):
        for kind, obs in sorted(read_limits(conn, account).items()):
            if kind not in WINDOWS or expired(obs, now_ms):
                continue
            used.add_metric([account, WINDOWS[kind]], obs.used_pct)
            if obs.resets_ms is not None:
                resets.add_metric([account, WINDOWS[kind]], obs.resets_ms / 1000)
    yield from (used, resets)


def _machines(conn: sqlite3.Connection, now_ms: int) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "usagectl_machine_up", "1 while the machine's producer sends heartbeats", labels=["machine"]
    )
    lag = GaugeMetricFamily(
        "usagectl_producer_lag_bytes",
        "Transcript bytes the producer has yet to publish",
        labels=["machine"],
    )
    beat_at = GaugeMetricFamily(
        "usagectl_producer_heartbeat_timestamp_seconds",
        "The producer's last heartbeat",
        labels=["machine"],
    )
    rejected = GaugeMetricFamily(
        "usagectl_producer_rejected_lines",
        "Lines the producer could not use, by reason",
        labels=["machine", "reason"],
    )
    for beat in sorted(read_beats(conn), key=lambda b: b.machine):
        up.add_metric([beat.machine], 1 if status(beat, now_ms) == "online" else 0)
        lag.add_metric([beat.machine], beat.lag_bytes)
        beat_at.add_metric([beat.machine], beat.ts_ms / 1000)
        for reason, n in sorted(beat.rejected.items()):
            rejected.add_metric([beat.machine, reason], n)
    yield from (up, lag, beat_at, rejected)


class ReadModelCollector(Collector):
    """Everything ``/metrics`` shows, read from one read-only connection per scrape."""

    def __init__(self, conn: sqlite3.Connection, scrape: Scrape, totals: list[Total]) -> None:
        self.conn, self.scrape, self.totals = conn, scrape, totals

    def collect(self) -> Iterator[Metric]:
        s, conn, totals = self.scrape, self.conn, self.totals
        yield from _blocks(conn, totals, s.now_ms)
        yield from _official(conn, {t.account for t in totals}, s.now_ms)
        yield from _machines(conn, s.now_ms)
        firing = GaugeMetricFamily(
            "usagectl_alerts_firing", "Alerts firing now, by rule", labels=["rule"]
        )
        for rule, n in sorted((firing_by_rule(s.alerts_db) or {}).items()):
            firing.add_metric([rule], n)
        yield firing
        applied = readmodel.applied_seq(conn)
        yield GaugeMetricFamily(
            "usagectl_read_model_seq", "Last stream sequence the read model applied", value=applied
        )
        if s.stream_last is not None:
            yield GaugeMetricFamily(
                "usagectl_processor_pending_messages",
                "Facts on the hub the read model has yet to apply",
                value=max(0, s.stream_last - applied),
            )


def exposition(state: ServerState, scrape: Scrape, counters: CounterText) -> bytes:
    """The whole page: the usage counters, then every gauge."""
    from prometheus_client import generate_latest

    conn = readmodel.open_read(state.settings.db_path)
    try:
        totals = read_totals(conn)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(ReadModelCollector(conn, scrape, totals))
        gauges = bytes(generate_latest(registry))
        return counters.render(totals, scrape.project_label) + gauges
    finally:
        conn.close()


async def _stream_last(state: ServerState) -> int | None:
    if state.live is None or not state.live.nc.is_connected:
        return None
    try:
        return await asyncio.wait_for(stream_last_seq(state.live.js, state.live.bus), HUB_WAIT_S)
    except HUB_ERRORS:
        return None


def metrics_route(state: ServerState) -> Route:
    counters = CounterText()

    async def endpoint(request: Request) -> Response:
        settings = state.settings
        scrape = Scrape(
            state.now_ms(),
            settings.metrics_project_label,
            db_path(settings.home, "alerts"),
            await _stream_last(state),
        )
        try:
            body = await anyio.to_thread.run_sync(exposition, state, scrape, counters)
        except (readmodel.NoReadModel, sqlite3.Error) as err:
            return Response(f"{err}\n", 503, media_type="text/plain; charset=utf-8")
        return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    return Route("/metrics", endpoint, methods=["GET"])
