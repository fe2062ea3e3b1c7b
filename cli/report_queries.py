"""The report commands' options turned into queries, and their JSON written: shared by the typer
commands (``cli/reports.py``) and the typer-free JSON path (``cli/fastreport.py``), so both
refuse the same values in the same words and print the same bytes."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.parsing import check_choice, day_range, zone
from usagectl.processors.app.queries import BlocksQuery, UsageQuery
from usagectl.processors.app.usage_reports import check_token_limit
from usagectl.projections.blocks import DEFAULT_SESSION_HOURS
from usagectl.projections.reports import COST_INDEX, WEEKDAYS


def emit(payload: dict[str, Any]) -> None:
    # msgspec writes the same pretty JSON ~10x faster than json.dumps on a long session list.
    out = msgspec.json.format(msgspec.json.encode(payload, order="sorted"), indent=2)
    sys.stdout.buffer.write(out + b"\n")
    sys.stdout.flush()


def _common(
    tz: str | None, since: str | None, until: str | None, mode: str, order: str
) -> tuple[ZoneInfo, date | None, date | None]:
    """The checks every usage report shares: zone, date range, cost mode, order."""
    zone_info, (first, last) = zone(tz), day_range(since, until)
    check_choice(mode, tuple(COST_INDEX), "--mode")
    check_choice(order, ("asc", "desc"), "--order")
    return zone_info, first, last


def usage_query(
    tz: str | None = None,
    since: str | None = None,
    until: str | None = None,
    machine: str | None = None,
    project: str | None = None,
    mode: str = "auto",
    order: str = "asc",
    start_of_week: str = "sunday",
    limit: int | None = None,
) -> UsageQuery:
    """daily / weekly / monthly / session: every value checked before any data is read."""
    zone_info, first, last = _common(tz, since, until, mode, order)
    check_choice(start_of_week, WEEKDAYS, "--start-of-week")
    if limit is not None and limit < 1:
        raise UserError(f"invalid --limit {limit}: a positive number of sessions")
    return UsageQuery(
        timezone=zone_info,
        since=first,
        until=last,
        machine=machine,
        project=project,
        mode=mode,
        order=order,
        start_of_week=start_of_week,
        limit=limit,
    )


def blocks_query(
    tz: str | None = None,
    since: str | None = None,
    until: str | None = None,
    machine: str | None = None,
    mode: str = "auto",
    order: str = "asc",
    active: bool = False,
    recent: bool = False,
    token_limit: str | None = None,
    session_length: float | None = None,
) -> BlocksQuery:
    zone_info, first, last = _common(tz, since, until, mode, order)
    hours = DEFAULT_SESSION_HOURS if session_length is None else session_length
    if hours <= 0:
        raise UserError("invalid --session-length: must be a positive number of hours")
    check_token_limit(token_limit)  # a bad limit is refused before the data is touched
    return BlocksQuery(
        timezone=zone_info,
        since=first,
        until=last,
        machine=machine,
        mode=mode,
        order=order,
        active=active,
        recent=recent,
        token_limit=token_limit,
        session_length=hours,
    )
