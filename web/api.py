"""The JSON endpoints, as one table: path, parameters, and what answers. The table also
writes the OpenAPI description (web.openapi), so every endpoint is described as it behaves.

Read-model work runs in a worker thread on its own read-only connection; ``now`` is read once
per request and passed down.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_thread
import msgspec
import nats.errors
from starlette.responses import Response
from usagectl.processors import readmodel
from usagectl.processors.app import parsing as P
from usagectl.processors.app import usage_reports
from usagectl.processors.app.export_rows import MEDIA_TYPES, export
from usagectl.processors.app.queries import (
    BlocksQuery,
    ExportQuery,
    PlansQuery,
    ToolsQuery,
    TrendsQuery,
    UsageQuery,
    from_params,
)
from usagectl.processors.app.settings import Settings
from usagectl.processors.app.side_reports import plans_report, tools_report
from usagectl.processors.bus import BusUnavailable

from . import sources
from .dashboard import dashboard
from .event_stream import LiveBus

T = TypeVar("T")
HUB_ERRORS = (BusUnavailable, TimeoutError, nats.errors.Error)
AFTER_WAIT_S = 3.0  # how long a dashboard asked for `after=N` waits for the processor


@dataclass
class ServerState:
    settings: Settings
    live: LiveBus | None
    stopping: Callable[[], bool]
    clock: Callable[[], float] = time.time

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


Handler = Callable[[ServerState, dict[str, Any]], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    path: str
    summary: str
    params: tuple[P.Param, ...]
    run: Handler
    cli: str = ""  # the command whose --json this matches
    media: str = "application/json"


def json_response(payload: Any, status: int = 200) -> Response:
    body = msgspec.json.encode(payload, order="sorted")
    return Response(
        body, status, media_type="application/json", headers={"Cache-Control": "no-store"}
    )


async def read(state: ServerState, work: Callable[[sqlite3.Connection], T]) -> T:
    """``work`` on a fresh read-only connection, in a worker thread (sqlite3 blocks)."""

    def run() -> T:
        conn = readmodel.open_read(state.settings.db_path)
        try:
            return work(conn)
        finally:
            conn.close()

    return await anyio.to_thread.run_sync(run)


def _period(kind: str) -> Handler:
    async def run(state: ServerState, p: dict[str, Any]) -> Response:
        q = from_params(UsageQuery, p)
        return json_response(await read(state, lambda c: usage_reports.period_report(c, kind, q)))

    return run


async def _sessions(state: ServerState, p: dict[str, Any]) -> Response:
    q = from_params(UsageQuery, p)
    return json_response(await read(state, lambda c: usage_reports.session_report(c, q)))


async def _blocks(state: ServerState, p: dict[str, Any]) -> Response:
    account, now = state.settings.account, state.now_ms()
    P.token_limit(p["token_limit"])  # a 400 before the read model is touched
    q = from_params(BlocksQuery, p)
    return json_response(
        await read(state, lambda c: usage_reports.blocks_report(c, account, q, now))
    )


async def _tools(state: ServerState, p: dict[str, Any]) -> Response:
    q = from_params(ToolsQuery, p)
    return json_response(await read(state, lambda c: tools_report(c, q)))


async def _plans(state: ServerState, p: dict[str, Any]) -> Response:
    now, q = state.now_ms(), from_params(PlansQuery, p)
    return json_response(await read(state, lambda c: plans_report(c, q, now)))


async def _limits(state: ServerState, p: dict[str, Any]) -> Response:
    account, now = state.settings.account, state.now_ms()
    return json_response(await read(state, lambda c: usage_reports.limits_report(c, account, now)))


async def machines(state: ServerState) -> dict[str, Any]:
    now = state.now_ms()
    return await read(state, lambda c: sources.machines(c, now))


async def _machines(state: ServerState, p: dict[str, Any]) -> Response:
    return json_response(await machines(state))


async def _alerts(state: ServerState, p: dict[str, Any]) -> Response:
    found = await sources.alerts(state.settings, state.now_ms(), p["limit"])
    return json_response({"alerts": found})


async def _trends(state: ServerState, p: dict[str, Any]) -> Response:
    now, q = state.now_ms(), from_params(TrendsQuery, p)
    return json_response(await read(state, lambda c: usage_reports.trends_payload(c, q, now)))


def check_range(p: dict[str, Any]) -> None:
    if p["from"] and p["to"] and p["from"] > p["to"]:
        raise P.QueryError(f"invalid range: from {p['from']} is after to {p['to']}")


async def _export(state: ServerState, p: dict[str, Any]) -> Response:
    check_range(p)
    q = from_params(ExportQuery, p)
    body = await read(state, lambda c: export(c, q))
    name = f"usage-by-{p['by']}.{p['format']}"
    return Response(
        body,
        media_type=MEDIA_TYPES[p["format"]],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


async def _wait_for(state: ServerState, seq: int) -> None:
    """Until the read model has applied stream sequence ``seq`` (the page saw that event and
    wants it counted), for at most AFTER_WAIT_S; then answer with what there is."""
    deadline = time.monotonic() + AFTER_WAIT_S
    while time.monotonic() < deadline and not state.stopping():
        if await read(state, readmodel.applied_seq) >= seq:
            return
        await asyncio.sleep(0.05)


async def _dashboard(state: ServerState, p: dict[str, Any]) -> Response:
    if p["after"] is not None:
        await _wait_for(state, p["after"])
    account, now = state.settings.account, state.now_ms()
    payload = await read(
        state, lambda c: dashboard(c, account, p["timezone"], p["start_of_week"], now)
    )
    payload["machines"] = (await machines(state))["machines"]
    payload["alerts"] = await sources.alerts(state.settings, now, 20)
    return json_response(payload)


async def _health(state: ServerState, p: dict[str, Any]) -> Response:
    """Whether the reports can be answered: "ok" (200) only when the read model can be read;
    otherwise "degraded" (503) with what is wrong with it."""
    seq: int | None = None
    problem = None
    try:
        seq = await read(state, readmodel.applied_seq)
    except readmodel.NoReadModel as err:
        problem = str(err)
    except sqlite3.Error as err:
        problem = f"the read model cannot be read ({err}): run `usagectl replay`"
    hub = state.live is not None and state.live.nc.is_connected
    body = {
        "status": "degraded" if problem else "ok",
        "readModel": problem or "ok",
        "readModelSeq": seq,
        "hub": hub,
    }
    return json_response(body, 503 if problem else 200)


ENDPOINTS = (
    Endpoint("/api/daily", "Usage per day", P.PERIOD, _period("daily"), "daily"),
    Endpoint("/api/weekly", "Usage per week", P.WEEKLY, _period("weekly"), "weekly"),
    Endpoint("/api/monthly", "Usage per month", P.PERIOD, _period("monthly"), "monthly"),
    Endpoint("/api/sessions", "Usage per session, most expensive first", P.SESSIONS, _sessions,
             "session"),
    Endpoint("/api/blocks", "5-hour billing blocks, account-wide or one machine's", P.BLOCKS,
             _blocks, "blocks"),
    Endpoint("/api/tools", "Tool calls seen by the hooks, per tool", P.TOOLS, _tools, "tools"),
    Endpoint("/api/plans", "Plans with features, timeline and usage", P.PLANS, _plans, "plans"),
    Endpoint("/api/limits", "Claude Code's official rate-limit figures", (), _limits),
    Endpoint("/api/machines", "Machines and their producers' latest heartbeats", (), _machines),
    Endpoint("/api/alerts", "Recent alerts, newest first", P.ALERTS, _alerts),
    Endpoint("/api/trends", "Insights: averages, weekdays, peak hours, model mix, week over "
             "week, month to date and projection, one day's hours", P.TRENDS, _trends, "trends"),
    Endpoint("/api/export", "Usage rows as CSV, JSON or JSON Lines", P.EXPORT, _export,
             "export", "application/octet-stream"),
    Endpoint("/api/dashboard", "Everything the dashboard page draws", P.DASHBOARD, _dashboard),
    Endpoint("/api/health", "Whether reports can be answered (503 with the read model's "
             "problem when not), its stream sequence, hub connection", (), _health),
)  # fmt: skip
