"""Tables that fit: every report at 60, 80, 100 and 200 columns keeps its key column and its
cost whole (columns compact or drop instead), and piped output is not cut to 80 columns."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import USAGECTL, Env
from corpus import generate
from hookdata import recording, send, transcript
from rich.cells import cell_len

LONG_MACHINE = "build-server-with-a-rather-long-hostname-01"
WIDTHS = (60, 80, 100, 200)


def usd(x: float) -> str:
    return f"${x:,.2f}"


def shown(env: Env, width: int, *args: str) -> str:
    env.extra["COLUMNS"] = str(width)
    out = env.run(*args).stdout
    for line in out.splitlines():
        assert cell_len(line) <= width, f"{args} at {width}: a line is wider:\n{out}"
    return out


def keys_and_costs(env: Env, report: str) -> list[tuple[str, str]]:
    """What must appear whole: each row's key and its cost, from the report's JSON."""
    env.extra["COLUMNS"] = "200"
    data: dict[str, Any] = env.json(report)
    if report == "blocks":
        return [(b["startTime"][:13].replace("T", " "), usd(b["costUSD"]))
                for b in data["blocks"] if not b["isGap"]]  # fmt: skip
    if report == "tools":  # no cost: the calls must stay whole
        return [(t["tool"], f"{t['calls']:,}") for t in data["tools"]]
    if report == "trends":
        return [(m["model"], usd(m["cost"])) for m in data["modelMix"]]
    if report == "machines":
        return [(m["machine"], usd(m["totalCost"])) for m in data["machines"]]
    key = {"daily": "date", "weekly": "week", "monthly": "month", "session": "sessionId"}[report]
    rows = data["sessions" if report == "session" else report]
    total = ("Total", usd(data["totals"]["totalCost"]))
    return [(r[key], usd(r["totalCost"])) for r in rows] + [total]


def test_every_report_keeps_its_key_and_cost_whole_at_every_width(env: Env) -> None:
    """trends' key is the model mix's full model name (us.anthropic.claude-…-v1:0)."""
    env.machine = LONG_MACHINE
    today = datetime.now(UTC).date()
    generate(env.claude, seed=3, sessions=20, start=(today - timedelta(days=25)).isoformat(),
             days=25)  # fmt: skip
    transcript(env.claude)
    env.run("sync")
    for data in recording():  # hooks: session gains its hook columns, tools has rows
        send(USAGECTL, env.vars(), data)
    env.run("sync")
    assert "Prompts" in shown(env, 200, "session")
    for report in ("daily", "weekly", "monthly", "session", "blocks", "machines", "trends",
                   "tools"):  # fmt: skip
        wanted = keys_and_costs(env, report)
        assert wanted, report
        for width in WIDTHS:
            out = shown(env, width, report)
            lines = out.splitlines()
            for key, cost in wanted:
                row = next((x for x in lines if x.startswith(f"│ {key}")), None)
                assert row is not None, f"{report} at {width}: {key!r} is cut:\n{out}"
                if report != "blocks":  # a block's start may repeat a gap's; its cost is there
                    assert cost in row, f"{report} at {width}: {cost} cut in\n{row}\n{out}"
                else:
                    assert cost in out
            if width < 100 and report not in ("machines", "trends", "tools"):
                assert "not shown" in out  # the dropped columns are named
    wide = shown(env, 200, "daily")
    assert "Cache Create" in wide and "Models" in wide and "not shown" not in wide


def test_piped_output_is_not_cut_to_80_columns_and_compact_is_forced(env: Env) -> None:
    today = datetime.now(UTC).date()
    generate(env.claude, seed=4, sessions=8, start=(today - timedelta(days=3)).isoformat(),
             days=3)  # fmt: skip
    env.run("sync")
    vars_ = {k: v for k, v in env.vars().items() if k != "COLUMNS"}
    piped = subprocess.run([USAGECTL, "daily"], env=vars_, capture_output=True, text=True,
                           check=True, stdin=subprocess.DEVNULL).stdout  # fmt: skip
    assert max(cell_len(x) for x in piped.splitlines()) > 80
    assert "Cache Create" in piped and "Total Tokens" in piped and "…" not in piped
    compact = shown(env, 200, "daily", "--compact")
    assert "Cache Create" not in compact and "--compact:" in compact
    assert any(x.rstrip().endswith("M │") or "k │" in x for x in compact.splitlines())
