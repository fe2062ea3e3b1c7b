"""Export: usage rows per day, session, model, project or machine, as CSV, JSON or JSON Lines.

``usagectl export`` and ``GET /api/export`` both call ``export`` and write its bytes, so a
file fetched over HTTP is byte-for-byte the file the CLI writes.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from usagectl.processors.readmodel import Filters
from usagectl.projections.reports import COST_INDEX, Period, local_date, totals_json

from .queries import ExportQuery, UsageQuery
from .rollup_queries import rollups_by
from .usage_reports import session_periods

NUMBERS = (
    "inputTokens",
    "outputTokens",
    "cacheCreationTokens",
    "cacheReadTokens",
    "totalTokens",
    "totalCost",
)
KEYS = {
    "day": ("date",),
    "model": ("model",),
    "project": ("project",),
    "machine": ("machine",),
    "session": ("sessionId", "projectPath", "machine", "firstActivity", "lastActivity"),
}
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}


def columns(by: str) -> tuple[str, ...]:
    """A row's columns in file order: what it is, its numbers, then the models it used."""
    return (*KEYS[by], *NUMBERS) + (() if by == "model" else ("modelsUsed",))


def _midnight_s(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def _grouped(conn: sqlite3.Connection, p: ExportQuery) -> list[tuple[Period, dict[str, Any]]]:
    by, tz = p.by, p.timezone
    first, last = p.first, p.last
    from_s = _midnight_s(first, tz) if first else None
    to_s = _midnight_s(last + timedelta(days=1), tz) if last else None
    cost_index = COST_INDEX[p.mode]
    periods: dict[str, Period] = {}
    f = Filters(machine=p.machine, project=p.project)
    for bucket, key, model, sums in rollups_by(conn, by, f, from_s, to_s):
        if by == "day":
            key = local_date(bucket, tz).isoformat()
        elif by == "model":
            key = model
        periods.setdefault(key, Period(key)).add(model, sums, cost_index, bucket)
    ordered = sorted(periods.values(), key=lambda x: x.key)
    if by != "day":  # most expensive first, as the session report
        ordered.sort(key=lambda x: -x.tokens.cost_nano)
    name = KEYS[by][0]
    return [(x, {k: v for k, v in x.json(name).items() if k != "modelBreakdowns"}) for x in ordered]


def _sessions(conn: sqlite3.Connection, p: ExportQuery) -> list[tuple[Period, dict[str, Any]]]:
    sessions = UsageQuery(
        timezone=p.timezone,
        since=p.first,
        until=p.last,
        machine=p.machine,
        project=p.project,
        mode=p.mode,
    )
    found = session_periods(conn, sessions)
    keep = set(columns("session"))
    return [
        (x, {k: v for k, v in row.items() if k in keep} | {"machine": machine})
        for x, row, machine in found
    ]


Rows = list[dict[str, Any]]


def export_rows(conn: sqlite3.Connection, p: ExportQuery) -> tuple[Rows, dict[str, Any]]:
    """The rows (each with ``columns(by)`` in that order) and their totals."""
    found = _sessions(conn, p) if p.by == "session" else _grouped(conn, p)
    order = columns(p.by)
    rows = [{c: row[c] for c in order} for _, row in found]
    return rows, totals_json(x for x, _ in found)


def _csv_cell(value: Any) -> Any:
    return ";".join(value) if isinstance(value, list) else value


def render(rows: list[dict[str, Any]], totals: dict[str, Any], p: ExportQuery) -> bytes:
    fmt = p.format
    if fmt == "jsonl":
        return b"".join(msgspec.json.encode(r) + b"\n" for r in rows)
    if fmt == "json":
        doc = {
            "by": p.by,
            "from": p.first,
            "to": p.last,
            "timezone": str(p.timezone),
            "rows": rows,
            "totals": totals,
        }
        return msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns(p.by))
    for r in rows:
        writer.writerow([_csv_cell(v) for v in r.values()])
    return out.getvalue().encode()


def export(conn: sqlite3.Connection, p: ExportQuery) -> bytes:
    """The whole file for parameters ``p`` (parsing.EXPORT, parsed)."""
    rows, totals = export_rows(conn, p)
    return render(rows, totals, p)
