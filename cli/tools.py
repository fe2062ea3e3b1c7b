"""`usagectl tools`: per tool, calls, failures, failure rate and duration percentiles, from the
hook read model (no bus)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, time, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .reports import Json, Machine, Project, Since, Tz, Until, parse_day, zone

app = typer.Typer(add_completion=False)

Session = Annotated[str | None, typer.Option("--session", help="only this session id")]


def _day_ms(day: Any, tz: Any) -> int:
    return int(datetime.combine(day, time(), tz).timestamp() * 1000)


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    if value < 1000:
        return f"{value:,.0f} ms"
    if value < 60_000:
        return f"{value / 1000:,.1f} s"
    return f"{int(value // 60_000)}m {int(value % 60_000 // 1000):02d}s"


def tools_table(report: dict[str, Any]) -> Table:
    table = Table(title="Claude Code tool calls", header_style="bold")
    table.add_column("Tool", no_wrap=True)
    for label in ("Calls", "Failures", "Fail %", "p50", "p95"):
        table.add_column(label, justify="right", no_wrap=True)
    table.add_column("Errors")

    def cells(row: dict[str, Any]) -> list[str]:
        errors = ", ".join(f"{k} ×{n}" for k, n in list(row["errorKinds"].items())[:3])
        return [f"{row['calls']:,}", f"{row['failures']:,}", f"{row['failureRate'] * 100:.1f}%",
                _ms(row["p50DurationMs"]), _ms(row["p95DurationMs"]), errors]  # fmt: skip

    for row in report["tools"]:
        table.add_row(row["tool"], *cells(row))
    table.add_section()
    table.add_row("Total", *cells(report["totals"]), style="bold")
    return table


def tools_report(conn: sqlite3.Connection, p: dict[str, Any]) -> dict[str, Any]:
    """`tools --json` and `/api/tools`: ``p`` holds the parsed filters."""
    from usagectl.processors import readmodel
    from usagectl.processors.hookstore import CallFilters, hook_projects, tool_calls
    from usagectl.projections.toolreport import tool_report

    tz, project = p["timezone"], p["project"]
    projects = None
    if project is not None:
        projects = [x for x in hook_projects(conn) if readmodel.names_project(x, project)]
    filters = CallFilters(
        machine=p["machine"],
        projects=projects,
        session_id=p["session"],
        from_ms=_day_ms(p["since"], tz) if p["since"] else None,
        to_ms=_day_ms(p["until"] + timedelta(days=1), tz) if p["until"] else None,
    )
    return tool_report(tool_calls(conn, filters))


@app.command()
def tools(json_out: Json = False, timezone: Tz = None, since: Since = None, until: Until = None,
          machine: Machine = None, project: Project = None, session: Session = None,
          ) -> None:  # fmt: skip
    """Tool calls seen by the hooks (`usagectl hooks install`): per tool, calls, failures,
    failure rate, p50/p95 duration, most used first."""
    from usagectl.processors import readmodel

    from .settings import load_settings

    p = {"timezone": zone(timezone), "since": parse_day(since, "--since"),
         "until": parse_day(until, "--until"), "machine": machine, "project": project,
         "session": session}  # fmt: skip
    conn = readmodel.open_read(load_settings().db_path)
    try:
        report = tools_report(conn, p)
    finally:
        conn.close()
    if json_out:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        Console().print(tools_table(report))
