"""What `usagectl dash` shows from the read model, read through the report builders so every
figure equals `daily --json`, `weekly --json`, `session --json` and `trends --json`."""

from __future__ import annotations

import calendar
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from usagectl.processors import readmodel
from usagectl.processors.app.queries import TrendsQuery, UsageQuery
from usagectl.processors.app.usage_reports import period_report, session_report
from usagectl.projections.alerts import BUDGETS, Rule
from usagectl.projections.reports import week_start

VIEWS = ("day", "week", "month")
TOKEN_KINDS = (
    ("input", "inputTokens"),
    ("output", "outputTokens"),
    ("cache write", "cacheCreationTokens"),
    ("cache read", "cacheReadTokens"),
)


def local_day(now_ms: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz).date()


def midnight_ms(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def _params(
    tz: ZoneInfo,
    since: date,
    until: date,
    project: str | None = None,
    start_of_week: str = "sunday",
) -> UsageQuery:
    return UsageQuery(
        timezone=tz, since=since, until=until, project=project, start_of_week=start_of_week
    )


@dataclass(frozen=True)
class Budget:
    name: str
    period: str  # day | week | month
    spent: float
    limit: float


@dataclass(frozen=True)
class Overview:
    """The daily-usage panel: the last 7 days (oldest first, idle days as 0), this week."""

    today: date
    days: list[tuple[date, float, int]]  # (day, cost, tokens)
    week_cost: float
    week_tokens: int
    week_from: date
    budgets: list[Budget] = field(default_factory=list)

    def day(self, d: date) -> tuple[float, int]:
        return next(((c, t) for x, c, t in self.days if x == d), (0.0, 0))


def read_overview(
    conn: sqlite3.Connection,
    tz: ZoneInfo,
    now_ms: int,
    start_of_week: str,
    rules: tuple[Rule, ...] = (),
) -> Overview:
    today = local_day(now_ms, tz)
    first = today - timedelta(days=6)
    rows = period_report(conn, "daily", _params(tz, first, today))["daily"]
    by_day = {r["date"]: r for r in rows}
    days = []
    for n in range(7):
        d = first + timedelta(days=n)
        r = by_day.get(d.isoformat())
        days.append((d, r["totalCost"] if r else 0.0, r["totalTokens"] if r else 0))
    monday = week_start(today, start_of_week)
    week = period_report(conn, "weekly", _params(tz, monday, today, None, start_of_week))
    budgets = [_budget(conn, r, tz, today, start_of_week) for r in rules if r.kind in BUDGETS]
    return Overview(
        today, days, week["totals"]["totalCost"], week["totals"]["totalTokens"], monday, budgets
    )


def _budget(
    conn: sqlite3.Connection, rule: Rule, tz: ZoneInfo, today: date, start_of_week: str
) -> Budget:
    period = BUDGETS[rule.kind]
    first = {"day": today, "week": week_start(today, start_of_week), "month": today.replace(day=1)}[
        period
    ]
    totals = period_report(conn, "daily", _params(tz, first, today, rule.project))["totals"]
    return Budget(rule.name, period, totals["totalCost"], rule.threshold)


def span(view: str, anchor: date, start_of_week: str) -> tuple[date, date]:
    """The first and last day a detail view covers."""
    if view == "day":
        return anchor, anchor
    if view == "week":
        first = week_start(anchor, start_of_week)
        return first, first + timedelta(days=6)
    length = calendar.monthrange(anchor.year, anchor.month)[1]
    return anchor.replace(day=1), anchor.replace(day=length)


def step(view: str, anchor: date, direction: int) -> date:
    """The anchor of the previous (-1) or next (+1) day, week or month."""
    if view == "day":
        return anchor + timedelta(days=direction)
    if view == "week":
        return anchor + timedelta(days=7 * direction)
    month = anchor.year * 12 + anchor.month - 1 + direction
    return date(month // 12, month % 12 + 1, 1)


@dataclass(frozen=True)
class ModelShare:
    model: str
    cost: float
    share: float
    tokens: int


@dataclass(frozen=True)
class Detail:
    view: str
    first: date
    last: date
    cost: float
    tokens: int
    sessions: int
    models: list[ModelShare]
    kinds: list[tuple[str, int]]
    bars: list[tuple[str, float]]  # 24 local hours (day view) or the days of the week/month
    peak: str | None  # the busiest hour or day, None when idle
    month: str
    month_cost: float
    month_projected: float


def read_detail(
    conn: sqlite3.Connection, tz: ZoneInfo, now_ms: int, view: str, anchor: date, start_of_week: str
) -> Detail:
    from usagectl.processors.app.usage_reports import trends_payload

    first, last = span(view, anchor, start_of_week)
    daily = period_report(conn, "daily", _params(tz, first, last))
    totals = daily["totals"]
    sessions = session_report(conn, _params(tz, first, last))["sessions"]
    day = first if view == "day" else None
    trends = trends_payload(conn, TrendsQuery(timezone=tz, days=1, day=day), now_ms)
    if day is not None:
        bars = [(f"{h['hour']:02d}", h["cost"]) for h in trends["hourly"]["hours"]]
        names = [f"{h['hour']:02d}:00" for h in trends["hourly"]["hours"]]
    else:
        costs = {r["date"]: r["totalCost"] for r in daily["daily"]}
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        bars = [(d.strftime("%d"), costs.get(d.isoformat(), 0.0)) for d in days]
        names = [f"{d:%a %Y-%m-%d}" for d in days]
    top = max(range(len(bars)), key=lambda i: bars[i][1])
    peak = names[top] if bars[top][1] > 0 else None
    month = trends["monthToDate"]
    return Detail(
        view,
        first,
        last,
        totals["totalCost"],
        totals["totalTokens"],
        len(sessions),
        _models(daily["daily"], totals["totalCost"]),
        [(label, totals[key]) for label, key in TOKEN_KINDS],
        bars,
        peak,
        month["month"],
        month["cost"],
        month["projectedCost"],
    )


def _models(rows: list[dict[str, Any]], total: float) -> list[ModelShare]:
    costs: dict[str, float] = {}
    tokens: dict[str, int] = {}
    for r in rows:
        for b in r["modelBreakdowns"]:
            name = b["modelName"]
            costs[name] = costs.get(name, 0.0) + b["cost"]
            tokens[name] = tokens.get(name, 0) + sum(b[k] for _, k in TOKEN_KINDS)
    ranked = sorted(costs, key=lambda m: (-costs[m], m))
    return [ModelShare(m, costs[m], costs[m] / total if total else 0.0, tokens[m]) for m in ranked]


def open_model(path: Any) -> sqlite3.Connection | None:
    """The read model, or None before the first sync."""
    try:
        return readmodel.open_read(path)
    except readmodel.NoReadModel:
        return None
