"""Insights over the rollups, pure: average daily cost, weekdays, peak hours, model mix, week
over week, month to date with a projection, and one day's hours.

Input is the rollup's 15-minute UTC buckets, so every local day and hour in any IANA zone is
exact (every real offset is a multiple of 15 minutes). ``now`` is passed in, never read.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .reports import COST_INDEX, WEEKDAYS, Tokens, iso_ms

WEEK_S = 7 * 86_400
PEAK_HOURS = 3


@dataclass
class _Sums:
    """Cost (nano-dollars) and tokens, added up."""

    cost: int = 0
    tokens: int = 0

    def add(self, t: Tokens) -> None:
        self.cost += t.cost_nano
        self.tokens += t.total

    def json(self) -> dict[str, Any]:
        return {"cost": self.cost / 1e9, "tokens": self.tokens}


@dataclass
class _Fold:
    by_day: dict[date, _Sums] = field(default_factory=dict)
    by_hour: list[_Sums] = field(default_factory=lambda: [_Sums() for _ in range(24)])
    by_model: dict[str, _Sums] = field(default_factory=dict)
    day_hours: list[_Sums] = field(default_factory=lambda: [_Sums() for _ in range(24)])
    last_week: _Sums = field(default_factory=_Sums)
    week_before: _Sums = field(default_factory=_Sums)
    month: _Sums = field(default_factory=_Sums)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _local_midnight_s(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def first_bucket(now_ms: int, tz: ZoneInfo, days: int, day: date | None = None) -> int:
    """The earliest bucket (epoch seconds) ``trends`` looks at: the caller reads from here."""
    today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz).date()
    earliest = min(today - timedelta(days=days - 1), today.replace(day=1), day or today)
    return min(_local_midnight_s(earliest, tz), now_ms // 1000 - 2 * WEEK_S)


def trends(
    rows: Iterable[tuple[int, str, tuple[int, ...]]],
    tz: ZoneInfo,
    now_ms: int,
    *,
    days: int = 30,
    day: date | None = None,
    cost_mode: str = "auto",
) -> dict[str, Any]:
    """Rows of (bucket seconds, model, sums) in, the insights as JSON out.

    The window is the ``days`` local days ending today (today included, so far). Week over
    week compares the last 7×24 hours with the 7×24 hours before them: the same length of
    time, so a partly elapsed today does not read as a drop.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    now_s = now_ms // 1000
    now_local = datetime.fromtimestamp(now_s, UTC).astimezone(tz)
    today = now_local.date()
    start = today - timedelta(days=days - 1)
    month_start = today.replace(day=1)
    f = _fold(rows, tz, now_s, start, today, month_start, day, COST_INDEX[cost_mode])
    total = _Sums()
    for sums in f.by_day.values():
        total.cost += sums.cost
        total.tokens += sums.tokens
    out: dict[str, Any] = {
        "timezone": str(tz),
        "now": iso_ms(now_ms),
        "window": {"from": start.isoformat(), "to": today.isoformat(), "days": days},
        "totalCost": total.cost / 1e9,
        "totalTokens": total.tokens,
        "averageDailyCost": total.cost / 1e9 / days,
        "activeDays": sum(1 for s in f.by_day.values() if s.tokens),
        "weekdayAverages": _weekdays(f, start, today),
        "hourOfDay": [{"hour": h, **s.json()} for h, s in enumerate(f.by_hour)],
        "peakHours": _peaks(f.by_hour, total.cost),
        "modelMix": _mix(f.by_model, total),
        "weekOverWeek": _week_over_week(f, now_ms),
        "monthToDate": _month(f.month, now_local, month_start, tz),
    }
    if day is not None:
        hours = [{"hour": h, **s.json()} for h, s in enumerate(f.day_hours)]
        day_cost = sum(s.cost for s in f.day_hours)
        day_tokens = sum(s.tokens for s in f.day_hours)
        out["hourly"] = {
            "date": day.isoformat(),
            "totalCost": day_cost / 1e9,
            "totalTokens": day_tokens,
            "hours": hours,
        }
    return out


