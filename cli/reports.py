"""Report commands: read the SQLite read model only (no bus), render a table or ccusage JSON."""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import typer
from rich.console import Console
from usagectl.processors import readmodel
from usagectl.processors.hookstore import session_hooks
from usagectl.processors.readmodel import Filters
from usagectl.projections.blockreport import block_json
from usagectl.projections.blocks import (
    DEFAULT_SESSION_HOURS,
    Block,
    is_active,
    max_completed_tokens,
    session_ms,
    shown_rate,
)
from usagectl.projections.hookfold import HOOK_COLUMNS, hook_counts
from usagectl.projections.reports import (
    COST_INDEX,
    WEEKDAYS,
    Period,
    group_rollups,
    iso_ms,
    local_date,
    period_of,
    totals_json,
)

from .errors import UserError
from .localzone import local_zone
from .settings import load_settings

app = typer.Typer(add_completion=False)

Json = Annotated[bool, typer.Option("--json", "-j", help="ccusage-compatible JSON on stdout")]
Tz = Annotated[str | None, typer.Option("--timezone", "-z", help="IANA zone (default: local)")]
Since = Annotated[str | None, typer.Option("--since", "-s", help="YYYY-MM-DD or YYYYMMDD")]
Until = Annotated[str | None, typer.Option("--until", "-u", help="YYYY-MM-DD or YYYYMMDD")]
Breakdown = Annotated[bool, typer.Option("--breakdown", "-b", help="per-model rows")]
Machine = Annotated[str | None, typer.Option("--machine", help="only this machine")]
Project = Annotated[str | None, typer.Option("--project", "-p", help="path, name or folder")]
Mode = Annotated[str, typer.Option("--mode", "-m", help="cost: auto|calculate|display")]
Order = Annotated[str, typer.Option("--order", "-o", help="asc|desc")]
Compact = Annotated[bool, typer.Option("--compact", help="the narrow table (3.6M, fewer "
                                       "columns) whatever the width")]  # fmt: skip


def zone(name: str | None) -> ZoneInfo:
    if name is None or name == "local":
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise UserError(f"invalid --timezone {name!r}: not an IANA time zone") from err


def parse_day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise UserError(f"invalid {flag} {value!r}: use YYYY-MM-DD or YYYYMMDD")


