"""`usagectl plans`: each plan with its features, status, timeline, and the tokens and cost
spent while each feature was in progress, from the read model (no bus)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from .reports import Json, Project, Tz, zone

if TYPE_CHECKING:
    import sqlite3

    from usagectl.processors.planstore import Spent
    from usagectl.projections.planfold import PlanRow

app = typer.Typer(add_completion=False)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _spent_json(s: Spent) -> dict[str, Any]:
    return {"entries": s.entries, "inputTokens": s.input, "outputTokens": s.output,
            "cacheCreationTokens": s.cache_creation, "cacheReadTokens": s.cache_read,
            "totalTokens": s.total_tokens, "costUSD": round(s.cost_usd, 9)}  # fmt: skip


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
        features.append({
            "id": f.feature_id, "description": f.description, "status": f.status,
            "createdAt": _iso(f.created_ms), "startedAt": _iso(f.started_ms),
            "completedAt": _iso(f.completed_ms), "failedAt": _iso(f.failed_ms),
            "window": window, "usage": usage,
        })  # fmt: skip
    events = [{"ts": _iso(s.ts_ms), "kind": s.kind, "featureId": s.feature_id,
               "status": s.status, "prUrl": s.pr_url, "eventId": s.event_id}
              for s in timeline(conn, (plan.project, plan.plan))]  # fmt: skip
    return {
        "project": plan.project, "plan": plan.plan, "machine": plan.machine,
        "status": plan.status, "createdAt": _iso(plan.created_ms),
        "optimizedAt": _iso(plan.optimized_ms), "startedAt": _iso(plan.started_ms),
        "completedAt": _iso(plan.completed_ms), "prUrl": plan.pr_url,
        "featureCount": len(features), "features": features, "events": events,
    }  # fmt: skip


def _when(iso: str | None, tz: Any) -> str:
    if iso is None:
        return ""
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def plans_table(report: dict[str, Any], tz: Any) -> Table:
    table = Table(title="Plans", header_style="bold")
    for label in ("Plan / feature", "Status", "Created", "Started", "Completed"):
        table.add_column(label, no_wrap=label != "Plan / feature")
    for label in ("Tokens", "Cost (USD)"):
        table.add_column(label, justify="right", no_wrap=True)
    for p in report["plans"]:
        table.add_row(f"[bold]{p['plan']}[/] ({p['project']})", p["status"],
                      _when(p["createdAt"], tz), _when(p["startedAt"], tz),
                      _when(p["completedAt"], tz), "", "")  # fmt: skip
        for f in p["features"]:
            usage = f["usage"] or {}
            tokens = f"{usage['totalTokens']:,}" if usage else ""
            cost = f"${usage['costUSD']:,.2f}" if usage else ""
            label = f"  {f['id']} {f['description'] or ''}".rstrip()
            done = f["completedAt"] or f["failedAt"]
            table.add_row(label, f["status"], _when(f["createdAt"], tz),
                          _when(f["startedAt"], tz), _when(done, tz), tokens, cost)  # fmt: skip
        if p["prUrl"]:
            table.add_row(f"  PR {p['prUrl']}", "", "", "", "", "", "")
        table.add_section()
    return table


def plans_report(conn: sqlite3.Connection, p: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """`plans --json` and `/api/plans`: every plan, or those of ``p["project"]``."""
    from usagectl.processors import readmodel
    from usagectl.processors.planstore import read_plans

    rows = read_plans(conn)
    if p["project"] is not None:
        rows = [x for x in rows if readmodel.names_project(x.project, p["project"])]
    return {"plans": [plan_json(conn, x, now_ms) for x in rows]}


@app.command()
def plans(json_out: Json = False, timezone: Tz = None, project: Project = None) -> None:
    """Plans tracked from dev/active and dev/complete (`--plans DIR` on `up`/`sync`): features,
    status, timeline, and tokens and cost spent while each feature was in progress (the usage
    of sessions in the plan's project within [started, completed|failed|now]; features in
    progress at the same time share the same usage)."""
    from usagectl.processors import readmodel

    from .settings import load_settings

    zone_info = zone(timezone)
    conn = readmodel.open_read(load_settings().db_path)
    try:
        report = plans_report(conn, {"project": project}, int(time.time() * 1000))
    finally:
        conn.close()
    if json_out:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    elif not report["plans"]:
        where = f" in project {project}" if project else ""
        typer.echo(f"No plans{where}: track a project's dev/active plans with "
                   "`usagectl sync --plans DIR` (or USAGECTL_PLANS).")  # fmt: skip
    else:
        Console().print(plans_table(report, zone_info))