def _fold(
    rows: Iterable[tuple[int, str, tuple[int, ...]]],
    tz: ZoneInfo,
    now_s: int,
    start: date,
    today: date,
    month_start: date,
    day: date | None,
    cost_index: int,
) -> _Fold:
    f = _Fold()
    local: dict[int, datetime] = {}
    for bucket, model, sums in rows:
        if bucket > now_s:
            continue  # a clock-skewed machine's future: not part of "so far"
        when = local.get(bucket)
        if when is None:
            when = local[bucket] = datetime.fromtimestamp(bucket, UTC).astimezone(tz)
        t = Tokens()
        t.add(sums, cost_index)
        d = when.date()
        if start <= d <= today:
            f.by_day.setdefault(d, _Sums()).add(t)
            f.by_hour[when.hour].add(t)
            if model:
                f.by_model.setdefault(model, _Sums()).add(t)
        if month_start <= d <= today:
            f.month.add(t)
        if d == day:
            # A day that repeats an hour (DST ends) folds both into that hour's row.
            f.day_hours[when.hour].add(t)
        if now_s - WEEK_S < bucket <= now_s:
            f.last_week.add(t)
        elif now_s - 2 * WEEK_S < bucket <= now_s - WEEK_S:
            f.week_before.add(t)
    return f


def _weekdays(f: _Fold, start: date, today: date) -> list[dict[str, Any]]:
    """Each weekday's average over its occurrences in the window, idle ones included."""
    seen = [0] * 7
    sums = [_Sums() for _ in range(7)]
    d = start
    while d <= today:
        seen[d.weekday()] += 1
        day_sums = f.by_day.get(d)
        if day_sums is not None:
            sums[d.weekday()].cost += day_sums.cost
            sums[d.weekday()].tokens += day_sums.tokens
        d += timedelta(days=1)
    return [
        {
            "weekday": name,
            "days": seen[i],
            "averageCost": sums[i].cost / 1e9 / seen[i] if seen[i] else 0.0,
            "averageTokens": sums[i].tokens / seen[i] if seen[i] else 0.0,
        }
        for i, name in enumerate(WEEKDAYS)
    ]


def _peaks(by_hour: list[_Sums], total_cost: int) -> list[dict[str, Any]]:
    ranked = sorted(range(24), key=lambda h: (-by_hour[h].cost, -by_hour[h].tokens, h))
    return [
        {"hour": h, **by_hour[h].json(), "share": _share(by_hour[h].cost, total_cost)}
        for h in ranked[:PEAK_HOURS]
        if by_hour[h].tokens
    ]


def _mix(by_model: dict[str, _Sums], total: _Sums) -> list[dict[str, Any]]:
    ranked = sorted(by_model.items(), key=lambda kv: (-kv[1].cost, -kv[1].tokens, kv[0]))
    return [
        {
            "model": name,
            **s.json(),
            "costShare": _share(s.cost, total.cost),
            "tokenShare": _share(s.tokens, total.tokens),
        }
        for name, s in ranked
    ]


def _week_over_week(f: _Fold, now_ms: int) -> dict[str, Any]:
    this, before = f.last_week.cost, f.week_before.cost
    return {
        "from": iso_ms(now_ms - 2 * WEEK_S * 1000),
        "split": iso_ms(now_ms - WEEK_S * 1000),
        "lastWeekCost": this / 1e9,
        "previousWeekCost": before / 1e9,
        "lastWeekTokens": f.last_week.tokens,
        "previousWeekTokens": f.week_before.tokens,
        "growth": (this - before) / before if before else None,
    }


def _month(sums: _Sums, now_local: datetime, month_start: date, tz: ZoneInfo) -> dict[str, Any]:
    """Month to date, and the month at the same pace: cost so far over the elapsed share of
    the month (in seconds, so the second half of today counts as half a day)."""
    length = calendar.monthrange(month_start.year, month_start.month)[1]
    begin = _local_midnight_s(month_start, tz)
    end = _local_midnight_s(month_start + timedelta(days=length), tz)
    elapsed = max(now_local.timestamp() - begin, 0.0)
    fraction = elapsed / (end - begin)
    return {
        "month": month_start.isoformat()[:7],
        "cost": sums.cost / 1e9,
        "tokens": sums.tokens,
        "elapsedDays": round(elapsed / 86_400, 4),
        "daysInMonth": length,
        "projectedCost": sums.cost / 1e9 / fraction if fraction > 0 else 0.0,
    }
