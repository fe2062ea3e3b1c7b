"""Official rate limits: newer-wins folding (pure and stored), the event built from Claude
Code's rate_limits, the per-machine split, and the status line's own rules."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from usagectl.processors.limitstore import read_limits
from usagectl.processors.store import apply_batch, open_store
from usagectl.projections.events import Limit
from usagectl.projections.limits import (
    FIVE_HOUR,
    SEVEN_DAY,
    LimitKey,
    Observation,
    fold,
    limit_event,
    limits_json,
    split_by_machine,
)
from usagectl.projections.statusline import (
    BlockFigures,
    Figures,
    burn_level,
    parse_input,
    render,
    time_left,
)

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def limit(n: int, minutes: int, five: float | None, seven: float | None = None,
          machine: str = "laptop", session: str = "s1") -> Limit:  # fmt: skip
    return Limit(
        event_id=f"e{n}", ts=T0 + timedelta(minutes=minutes), machine=machine, account="a",
        session_id=session, five_hour_pct=five,
        five_hour_resets_at=None if five is None else T0 + timedelta(hours=3),
        seven_day_pct=seven, seven_day_resets_at=None if seven is None else T0 + timedelta(days=3),
    )  # fmt: skip


def folded(events: list[Limit]) -> dict[LimitKey, Observation]:
    state: dict[LimitKey, Observation] = {}
    for e in events:  # one event per batch: the hardest order for "newer wins"
        state.update(fold(state, [e]))
    return state


def test_an_older_event_never_overwrites_a_newer_one_in_any_order() -> None:
    events = [
        limit(1, 0, 10.0, 30.0),
        limit(2, 30, 25.0, 31.0, machine="desktop", session="s2"),
        limit(3, 10, 15.0),
        limit(2, 30, 25.0, 31.0, machine="desktop", session="s2"),  # a redelivered duplicate
        limit(4, 20, None, 32.5),  # only the 7-day window: the 5-hour figure stays
    ]
    results = [folded(list(order)) for order in itertools.permutations(events)]
    assert all(r == results[0] for r in results)
    account = {k[4]: v for k, v in results[0].items() if k[0] == "account"}
    assert account[FIVE_HOUR].used_pct == 25.0
    assert account[SEVEN_DAY].used_pct == 31.0
    laptop = results[0][("session", "a", "laptop", "s1", FIVE_HOUR)]
    assert laptop.used_pct == 15.0


def test_same_instant_is_decided_by_event_id_not_arrival() -> None:
    a, b = limit(1, 5, 10.0), limit(2, 5, 20.0)
    assert folded([a, b]) == folded([b, a])


async def test_stored_limits_equal_in_any_batch_order(tmp_path: Path) -> None:
    events = [limit(1, 0, 10.0, 30.0), limit(2, 40, 40.0), limit(3, 20, 20.0, 35.0)]
    seen = []
    for i, order in enumerate(itertools.permutations(events)):
        path = tmp_path / f"{i}.db"
        db = await open_store(path)
        try:
            for seq, e in enumerate(order, 1):
                await apply_batch(db, "processor", [], seq, limits=[e])
        finally:
            await db.close()
        conn = sqlite3.connect(path)
        try:
            seen.append(sorted(conn.execute("SELECT * FROM limits").fetchall()))
            official = read_limits(conn, "a")
        finally:
            conn.close()
        assert official[FIVE_HOUR].used_pct == 40.0 and official[SEVEN_DAY].used_pct == 35.0
    assert all(s == seen[0] for s in seen)


def test_limit_event_from_status_input() -> None:
    raw = {"five_hour": {"used_percentage": 23.5, "resets_at": 1795000000},
           "seven_day": {"used_percentage": 41, "resets_at": "2026-11-24T06:00:00Z"}}  # fmt: skip
    e = limit_event(raw, machine="m", account="a", session_id="s", now=T0)
    assert e is not None
    assert e.five_hour_pct == 23.5 and e.seven_day_pct == 41.0
    assert e.five_hour_resets_at == datetime.fromtimestamp(1795000000, UTC)
    assert e.seven_day_resets_at == datetime(2026, 11, 24, 6, tzinfo=UTC)
    later = limit_event(raw, machine="m", account="a", session_id="s", now=T0 + timedelta(1))
    assert later is not None and later.event_id == e.event_id  # repeats dedup on the hub
    moved = {**raw, "five_hour": {"used_percentage": 24.0, "resets_at": 1795000000}}
    other = limit_event(moved, machine="m", account="a", session_id="s", now=T0)
    assert other is not None and other.event_id != e.event_id
    for empty in (None, {}, {"five_hour": {"used_percentage": "lots"}}, {"seven_day": True}):
        assert limit_event(empty, machine="m", account="a", session_id="s", now=T0) is None


def test_split_by_machine_apportions_the_official_percentage() -> None:
    split = split_by_machine(40.0, {"laptop": 300, "desktop": 100, "idle": 0})
    assert [(s.machine, s.share, s.five_hour_pct) for s in split] == [
        ("laptop", 0.75, 30.0), ("desktop", 0.25, 10.0)]  # fmt: skip
    assert split_by_machine(40.0, {}) == []


def test_limits_json_leaves_out_the_split_once_the_window_reset() -> None:
    state = folded([limit(1, 0, 40.0, 30.0)])
    official = {k[4]: v for k, v in state.items() if k[0] == "account"}
    now = int((T0 + timedelta(hours=1)).timestamp() * 1000)
    out = limits_json("a", official, {"laptop": 3, "desktop": 1}, now)
    assert out is not None and out["fiveHour"]["expired"] is False
    assert [m["fiveHourPercentage"] for m in out["byMachine"]] == [30.0, 10.0]
    after = now + 3 * 3_600_000
    out = limits_json("a", official, {"laptop": 3}, after)
    assert out is not None and out["fiveHour"]["expired"] and out["byMachine"] == []
    assert limits_json("a", {}, None, now) is None


def test_burn_levels_use_ccusage_thresholds() -> None:
    assert [burn_level(v) for v in (0, 1999.9, 2000, 4999.9, 5000, 1e6)] == [
        "NORMAL", "NORMAL", "MODERATE", "MODERATE", "HIGH", "HIGH"]  # fmt: skip


def test_render_with_and_without_a_read_model() -> None:
    inp = parse_input({"model": {"id": "claude-opus-4-1", "display_name": "Opus 4.1"},
                       "session_id": "s", "cost": {"total_cost_usd": 0.4251},
                       "rate_limits": {"five_hour": {"used_percentage": 23.5}}})  # fmt: skip
    assert render(inp, None) == "🤖 Opus 4.1 | 💰 $0.43 session | 📊 5h 23.5%"
    block = BlockFigures(cost=1.5, left_ms=(2 * 60 + 5) * 60_000, cost_per_hour=3.2,
                         level="HIGH")  # fmt: skip
    line = render(inp, Figures(session_cost=1.0, today_cost=12.345, block=block))
    assert line == ("🤖 Opus 4.1 | 💰 $1.00 session / $12.35 today / $1.50 block (2h 5m left) "
                    "| 🔥 $3.20/hr 🚨 HIGH | 📊 5h 23.5%")  # fmt: skip
    idle = render(parse_input({}), Figures(None, 0.0, None))
    assert idle == "🤖 ? | 💰 – session / $0.00 today / no active block"
    assert (time_left(59 * 60_000 + 59_999), time_left(3_600_000)) == ("59m", "1h 0m")
