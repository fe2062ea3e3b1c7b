"""`usagectl dash` in-process through Textual's pilot: a synced corpus, a real nats-server, a
processor folding what the test publishes from a second machine; keys pressed, screen read.
Figures on the screen must be the ones `daily --json` / `weekly --json` print."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from conftest import Env
from corpus import generate
from textual.pilot import Pilot
from usagectl.cli.dash_app import DashApp, DetailScreen, HelpScreen
from usagectl.processors.app.settings import load_settings
from usagectl.processors.bus import connect
from usagectl.processors.processor import Processor
from usagectl.projections.events import Heartbeat, Hook, Source, Usage, encode, subject

UTC_ZONE = ZoneInfo("UTC")
LIVE = "5e55a0d1-dash-live"


def screen_text(pilot: Pilot[Any]) -> str:
    strips = pilot.app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def wait_screen(pilot: Pilot[Any], ok: Callable[[str], bool], what: str) -> str:
    """Wait on the screen's content (never on time): generous, for a loaded machine."""
    text = ""
    for _ in range(1200):
        await pilot.pause(0.05)
        text = screen_text(pilot)
        if ok(text):
            return text
    raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{text}")


def line_with(text: str, start: str) -> str:
    return next((x for x in text.splitlines() if x.lstrip().startswith(start)), "")


def usd(x: float) -> str:
    return f"${x:,.2f}"


def live_usage(n: int, at: datetime) -> Usage:
    return Usage(
        event_id=f"dash-{n}", ts=at, machine="desk", account="default",
        project="/work/dashboard-live", project_dir="-work-dashboard-live", session_id=LIVE,
        source=Source(f"/r/{LIVE}.jsonl", n * 100), message_id=f"msg_dash_{n}",
        request_id=f"req_dash_{n}", model="claude-opus-4-6", input=1_000, output=2_000 * n,
        cache_read=30_000,
    )  # fmt: skip


def daily_row(env: Env, day: date) -> dict[str, Any]:
    rows = env.json("daily", "-z", "UTC", "--since", day.isoformat(), "--until",
                    day.isoformat())["daily"]  # fmt: skip
    return rows[0] if rows else {"totalCost": 0.0, "totalTokens": 0}


async def test_dash_follows_the_stream_and_its_figures_equal_the_reports(env: Env) -> None:
    today = datetime.now(UTC).date()
    generate(env.claude, seed=11, sessions=24, start=(today - timedelta(days=5)).isoformat(),
             days=5)  # fmt: skip
    env.run("sync")
    # A budget from the alerts config is drawn as a bar against its limit.
    (env.home / "config.toml").write_text(
        '[[alerts.rules]]\nname = "daily-budget"\nkind = "daily_cost"\nthreshold = 500.0\n'
    )
    settings = load_settings(env.vars())
    bus = settings.bus(env.nats_url or "")
    nc = await connect(bus)
    js = nc.jetstream()
    stop = asyncio.Event()
    processor = Processor(js, bus, settings.db_path)
    running = asyncio.create_task(processor.run(stop))
    now = datetime.now(UTC)

    async def publish(kind: str, event: Any) -> int:
        msg_id = getattr(event, "event_id", None)
        ack = await js.publish(subject(bus.prefix, kind, "desk"), encode(event),
                               headers={"Nats-Msg-Id": msg_id} if msg_id else None)  # fmt: skip
        return int(ack.seq)

    await publish("heartbeat", Heartbeat(ts=now, machine="desk", version="test"))
    # The screen's clock stands still (passed in): "working" (a line in the last 90 s) must
    # not turn into "waiting" on a slow machine while the test runs.
    app = DashApp(settings, UTC_ZONE, clock=lambda: int(now.timestamp() * 1000))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await _main_screen(pilot, env, today)
            seq = 0
            for n in (1, 2):  # a second machine starts working, live
                seq = await publish("usage", live_usage(n, now - timedelta(seconds=90 - 30 * n)))
            await processor.wait_until(seq)
            expected = daily_row(env, today)
            text = await wait_screen(
                pilot, lambda t: usd(expected["totalCost"]) in line_with(t, "today"),
                "today's cost to include the live usage",
            )  # fmt: skip
            assert "dashboard-live @desk" in text
            assert f"{usd(expected['totalCost'])} / $500.00" in line_with(text, "daily-budget")
            assert "working*" in line_with(text, "dashboard-live")  # no hooks yet: activity
            await publish("hook", Hook(event_id="h1", ts=now, machine="desk", account="default",
                                       session_id=LIVE, name="Stop"))  # fmt: skip
            await wait_screen(pilot, lambda t: "waiting " in line_with(t, "dashboard-live"),
                              "the Stop hook to make the session wait for input")  # fmt: skip
            await pilot.resize_terminal(160, 40)  # a large screen: the panels side by side
            await wait_screen(
                pilot,
                lambda t: (
                    "waiting for input" in t
                    and any("status" in x and "tokens" in x for x in t.splitlines())
                ),  # beside
                "the wide layout",
            )
            await pilot.resize_terminal(80, 24)
            await wait_screen(pilot, lambda t: "waiting " in line_with(t, "dashboard-live"),
                              "the narrow layout again")  # fmt: skip
            await _detail_screens(pilot, env, today)
            await pilot.press("question_mark")
            await wait_screen(pilot, lambda t: "detail view" in t, "the help")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.press("q")
        assert app.error is None and app.return_code in (0, None)
    finally:
        stop.set()
        await running
        await nc.close()


