"""The usage reports both faces serve: daily/weekly/monthly, session, blocks, limits and
trends, each from an open read-only connection, a parsed query and ``now``."""

from __future__ import annotations

import sqlite3
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from usagectl.processors import readmodel
from usagectl.processors.dayread import day_rows
from usagectl.processors.readmodel import Filters
from usagectl.projections.blocks import is_active, max_completed_tokens, session_ms
from usagectl.projections.reports import (
    COST_INDEX,
    Period,
    group_days,
    iso_ms,
    local_date,
    period_of,
    totals_json,
)

from .errors import UserError
from .queries import BlocksQuery, TrendsQuery, UsageQuery

if TYPE_CHECKING:
    from usagectl.projections.blocks import Block

# Hooks, trends and the blocks' JSON are imported where used: `daily --json` is a whole
# process a script may run every few seconds, and these cost more than its query.


def _block_kept(
    start_ms: int, tz: ZoneInfo, since: date | None, until: date | None, recent: bool, now_ms: int
) -> bool:
    day = local_date(start_ms // 1000, tz)
    if recent and start_ms < now_ms - 3 * 86_400_000:
        return False
    return not ((since and day < since) or (until and day > until))


def _token_limit(value: str | None, blocks: list[Any], now_ms: int, length: int) -> int | None:
    if value is None:
        return None
    if value in ("", "max"):
        found = max_completed_tokens(blocks, now_ms, length)
        return found or None
    try:
        limit = int(value)
    except ValueError as err:
        raise UserError(f"invalid --token-limit {value!r}: a number of tokens or 'max'") from err
    if limit <= 0:
        raise UserError("invalid --token-limit: must be positive")
    return limit


def check_token_limit(value: str | None) -> None:
    """Refuse a bad ``--token-limit`` before any data is read."""
    _token_limit(value, [], 0, 0)


KEY_NAMES = {"daily": "date", "weekly": "week", "monthly": "month"}


def period_report(conn: sqlite3.Connection, kind: str, p: UsageQuery) -> dict[str, Any]:
    """``daily``, ``weekly`` or ``monthly``."""
    found = day_rows(
        conn, Filters(machine=p.machine, project=p.project), p.timezone, p.since, p.until
    )
    week = p.start_of_week or "sunday"
    periods = group_days(found, period_of(kind, week), p.mode)
    if p.order == "desc":
        periods.reverse()
    return {kind: [x.json(KEY_NAMES[kind]) for x in periods], "totals": totals_json(periods)}


SessionRows = list[tuple[Period, dict[str, Any], str]]


def session_periods(conn: sqlite3.Connection, p: UsageQuery) -> SessionRows:
    """Sessions as (period, row, machine), most expensive first: the ``session`` report's rows
    (with the hook columns beside ccusage's keys) and what ``export --by session`` writes."""
    from usagectl.processors.hookstore import session_hooks
    from usagectl.projections.hookfold import hook_counts

    cost_index = COST_INDEX[p.mode]
    sessions: dict[tuple[str, str], tuple[Period, int, int, str]] = {}
    for r in readmodel.session_rows(conn, Filters(machine=p.machine, project=p.project)):
        key = (r.project_dir, r.session_id)
        period = sessions.setdefault(key, (Period(r.session_id), r.first_ms, r.last_ms, r.machine))[
            0
        ]
        period.add(r.model, r.sums, cost_index, r.first_ms)
    hooks = session_hooks(conn)
    rows = []
    since, until = p.since, p.until
    for (project_dir, _), (period, first, last, machine) in sessions.items():
        day = local_date(last // 1000, p.timezone)
        if (since and day < since) or (until and day > until) or not period.tokens.total:
            continue
        row = period.json("sessionId")
        row.update(projectPath=project_dir, firstActivity=iso_ms(first), lastActivity=iso_ms(last))
        row.update(hook_counts(hooks.get(period.key)))
        rows.append((period, row, machine))
    rows.sort(key=lambda pr: (-pr[0].tokens.cost_nano, pr[1]["sessionId"]))
    return rows


def session_report(conn: sqlite3.Connection, p: UsageQuery) -> dict[str, Any]:
    """``session``: the totals are those of the sessions listed (the first ``limit``)."""
    rows = session_periods(conn, p)[: p.limit or None]
    return {"sessions": [r for _, r, _ in rows], "totals": totals_json(x for x, _, _ in rows)}


def block_rows(
    conn: sqlite3.Connection, account: str, p: BlocksQuery, now_ms: int
) -> tuple[list[Block], int | None, dict[str, Any] | None]:
    """The blocks the filters keep, the token limit asked for, the official figures."""
    length = session_ms(p.session_length)
    found = readmodel.blocks(conn, account, p.machine, length)
    official = readmodel.official_limits(conn, account, now_ms, length)
    kept = [
        b
        for b in found
        if _block_kept(b.start_ms, p.timezone, p.since, p.until, p.recent, now_ms)
        and (not p.active or is_active(b, now_ms, length))
    ]
    return kept, _token_limit(p.token_limit, kept, now_ms, length), official


def blocks_payload(
    kept: list[Block],
    limit: int | None,
    official: dict[str, Any] | None,
    p: BlocksQuery,
    now_ms: int,
) -> dict[str, Any]:
    """ccusage's keys as they are; the official figures beside them when known."""
    from usagectl.projections.blockreport import block_json

    length = session_ms(p.session_length)
    ordered = list(reversed(kept)) if p.order == "desc" else kept
    cost_index = tuple(COST_INDEX).index(p.mode)
    rows = [block_json(b, now_ms, length, cost_index, limit) for b in ordered]
    return {"blocks": rows} | ({"limits": official} if official else {})


def blocks_report(
    conn: sqlite3.Connection, account: str, p: BlocksQuery, now_ms: int
) -> dict[str, Any]:
    return blocks_payload(*block_rows(conn, account, p, now_ms), p, now_ms)


def limits_report(conn: sqlite3.Connection, account: str, now_ms: int) -> dict[str, Any]:
    """The official figures ``blocks --json`` carries as ``limits`` (null while Claude Code
    has sent none), over the default 5-hour window."""
    return {"limits": readmodel.official_limits(conn, account, now_ms, session_ms(5.0))}


def trends_payload(conn: sqlite3.Connection, p: TrendsQuery, now_ms: int) -> dict[str, Any]:
    """``usagectl trends --json``: the insights over ``p.days`` local days ending today."""
    from usagectl.projections.trends import first_bucket, trends

    tz = p.timezone
    start = first_bucket(now_ms, tz, p.days, p.day)
    rows = readmodel.rollup_rows(conn, Filters(machine=p.machine, project=p.project), start)
    return trends(rows, tz, now_ms, days=p.days, day=p.day, cost_mode=p.mode)
