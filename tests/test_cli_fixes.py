"""Issue 15's smaller fixes, as a user meets them: --version, doctor's exit status, a range
that ends before it starts, session's columns and --limit, reports that say why they are
empty, and a burn rate that means something a minute into a block."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from conftest import Env
from corpus import generate
from usagectl.cli.watch_render import header
from usagectl.projections import live
from usagectl.projections.blocks import MIN_RATE_SPAN_MS, session_ms
from usagectl.projections.events import Source, Usage
from usagectl.projections.statusline import active_block

NOW = datetime(2026, 12, 2, 12, 0, 30, tzinfo=UTC)
FIVE_H = session_ms(5)


def burst(minutes: float) -> live.LiveState:
    """A block whose activity spans ``minutes``: a big cache read, then a small answer."""
    state = live.snapshot("a", 0, 0, [])
    for n, ago in enumerate((minutes, 0.0)):
        live.apply_usage(state, Usage(
            event_id=f"e{n}", ts=NOW - timedelta(minutes=ago), machine="m", account="a",
            project="/p", project_dir="-p", session_id="s", source=Source("/f", n),
            message_id=f"m{n}", model="claude-opus-4-6", input=3_000, output=9_000,
            cache_read=1_200_000), n + 1)  # fmt: skip
    return state


def test_no_burn_rate_or_projection_until_the_activity_spans_ten_minutes() -> None:
    now_ms = int(NOW.timestamp() * 1000)
    early = live.view(burst(1), now_ms, live.Options(length_ms=FIVE_H))
    assert early.block is not None and early.rate is None and early.projected is None
    assert early.level == "NORMAL" and "high burn rate" not in early.warnings
    later = live.view(burst(MIN_RATE_SPAN_MS / 60_000), now_ms, live.Options(length_ms=FIVE_H))
    assert later.rate is not None and later.projected is not None
    # The level is ccusage's: input + output per minute (24,000 / 10 = 2,400: MODERATE),
    # not every token (millions a minute with the cache reads).
    assert later.level == "MODERATE"
    assert later.rate.tokens_per_minute > 100_000
    blocks = [early.block]
    figures = active_block(blocks, now_ms, FIVE_H)  # the statusline's: the same rule
    assert figures is not None and figures.level is None and figures.cost_per_hour is None


def test_watch_says_when_nothing_is_live() -> None:
    now_ms = int(NOW.timestamp() * 1000)
    state = live.snapshot("a", 0, 0, [])
    v = live.view(state, now_ms, live.Options(length_ms=FIVE_H))
    online = live.machines_online(state, now_ms, live.Options(length_ms=FIVE_H))
    assert online == 0
    assert "not live: start `usagectl up`" in header(v, online, ZoneInfo("UTC")).plain
    live.apply_heartbeat(state, "m", now_ms - 5_000)
    online = live.machines_online(state, now_ms, live.Options(length_ms=FIVE_H))
    assert "not live" not in header(v, online, ZoneInfo("UTC")).plain


def test_version_ranges_doctor_and_reports_that_say_why(env: Env) -> None:
    version = env.run("--version")
    assert version.stdout.startswith("usagectl ") and version.returncode == 0
    empty = env.run("daily", "--since", "2026-01-02", "--until", "2026-01-01", check=False)
    assert empty.returncode == 1 and empty.stdout == ""
    assert empty.stderr.strip() == ("usagectl: invalid range: --since 2026-01-02 is after "
                                    "--until 2026-01-01")  # fmt: skip
    today = datetime.now(UTC).date()
    generate(env.claude, seed=9, sessions=12, start=(today - timedelta(days=20)).isoformat(),
             days=5)  # fmt: skip
    env.run("sync")
    doctor = env.run("doctor", check=False)
    assert doctor.returncode == 0 and "no problem found" in doctor.stdout
    assert "warning: some transcript lines were rejected" in doctor.stdout  # the corpus has some
    assert "No active block: no usage in the last 5 hours." in env.run("blocks", "--active").stdout
    assert "No usage for --since 2020-01-01 --until 2020-01-31." in env.run(
        "monthly", "--since", "2020-01-01", "--until", "2020-01-31").stdout  # fmt: skip
    sessions = env.json("session", "--limit", "3")
    everything = env.json("session")
    assert sessions["sessions"] == everything["sessions"][:3]
    assert sessions["totals"]["totalCost"] == sum(s["totalCost"] for s in sessions["sessions"])
    assert all(s["prompts"] is None for s in sessions["sessions"])  # no hooks: unknown, not 0
    table = env.run("session", "--limit", "3").stdout
    top = sessions["sessions"][0]
    row = next(x for x in table.splitlines() if top["sessionId"] in x)
    project = top["projectPath"].rstrip("/").rsplit("/", 1)[-1]
    assert project[:20] in row and top["lastActivity"][5:10] in row
    assert sum(1 for x in table.splitlines() if x.startswith("│ ") and "-" in x[2:12]) == 3
    bad = env.run("session", "--limit", "0", check=False)
    assert bad.returncode == 1 and "invalid --limit" in bad.stderr
    _early_block_shows_no_projection(env)
    env.extra["CLAUDE_CONFIG_DIR"] = str(env.root / "no-such-claude-dir")
    broken = env.run("doctor", check=False)
    assert broken.returncode == 1 and "problem:" in broken.stdout


def _early_block_shows_no_projection(env: Env) -> None:
    """Two responses a minute apart: `blocks --json` keeps ccusage's burnRate and projection,
    the table people read shows neither (the 10-minute rule)."""
    path = env.claude / "projects" / "-work-early" / "early.jsonl"
    path.parent.mkdir(parents=True)
    lines = []
    for n, ago in enumerate((2, 1)):
        ts = (datetime.now(UTC) - timedelta(minutes=ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        lines.append(json.dumps({
            "type": "assistant", "timestamp": ts, "sessionId": "early", "cwd": "/work/early",
            "requestId": f"req_early_{n}", "message": {
                "id": f"msg_early_{n}", "model": "claude-opus-4-6",
                "usage": {"input_tokens": 900, "output_tokens": 4000,
                          "cache_read_input_tokens": 1_000_000}}}))  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    env.run("sync")
    [block] = env.json("blocks", "--active")["blocks"]
    assert block["burnRate"] is not None and block["projection"] is not None  # ccusage's
    table = env.run("blocks", "--active").stdout
    assert "ACTIVE" in table and "projected" not in table
