"""`usagectl tools`: per tool, calls, failures, failure rate and duration percentiles, from the
hook read model (no bus)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from usagectl.processors.app.parsing import day_range, zone
from usagectl.processors.app.queries import ToolsQuery
from usagectl.processors.app.side_reports import tools_report

from .fit import Col, Grid, Level, levels, print_fitted
from .reports import Json, Machine, Project, Since, Tz, Until

app = typer.Typer(add_completion=False)

Session = Annotated[str | None, typer.Option("--session", help="only this session id")]


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    if value < 1000:
        return f"{value:,.0f} ms"
    if value < 60_000:
        return f"{value / 1000:,.1f} s"
    return f"{int(value // 60_000)}m {int(value % 60_000 // 1000):02d}s"


TOOL_DROPS = ("errors", "p95", "p50", "failures", "rate")


def tools_grid(report: dict[str, Any], level: Level) -> Grid:
    cols = [
        Col("tool", "Tool"),
        Col("calls", "Calls", justify="right"),
        Col("failures", "Failures", justify="right"),
        Col("rate", "Fail %", justify="right"),
        Col("p50", "p50", justify="right"),
        Col("p95", "p95", justify="right"),
        Col("errors", "Errors", max_width=40),
    ]
    grid = Grid.of("Claude Code tool calls", cols, level)

    def add(name: str, row: dict[str, Any], style: str | None = None) -> None:
        errors = ", ".join(f"{k} ×{n}" for k, n in list(row["errorKinds"].items())[:3])
        cells = {
            "tool": name,
            "calls": f"{row['calls']:,}",
            "failures": f"{row['failures']:,}",
            "rate": f"{row['failureRate'] * 100:.1f}%",
            "p50": _ms(row["p50DurationMs"]),
            "p95": _ms(row["p95DurationMs"]),
            "errors": errors,
        }
        grid.add([cells[c.key] for c in grid.cols], style)

    for row in report["tools"]:
        add(row["tool"], row)
    grid.section_at = len(grid.rows)
    add("Total", report["totals"], "bold")
    return grid


@app.command()
def tools(
    json_out: Json = False,
    timezone: Tz = None,
    since: Since = None,
    until: Until = None,
    machine: Machine = None,
    project: Project = None,
    session: Session = None,
) -> None:
    """Tool calls seen by the hooks (`usagectl hooks install`): per tool, calls, failures,
    failure rate, p50/p95 duration, most used first."""
    from usagectl.processors import readmodel
    from usagectl.processors.app.settings import load_settings

    first, last = day_range(since, until)
    p = ToolsQuery(
        timezone=zone(timezone),
        since=first,
        until=last,
        machine=machine,
        project=project,
        session=session,
    )
    conn = readmodel.open_read(load_settings().db_path)
    try:
        report = tools_report(conn, p)
    finally:
        conn.close()
    if json_out:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    elif not report["tools"]:
        from .reports import empty_reason

        scope = empty_reason(p).removeprefix("No usage")
        if scope.startswith(" recorded yet"):
            scope = " seen yet: they come from the hooks (`usagectl hooks install`)."
        typer.echo(f"No tool calls{scope}")
    else:
        print_fitted(lambda lv: tools_grid(report, lv), levels(TOOL_DROPS))
