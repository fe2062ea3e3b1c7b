"""Report commands: read the SQLite read model only (no bus), render a table or ccusage JSON."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from usagectl.processors import readmodel
from usagectl.processors.app.queries import BlocksQuery, UsageQuery
from usagectl.processors.app.settings import load_settings
from usagectl.processors.app.usage_reports import (
    block_rows,
    blocks_payload,
    period_report,
    session_report,
)
from usagectl.projections.blocks import (
    DEFAULT_SESSION_HOURS,
    max_completed_tokens,
    session_ms,
    shown_rate,
)
from usagectl.projections.hookfold import HOOK_COLUMNS
from usagectl.projections.reports import iso_ms

from .report_queries import blocks_query, emit, usage_query

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
Compact = Annotated[
    bool,
    typer.Option("--compact", help="the narrow table (3.6M, fewer columns) whatever the width"),
]


def _period_report(
    kind: str,
    key_name: str,
    *,
    json_out: bool,
    tz: str | None,
    since: str | None,
    until: str | None,
    breakdown: bool,
    machine: str | None,
    project: str | None,
    mode: str,
    order: str,
    start_of_week: str = "sunday",
    compact: bool = False,
) -> None:
    p = usage_query(tz, since, until, machine, project, mode, order, start_of_week)
    with readmodel.open_read(load_settings().db_path) as conn:
        payload = period_report(conn, kind, p)
    rows = payload[kind]
    if json_out:
        emit(payload)
    else:
        _table(
            f"Claude Code usage — {kind}", key_name, rows, payload, breakdown, p=p, compact=compact
        )


def empty_reason(p: object) -> str:
    """Why a report has no row, in the terms of the options given (``p``: a query)."""
    given = {k: getattr(p, k, None) for k in ("since", "until", "machine", "project")}
    scope = [f"--{k} {v}" for k, v in given.items() if v]
    if not scope:
        return "No usage recorded yet: run `usagectl sync` (or keep `usagectl up` running)."
    return f"No usage for {' '.join(scope)}."


def _table(
    title: str,
    key_name: str,
    rows: list[dict[str, Any]],
    payload: dict[str, Any],
    breakdown: bool,
    extra: tuple[tuple[str, str], ...] = (),
    p: UsageQuery | None = None,
    compact: bool = False,
) -> None:
    from .fit import print_fitted
    from .render import usage_grid, usage_levels

    if not rows:
        Console().print(empty_reason(p))
        return
    tz = p.timezone if p else None
    print_fitted(
        lambda lv: usage_grid(title, key_name, rows, payload["totals"], breakdown, lv, extra, tz),
        usage_levels(key_name, extra),
        compact,
    )
    unpriced_footer(Console(), payload["totals"].get("unpricedTokens", {}))


def unpriced_footer(console: Console, unpriced: dict[str, int]) -> None:
    """Under a table: models without a price are not free, their cost is missing."""
    for model, tokens in unpriced.items():
        console.print(
            f"[yellow]unpriced:[/] {model}: {tokens:,} tokens have no price and are not in the "
            "costs above (`usagectl prices update` may know it)",
            soft_wrap=True,
        )


def _period_command(kind: str, key_name: str, help_text: str) -> Callable[..., None]:
    """``daily`` and ``monthly``: the same options, one period each."""

    def command(
        json_out: Json = False,
        timezone: Tz = None,
        since: Since = None,
        until: Until = None,
        breakdown: Breakdown = False,
        machine: Machine = None,
        project: Project = None,
        mode: Mode = "auto",
        order: Order = "asc",
        compact: Compact = False,
    ) -> None:
        _period_report(
            kind,
            key_name,
            json_out=json_out,
            tz=timezone,
            since=since,
            until=until,
            breakdown=breakdown,
            machine=machine,
            project=project,
            mode=mode,
            order=order,
            compact=compact,
        )

    command.__doc__ = help_text
    return command


app.command(name="daily")(_period_command("daily", "date", "Usage per day."))


@app.command()
def weekly(
    json_out: Json = False,
    timezone: Tz = None,
    since: Since = None,
    until: Until = None,
    breakdown: Breakdown = False,
    machine: Machine = None,
    project: Project = None,
    mode: Mode = "auto",
    order: Order = "asc",
    start_of_week: Annotated[str, typer.Option("--start-of-week", "-w")] = "sunday",
    compact: Compact = False,
) -> None:
    """Usage per week (weeks start on Sunday, as `ccusage claude weekly`)."""
    _period_report(
        "weekly",
        "week",
        json_out=json_out,
        tz=timezone,
        since=since,
        until=until,
        breakdown=breakdown,
        machine=machine,
        project=project,
        mode=mode,
        order=order,
        start_of_week=start_of_week,
        compact=compact,
    )


app.command(name="monthly")(_period_command("monthly", "month", "Usage per month."))


@app.command()
def session(
    json_out: Json = False,
    timezone: Tz = None,
    since: Since = None,
    until: Until = None,
    breakdown: Breakdown = False,
    machine: Machine = None,
    project: Project = None,
    mode: Mode = "auto",
    compact: Compact = False,
    limit: Annotated[
        int | None, typer.Option("--limit", help="only the N most expensive sessions")
    ] = None,
) -> None:
    """Usage per session, most expensive first (subagent files roll into their session)."""
    p = usage_query(timezone, since, until, machine, project, mode, limit=limit)
    with readmodel.open_read(load_settings().db_path) as conn:
        payload = session_report(conn, p)
    session_json = payload["sessions"]
    if json_out:
        emit(payload)
    else:
        hooked = any(any(row.get(k) for _, k in HOOK_COLUMNS) for row in session_json)
        extra = HOOK_COLUMNS if hooked else ()
        title = "Claude Code usage — sessions"
        _table(title, "sessionId", session_json, payload, breakdown, extra, p, compact)


@app.command()
def blocks(
    json_out: Json = False,
    timezone: Tz = None,
    since: Since = None,
    until: Until = None,
    machine: Machine = None,
    mode: Mode = "auto",
    order: Order = "asc",
    active: Annotated[bool, typer.Option("--active", "-a", help="only the active block")] = False,
    recent: Annotated[bool, typer.Option("--recent", "-r", help="last 3 days")] = False,
    token_limit: Annotated[str | None, typer.Option("--token-limit", "-t", help="N or max")] = None,
    session_length: Annotated[
        float, typer.Option("--session-length", "-n")
    ] = DEFAULT_SESSION_HOURS,
    compact: Compact = False,
) -> None:
    """5-hour billing blocks, account-wide (or one machine's with --machine)."""
    p = blocks_query(
        timezone, since, until, machine, mode, order, active, recent, token_limit, session_length
    )
    now_ms = int(time.time() * 1000)
    settings = load_settings()
    with readmodel.open_read(settings.db_path) as conn:
        kept, limit, official = block_rows(conn, settings.account, p, now_ms)
    payload = blocks_payload(kept, limit, official, p, now_ms)
    if json_out:
        emit(payload)
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
        print_fitted(
            lambda lv: blocks_grid(rows, shown or None, p.timezone, official, lv, early),
            levels(BLOCK_DROPS, 1),
            compact,
        )


def _no_blocks(p: BlocksQuery, hours: float) -> str:
    if p.active:
        return f"No active block: no usage in the last {hours:g} hours."
    if p.recent:
        return "No block in the last 3 days."
    return empty_reason(p)
