"""`usagectl trends`: average daily cost, weekdays, peak hours, model mix, week over week,
month to date and its projection, and one day's hours, from the read model (no bus)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.parsing import check_choice, parse_day, zone
from usagectl.processors.app.queries import TrendsQuery
from usagectl.projections.figures import percent, usd
from usagectl.projections.reports import COST_INDEX

from .fit import Col, Grid, Level, fitted, levels, output_width, tokens
from .report_queries import emit
from .reports import Json, Machine, Mode, Project, Tz

app = typer.Typer(add_completion=False)


def _money(x: float) -> str:
    return usd(x)


def _summary(t: dict[str, Any]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    w, m = t["window"], t["monthToDate"]
    grid.add_row(
        "window",
        f"{w['from']} – {w['to']} ({w['days']} days, {t['activeDays']} "
        f"with usage) · {t['timezone']}",
    )
    grid.add_row("total", f"{_money(t['totalCost'])} · {t['totalTokens']:,} tokens")
    grid.add_row("average per day", _money(t["averageDailyCost"]))
    wow = t["weekOverWeek"]
    growth = "n/a (nothing the week before)" if wow["growth"] is None else f"{wow['growth']:+.1%}"
    grid.add_row(
        "last 7 days",
        f"{_money(wow['lastWeekCost'])} vs "
        f"{_money(wow['previousWeekCost'])} the 7 before: {growth}",
    )
    month = f"{m['month']}: {_money(m['cost'])} after {m['elapsedDays']:.1f} of "
    grid.add_row(
        "month to date", f"{month}{m['daysInMonth']} days → projected {_money(m['projectedCost'])}"
    )
    peaks = ", ".join(f"{p['hour']:02d}:00 ({p['share']:.0%})" for p in t["peakHours"]) or "none"
    grid.add_row("peak hours", peaks)
    return grid


def _weekdays(t: dict[str, Any]) -> Table:
    table = Table(title="average per weekday", header_style="bold")
    table.add_column("weekday")
    table.add_column("days", justify="right")
    table.add_column("cost", justify="right")
    table.add_column("tokens", justify="right")
    for w in t["weekdayAverages"]:
        table.add_row(
            w["weekday"], str(w["days"]), _money(w["averageCost"]), f"{w['averageTokens']:,.0f}"
        )
    return table


def _models(t: dict[str, Any], level: Level) -> Grid:
    """The model's full name is the key: on a narrow terminal tokens, then share, go first."""
    cols = [
        Col("model", "model"),
        Col("cost", "cost", justify="right"),
        Col("share", "share", justify="right"),
        Col("tokens", "tokens", justify="right"),
    ]
    grid = Grid.of("model mix", cols, level)
    for m in t["modelMix"]:
        cells = {
            "model": m["model"],
            "cost": _money(m["cost"]),
            "share": percent(m["costShare"] * 100),
            "tokens": tokens(m["tokens"], level),
        }
        grid.add([cells[c.key] for c in grid.cols])
    return grid


def _hours(rows: list[dict[str, Any]], title: str) -> Table:
    """Cost per hour with a bar of '#' (readable without colour)."""
    table = Table(title=title, header_style="bold")
    for label in ("hour", "cost", "tokens", ""):
        table.add_column(label, justify="right" if label in ("cost", "tokens") else "left")
    top = max((r["cost"] for r in rows), default=0) or 1
    for r in rows:
        table.add_row(
            f"{r['hour']:02d}:00",
            _money(r["cost"]),
            f"{r['tokens']:,}",
            Text("#" * round(20 * r["cost"] / top)),
        )
    return table


@app.command()
def trends(
    json_out: Json = False,
    timezone: Tz = None,
    machine: Machine = None,
    project: Project = None,
    mode: Mode = "auto",
    days: Annotated[int, typer.Option("--days", "-d", help="window: local days ending today")] = 30,
    day: Annotated[
        str | None, typer.Option("--day", help="also this local day's hours, YYYY-MM-DD")
    ] = None,
) -> None:
    """Insights: average daily cost, weekday averages, peak hours, model mix, week-over-week
    growth, month to date and the month projected at the same pace; --day adds its hours."""
    from usagectl.processors import readmodel
    from usagectl.processors.app.settings import load_settings
    from usagectl.processors.app.usage_reports import trends_payload

    if not 1 <= days <= 3660:
        raise UserError(f"invalid --days {days}: 1 to 3660")
    p = TrendsQuery(
        timezone=zone(timezone),
        machine=machine,
        project=project,
        mode=check_choice(mode, tuple(COST_INDEX), "--mode"),
        days=days,
        day=parse_day(day, "--day"),
    )
    conn = readmodel.open_read(load_settings().db_path)
    try:
        payload = trends_payload(conn, p, int(time.time() * 1000))
    finally:
        conn.close()
    if json_out:
        emit(payload)
        return
    console = Console()
    width = output_width(console)
    grid, level = fitted(lambda lv: _models(payload, lv), levels(("tokens", "share")), width)
    parts: list[Any] = [_summary(payload), _weekdays(payload), grid.table(level)]
    parts.append(_hours(payload["hourOfDay"], "cost by hour of day (whole window)"))
    if "hourly" in payload:
        h = payload["hourly"]
        parts.append(_hours(h["hours"], f"{h['date']}: {_money(h['totalCost'])}"))
    if width is None:  # a pipe: as wide as the widest part, never cut to 80
        console = Console(width=max(grid.width(level), 100), file=console.file)
    console.print(Group(*parts))
