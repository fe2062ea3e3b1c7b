"""`usagectl statusline` as Claude Code runs it: stdin JSON in, one line out, exit 0 always;
official rate limits spooled, published by `sync`, shown by `blocks`; --install/--uninstall."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import USAGECTL, Env, make_env
from corpus import generate

SESSION = "sess-now"


def write_recent(claude: Path, session: str, entries: list[tuple[int, int, int]], tag: str) -> int:
    """Responses ``ago`` minutes before now; returns their total tokens."""
    folder = claude / "projects" / "-work-now"
    folder.mkdir(parents=True, exist_ok=True)
    now, lines, total = time.time(), [], 0
    for i, (ago, inp, out) in enumerate(entries):
        ts = datetime.fromtimestamp(now - ago * 60, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        lines.append(json.dumps({
            "type": "assistant", "timestamp": ts, "sessionId": session, "cwd": "/work/now",
            "message": {"id": f"msg_{tag}_{i}", "model": "claude-sonnet-4-5-20250929",
                        "usage": {"input_tokens": inp, "output_tokens": out,
                                  "cache_read_input_tokens": 1000}},
            "requestId": f"req_{tag}_{i}",
        }))  # fmt: skip
        total += inp + out + 1000
    (folder / f"{session}.jsonl").write_text("\n".join(lines) + "\n")
    return total


def status_json(session: str = SESSION, rate_limits: dict[str, Any] | None = None) -> str:
    data: dict[str, Any] = {
        "session_id": session,
        "transcript_path": f"/nowhere/{session}.jsonl",
        "model": {"id": "claude-opus-4-1-20250805", "display_name": "Opus 4.1"},
        "workspace": {"current_dir": "/work/now", "project_dir": "/work/now"},
        "cost": {"total_cost_usd": 0.4242},
    }
    if rate_limits is not None:
        data["rate_limits"] = rate_limits
    return json.dumps(data)


def statusline(env: Env, stdin: str) -> str:
    proc = subprocess.run([USAGECTL, "statusline"], input=stdin, env=env.vars(),
                          capture_output=True, text=True, timeout=10)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1, proc.stdout
    return proc.stdout.strip()


def usd(value: float) -> str:
    return f"${value:,.2f}"


def history(env: Env) -> None:
    """A corpus that ended days ago: nothing of it is in today's cost or the active block."""
    start = (datetime.now(UTC) - timedelta(days=12)).strftime("%Y-%m-%d")
    generate(env.claude, seed=21, sessions=15, start=start, days=5)


def test_statusline_shows_session_today_block_and_burn_level(env: Env) -> None:
    history(env)
    # 3 x 71,000 input + output tokens over 35 minutes: ~6,085 per minute, HIGH.
    write_recent(env.claude, SESSION, [(40, 1000, 70_000), (20, 1000, 70_000),
                                       (5, 1000, 70_000)], "now")  # fmt: skip
    env.run("sync")
    before = time.time()
    line = statusline(env, status_json())
    after = time.time()
    block = env.json("blocks", "--active")["blocks"][0]
    session = next(s for s in env.json("session")["sessions"] if s["sessionId"] == SESSION)
    today = datetime.now(UTC).date().isoformat()
    day = next(d for d in env.json("daily", "-z", "UTC")["daily"] if d["date"] == today)
    assert line.startswith("🤖 Opus 4.1 | 💰 ")
    assert f"{usd(session['totalCost'])} session" in line
    assert f"{usd(day['totalCost'])} today" in line
    assert f"{usd(block['costUSD'])} block (" in line
    assert "🔥 " in line and line.endswith("🚨 HIGH")
    m = re.search(r"block \((?:(\d+)h )?(\d+)m left\)", line)
    assert m is not None, line
    left = int(m.group(1) or 0) * 60 + int(m.group(2))
    end = datetime.fromisoformat(block["endTime"]).timestamp()
    assert int((end - after) // 60) <= left <= int((end - before) // 60)
    assert block["burnRate"]["tokensPerMinuteForIndicator"] > 5000


def test_today_is_the_local_day(env: Env) -> None:
    write_recent(env.claude, SESSION, [(30, 10, 500), (10, 10, 500)], "tz")
    env.run("sync")
    for zone in ("UTC", "Pacific/Kiritimati", "America/Adak"):
        env.extra["TZ"] = zone
        today = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo(zone)).date()
        rows = {d["date"]: d["totalCost"] for d in env.json("daily")["daily"]}
        assert f"{usd(rows.get(today.isoformat(), 0.0))} today" in statusline(env, status_json())


