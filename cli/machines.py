"""`usagectl machines`: every machine that reports here, whether its producer is alive, and
how it is doing (from the read model; no bus)."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

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


def machines_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Machines", header_style="bold")
    for label, justify in (("Machine", "left"), ("Status", "left"), ("Heartbeat", "right"),
                           ("Version", "left"), ("Files", "right"), ("Lag", "right"),
                           ("Rejected", "right"), ("Refused", "right"), ("Last usage", "left"),
                           ("Sessions", "right"),
                           ("Cost", "right")):  # fmt: skip
        table.add_column(label, justify=justify, no_wrap=label != "Machine")  # type: ignore[arg-type]

    def count(value: int | None, unit: str = "") -> str:
        return "" if value is None else f"{value:,}{unit}"

    for row in rows:
        table.add_row(
            row["machine"], row["status"], _ago(row["secondsSinceHeartbeat"]),
            row["version"] or "", count(row["filesWatched"]), count(row["lagBytes"], " B"),
            count(row["rejectedLines"]) + _unreadable(row), count(row.get("refusedEvents")),
            (row["lastUsage"] or "")[:16].replace("T", " "),
            f"{row['sessions']:,}", f"${row['totalCost']:,.2f}",
        )  # fmt: skip
    return table


def _unreadable(row: dict[str, Any]) -> str:
    n = len(row.get("unreadableFiles") or {})
    return f" ({n:,} unreadable)" if n else ""


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


@app.command()
def machines(json_out: Json = False) -> None:
    """Per machine: online/offline (from producer heartbeats), last seen, producer version,
    files watched, lag, lines rejected, and its usage."""
    from .settings import load_settings

    report = machines_report(load_settings().db_path, int(time.time() * 1000))
    if json_out:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    Console().print(machines_table(report["machines"]))