def day_range(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    """--since and --until; a range that ends before it starts is a mistake, not an empty
    report."""
    first, last = parse_day(since, "--since"), parse_day(until, "--until")
    if first and last and first > last:
        raise UserError(f"invalid range: --since {first} is after --until {last}")
    return first, last


def check_choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    if value not in choices:
        raise UserError(f"invalid {flag} {value!r}: choose one of {', '.join(choices)}")
    return value


def _emit(payload: dict[str, Any]) -> None:
    # msgspec writes the same pretty JSON ~10x faster than json.dumps on a long session list.
    out = msgspec.json.format(msgspec.json.encode(payload, order="sorted"), indent=2)
    sys.stdout.buffer.write(out + b"\n")
    sys.stdout.flush()


def _period_report(kind: str, key_name: str, *, json_out: bool, tz: str | None, since: str | None,
                   until: str | None, breakdown: bool, machine: str | None, project: str | None,
                   mode: str, order: str, start_of_week: str = "sunday",
                   compact: bool = False) -> None:  # fmt: skip
    zone_info = zone(tz)
    since_d, until_d = day_range(since, until)
    check_choice(mode, tuple(COST_INDEX), "--mode")
    check_choice(order, ("asc", "desc"), "--order")
    p = {
        "machine": machine,
        "project": project,
        "start_of_week": start_of_week,
        "timezone": zone_info,
        "mode": mode,
        "since": since_d,
        "until": until_d,
        "order": order,
    }
    with readmodel.open_read(load_settings().db_path) as conn:
        payload = period_report(conn, kind, p)
    rows = payload[kind]
    if json_out:
        _emit(payload)
    else:
        _table(f"Claude Code usage — {kind}", key_name, rows, payload, breakdown, p=p,
               compact=compact)  # fmt: skip


def empty_reason(p: dict[str, Any]) -> str:
    """Why a report has no row, in the terms of the options given."""
    scope = [f"--{k} {p[k]}" for k in ("since", "until", "machine", "project") if p.get(k)]
    if not scope:
        return "No usage recorded yet: run `usagectl sync` (or keep `usagectl up` running)."
    return f"No usage for {' '.join(scope)}."


def _table(title: str, key_name: str, rows: list[dict[str, Any]], payload: dict[str, Any],
           breakdown: bool, extra: tuple[tuple[str, str], ...] = (),
           p: dict[str, Any] | None = None, compact: bool = False) -> None:  # fmt: skip
    from .fit import print_fitted
    from .render import usage_grid, usage_levels

    if not rows:
        Console().print(empty_reason(p or {}))
        return
    tz = (p or {}).get("timezone")
    print_fitted(
        lambda lv: usage_grid(title, key_name, rows, payload["totals"], breakdown, lv, extra, tz),
        usage_levels(key_name, extra), compact,
    )  # fmt: skip
    unpriced_footer(Console(), payload["totals"].get("unpricedTokens", {}))


def unpriced_footer(console: Console, unpriced: dict[str, int]) -> None:
    """Under a table: models without a price are not free, their cost is missing."""
    for model, tokens in unpriced.items():
        console.print(
            f"[yellow]unpriced:[/] {model}: {tokens:,} tokens have no price and are not in the "
            "costs above (`usagectl prices update` may know it)", soft_wrap=True,
        )  # fmt: skip


@app.command()
def daily(json_out: Json = False, timezone: Tz = None, since: Since = None, until: Until = None,
          breakdown: Breakdown = False, machine: Machine = None, project: Project = None,
          mode: Mode = "auto", order: Order = "asc", compact: Compact = False) -> None:  # fmt: skip
    """Usage per day."""
    _period_report("daily", "date", json_out=json_out, tz=timezone, since=since, until=until,
                   breakdown=breakdown, machine=machine, project=project, mode=mode,
                   order=order, compact=compact)  # fmt: skip


@app.command()
def weekly(json_out: Json = False, timezone: Tz = None, since: Since = None, until: Until = None,
           breakdown: Breakdown = False, machine: Machine = None, project: Project = None,
           mode: Mode = "auto", order: Order = "asc",
           start_of_week: Annotated[str, typer.Option("--start-of-week", "-w")] = "sunday",
           compact: Compact = False) -> None:  # fmt: skip
    """Usage per week (weeks start on Sunday, as `ccusage claude weekly`)."""
    check_choice(start_of_week, WEEKDAYS, "--start-of-week")
    _period_report("weekly", "week", json_out=json_out, tz=timezone, since=since, until=until,
                   breakdown=breakdown, machine=machine, project=project, mode=mode,
                   order=order, start_of_week=start_of_week, compact=compact)  # fmt: skip


@app.command()
def monthly(json_out: Json = False, timezone: Tz = None, since: Since = None, until: Until = None,
            breakdown: Breakdown = False, machine: Machine = None, project: Project = None,
            mode: Mode = "auto", order: Order = "asc", compact: Compact = False,
            ) -> None:  # fmt: skip
    """Usage per month."""
    _period_report("monthly", "month", json_out=json_out, tz=timezone, since=since, until=until,
                   breakdown=breakdown, machine=machine, project=project, mode=mode,
                   order=order, compact=compact)  # fmt: skip


@app.command()
def session(json_out: Json = False, timezone: Tz = None, since: Since = None, until: Until = None,
            breakdown: Breakdown = False, machine: Machine = None, project: Project = None,
            mode: Mode = "auto", compact: Compact = False,
            limit: Annotated[int | None, typer.Option("--limit", help="only the N most "
                                                      "expensive sessions")] = None,
            ) -> None:  # fmt: skip
    """Usage per session, most expensive first (subagent files roll into their session)."""
    first, last = day_range(since, until)
    if limit is not None and limit < 1:
        raise UserError(f"invalid --limit {limit}: a positive number of sessions")
    p = {
        "limit": limit,
        "machine": machine,
        "project": project,
        "timezone": zone(timezone),
        "mode": check_choice(mode, tuple(COST_INDEX), "--mode"),
        "since": first,
        "until": last,
    }
    with readmodel.open_read(load_settings().db_path) as conn:
        payload = session_report(conn, p)
    session_json = payload["sessions"]
    if json_out:
        _emit(payload)
    else:
        hooked = any(any(row.get(k) for _, k in HOOK_COLUMNS) for row in session_json)
        extra = HOOK_COLUMNS if hooked else ()
        _table("Claude Code usage — sessions", "sessionId", session_json, payload, breakdown,
               extra, p, compact)  # fmt: skip


@app.command()
def blocks(json_out: Json = False, timezone: Tz = None, since: Since = None, until: Until = None,
           machine: Machine = None, mode: Mode = "auto", order: Order = "asc",
           active: Annotated[bool, typer.Option("--active", "-a", help="only the active block")]
           = False,
           recent: Annotated[bool, typer.Option("--recent", "-r", help="last 3 days")] = False,
           token_limit: Annotated[str | None, typer.Option("--token-limit", "-t",
                                                           help="N or max")] = None,
           session_length: Annotated[float, typer.Option("--session-length", "-n")]
           = DEFAULT_SESSION_HOURS, compact: Compact = False) -> None:  # fmt: skip
    """5-hour billing blocks, account-wide (or one machine's with --machine)."""
    zone_info = zone(timezone)
    since_d, until_d = day_range(since, until)
    check_choice(mode, tuple(COST_INDEX), "--mode")
    check_choice(order, ("asc", "desc"), "--order")
    if session_length <= 0:
        raise UserError("invalid --session-length: must be a positive number of hours")
    _token_limit(token_limit, [], 0, 0)  # reject a bad limit before touching the data
    now_ms = int(time.time() * 1000)
    settings = load_settings()
    p = {
        "machine": machine,
        "timezone": zone_info,
        "since": since_d,
        "until": until_d,
        "recent": recent,
        "active": active,
        "order": order,
        "mode": mode,
        "session_length": session_length,
        "token_limit": token_limit,
    }
    with readmodel.open_read(settings.db_path) as conn:
        kept, limit, official = block_rows(conn, settings.account, p, now_ms)
    payload = blocks_payload(kept, limit, official, p, now_ms)
    if json_out:
        _emit(payload)
    else:
        from .fit import levels, print_fitted
        from .render import BLOCK_DROPS, blocks_grid

        if not payload["blocks"]:
            Console().print(_no_blocks(p, session_length))
            return
        length = session_ms(session_length)
        shown = limit if limit is not None else max_completed_tokens(kept, now_ms, length)
        early = {iso_ms(b.start_ms) for b in kept if shown_rate(b, now_ms, length) is None}
        rows = payload["blocks"]
        print_fitted(lambda lv: blocks_grid(rows, shown or None, zone_info, official, lv, early),
                     levels(BLOCK_DROPS, 1), compact)  # fmt: skip


def _no_blocks(p: dict[str, Any], hours: float) -> str:
    if p["active"]:
        return f"No active block: no usage in the last {hours:g} hours."
    if p["recent"]:
        return "No block in the last 3 days."
    return empty_reason(p)


def _block_kept(start_ms: int, tz: ZoneInfo, since: date | None, until: date | None,
                recent: bool, now_ms: int) -> bool:  # fmt: skip
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


KEY_NAMES = {"daily": "date", "weekly": "week", "monthly": "month"}


def period_report(conn: sqlite3.Connection, kind: str, p: dict[str, Any]) -> dict[str, Any]:
    """``daily``, ``weekly`` or ``monthly``."""
    found = readmodel.rollup_rows(conn, Filters(machine=p["machine"], project=p["project"]))
    week = p.get("start_of_week") or "sunday"
    periods = group_rollups(
        found, p["timezone"], period_of(kind, week), p["mode"], p["since"], p["until"]
    )
    if p["order"] == "desc":
        periods.reverse()
    return {kind: [x.json(KEY_NAMES[kind]) for x in periods], "totals": totals_json(periods)}


SessionRows = list[tuple[Period, dict[str, Any], str]]


def session_periods(conn: sqlite3.Connection, p: dict[str, Any]) -> SessionRows:
    """Sessions as (period, row, machine), most expensive first: the ``session`` report's rows
    (with the hook columns beside ccusage's keys) and what ``export --by session`` writes."""
    cost_index = COST_INDEX[p["mode"]]
    sessions: dict[tuple[str, str], tuple[Period, int, int, str]] = {}
    for r in readmodel.session_rows(conn, Filters(machine=p["machine"], project=p["project"])):
        key = (r.project_dir, r.session_id)
        period = sessions.setdefault(key, (Period(r.session_id), r.first_ms, r.last_ms,
                                           r.machine))[0]  # fmt: skip
        period.add(r.model, r.sums, cost_index, r.first_ms)
    hooks = session_hooks(conn)
    rows = []
    since, until = p["since"], p["until"]
    for (project_dir, _), (period, first, last, machine) in sessions.items():
        day = local_date(last // 1000, p["timezone"])
        if (since and day < since) or (until and day > until) or not period.tokens.total:
            continue
        row = period.json("sessionId")
        row.update(projectPath=project_dir, firstActivity=iso_ms(first), lastActivity=iso_ms(last))
        row.update(hook_counts(hooks.get(period.key)))
        rows.append((period, row, machine))
    rows.sort(key=lambda pr: (-pr[0].tokens.cost_nano, pr[1]["sessionId"]))
    return rows


def session_report(conn: sqlite3.Connection, p: dict[str, Any]) -> dict[str, Any]:
    """``session``: the totals are those of the sessions listed (the first ``limit``)."""
    rows = session_periods(conn, p)[: p.get("limit") or None]
    return {"sessions": [r for _, r, _ in rows], "totals": totals_json(x for x, _, _ in rows)}


def block_rows(
    conn: sqlite3.Connection, account: str, p: dict[str, Any], now_ms: int
) -> tuple[list[Block], int | None, dict[str, Any] | None]:
    """The blocks the filters keep, the token limit asked for, the official figures."""
    length = session_ms(p["session_length"])
    found = readmodel.blocks(conn, account, p["machine"], length)
    official = readmodel.official_limits(conn, account, now_ms, length)
    kept = [
        b for b in found
        if _block_kept(b.start_ms, p["timezone"], p["since"], p["until"], p["recent"], now_ms)
        and (not p["active"] or is_active(b, now_ms, length))
    ]  # fmt: skip
    return kept, _token_limit(p["token_limit"], kept, now_ms, length), official


def blocks_payload(kept: list[Block], limit: int | None, official: dict[str, Any] | None,
                   p: dict[str, Any], now_ms: int) -> dict[str, Any]:  # fmt: skip
    """ccusage's keys as they are; the official figures beside them when known."""
    length = session_ms(p["session_length"])
    ordered = list(reversed(kept)) if p["order"] == "desc" else kept
    cost_index = tuple(COST_INDEX).index(p["mode"])
    rows = [block_json(b, now_ms, length, cost_index, limit) for b in ordered]
    return {"blocks": rows} | ({"limits": official} if official else {})


def blocks_report(
    conn: sqlite3.Connection, account: str, p: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    return blocks_payload(*block_rows(conn, account, p, now_ms), p, now_ms)
