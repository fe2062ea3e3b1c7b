"""`usagectl export`: usage rows per day, session, model, project or machine, as CSV, JSON or
JSON Lines, from the read model (no bus). `GET /api/export` writes the same bytes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.parsing import check_choice, parse_day, zone

from .reports import Machine, Mode, Project, Tz

app = typer.Typer(add_completion=False)


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv|json|jsonl")] = "csv",
    from_day: Annotated[
        str | None, typer.Option("--from", help="first local day, YYYY-MM-DD")
    ] = None,
    to_day: Annotated[str | None, typer.Option("--to", help="last local day, YYYY-MM-DD")] = None,
    by: Annotated[str, typer.Option("--by", help="day|session|model|project|machine")] = "day",
    timezone: Tz = None,
    machine: Machine = None,
    project: Project = None,
    mode: Mode = "auto",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here, not to stdout")
    ] = None,
) -> None:
    """Usage rows for a date range: one per day, session, model, project or machine."""
    from usagectl.processors import readmodel
    from usagectl.processors.app.export_rows import export as export_bytes
    from usagectl.processors.app.parsing import EXPORT_BY, EXPORT_FORMATS
    from usagectl.processors.app.queries import ExportQuery
    from usagectl.processors.app.settings import load_settings

    p = ExportQuery(
        format=check_choice(fmt, EXPORT_FORMATS, "--format"),
        by=check_choice(by, EXPORT_BY, "--by"),
        first=parse_day(from_day, "--from"),
        last=parse_day(to_day, "--to"),
        timezone=zone(timezone),
        machine=machine,
        project=project,
        mode=check_choice(mode, ("auto", "calculate", "display"), "--mode"),
    )
    if p.first and p.last and p.first > p.last:
        raise UserError(f"invalid range: --from {p.first} is after --to {p.last}")
    conn = readmodel.open_read(load_settings().db_path)
    try:
        body = export_bytes(conn, p)
    finally:
        conn.close()
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        output.write_bytes(body)