async def _main_screen(pilot: Pilot[Any], env: Env, today: date) -> None:
    text = await wait_screen(pilot, lambda t: "this week" in t, "the daily panel")
    yesterday = daily_row(env, today - timedelta(days=1))
    assert usd(yesterday["totalCost"]) in line_with(text, "yesterday")
    assert f"{yesterday['totalTokens']:,} tokens" in line_with(text, "yesterday")
    week = env.json("weekly", "-z", "UTC", "--since", (today - timedelta(days=6)).isoformat())
    this_week = next(w for w in week["weekly"] if w["week"] <= today.isoformat() and
                     date.fromisoformat(w["week"]) + timedelta(days=7) > today)  # fmt: skip
    assert usd(this_week["totalCost"]) in line_with(text, "this week")
    assert "● live" in text  # a producer's heartbeat, a read model at the stream's end
    for line in text.splitlines():  # usable at 80 columns: nothing cut mid-figure
        assert "$…" not in line and "…$" not in line


async def _detail_screens(pilot: Pilot[Any], env: Env, today: date) -> None:
    await pilot.press("enter")
    today_row = daily_row(env, today)
    text = await wait_screen(pilot, lambda t: f"{today:%A %Y-%m-%d}" in t, "today's detail")
    assert isinstance(pilot.app.screen, DetailScreen)
    assert usd(today_row["totalCost"]) in line_with(text, today.strftime("%A"))
    assert "cost by local hour" in text and "peak hour:" in text
    assert "projected for the month" in text
    assert "opus-4-6" in text  # the live usage's model, by model
    await pilot.press("left")
    day = today - timedelta(days=1)
    row = daily_row(env, day)
    text = await wait_screen(pilot, lambda t: f"{day:%A %Y-%m-%d}" in t, "yesterday's detail")
    assert f"{usd(row['totalCost'])} · {row['totalTokens']:,} tokens" in text
    await pilot.press("w")
    await wait_screen(pilot, lambda t: "week " in t and "cost by day" in t, "the week view")
    await pilot.press("m")
    await wait_screen(pilot, lambda t: f"month {day:%Y-%m}" in t, "the month view")
    await pilot.press("escape")
    await wait_screen(pilot, lambda t: "this week" in t, "the main screen again")