def test_without_a_read_model_it_shows_claude_codes_own_cost(env: Env) -> None:
    line = statusline(env, status_json())
    assert line == "🤖 Opus 4.1 | 💰 $0.42 session"


def test_garbage_or_missing_input_still_prints_a_line(env: Env) -> None:
    for stdin in ("", "not json", "[1, 2]", '{"model": 5, "cost": "x", "rate_limits": 7}',
                  "\xff\xfe", '{"session_id": null}'):  # fmt: skip
        assert statusline(env, stdin).startswith("🤖 ")
    assert not (env.home / "spool").exists()


def test_an_open_stdin_never_hangs_it(env: Env) -> None:
    proc = subprocess.Popen([USAGECTL, "statusline"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env.vars())  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.wait(timeout=60)  # it exits while its stdin is still open
        out = proc.stdout.read()
    finally:
        proc.stdin.close()
        proc.stdout.close()
        proc.kill()
    assert proc.returncode == 0 and out.decode().startswith("🤖 ")


def rate_limits(five: float, seven: float) -> dict[str, Any]:
    resets = int(time.time()) + 3 * 3600
    return {"five_hour": {"used_percentage": five, "resets_at": resets},
            "seven_day": {"used_percentage": seven, "resets_at": resets + 4 * 86400}}  # fmt: skip


def test_rate_limits_are_spooled_then_synced_and_split_by_machine(env: Env) -> None:
    laptop_dir, desktop_dir = env.root / "laptop-claude", env.root / "desktop-claude"
    laptop = write_recent(laptop_dir, "lap", [(40, 100, 3000), (10, 100, 5000)], "lap")
    desktop = write_recent(desktop_dir, "desk", [(30, 100, 1000)], "desk")
    for machine, claude in (("desktop", desktop_dir), ("laptop", laptop_dir)):
        env.extra.update(USAGECTL_MACHINE=machine, CLAUDE_CONFIG_DIR=str(claude))
        env.run("sync")
    assert "limits" not in env.json("blocks")
    # The bus is not needed: the hub named here does not even exist.
    env.extra["USAGECTL_NATS_URL"] = "nats://127.0.0.1:1"
    stdin = status_json("lap", rate_limits(40, 12.5))
    line = statusline(env, stdin)
    assert line.endswith("📊 5h 40.0% · 7d 12.5%")  # one decimal, as on every surface
    statusline(env, stdin)  # the same figures again: not spooled twice
    spooled = (env.home / "spool" / "limits.jsonl").read_text().splitlines()
    assert len(spooled) == 1
    event = json.loads(spooled[0])
    assert event["type"] == "limit" and event["machine"] == "laptop"
    figures = (event["session_id"], event["five_hour_pct"], event["seven_day_pct"])
    assert figures == ("lap", 40, 12.5)
    del env.extra["USAGECTL_NATS_URL"]
    env.run("sync")
    assert not any((env.home / "spool").iterdir())
    report = env.json("blocks")
    assert [b["isActive"] for b in report["blocks"]][-1]
    limits = report["limits"]
    assert limits["fiveHour"]["usedPercentage"] == 40.0
    assert limits["sevenDay"]["usedPercentage"] == 12.5
    assert (limits["fiveHour"]["machine"], limits["fiveHour"]["sessionId"]) == ("laptop", "lap")
    split = {m["machine"]: m for m in limits["byMachine"]}
    assert split["laptop"]["tokens"] == laptop and split["desktop"]["tokens"] == desktop
    total = laptop + desktop
    assert split["laptop"]["fiveHourPercentage"] == round(40 * laptop / total, 2)
    assert split["desktop"]["fiveHourPercentage"] == round(40 * desktop / total, 2)
    assert set(report["blocks"][-1]) == set(env.json("blocks", "--active")["blocks"][0])
    table = env.run("blocks").stdout
    assert "official 5h" in table and "40.0%" in table and "official 7d" in table
    assert "laptop" in table and "desktop" in table
    # Newer figures replace older ones; the old spool line seen again changes nothing.
    statusline(env, status_json("lap", rate_limits(55, 14)))
    with (env.home / "spool" / "limits.jsonl").open("a") as f:
        f.write(spooled[0] + "\n")
    env.run("sync")
    latest = env.json("blocks")["limits"]
    assert latest["fiveHour"]["usedPercentage"] == 55.0
    env.run("replay")  # the limits projection is rebuilt from the stream like every other
    assert env.json("blocks")["limits"] == latest


def test_up_publishes_what_the_statusline_spools_while_it_runs(env: Env) -> None:
    write_recent(env.claude, SESSION, [(20, 100, 2000), (5, 100, 2000)], "up")
    proc = env.popen("up")
    try:
        deadline = time.monotonic() + 120
        while env.run("blocks", "--json", check=False).returncode != 0:
            assert time.monotonic() < deadline, env.log("up")
            time.sleep(0.1)
        statusline(env, status_json(SESSION, rate_limits(33, 21)))
        deadline = time.monotonic() + 120
        while "limits" not in env.json("blocks"):
            assert time.monotonic() < deadline, "the spooled limit never reached the read model"
            time.sleep(0.1)
        assert env.json("blocks")["limits"]["byMachine"][0]["fiveHourPercentage"] == 33.0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0, env.log("up")


# --- --install / --uninstall: never this machine's ~/.claude (HOME and CLAUDE_CONFIG_DIR are
# temporary in every Env).

OURS = {"type": "command", "command": f"{USAGECTL} statusline"}


def settings_of(path: Path) -> Any:
    return json.loads(path.read_text())


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.bak-*"))


def test_install_merges_keeps_a_backup_and_uninstall_reverses(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    path = env.claude / "settings.json"
    original = {"model": "opus", "hooks": {"Stop": [{"hooks": [{"type": "command",
                                                                 "command": "x"}]}]}}  # fmt: skip
    path.write_text(json.dumps(original, indent=4))
    out = env.run("statusline", "--install").stdout
    assert "installed" in out and str(path) in out
    assert settings_of(path) == original | {"statusLine": OURS}
    [backup] = backups(path)
    assert settings_of(backup) == original
    assert "already installed" in env.run("statusline", "--install").stdout
    assert len(backups(path)) == 1
    env.run("statusline", "--uninstall")
    assert settings_of(path) == original
    assert len(backups(path)) == 2


def test_install_refuses_a_foreign_status_line_unless_forced(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    path = env.claude / "settings.json"
    theirs = {"statusLine": {"type": "command", "command": "~/bin/my-status.sh"}, "a": 1}
    path.write_text(json.dumps(theirs))
    before = path.read_text()
    proc = env.run("statusline", "--install", check=False)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "--force" in proc.stderr
    assert path.read_text() == before and backups(path) == []
    assert "left as is" in env.run("statusline", "--uninstall").stdout
    assert path.read_text() == before
    env.run("statusline", "--install", "--force")
    assert settings_of(path) == {"statusLine": OURS, "a": 1}
    assert settings_of(backups(path)[0]) == theirs
    # Uninstalling puts back what --force replaced (and only the statusLine: "a" stays as set).
    with_change = settings_of(path) | {"a": 2}
    path.write_text(json.dumps(with_change))
    out = env.run("statusline", "--uninstall").stdout
    assert "put back" in out and "my-status.sh" in out
    assert settings_of(path) == theirs | {"a": 2}
    assert "left as is" in env.run("statusline", "--uninstall").stdout  # theirs again


def test_install_default_paths_and_explicit_settings(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    env.extra["CLAUDE_CONFIG_DIR"] = ""  # no data root named: ~/.claude, in the temporary HOME
    env.run("statusline", "--install")
    home_settings = env.root / "user-home" / ".claude" / "settings.json"
    assert settings_of(home_settings) == {"statusLine": OURS}
    env.extra["CLAUDE_CONFIG_DIR"] = f"{env.root / 'first'},{env.root / 'second'}"
    env.run("statusline", "--install")
    assert settings_of(env.root / "first" / "settings.json") == {"statusLine": OURS}
    explicit = env.root / "elsewhere" / "settings.json"
    env.run("statusline", "--install", "--settings", str(explicit))
    assert settings_of(explicit) == {"statusLine": OURS}
    # Our own entry, even from another install path, is updated in place with the user's tweaks.
    old = {"type": "command", "padding": 2, "command": "/old/venv/bin/usagectl statusline"}
    explicit.write_text(json.dumps({"statusLine": old}))
    env.run("statusline", "--install", "--settings", str(explicit))
    assert settings_of(explicit) == {"statusLine": OURS | {"padding": 2}}


def test_install_leaves_broken_settings_alone(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    path = env.claude / "settings.json"
    path.write_text("{ not json")
    proc = env.run("statusline", "--install", check=False)
    assert proc.returncode == 1 and "not valid JSON" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert path.read_text() == "{ not json"
    assert env.run("statusline", "--install", "--uninstall", check=False).returncode == 1
    assert "Usage" in env.run("statusline", "--help").stdout
