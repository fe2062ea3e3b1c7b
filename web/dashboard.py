"""What the dashboard page draws, in one payload: cost today / this week / this month, the last
30 days by model, the current 5-hour block account-wide and per machine, official limits,
active sessions and top projects. Machines and alerts come from web.sources.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from usagectl.processors import readmodel
from usagectl.processors.app.rollup_queries import active_machines, recent_sessions, top_projects
from usagectl.processors.blockstore import read_blocks
from usagectl.processors.readmodel import Filters
from usagectl.processors.schema import ACCOUNT_SCOPE, MACHINE_SCOPE
from usagectl.projections.blockreport import block_json
from usagectl.projections.blocks import Block, is_active, session_ms, shown_rate
from usagectl.projections.reports import (
    Period,
    group_rollups,
    iso_ms,
    period_of,
    unpriced_models,
    week_start,
)

DAYS = 30
LENGTH_MS = session_ms(5.0)
TOP = 8


def _midnight_s(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def _sum(periods: dict[str, Period], first: date, last: date) -> dict[str, Any]:
    cost = tokens = 0
    for key, x in periods.items():
        if first.isoformat() <= key <= last.isoformat():
            cost += x.tokens.cost_nano
            tokens += x.tokens.total
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "totalCost": cost / 1e9,
        "totalTokens": tokens,
    }


def _days(periods: dict[str, Period], first: date, today: date) -> list[dict[str, Any]]:
    out = []
    for n in range((today - first).days + 1):
        key = (first + timedelta(days=n)).isoformat()
        x = periods.get(key)
        models = {} if x is None else {m: t.cost for m, t in x.models.items()}
        out.append(
            {
                "date": key,
                "totalCost": 0.0 if x is None else x.tokens.cost,
                "totalTokens": 0 if x is None else x.tokens.total,
                "models": models,
            }
        )
    return out


def _active(blocks: list[Block], now_ms: int) -> Block | None:
    found = [b for b in blocks if not b.is_gap and is_active(b, now_ms, LENGTH_MS)]
    return found[-1] if found else None


def _shown(block: Block, now_ms: int) -> dict[str, Any]:
    """``blocks --json``'s shape, with the rate and projection people are shown (none until
    the block's activity spans MIN_RATE_SPAN_MS, as in watch, dash and the statusline)."""
    out = block_json(block, now_ms, LENGTH_MS)
    if shown_rate(block, now_ms, LENGTH_MS) is None:
        out.update(burnRate=None, projection=None)
    return out


def current_blocks(conn: sqlite3.Connection, account: str, now_ms: int) -> dict[str, Any]:
    """The active block account-wide (the official window is per account) and per machine,
    in ``blocks --json``'s shape, with burn rate and projection."""
    since = now_ms - LENGTH_MS
    scope = (ACCOUNT_SCOPE, account, "")
    block = _active(read_blocks(conn, scope, LENGTH_MS, since), now_ms)
    machines = []
    for machine in active_machines(conn, account, since):
        mine = _active(
            read_blocks(conn, (MACHINE_SCOPE, account, machine), LENGTH_MS, since), now_ms
        )
        if mine is not None:
            machines.append({"machine": machine, "block": _shown(mine, now_ms)})
    return {
        "account": None if block is None else _shown(block, now_ms),
        "machines": machines,
    }


def dashboard(
    conn: sqlite3.Connection, account: str, tz: ZoneInfo, start_of_week: str, now_ms: int
) -> dict[str, Any]:
    today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz).date()
    first = today - timedelta(days=DAYS - 1)
    week, month = week_start(today, start_of_week), today.replace(day=1)
    earliest = min(first, week, month)
    seq = readmodel.applied_seq(conn)  # before the reads: the page resumes events from here
    rows = readmodel.rollup_rows(conn, Filters(), _midnight_s(earliest, tz))
    found = group_rollups(rows, tz, period_of("daily"), "auto", earliest, today)
    periods = {x.key: x for x in found}
    models: dict[str, int] = {}
    for x in found:
        if x.key >= first.isoformat():
            for m, t in x.models.items():
                models[m] = models.get(m, 0) + t.cost_nano
    return {
        "seq": seq,
        "now": iso_ms(now_ms),
        "timezone": str(tz),
        "today": _sum(periods, today, today),
        "week": _sum(periods, week, today),
        "month": _sum(periods, month, today),
        "days": _days(periods, first, today),
        "unpriced": unpriced_models(found),
        "models": sorted(models, key=lambda m: (-models[m], m)),
        "blocks": current_blocks(conn, account, now_ms),
        "limits": readmodel.official_limits(conn, account, now_ms, LENGTH_MS),
        "sessions": [
            s
            | {
                "firstActivity": iso_ms(s["firstActivity"]),
                "lastActivity": iso_ms(s["lastActivity"]),
            }
            for s in recent_sessions(conn, now_ms - LENGTH_MS, 20)
        ],
        "projects": top_projects(conn, _midnight_s(first, tz), TOP),
    }
