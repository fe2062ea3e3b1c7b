"""Usage per local day of any zone, read from the hourly rollups: SQLite sums each day inside a
stretch of one UTC offset, and only the hours a day boundary or an offset change cuts are read
as 15-minute buckets (``projections.zonedays``). A report over a year reads a year of hour rows
once, grouped in SQL, and a report over a week reads a week of them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from usagectl.projections.columns import SUM_COLUMNS
from usagectl.projections.reports import local_date
from usagectl.projections.zonedays import (
    EPOCH,
    HOUR,
    QUARTER,
    Segment,
    local_day,
    local_midnight,
    segments,
    split_hours,
)

from .readmodel import Filters, where_clause

# (local date, model, first 15-minute bucket the model was seen in, sums in SUM_COLUMNS order)
DayRow = tuple[date, str, int, tuple[int, ...]]

_FIRST_QUARTER = (
    "min(hour + CASE WHEN q0 > 0 THEN 0 WHEN q1 > 0 THEN 900 WHEN q2 > 0 THEN 1800 ELSE 2700 END)"
)
_SUMS = ", ".join(f"sum({c})" for c in SUM_COLUMNS)


def _span(
    conn: sqlite3.Connection, tz: ZoneInfo, since: date | None, until: date | None
) -> tuple[int, int] | None:
    """The UTC range to read: the stored hours, narrowed to a day either side of the dates
    asked for (the exact date test is applied to every row afterwards)."""
    first, last = conn.execute("SELECT min(hour), max(hour) FROM rollup_hour").fetchone()
    if first is None:
        return None
    start, end = int(first), int(last) + HOUR
    if since is not None:
        start = max(start, local_midnight(since - timedelta(days=1), tz) // HOUR * HOUR)
    if until is not None:
        end = min(end, local_midnight(until + timedelta(days=2), tz))
    return (start, end) if start < end else None


def _hour_rows(
    conn: sqlite3.Connection, seg: Segment, where: str, params: list[object]
) -> Iterator[DayRow]:
    sql = (
        f"SELECT (hour + ?) / 86400, model, {_FIRST_QUARTER}, {_SUMS} FROM rollup_hour "
        f"WHERE hour >= ? AND hour < ? AND (hour + ?) % 86400 < ? AND {where} "
        "GROUP BY 1, model"
    )
    args = [seg.offset, seg.first_hour, seg.end_hour, seg.offset, seg.whole_hour_limit()]
    for day, model, first, *sums in conn.execute(sql, [*args, *params]):
        yield local_day(day), model, first, tuple(sums)


def _bucket_rows(
    conn: sqlite3.Connection, hours: list[int], tz: ZoneInfo, where: str, params: list[object]
) -> Iterator[DayRow]:
    buckets = [h + q for h in hours for q in range(0, HOUR, QUARTER)]
    for i in range(0, len(buckets), 800):
        chunk = buckets[i : i + 800]
        sql = (
            f"SELECT bucket, model, {_SUMS} FROM rollup WHERE bucket IN "
            f"({', '.join('?' * len(chunk))}) AND {where} GROUP BY bucket, model"
        )
        for bucket, model, *sums in conn.execute(sql, [*chunk, *params]):
            yield local_date(bucket, tz), model, bucket, tuple(sums)


def _zone_rows(
    conn: sqlite3.Connection, tz: ZoneInfo, since: date | None, until: date | None
) -> list[DayRow] | None:
    """The zone's own day rows when the processor keeps them (``zonestore``), else None."""
    try:
        kept = conn.execute("SELECT 1 FROM report_zones WHERE zone = ?", (tz.key,)).fetchone()
    except sqlite3.OperationalError:  # a file the processor has not opened since its upgrade
        return None
    if kept is None:
        return None
    first = (since - EPOCH).days if since else -(1 << 40)
    last = (until - EPOCH).days if until else 1 << 40
    sql = (
        f"SELECT day, model, first_bucket, {', '.join(SUM_COLUMNS)} FROM rollup_zone_day "
        "WHERE zone = ? AND day >= ? AND day <= ?"
    )
    return [
        (local_day(day), model, first, tuple(sums))
        for day, model, first, *sums in conn.execute(sql, (tz.key, first, last))
    ]


def day_rows(
    conn: sqlite3.Connection,
    f: Filters,
    tz: ZoneInfo,
    since: date | None = None,
    until: date | None = None,
) -> list[DayRow]:
    """Every (local date, model) with usage in [since, until], any order: a zone's own day
    rows when there is no machine or project filter and the processor keeps that zone, else
    hour rows cut at the zone's days."""
    if f.machine is None and f.project is None and f.account is None:
        kept = _zone_rows(conn, tz, since, until)
        if kept is not None:
            return kept
    span = _span(conn, tz, since, until)
    if span is None:
        return []
    where, params = where_clause(conn, f)
    rows: list[DayRow] = []
    split: set[int] = set()
    for seg in segments(tz, *span):
        if seg.first_hour < seg.end_hour:
            rows.extend(_hour_rows(conn, seg, where, params))
        split.update(split_hours(seg))
    rows.extend(_bucket_rows(conn, sorted(split), tz, where, params))
    return [r for r in rows if not ((since and r[0] < since) or (until and r[0] > until))]
