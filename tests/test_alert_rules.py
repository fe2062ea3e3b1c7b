"""Alert rules, pure: windows in a user's zone, figures against thresholds, deterministic ids,
re-arming, and the [alerts] table's mistakes as one clear line."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from usagectl.processors.alert_config import AlertConfigError, parse_alerts
from usagectl.processors.masking import mask_url
from usagectl.projections import alerts as a
from usagectl.projections.blocks import Block, BlockEntry, identify_blocks, session_ms
from usagectl.projections.limits import Observation

UTC_ZONE = ZoneInfo("UTC")
H = 3_600_000
LENGTH = session_ms(5)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_day_week_month_windows_follow_the_zone_and_its_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 23:30 UTC on 30 Mar 2026 is already 31 Mar in Berlin (summer time, +2).
    day = a.period_window("day", ms("2026-03-30T23:30:00+00:00"), berlin, "sunday")
    assert day.key == "2026-03-31"
    assert (day.start_ms, day.end_ms) == (ms("2026-03-30T22:00:00+00:00"),
                                          ms("2026-03-31T22:00:00+00:00"))  # fmt: skip
    # The DST day itself has 23 hours.
    dst = a.period_window("day", ms("2026-03-29T12:00:00+00:00"), berlin, "sunday")
    assert dst.end_ms - dst.start_ms == 23 * H
    week = a.period_window("week", ms("2026-09-03T10:00:00+00:00"), UTC_ZONE, "monday")
    assert week.key == "2026-08-31" and week.end_ms - week.start_ms == 7 * 24 * H
    sunday = a.period_window("week", ms("2026-09-03T10:00:00+00:00"), UTC_ZONE, "sunday")
    assert sunday.key == "2026-08-30"
    month = a.period_window("month", ms("2026-12-31T23:59:00+00:00"), UTC_ZONE, "sunday")
    assert (month.key, month.end_ms) == ("2026-12", ms("2027-01-01T00:00:00+00:00"))
    # Bounds fall on the read model's 15-minute buckets in every real zone.
    kolkata = a.period_window("day", ms("2026-09-03T10:00:00+00:00"), ZoneInfo("Asia/Kolkata"),
                              "sunday")  # fmt: skip
    assert kolkata.start_ms % (15 * 60_000) == 0


def test_budget_fires_at_alert_at_and_the_id_names_the_window() -> None:
    rule = a.Rule("daily-budget", "daily_cost", threshold=20.0, alert_at=0.8)
    w = a.period_window("day", ms("2026-09-03T10:00:00+00:00"), UTC_ZONE, "sunday")
    below = a.budget_reading(rule, "default", w, 15.99)
    at = a.budget_reading(rule, "default", w, 16.0)
    assert not below.holds and at.holds
    assert at.id == below.id == "daily-budget@2026-09-03"
    assert "$16.00" in at.text and "80%" in at.text and "$20.00" in at.text
    # The next day is another window: the rule re-arms.
    nxt = a.period_window("day", ms("2026-09-04T00:00:00+00:00"), UTC_ZONE, "sunday")
    assert a.budget_reading(rule, "default", nxt, 30.0).id == "daily-budget@2026-09-04"
    # Another account, another id; a project budget names its project.
    assert a.budget_reading(rule, "work", w, 1.0).id == "daily-budget@work/2026-09-03"
    proj = a.Rule("app", "project_cost", threshold=5.0, period="day")
    assert a.budget_reading(proj, "default", w, 6.0, "/src/app").id == "app@2026-09-03:/src/app"


def _block(start: str, minutes: list[tuple[int, int, int]]) -> Block:
    """A block from (minute offset, input, output) entries."""
    t0 = ms(start)
    entries = [BlockEntry(t0 + m * 60_000, i, o, 0, 1000, (10**9, 10**9, 0), "m")
               for m, i, o in minutes]  # fmt: skip
    return identify_blocks(entries, LENGTH)[-1]


def test_block_limits_by_plan_custom_and_p90() -> None:
    block = _block("2026-09-03T10:05:00+00:00", [(0, 40_000, 30_000), (60, 10_000, 15_000)])
    start = ms("2026-09-03T10:00:00+00:00")
    later = start + 10 * H  # the block is over: tokens and cost still count, rates do not
    # Plans are input + output (Claude-Code-Usage-Monitor's estimates); 95,000 > max5's 88,000.
    plan = a.Rule("block", "block_tokens", plan="max5", alert_at=1.0)
    r = a.block_reading(plan, "default", block, [], later, LENGTH)
    assert r is not None and r.holds and r.value == 95_000 and r.limit == 88_000
    assert r.id == "block@2026-09-03T10:00Z"
    # custom and p90 count every token (as `watch --token-limit`).
    custom = a.Rule("block", "block_tokens", threshold=100_000, plan="custom")
    r = a.block_reading(custom, "default", block, [], later, LENGTH)
    assert r is not None and r.value == 97_000 and not r.holds
    p90 = a.Rule("block", "block_tokens", plan="p90", alert_at=0.5)
    r = a.block_reading(p90, "default", block, [10, 20, 30, 40, 50, 60, 70, 80, 90, 150_000],
                        later, LENGTH)  # fmt: skip
    assert r is not None and r.limit == 90 and r.holds
    assert a.block_reading(p90, "default", block, [], later, LENGTH) is None  # no history yet
    cost = a.Rule("cost", "block_cost", threshold=1.5, plan="custom")
    r = a.block_reading(cost, "default", block, [], later, LENGTH)
    assert r is not None and r.value == 2.0 and r.holds
    pro = a.Rule("cost", "block_cost", plan="pro", alert_at=0.1)  # $18 in 5 hours
    r = a.block_reading(pro, "default", block, [], later, LENGTH)
    assert r is not None and r.limit == 18.0 and r.trigger == pytest.approx(1.8) and r.holds
    cost_p90 = a.Rule("cost", "block_cost", plan="p90")
    r = a.block_reading(cost_p90, "default", block, [1.0, 3.0], later, LENGTH)
    assert r is not None and r.limit == 1.0 and "p90 of past blocks $1.00" in r.text
    assert a.block_reading(a.Rule("hot", "burn_rate", threshold=1), "default", block, [], later,
                           LENGTH) is None  # fmt: skip


def test_projected_overrun_and_burn_rate_need_an_active_block_and_now() -> None:
    block = _block("2026-09-03T10:00:00+00:00", [(0, 10_000, 10_000), (60, 10_000, 10_000)])
    now = ms("2026-09-03T11:00:00+00:00")  # 4 h left at 40,000 io tokens per hour
    over = a.Rule("over", "block_overrun", plan="pro")
    r = a.block_reading(over, "default", block, [], now, LENGTH)
    assert r is not None and r.holds
    assert r.value == 40_000 + round(40_000 / 60 * 240) and r.limit == 19_000
    assert "projected" in r.text
    roomy = a.Rule("over", "block_overrun", plan="custom", threshold=10_000_000)
    r = a.block_reading(roomy, "default", block, [], now, LENGTH)
    assert r is not None and not r.holds
    hot = a.Rule("hot", "burn_rate", threshold=500)
    r = a.block_reading(hot, "default", block, [], now, LENGTH)
    assert r is not None and r.holds and round(r.value) == 667
    assert a.block_reading(hot, "default", block, [], now + 6 * H, LENGTH) is None


def test_official_windows_are_named_by_their_reset_and_expire() -> None:
    rule = a.Rule("official", "official_5h", threshold=80)
    resets = ms("2026-09-03T15:00:00+00:00")
    seen = ms("2026-09-03T12:00:00+00:00")
    obs = Observation(85.0, resets + 1400, seen, "e1", "laptop", "s1")  # a second off
    r = a.official_reading(rule, "default", obs, seen)
    assert r is not None and r.holds and r.id == "official@2026-09-03T15:00Z"
    again = Observation(91.0, resets - 900, seen + 60_000, "e2", "desk", "s2")
    same = a.official_reading(rule, "default", again, seen)
    assert same is not None and same.id == r.id
    assert a.official_reading(rule, "default", obs, resets + 2000) is None  # reset since


def test_silence_is_one_window_per_silence_and_new_machines_fire_once() -> None:
    rule = a.Rule("quiet", "silent", threshold=10)
    last = ms("2026-09-03T12:00:00+00:00")
    r = a.silent_reading(rule, "laptop", last, last + 9 * 60_000)
    assert r is not None and not r.holds
    r = a.silent_reading(rule, "laptop", last, last + 11 * 60_000)
    assert r is not None and r.holds and r.id == "quiet@laptop/2026-09-03T12:00Z"
    back = a.silent_reading(rule, "laptop", last + 20 * 60_000, last + 31 * 60_000)
    assert back is not None and back.id != r.id  # beat again, then silent again: re-armed
    only = a.Rule("quiet", "silent", threshold=10, machines=("desk",))
    assert a.silent_reading(only, "laptop", last, last + H) is None
    new = a.new_machine_reading(a.Rule("new", "new_machine", threshold=1), "laptop", last)
    assert new is not None and new.holds and new.id == "new@laptop"
    assert not a.is_over(new, last + 60_000) and a.is_over(new, last + H)


def test_stale_windows_and_the_payload_slack_and_discord_read() -> None:
    rule = a.Rule("d", "daily_cost", threshold=1.0)
    w = a.period_window("day", ms("2026-09-03T10:00:00+00:00"), UTC_ZONE, "sunday")
    r = a.budget_reading(rule, "default", w, 2.0)
    assert not a.is_stale(r, w.end_ms + 23 * H, 24 * H)
    assert a.is_stale(r, w.end_ms + 25 * H, 24 * H)
    assert not a.is_stale(r, w.end_ms + 999 * H, None)
    body = a.payload(r, w.end_ms)
    assert body["text"] == body["content"] and body["text"].startswith("usagectl [d] daily cost")
    assert body["id"] == "d@2026-09-03" and body["value"] == 2.0 and body["threshold"] == 1.0
    assert body["windowStart"] == "2026-09-03T00:00:00.000Z"


GOOD = {
    "timezone": "Europe/Berlin",
    "rules": [
        {"name": "daily", "kind": "daily_cost", "threshold": 20, "alert_at": 0.8},
        {"name": "block", "kind": "block_tokens", "plan": "max20"},
        {"name": "over", "kind": "block_overrun", "plan": "p90"},
        {"name": "hot", "kind": "burn_rate", "level": "high"},
        {"name": "quiet", "kind": "silent", "minutes": 15},
    ],
    "sinks": [{"type": "webhook", "url_env": "HOOK"}, {"type": "desktop"}],
}


def test_a_good_table_parses() -> None:
    cfg = parse_alerts(GOOD, UTC_ZONE, {"HOOK": "https://hooks.example.com/T1/B2/secret"})
    assert [r.name for r in cfg.rules] == ["daily", "block", "over", "hot", "quiet"]
    assert cfg.rules[0].trigger == 16.0 and cfg.rules[3].threshold == 5000
    assert cfg.rules[4].threshold == 15 and str(cfg.tz) == "Europe/Berlin"
    assert cfg.max_age_ms == 24 * H and cfg.evaluate_every_s == 15 and cfg.needs_blocks
    assert cfg.sinks[0].url == "https://hooks.example.com/T1/B2/secret"
    assert mask_url(cfg.sinks[0].url, secret_path=True) == "https://hooks.example.com/***"
    assert parse_alerts({}, UTC_ZONE, {}).sinks[0].type == "log"  # the log when none is named


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"rules": [{"name": "x", "kind": "dayly_cost", "threshold": 1}]},
            "unknown kind 'dayly_cost'",
        ),
        ({"rules": [{"name": "x", "kind": "daily_cost", "threshold": -1}]}, "bad threshold"),
        ({"rules": [{"name": "x", "kind": "daily_cost", "threshold": "lots"}]}, "Expected `float"),
        ({"rules": [{"name": "x", "kind": "daily_cost"}]}, "daily_cost needs threshold"),
        (
            {"rules": [{"name": "x", "kind": "daily_cost", "treshold": 1}]},
            "unknown field `treshold`",
        ),
        (
            {"rules": [{"name": "x", "kind": "daily_cost", "threshold": 1, "alert_at": 80}]},
            "alert_at",
        ),
        ({"rules": [{"name": "x", "kind": "block_tokens", "plan": "max3"}]}, "plan must be one of"),
        ({"rules": [{"name": "x", "kind": "official_5h", "threshold": 180}]}, "percentage"),
        ({"rules": [{"name": "a b", "kind": "daily_cost", "threshold": 1}]}, "a name is"),
        ({"rules": [{"name": "x", "kind": "daily_cost", "threshold": 1}] * 2}, "unique: x"),
        ({"sinks": [{"type": "pager"}]}, "unknown type 'pager'"),
        ({"sinks": [{"type": "webhook", "url": "ftp://x/y"}]}, "http(s) URL"),
        ({"sinks": [{"type": "webhook", "url_env": "NOPE"}]}, "NOPE is not set"),
        ({"timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"max_age": "soon"}, "use e.g. 90s"),
        ({"color": "red"}, "unknown field `color`"),
    ],
)
def test_mistakes_are_one_clear_line(change: dict[str, object], message: str) -> None:
    with pytest.raises(AlertConfigError) as err:
        parse_alerts(change, UTC_ZONE, {})
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("[alerts]")
