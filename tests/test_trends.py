"""Insights (`usagectl trends`, `/api/trends`): the pure fold over 15-minute rollup buckets,
with ``now`` passed in, in any time zone; and the command as a user runs it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import Env
from corpus import generate
from usagectl.projections.columns import SUM_COLUMNS
from usagectl.projections.trends import first_bucket, trends

UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 3, 18, 15, 40, tzinfo=UTC)  # a Wednesday
NOW_MS = int(NOW.timestamp() * 1000)

Row = tuple[int, str, tuple[int, ...]]


def row(at: datetime, cost: float, tokens: int = 1000, model: str = "claude-opus-4-6") -> Row:
    sums = dict.fromkeys(SUM_COLUMNS, 0)
    sums.update(entries=1, input=tokens // 2, output=tokens - tokens // 2)
    sums.update(cost_calculated=round(cost * 1e9), cost_auto=round(cost * 1e9),
                cost_display=round(cost * 1e9))  # fmt: skip
    bucket = int(at.timestamp()) // 900 * 900
    return bucket, model, tuple(sums[c] for c in SUM_COLUMNS)


def test_average_counts_idle_days_and_weekdays_average_their_occurrences() -> None:
    rows = [row(NOW - timedelta(days=d, hours=1), 10.0) for d in (0, 7, 14)]  # Wednesdays
    rows.append(row(NOW - timedelta(days=2, hours=3), 4.0))  # Monday
    t = trends(rows, UTC_ZONE, NOW_MS, days=28)
    assert t["window"] == {"from": "2026-02-19", "to": "2026-03-18", "days": 28}
    assert t["totalCost"] == pytest.approx(34.0)
    assert t["averageDailyCost"] == pytest.approx(34.0 / 28)
    assert t["activeDays"] == 4
    by_day = {w["weekday"]: w for w in t["weekdayAverages"]}
    assert by_day["wednesday"]["days"] == 4 and by_day["wednesday"]["averageCost"] == 7.5
    assert by_day["monday"]["averageCost"] == pytest.approx(1.0)
    assert by_day["sunday"]["averageCost"] == 0.0


def test_peak_hours_and_model_mix_follow_the_zone() -> None:
    rows = [
        row(datetime(2026, 3, 17, 14, 5, tzinfo=UTC), 6.0),
        row(datetime(2026, 3, 16, 14, 50, tzinfo=UTC), 3.0, model="claude-sonnet-4-5"),
        row(datetime(2026, 3, 16, 9, 0, tzinfo=UTC), 1.0, model="claude-sonnet-4-5"),
    ]
    t = trends(rows, UTC_ZONE, NOW_MS)
    assert [(p["hour"], p["cost"]) for p in t["peakHours"]] == [(14, 9.0), (9, 1.0)]
    assert t["peakHours"][0]["share"] == pytest.approx(0.9)
    assert sum(h["cost"] for h in t["hourOfDay"]) == pytest.approx(10.0)
    mix = [(m["model"], m["costShare"]) for m in t["modelMix"]]
    assert mix == [("claude-opus-4-6", pytest.approx(0.6)), ("claude-sonnet-4-5",
                                                            pytest.approx(0.4))]  # fmt: skip
    kolkata = trends(rows, ZoneInfo("Asia/Kolkata"), NOW_MS)  # +5:30: 14:05 UTC is 19:35
    assert kolkata["peakHours"][0]["hour"] == 19


def test_week_over_week_compares_equal_spans() -> None:
    rows = [
        row(NOW - timedelta(days=1), 10.0),
        row(NOW - timedelta(days=8), 4.0),
        row(NOW - timedelta(days=13, hours=23), 1.0),
        row(NOW - timedelta(days=15), 99.0),
    ]
    wow = trends(rows, UTC_ZONE, NOW_MS)["weekOverWeek"]  # fmt: skip
    assert (wow["lastWeekCost"], wow["previousWeekCost"]) == (10.0, 5.0)
    assert wow["growth"] == pytest.approx(1.0)
    assert trends(rows[:1], UTC_ZONE, NOW_MS)["weekOverWeek"]["growth"] is None


def test_month_to_date_and_the_month_at_the_same_pace() -> None:
    rows = [row(datetime(2026, 3, 1, 0, 10, tzinfo=UTC), 20.0),
            row(datetime(2026, 3, 18, 9, 0, tzinfo=UTC), 15.0),
            row(datetime(2026, 2, 28, 23, 50, tzinfo=UTC), 100.0)]  # fmt: skip
    m = trends(rows, UTC_ZONE, NOW_MS)["monthToDate"]
    elapsed = (NOW - datetime(2026, 3, 1, tzinfo=UTC)).total_seconds() / 86_400
    assert (m["month"], m["cost"], m["daysInMonth"]) == ("2026-03", 35.0, 31)
    assert m["elapsedDays"] == pytest.approx(elapsed, abs=1e-4)
    assert m["projectedCost"] == pytest.approx(35.0 * 31 / elapsed)
    # In UTC-10 the 23:50 UTC bucket of 28 February is still February, the 00:10 one too.
    honolulu = trends(rows, ZoneInfo("Pacific/Honolulu"), NOW_MS)["monthToDate"]
    assert honolulu["cost"] == 15.0


def test_one_days_hours_fold_a_repeated_hour_and_add_up() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # 25 October 2026: 02:00-03:00 happens twice
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    rows = [row(first, 1.0), row(second, 2.0), row(datetime(2026, 10, 25, 12, tzinfo=UTC), 4.0),
            row(datetime(2026, 10, 24, 21, 59, tzinfo=UTC), 8.0)]  # 23:59 on the 24th  # fmt: skip
    now_ms = int(datetime(2026, 10, 26, tzinfo=UTC).timestamp() * 1000)
    hourly = trends(rows, berlin, now_ms, day=date(2026, 10, 25))["hourly"]
    assert hourly["totalCost"] == 7.0
    assert hourly["hours"][2]["cost"] == 3.0 and hourly["hours"][13]["cost"] == 4.0
    assert "hourly" not in trends(rows, berlin, now_ms)


def test_quarter_hour_zones_split_days_exactly_and_the_future_is_not_counted() -> None:
    kathmandu = ZoneInfo("Asia/Kathmandu")  # +5:45
    rows = [row(datetime(2026, 3, 17, 18, 0, tzinfo=UTC), 1.0),  # 23:45 on the 17th
            row(datetime(2026, 3, 17, 18, 15, tzinfo=UTC), 2.0),  # 00:00 on the 18th
            row(NOW + timedelta(hours=1), 50.0)]  # fmt: skip
    t = trends(rows, kathmandu, NOW_MS, days=2, day=date(2026, 3, 18))
    assert t["hourly"]["totalCost"] == 2.0 and t["hourly"]["hours"][0]["cost"] == 2.0
    assert t["totalCost"] == 3.0
    assert first_bucket(NOW_MS, kathmandu, 2) <= rows[0][0]
    with pytest.raises(ValueError):
        trends(rows, kathmandu, NOW_MS, days=0)


def test_the_command(env: Env) -> None:
    today = datetime.now(UTC).date()
    generate(env.claude, seed=41, sessions=15, start=(today - timedelta(days=12)).isoformat(),
             days=10)  # fmt: skip
    env.run("sync")
    day = (today - timedelta(days=5)).isoformat()
    table = env.run("trends", "-z", "UTC", "--day", day).stdout
    for words in ("average per day", "peak hours", "month to date", "model mix",
                  "average per weekday", f"{day}: $"):  # fmt: skip
        assert words in table, words
    doc = env.json("trends", "-z", "UTC", "--days", "14")
    daily = env.json("daily", "-z", "UTC", "--since", (today - timedelta(days=13)).isoformat())
    assert doc["totalCost"] == pytest.approx(daily["totals"]["totalCost"])
    for args, message in ((("--days", "0"), "invalid --days"),
                          (("--day", "someday"), "invalid --day"),
                          (("-z", "Mars/Olympus"), "invalid --timezone"),
                          (("--mode", "cheap"), "invalid --mode")):  # fmt: skip
        proc = env.run("trends", *args, check=False)
        assert proc.returncode == 1 and message in proc.stderr, args
        assert len(proc.stderr.strip().splitlines()) == 1
