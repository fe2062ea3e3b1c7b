"""The reports fed by hooks, plans, heartbeats and the alerts consumer: tools, plans,
machines and alerts, for both faces."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from .queries import PlansQuery, ToolsQuery
from .settings import Settings

if TYPE_CHECKING:
    from usagectl.processors.planstore import Spent
    from usagectl.projections.planfold import PlanRow


def _day_ms(day: Any, tz: Any) -> int:
    return int(datetime.combine(day, time(), tz).timestamp() * 1000)


def tools_report(conn: sqlite3.Connection, p: ToolsQuery) -> dict[str, Any]:
    """`tools --json` and `/api/tools`: ``p`` holds the parsed filters."""
    from usagectl.processors import readmodel
    from usagectl.processors.hookstore import CallFilters, hook_projects, tool_calls
    from usagectl.projections.toolreport import tool_report

    tz, project = p.timezone, p.project
    projects = None
    if project is not None:
        projects = [x for x in hook_projects(conn) if readmodel.names_project(x, project)]
    filters = CallFilters(
        machine=p.machine,
        projects=projects,
        session_id=p.session,
        from_ms=_day_ms(p.since, tz) if p.since else None,
        to_ms=_day_ms(p.until + timedelta(days=1), tz) if p.until else None,
    )
    return tool_report(tool_calls(conn, filters))


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _spent_json(s: Spent) -> dict[str, Any]:
    return {
        "entries": s.entries,
        "inputTokens": s.input,
        "outputTokens": s.output,
        "cacheCreationTokens": s.cache_creation,
        "cacheReadTokens": s.cache_read,
        "totalTokens": s.total_tokens,
        "costUSD": round(s.cost_usd, 9),
    }


def plan_json(conn: sqlite3.Connection, plan: PlanRow, now_ms: int) -> dict[str, Any]:
    from usagectl.processors.planstore import spent, timeline

    features = []
    for f in plan.features.values():
        window = None
        usage = None
        if f.started_ms is not None:
            end = f.end_ms
            window = {"from": _iso(f.started_ms), "to": _iso(end), "open": end is None}
            usage = _spent_json(spent(conn, plan.project, f.started_ms, end or now_ms))
        features.append(
            {
                "id": f.feature_id,
                "description": f.description,
                "status": f.status,
                "createdAt": _iso(f.created_ms),
                "startedAt": _iso(f.started_ms),
                "completedAt": _iso(f.completed_ms),
                "failedAt": _iso(f.failed_ms),
                "window": window,
                "usage": usage,
            }
        )
    events = [
        {
            "ts": _iso(s.ts_ms),
            "kind": s.kind,
            "featureId": s.feature_id,
            "status": s.status,
            "prUrl": s.pr_url,
            "eventId": s.event_id,
        }
        for s in timeline(conn, (plan.project, plan.plan))
    ]
    return {
        "project": plan.project,
        "plan": plan.plan,
        "machine": plan.machine,
        "status": plan.status,
        "createdAt": _iso(plan.created_ms),
        "optimizedAt": _iso(plan.optimized_ms),
        "startedAt": _iso(plan.started_ms),
        "completedAt": _iso(plan.completed_ms),
        "prUrl": plan.pr_url,
        "featureCount": len(features),
        "features": features,
        "events": events,
    }


def plans_report(conn: sqlite3.Connection, p: PlansQuery, now_ms: int) -> dict[str, Any]:
    """`plans --json` and `/api/plans`: every plan, or those of ``p.project``."""
    from usagectl.processors import readmodel
    from usagectl.processors.planstore import read_plans

    rows = read_plans(conn)
    if p.project is not None:
        rows = [x for x in rows if readmodel.names_project(x.project, p.project)]
    return {"plans": [plan_json(conn, x, now_ms) for x in rows]}


def machines_from(conn: sqlite3.Connection, now_ms: int) -> dict[str, Any]:
    """The report (`usagectl machines --json`, `/api/machines`) from an open read model."""
    from usagectl.processors import poison
    from usagectl.processors.machineread import read_beats, read_usage
    from usagectl.projections.machines import machine_rows, summary

    rows = machine_rows(read_beats(conn), read_usage(conn), now_ms)
    refused = poison.read(conn)
    for row in rows:  # events the processor could not apply, by the machine that sent them
        row["refusedEvents"] = refused["by_machine"].get(row["machine"], 0)
    return {"machines": rows, "summary": summary(rows), "refusedEvents": refused["recent"]}


def machines_report(db_path: Any, now_ms: int) -> dict[str, Any]:
    from usagectl.processors import readmodel

    conn = readmodel.open_read(db_path)
    try:
        return machines_from(conn, now_ms)
    finally:
        conn.close()


def _alert_iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def read_alerts(settings: Settings) -> list[dict[str, Any]]:
    from usagectl.processors.alert_store import listing
    from usagectl.processors.consumers import db_path

    path = db_path(settings.home, "alerts")
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = listing(conn)
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    for r in rows:
        r["window"] = r.pop("window_key")
        for key in ("start_ms", "end_ms", "fired_ms", "resolved_ms"):
            r[key.removesuffix("_ms") + "_at"] = _alert_iso(r.pop(key))
        for d in r["deliveries"].values():
            d["sent_at"] = _alert_iso(d.pop("sent_ms"))
    return rows
