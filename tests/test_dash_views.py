"""The dash's pure parts: session status and costs as folds, and the render functions."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console, RenderableType
from usagectl.cli.dash_data import Detail, ModelShare, Overview, span, step
from usagectl.cli.dash_render import (
    NOT_LIVE,
    DashState,
    Liveness,
    bar,
    daily_panel,
    detail_view,
    header,
    sessions_panel,
    when,
)
from usagectl.projections.events import Hook, Source, Usage
from usagectl.projections.ledger import to_entry
from usagectl.projections.sessions import (
    ENDED,
    IDLE,
    WAITING,
    WORKING,
    LastHook,
    SessionLine,
    apply_hook,
    session_lines,
    status,
)

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
TZ = ZoneInfo("Europe/Berlin")


def text(r: RenderableType, width: int) -> str:
    console = Console(width=width, record=True, color_system=None, legacy_windows=False)
    console.print(r)
    return console.export_text()


def hook(n: int, name: str, minutes_ago: float, session: str = "s1") -> Hook:
    return Hook(event_id=f"h{n}", ts=NOW - timedelta(minutes=minutes_ago), machine="m",
                account="a", session_id=session, name=name)  # fmt: skip


def test_status_is_the_latest_hook_in_any_arrival_order() -> None:
    events = [hook(1, "UserPromptSubmit", 9), hook(2, "PreToolUse", 8), hook(3, "Stop", 5),
              hook(4, "SomethingNew", 1), hook(5, "PostToolUse", 7)]  # fmt: skip
    for order in itertools.permutations(events):
        last: dict[str, LastHook] = {}
        for e in (*order, *order):  # redelivered copies change nothing
            apply_hook(last, e)
        assert status(last.get("s1"), NOW_MS - 3_600_000, NOW_MS) == (WAITING, "hooks")
    ended: dict[str, LastHook] = {}
    apply_hook(ended, hook(6, "SessionEnd", 2))
    assert status(ended["s1"], NOW_MS, NOW_MS)[0] == ENDED


def test_status_without_hooks_comes_from_transcript_activity() -> None:
    assert status(None, NOW_MS - 30_000, NOW_MS) == (WORKING, "activity")
    assert status(None, NOW_MS - 5 * 60_000, NOW_MS) == (WAITING, "activity")
    assert status(None, NOW_MS - 2 * 3_600_000, NOW_MS) == (IDLE, "activity")


def usage(n: int, minutes_ago: int, session: str, cost_tokens: int = 1_000_000) -> Usage:
    return Usage(event_id=f"u{n}", ts=NOW - timedelta(minutes=minutes_ago), machine="desk",
                 account="a", project="/w/app", project_dir="-w-app", session_id=session,
                 source=Source("/f", n), message_id=f"m{n}", model="claude-sonnet-4-5-20250929",
                 input=cost_tokens)  # fmt: skip


def test_session_lines_split_block_and_today_cost() -> None:
    entries = [to_entry(u) for u in (usage(1, 200, "s1"), usage(2, 30, "s1"), usage(3, 400, "s2"),
                                     usage(4, 20 * 60, "s3"))]  # fmt: skip
    midnight = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp() * 1000)
    lines = session_lines(entries, {}, NOW_MS, block_start_ms=NOW_MS - 60 * 60_000,
                          midnight_ms=midnight, since_ms=NOW_MS - 5 * 3_600_000)  # fmt: skip
    assert [x.session_id for x in lines] == ["s1"]  # s2, s3 quiet for more than 5 hours
    one = entries[0].cost_auto
    assert lines[0].block_cost == one and lines[0].today_cost == 2 * one
    assert lines[0].status == WAITING and lines[0].status_from == "activity"


LIVE = Liveness(True, "", 2)


def state(
    *,
    liveness: Liveness = LIVE,
    overview: Overview | None = None,
    sessions: list[SessionLine] | None = None,
    detail: Detail | None = None,
) -> DashState:
    return DashState(
        now_ms=NOW_MS,
        tz=TZ,
        liveness=liveness,
        overview=overview,
        sessions=[] if sessions is None else sessions,
        detail=detail,
    )


def test_header_says_when_nothing_is_live() -> None:
    shown = text(header(state(liveness=Liveness(False, "no producer has sent a heartbeat"))), 200)
    assert NOT_LIVE in shown and "no producer" in shown
    assert "● live · 2 machines online" in text(header(state()), 200)


def test_sessions_panel_fits_80_columns_and_spreads_on_a_wide_screen() -> None:
    line = SessionLine("s1", "/home/me/a-project-with-a-rather-long-name", "workstation-42",
                       WAITING, "hooks", 1234.5, 2345.67, NOW_MS - 86_400_000)  # fmt: skip
    narrow = text(sessions_panel(state(sessions=[line]), 80), 80)
    assert "$1,234.50" in narrow and "$2,345.67" in narrow
    assert "waiting" in narrow and "Tue 16:00" in narrow
    assert all(len(x) <= 80 for x in narrow.splitlines())
    wide = text(sessions_panel(state(sessions=[line]), 140), 140)
    assert "workstation-42" in wide and "waiting for input" in wide
    assert "No session" in text(sessions_panel(state(liveness=Liveness(False)), 80), 80)


def test_times_carry_their_day_when_not_today() -> None:
    assert when(NOW_MS - 60_000, NOW_MS, TZ) == "15:59"  # Berlin is UTC+1 in December
    assert when(NOW_MS - 86_400_000, NOW_MS, TZ) == "Tue 16:00"
    assert when(NOW_MS - 30 * 86_400_000, NOW_MS, TZ) == "2026-11-02 16:00"


def test_daily_panel_bars_scale_to_the_busiest_day() -> None:
    today = date(2026, 12, 2)
    days = [(today - timedelta(days=6 - n), float(n), n * 1000) for n in range(7)]
    o = Overview(today, days, 21.0, 21_000, date(2026, 11, 29))
    shown = text(daily_panel(state(overview=o), 80), 80)
    assert "today" in shown and "$6.00" in shown and "$5.00" in shown
    assert "this week (from Sun 29) $21.00" in shown
    assert bar(6, 6, 10) == "█" * 10 and bar(3, 6, 10) == "█" * 5 and bar(0, 6, 10) == ""


def test_detail_view_shows_models_kinds_hours_peak_and_projection() -> None:
    hours = [(f"{h:02d}", 0.0) for h in range(24)]
    hours[14] = ("14", 3.0)
    d = Detail("day", date(2026, 12, 2), date(2026, 12, 2), 3.5, 1_000, 2,
               [ModelShare("claude-opus-4-6", 3.0, 0.857, 900),
                ModelShare("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 0.5, 0.143, 100)],
               [("input", 10), ("output", 20), ("cache write", 30), ("cache read", 940)],
               hours, "14:00", "2026-12", 7.0, 108.5)  # fmt: skip
    shown = text(detail_view(state(detail=d), 80), 80)
    assert "Wednesday 2026-12-02  $3.50 · 1,000 tokens · 2 sessions" in shown
    assert "opus-4-6" in shown and "85.7%" in shown and "sonnet-4-5" in shown
    assert "cache read" in shown and "940" in shown
    assert "peak hour: 14:00" in shown
    assert "$108.50 projected" in shown
    assert all(len(x) <= 80 for x in shown.splitlines())


def test_views_step_by_day_week_and_month() -> None:
    d = date(2026, 12, 2)
    assert span("week", d, "sunday") == (date(2026, 11, 29), date(2026, 12, 5))
    assert span("month", d, "sunday") == (date(2026, 12, 1), date(2026, 12, 31))
    assert step("day", d, -1) == date(2026, 12, 1)
    assert step("month", d, 1) == date(2027, 1, 1) and step("month", d, -1) == date(2026, 11, 1)
    assert step("week", d, 1) == date(2026, 12, 9)


def test_liveness_needs_a_producer_and_a_read_model_that_keeps_up(tmp_path: Path) -> None:
    from usagectl.cli.dash_live import BEHIND_S, Model
    from usagectl.processors.app.settings import load_settings
    from usagectl.projections import live

    state = live.snapshot("a", 0, 10, [])
    model = Model(load_settings({"USAGECTL_HOME": str(tmp_path)}), TZ, "sunday", state)
    assert model.liveness(NOW_MS) == Liveness(False, "no producer heartbeat in 2 min", 0)
    live.apply_heartbeat(state, "m", NOW_MS - 30_000)
    model.applied_seq = 10
    assert model.liveness(NOW_MS).live
    model.applied_seq, model.behind_since = 4, time.monotonic() - BEHIND_S - 1
    assert model.liveness(NOW_MS) == Liveness(False, "read model 6 facts behind", 1)
    model.behind_since = time.monotonic()  # just fell behind: a processor may catch up
    assert model.liveness(NOW_MS).live
