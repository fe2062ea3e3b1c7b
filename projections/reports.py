"""Report shaping, pure: rollup rows in, ccusage-shaped period rows out.

JSON keys follow ``ccusage claude <report> --json`` so scripts written for ccusage keep working.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .columns import SUM_COLUMNS

COST_INDEX = {
    "auto": SUM_COLUMNS.index("cost_auto"),
    "calculate": SUM_COLUMNS.index("cost_calculated"),
    "display": SUM_COLUMNS.index("cost_display"),
}
_IN, _OUT, _CW5, _CW1, _CR = (
    SUM_COLUMNS.index(c)
    for c in ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
)
_UNPRICED = SUM_COLUMNS.index("unpriced")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class Tokens:
    input: int = 0
    output: int = 0
    cache_create: int = 0
    cache_read: int = 0
    cost_nano: int = 0
    unpriced: int = 0

    def add(self, sums: tuple[int, ...] | list[int], cost_index: int) -> None:
        self.input += sums[_IN]
        self.output += sums[_OUT]
        self.cache_create += sums[_CW5] + sums[_CW1]
        self.cache_read += sums[_CR]
        self.cost_nano += sums[cost_index]
        self.unpriced += sums[_UNPRICED]

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_create + self.cache_read

    @property
    def cost(self) -> float:
        return self.cost_nano / 1e9

    def json(self) -> dict[str, Any]:
        return {
            "inputTokens": self.input,
            "outputTokens": self.output,
            "cacheCreationTokens": self.cache_create,
            "cacheReadTokens": self.cache_read,
        }


@dataclass
class Period:
    """One row of a report: a day, week, month or session, with its per-model parts."""

    key: str
    tokens: Tokens = field(default_factory=Tokens)
    models: dict[str, Tokens] = field(default_factory=dict)
    first_seen: dict[str, int] = field(default_factory=dict)

    def add(self, model: str, sums: tuple[int, ...] | list[int], cost_index: int, t: int) -> None:
        self.tokens.add(sums, cost_index)
        if model:
            self.models.setdefault(model, Tokens()).add(sums, cost_index)
            self.first_seen[model] = min(self.first_seen.get(model, t), t)

    @property
    def models_used(self) -> list[str]:
        return sorted(self.models, key=lambda m: (self.first_seen[m], m))

    def breakdowns(self) -> list[dict[str, Any]]:
        rows = []
        for name, t in sorted(self.models.items(), key=lambda kv: (-kv[1].cost_nano, kv[0])):
            row = {**t.json(), "cost": t.cost, "modelName": name}
            if t.unpriced:
                row["missingPricing"] = True
            rows.append(row)
        return rows

    def json(self, key_name: str) -> dict[str, Any]:
        row = {
            key_name: self.key,
            **self.tokens.json(),
            "totalTokens": self.tokens.total,
            "totalCost": self.tokens.cost,
            "modelsUsed": self.models_used,
            "modelBreakdowns": self.breakdowns(),
        }
        return row


def local_date(bucket: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(bucket, UTC).astimezone(tz).date()


def week_start(day: date, start_of_week: str) -> date:
    first = WEEKDAYS.index(start_of_week)
    return day - timedelta(days=(day.weekday() - first) % 7)


def period_of(kind: str, start_of_week: str = "sunday") -> Callable[[date], str]:
    if kind == "daily":
        return lambda d: d.isoformat()
    if kind == "weekly":
        return lambda d: week_start(d, start_of_week).isoformat()
    if kind == "monthly":
        return lambda d: d.isoformat()[:7]
    raise ValueError(kind)


def group_rollups(
    rows: Iterable[tuple[int, str, tuple[int, ...]]],
    tz: ZoneInfo,
    key_of: Callable[[date], str],
    cost_mode: str,
    since: date | None = None,
    until: date | None = None,
) -> list[Period]:
    """Rows of (bucket, model, sums) grouped into periods of local dates, oldest first."""
    cost_index = COST_INDEX[cost_mode]
    periods: dict[str, Period] = {}
    dates: dict[int, date] = {}
    for bucket, model, sums in rows:
        day = dates.get(bucket)
        if day is None:
            day = dates[bucket] = local_date(bucket, tz)
        if (since and day < since) or (until and day > until):
            continue
        key = key_of(day)
        periods.setdefault(key, Period(key)).add(model, sums, cost_index, bucket)
    return [periods[k] for k in sorted(periods)]


def group_days(
    rows: Iterable[tuple[date, str, int, tuple[int, ...]]],
    key_of: Callable[[date], str],
    cost_mode: str,
) -> list[Period]:
    """Rows of (local date, model, first bucket, sums) grouped into periods, oldest first."""
    cost_index = COST_INDEX[cost_mode]
    periods: dict[str, Period] = {}
    for day, model, first, sums in rows:
        key = key_of(day)
        periods.setdefault(key, Period(key)).add(model, sums, cost_index, first)
    return [periods[k] for k in sorted(periods)]


def unpriced_models(periods: Iterable[Period]) -> list[dict[str, Any]]:
    """Models with responses no price covers, and the tokens they carry: their cost is in no
    total, so a report must say so instead of looking free."""
    found: dict[str, Tokens] = {}
    for p in periods:
        for name, t in p.models.items():
            if t.unpriced:
                into = found.setdefault(name, Tokens())
                into.unpriced += t.unpriced
                into.input += t.input
                into.output += t.output
                into.cache_create += t.cache_create
                into.cache_read += t.cache_read
    return [
        {"model": name, "entries": t.unpriced, "totalTokens": t.total}
        for name, t in sorted(found.items())
    ]


def totals_json(periods: Iterable[Period]) -> dict[str, Any]:
    total = Tokens()
    kept = list(periods)
    for p in kept:
        total.input += p.tokens.input
        total.output += p.tokens.output
        total.cache_create += p.tokens.cache_create
        total.cache_read += p.tokens.cache_read
        total.cost_nano += p.tokens.cost_nano
    out: dict[str, Any] = {**total.json(), "totalTokens": total.total, "totalCost": total.cost}
    unpriced = unpriced_models(kept)
    if unpriced:  # ccusage's key (the names), and the tokens each carries
        out["unpricedModels"] = [u["model"] for u in unpriced]
        out["unpricedTokens"] = {u["model"]: u["totalTokens"] for u in unpriced}
    return dict(sorted(out.items()))


def iso_ms(ts_ms: int) -> str:
    t = time.gmtime(ts_ms // 1000)
    fields = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts_ms % 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % fields  # noqa: UP031 - the fastest form here
