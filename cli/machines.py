"""`usagectl machines`: every machine that reports here, whether its producer is alive, and
how it is doing (from the read model; no bus)."""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from usagectl.processors.app.side_reports import machines_report

from .fit import Col, Grid, Level, levels, print_fitted
from .reports import Json

app = typer.Typer(add_completion=False)


def _ago(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172_800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86_400} d ago"


MACHINE_DROPS = (
    "version",
    "refused",
    "files",
    "lag",
    "rejected",
    "heartbeat",
    "sessions",
    "last",
    "status",
)


def machines_grid(rows: list[dict[str, Any]], level: Level) -> Grid:
    cols = [
        Col("machine", "Machine"),
        Col("status", "Status"),
        Col("heartbeat", "Heartbeat", justify="right"),
        Col("version", "Version"),
        Col("files", "Files", justify="right"),
        Col("lag", "Lag", justify="right"),
        Col("rejected", "Rejected", justify="right"),
        Col("refused", "Refused", justify="right"),
        Col("last", "Last usage"),
        Col("sessions", "Sessions", justify="right"),
        Col("cost", "Cost", justify="right"),
    ]
    grid = Grid.of("Machines", cols, level)

    def count(value: int | None, unit: str = "") -> str:
        return "" if value is None else f"{value:,}{unit}"

    for row in rows:
        cells = {
            "machine": row["machine"],
            "status": row["status"],
            "heartbeat": _ago(row["secondsSinceHeartbeat"]),
            "version": row["version"] or "",
            "files": count(row["filesWatched"]),
            "lag": count(row["lagBytes"], " B"),
            "rejected": count(row["rejectedLines"]) + _unreadable(row),
            "refused": count(row.get("refusedEvents")),
            "last": (row["lastUsage"] or "")[:16].replace("T", " "),
            "sessions": f"{row['sessions']:,}",
            "cost": f"${row['totalCost']:,.2f}",
        }
        grid.add([cells[c.key] for c in grid.cols])
    return grid


def _unreadable(row: dict[str, Any]) -> str:
    n = len(row.get("unreadableFiles") or {})
    return f" ({n:,} unreadable)" if n else ""


@app.command()
def machines(json_out: Json = False) -> None:
    """Per machine: online/offline (from producer heartbeats), last seen, producer version,
    files watched, lag, lines rejected, and its usage."""
    from usagectl.processors.app.settings import load_settings

    report = machines_report(load_settings().db_path, int(time.time() * 1000))
    if json_out:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    print_fitted(lambda lv: machines_grid(report["machines"], lv), levels(MACHINE_DROPS))
