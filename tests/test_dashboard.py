"""The dashboard in a real browser: `usagectl up` ingests, `usagectl serve` serves, headless
Chromium (Debian's `chromium`, driven by Playwright without its own browser download) loads
the page, a transcript line is appended, and the page's totals change without a reload.

Screenshots go to tests/artifacts/ (or $USAGECTL_ARTIFACTS); the load time is printed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Env, system_tool
from corpus import generate
from playwright.sync_api import ConsoleMessage, Page, sync_playwright
from serving import Served, serve, wait_for

ARTIFACTS = Path(os.environ.get("USAGECTL_ARTIFACTS") or Path(__file__).parent / "artifacts")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip
LIVE_SESSION = "5e55a0d1-live-dashboard"


def chromium() -> str:
    return system_tool("chromium", "chromium-browser", package="chromium")


def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")  # screenshots are results, not sources
    return ARTIFACTS


def append(transcript: Path, n: int, output: int, minutes_ago: int = 0) -> None:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    ts = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    line = {"type": "assistant", "timestamp": ts, "sessionId": LIVE_SESSION, "cwd": "/work/live",
            "requestId": f"req_dash_{n}", "message": {
                "id": f"msg_dash_{n}", "model": "claude-opus-4-6",
                "usage": {"input_tokens": 1200, "output_tokens": output,
                          "cache_read_input_tokens": 40_000}}}  # fmt: skip
    with transcript.open("a") as f:
        f.write(json.dumps(line) + "\n")


def cost_on_page(page: Page, key: str = "today") -> float:
    return float(page.get_attribute(f"#{key}-cost", "data-cost") or "nan")


@pytest.mark.slow
def test_dashboard_updates_live_in_headless_chromium(env: Env) -> None:
    browser_path = chromium()
    today = datetime.now(UTC).date()
    truth = generate(env.claude, seed=31, sessions=30, start=(today - timedelta(days=24))
                     .isoformat(), days=20)  # fmt: skip
    transcript = env.claude / "projects" / "-work-live" / f"{LIVE_SESSION}.jsonl"
    transcript.parent.mkdir(parents=True)
    append(transcript, -2, 700, minutes_ago=20)  # a block in progress, with a burn rate
    append(transcript, -1, 900, minutes_ago=10)
    up = env.popen("up")
    served = serve(env)
    try:
        expected = truth["totals"]["totalTokens"] + 2 * (1200 + 40_000) + 700 + 900

        def ingested() -> bool:
            reply = served.request("/api/daily")  # a 503 until the read model exists
            return reply.status == 200 and reply.json()["totals"]["totalTokens"] == expected

        wait_for(ingested, 120, "up to ingest the corpus")
        _in_the_browser(served, browser_path, transcript, today)
    finally:
        served.stop()
        up.send_signal(signal.SIGINT)
        up.wait(timeout=30)


def _in_the_browser(served: Served, browser_path: str, transcript: Path, today: date) -> None:
    out = artifacts()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))

            def console_error(m: ConsoleMessage) -> None:
                if m.type == "error":
                    problems.append(m.text)

            page.on("console", console_error)
            page.goto(served.url)
            page.wait_for_selector("body[data-state=ready]", timeout=120_000)
            load_ms = page.evaluate("window.usagectl.firstRenderMs")
            print(f"\ndashboard load: navigation start -> totals rendered in {load_ms:.0f} ms")
            # Polled from here: the page's CSP forbids the eval that wait_for_function uses.
            wait_for(lambda: page.inner_text("#live") == "on", 120, "the event stream")
            _check_panels(page, served)
            page.evaluate("window.notReloaded = true")
            before = cost_on_page(page)
            api_before = served.get("/api/dashboard", timezone="UTC")["today"]["totalCost"]
            assert before == api_before
            appended = time.monotonic()
            append(transcript, 1, 25_000)
            append(transcript, 2, 30_000)
            wait_for(lambda: cost_on_page(page) > before, 120, "the page's total to change")
            print(f"dashboard update: line appended -> new total on the page in "
                  f"{(time.monotonic() - appended) * 1000:.0f} ms")  # fmt: skip
            _settled(page, served)
            assert page.evaluate("window.notReloaded") is True  # same document: no reload
            assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
            page.screenshot(path=out / "dashboard.png", full_page=True)
            _narrow(page, out)
            assert not problems, problems
            print(f"screenshots: {out / 'dashboard.png'}, {out / 'dashboard-narrow.png'}")
        finally:
            browser.close()


def _check_panels(page: Page, served: Served) -> None:
    """Every panel is drawn from the same data the API serves."""
    d = served.get("/api/dashboard", timezone="UTC")
    for key in ("today", "week", "month"):
        assert cost_on_page(page, key) == d[key]["totalCost"]
    assert page.locator("#chart svg rect").count() > 10  # stacked bars by model
    # At most six styles (five models and "other"), each a colour and a pattern, all named.
    assert page.locator("#legend li").count() == min(len(d["models"]), 6)
    block = page.inner_text("#block")
    assert "burn rate" in block and "projected" in block
    assert "test-machine" in page.inner_text("#machine-blocks")
    assert LIVE_SESSION[:8] in page.inner_text("#sessions")
    assert "live" in page.inner_text("#projects")
    wait_for(lambda: "online" in page.inner_text("#machines"), 120, "up's heartbeat")
    # `up` keeps the read model current: the status line does not say "not live" (it did
    # when the page was loaded before the first heartbeat arrived).
    wait_for(lambda: "not live" not in page.inner_text("#status"), 120, "a live status line")
    assert "No recent alerts." in page.inner_text("#alerts")


def _settled(page: Page, served: Served) -> None:
    """Both lines counted (they may arrive in one update or two), as the API counts them."""

    def same() -> bool:
        api: float = served.get("/api/dashboard", timezone="UTC")["today"]["totalCost"]
        return cost_on_page(page) == api

    wait_for(same, 120, "the page to show the API's total")
    assert page.inner_text("#today-cost").startswith("$")


def _narrow(page: Page, out: Path) -> None:
    """A phone-width window: one column, nothing wider than the window."""
    page.set_viewport_size({"width": 360, "height": 800})
    page.wait_for_timeout(300)  # the chart redraws at the new width
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    width = page.evaluate("document.querySelector('#chart svg').getBoundingClientRect().width")
    assert width <= 360
    page.screenshot(path=out / "dashboard-narrow.png", full_page=True)
