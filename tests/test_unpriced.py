"""Models without a price never look free: reports, doctor and the dashboard say which models
lack a price and how many tokens they carry."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import Env
from usagectl.web.dashboard import dashboard

NOW = datetime(2026, 10, 9, 12, tzinfo=UTC)


def line(n: int, model: str, out: int) -> str:
    return json.dumps({
        "type": "assistant", "timestamp": f"2026-10-0{n}T10:00:00.000Z", "sessionId": "s",
        "cwd": "/w/p", "requestId": f"req_{n}",
        "message": {"id": f"msg_{n}", "model": model,
                    "usage": {"input_tokens": 1_000, "output_tokens": out}},
    }) + "\n"  # fmt: skip


def write(claude: Path) -> None:
    f = claude / "projects" / "-w-p" / "s.jsonl"
    f.parent.mkdir(parents=True)
    f.write_text(line(7, "claude-sonnet-5-5", 1_000) + line(8, "claude-zephyr-9", 500)
                 + line(8, "claude-zephyr-9", 500).replace("_8", "_9"))  # fmt: skip


def test_unpriced_models_are_named_with_their_tokens(env: Env) -> None:
    write(env.claude)
    env.run("sync")
    daily = env.json("daily", "-z", "UTC")
    want = [{"model": "claude-zephyr-9", "entries": 2, "totalTokens": 3_000}]
    assert daily["totals"]["unpricedModels"] == ["claude-zephyr-9"]  # as ccusage says it
    assert daily["totals"]["unpricedTokens"] == {"claude-zephyr-9": 3_000}
    # Sonnet 5.5: 1,000 in x $2 + 1,000 out x $10 = $0.012; the unpriced model adds nothing.
    assert round(daily["totals"]["totalCost"], 6) == 0.012
    row = next(r for r in daily["daily"] if r["date"] == "2026-10-08")
    (b,) = row["modelBreakdowns"]
    assert b["missingPricing"] is True and b["cost"] == 0
    for report in (env.json("monthly", "-z", "UTC"), env.json("session")):
        assert report["totals"]["unpricedTokens"] == {"claude-zephyr-9": 3_000}
    text = env.run("daily", "-z", "UTC").stdout
    assert "unpriced: claude-zephyr-9: 3,000 tokens have no price" in text
    doctor = env.json("doctor")
    assert doctor["read_model"]["unpriced_models"] == want
    assert any("claude-zephyr-9 has no price" in w for w in doctor["warnings"])
    conn = sqlite3.connect(env.home / "usage.db")
    try:
        payload = dashboard(conn, "default", ZoneInfo("UTC"), "sunday",
                            int(NOW.timestamp() * 1000))  # fmt: skip
    finally:
        conn.close()
    assert payload["unpriced"] == want
    assert "renderUnpriced" in (Path(__file__).parents[1] / "web/static/app.js").read_text()


def test_a_priced_report_has_no_unpriced_list(env: Env) -> None:
    f = env.claude / "projects" / "-w-p" / "s.jsonl"
    f.parent.mkdir(parents=True)
    f.write_text(line(7, "claude-sonnet-5-5", 1_000))
    env.run("sync")
    assert "unpricedModels" not in env.json("daily", "-z", "UTC")["totals"]
    assert "unpriced" not in env.run("daily", "-z", "UTC").stdout
