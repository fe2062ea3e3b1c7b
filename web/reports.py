"""The reports as JSON payloads: the same read-model queries and shaping functions the CLI's
``--json`` uses, so ``/api/<report>`` and ``usagectl <report> --json`` print the same object
(tests/test_serve_api.py compares them on a corpus, filter by filter).

Each function takes an open read-only connection, parsed parameters (web.params) and ``now``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from usagectl.cli.plans import plan_json
from usagectl.cli.reports import _block_kept, _token_limit
from usagectl.cli.tools import _day_ms
from usagectl.processors import readmodel
from usagectl.processors.hookstore import CallFilters, hook_projects, session_hooks, tool_calls
from usagectl.processors.planstore import read_plans
from usagectl.processors.readmodel import Filters
from usagectl.projections.blockreport import block_json
from usagectl.projections.blocks import is_active, session_ms
from usagectl.projections.hookfold import hook_counts
from usagectl.projections.reports import (
    COST_INDEX,
    Period,
    group_rollups,
    iso_ms,
    local_date,
    period_of,
    totals_json,
)
from usagectl.projections.toolreport import tool_report
from usagectl.projections.trends import first_bucket, trends

from .params import token_limit

KEY_NAMES = {"daily": "date", "weekly": "week", "monthly": "month"}


def period_report(conn: sqlite3.Connection, kind: str, p: dict[str, Any]) -> dict[str, Any]:
    """``daily``, ``weekly`` or ``monthly``."""
    found = readmodel.rollup_rows(conn, Filters(machine=p["machine"], project=p["project"]))
    week = p.get("start_of_week") or "sunday"
    periods = group_rollups(
        found, p["timezone"], period_of(kind, week), p["mode"], p["since"], p["until"]
    )
    if p["order"] == "desc":
        periods.reverse()
    return {kind: [x.json(KEY_NAMES[kind]) for x in periods], "totals": totals_json(periods)}


SessionRows = list[tuple[Period, dict[str, Any], str]]


def session_periods(conn: sqlite3.Connection, p: dict[str, Any]) -> SessionRows:
    """Sessions as (period, row, machine), most expensive first: the ``session`` report's rows
    (with the hook columns beside ccusage's keys) and what ``export --by session`` writes."""
    cost_index = COST_INDEX[p["mode"]]
    sessions: dict[tuple[str, str], tuple[Period, int, int, str]] = {}
    for r in readmodel.session_rows(conn, Filters(machine=p["machine"], project=p["project"])):
        key = (r.project_dir, r.session_id)
        period = sessions.setdefault(key, (Period(r.session_id), r.first_ms, r.last_ms,
                                           r.machine))[0]  # fmt: skip
        period.add(r.model, r.sums, cost_index, r.first_ms)
    hooks = session_hooks(conn)
    rows = []
    since, until = p["since"], p["until"]
    for (project_dir, _), (period, first, last, machine) in sessions.items():
        day = local_date(last // 1000, p["timezone"])
        if (since and day < since) or (until and day > until) or not period.tokens.total:
            continue
        row = period.json("sessionId")
        row.update(projectPath=project_dir, firstActivity=iso_ms(first), lastActivity=iso_ms(last))
        row.update(hook_counts(hooks.get(period.key)))
        rows.append((period, row, machine))
    rows.sort(key=lambda pr: (-pr[0].tokens.cost_nano, pr[1]["sessionId"]))
    return rows


def session_report(conn: sqlite3.Connection, p: dict[str, Any]) -> dict[str, Any]:
    rows = session_periods(conn, p)
    return {"sessions": [r for _, r, _ in rows], "totals": totals_json(x for x, _, _ in rows)}


def blocks_report(
    conn: sqlite3.Connection, account: str, p: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    length = session_ms(p["session_length"])
    limit_arg = token_limit(p["token_limit"])
    found = readmodel.blocks(conn, account, p["machine"], length)
    official = readmodel.official_limits(conn, account, now_ms, length)
    kept = [
        b for b in found
        if _block_kept(b.start_ms, p["timezone"], p["since"], p["until"], p["recent"], now_ms)
        and (not p["active"] or is_active(b, now_ms, length))
    ]  # fmt: skip
    limit = _token_limit(limit_arg, kept, now_ms, length)
    if p["order"] == "desc":
        kept.reverse()
    cost_index = tuple(COST_INDEX).index(p["mode"])
    rows = [block_json(b, now_ms, length, cost_index, limit) for b in kept]
    return {"blocks": rows} | ({"limits": official} if official else {})


def tools_report(conn: sqlite3.Connection, p: dict[str, Any]) -> dict[str, Any]:
    from datetime import timedelta

    tz = p["timezone"]
    projects = None
    if p["project"] is not None:
        projects = [x for x in hook_projects(conn) if readmodel.names_project(x, p["project"])]
    filters = CallFilters(
        machine=p["machine"],
        projects=projects,
        session_id=p["session"],
        from_ms=_day_ms(p["since"], tz) if p["since"] else None,
        to_ms=_day_ms(p["until"] + timedelta(days=1), tz) if p["until"] else None,
    )
    return tool_report(tool_calls(conn, filters))


def plans_report(conn: sqlite3.Connection, p: dict[str, Any], now_ms: int) -> dict[str, Any]:
    rows = read_plans(conn)
    if p["project"] is not None:
        rows = [x for x in rows if readmodel.names_project(x.project, p["project"])]
    return {"plans": [plan_json(conn, x, now_ms) for x in rows]}


def limits_report(conn: sqlite3.Connection, account: str, now_ms: int) -> dict[str, Any]:
    """The official figures ``blocks --json`` carries as ``limits`` (null while Claude Code
    has sent none), over the default 5-hour window."""
    return {"limits": readmodel.official_limits(conn, account, now_ms, session_ms(5.0))}


def trends_payload(conn: sqlite3.Connection, p: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """``usagectl trends --json``: the insights over ``p["days"]`` local days ending today."""
    tz = p["timezone"]
    start = first_bucket(now_ms, tz, p["days"], p["day"])
    rows = readmodel.rollup_rows(conn, Filters(machine=p["machine"], project=p["project"]), start)
    return trends(rows, tz, now_ms, days=p["days"], day=p["day"], cost_mode=p["mode"])
