"""`usagectl plans`: each plan with its features, status, timeline, and the tokens and cost
spent while each feature was in progress, from the read model (no bus)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table
from usagectl.processors.app.parsing import zone
from usagectl.processors.app.queries import PlansQuery
from usagectl.processors.app.side_reports import plans_report

from .reports import Json, Project, Tz

if TYPE_CHECKING:
    pass

app = typer.Typer(add_completion=False)


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
        table.add_row(
            f"[bold]{p['plan']}[/] ({p['project']})",
            p["status"],
            _when(p["createdAt"], tz),
            _when(p["startedAt"], tz),
            _when(p["completedAt"], tz),
            "",
            "",
        )
        for f in p["features"]:
            usage = f["usage"] or {}
            tokens = f"{usage['totalTokens']:,}" if usage else ""
            cost = f"${usage['costUSD']:,.2f}" if usage else ""
            label = f"  {f['id']} {f['description'] or ''}".rstrip()
            done = f["completedAt"] or f["failedAt"]
            table.add_row(
                label,
                f["status"],
                _when(f["createdAt"], tz),
                _when(f["startedAt"], tz),
                _when(done, tz),
                tokens,
                cost,
            )
        if p["prUrl"]:
            table.add_row(f"  PR {p['prUrl']}", "", "", "", "", "", "")
        table.add_section()
    return table


@app.command()
def plans(json_out: Json = False, timezone: Tz = None, project: Project = None) -> None:
    """Plans tracked from dev/active and dev/complete (`--plans DIR` on `up`/`sync`): features,
    status, timeline, and tokens and cost spent while each feature was in progress (the usage
    of sessions in the plan's project within [started, completed|failed|now]; features in
    progress at the same time share the same usage)."""
    from usagectl.processors import readmodel
    from usagectl.processors.app.settings import load_settings

    zone_info = zone(timezone)
    conn = readmodel.open_read(load_settings().db_path)
    try:
        report = plans_report(conn, PlansQuery(project=project), int(time.time() * 1000))
    finally:
        conn.close()
    if json_out:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    elif not report["plans"]:
        where = f" in project {project}" if project else ""
        typer.echo(
            f"No plans{where}: track a project's dev/active plans with "
            "`usagectl sync --plans DIR` (or USAGECTL_PLANS)."
        )
    else:
        Console().print(plans_table(report, zone_info))
