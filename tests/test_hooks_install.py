"""`usagectl hooks install/uninstall`: our entries merged beside everyone else's, a backup per
change, and uninstall takes only ours. Never this machine's ~/.claude: HOME and
CLAUDE_CONFIG_DIR are temporary in every Env."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import USAGECTL, make_env
from hookdata import payload, spooled
from usagectl.projections.hooks import EVENTS, NO_MATCHER

OURS = {"type": "command", "command": f"{USAGECTL} hook", "timeout": 10}
THEIRS = {"type": "command", "command": "~/bin/lint.sh", "timeout": 60}


def settings_of(path: Path) -> Any:
    return json.loads(path.read_text())


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.bak-*"))


def ours_in(data: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [g for g in data["hooks"].get(event, []) if OURS in g.get("hooks", [])]


def test_install_merges_keeps_a_backup_and_uninstall_takes_only_ours(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    path = env.claude / "settings.json"
    original: dict[str, Any] = {
        "model": "opus",
        "statusLine": {"type": "command", "command": f"{USAGECTL} statusline"},
        "hooks": {
            "PostToolUse": [{"matcher": "Edit|Write", "hooks": [THEIRS]}],
            "Stop": [{"hooks": [THEIRS]}],
            "PostCompact": [{"hooks": [THEIRS]}],
        },
    }
    path.write_text(json.dumps(original, indent=4))
    out = env.run("hooks", "install").stdout
    assert "installed" in out and str(path) in out
    data = settings_of(path)
    assert {k: v for k, v in data.items() if k != "hooks"} == {
        k: v for k, v in original.items() if k != "hooks"
    }
    assert set(data["hooks"]) == {*EVENTS, "PostCompact"}
    for event in EVENTS:
        [group] = ours_in(data, event)
        assert group == ({"hooks": [OURS]} if event in NO_MATCHER
                         else {"matcher": "", "hooks": [OURS]})  # fmt: skip
    assert data["hooks"]["PostToolUse"][0] == original["hooks"]["PostToolUse"][0]
    assert data["hooks"]["Stop"][0] == {"hooks": [THEIRS]}
    [backup] = backups(path)
    assert settings_of(backup) == original
    assert "already installed" in env.run("hooks", "install").stdout
    assert len(backups(path)) == 1
    # Someone put their own handler beside ours: uninstall keeps it, and their group.
    data["hooks"]["SessionEnd"][0]["hooks"].append(THEIRS)
    path.write_text(json.dumps(data))
    out = env.run("hooks", "uninstall").stdout
    assert f"removed {len(EVENTS)} usagectl hook entries" in out
    after = settings_of(path)
    assert after["hooks"].pop("SessionEnd") == [{"matcher": "", "hooks": [THEIRS]}]
    assert after == original
    assert len(backups(path)) == 2
    assert "nothing to remove" in env.run("hooks", "uninstall").stdout
    assert len(backups(path)) == 2


def test_uninstall_restores_a_file_that_had_no_hooks(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    path = env.claude / "settings.json"
    path.write_text(json.dumps({"theme": "dark"}))
    env.run("hooks", "install")
    env.run("hooks", "uninstall")
    assert settings_of(path) == {"theme": "dark"}


def test_our_entry_from_another_install_is_updated_in_place(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    path = env.claude / "settings.json"
    old = {"type": "command", "command": "/old/venv/bin/usagectl hook", "timeout": 3}
    path.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [old, THEIRS]}]}}))
    env.run("hooks", "install")
    data = settings_of(path)
    assert data["hooks"]["Stop"] == [{"hooks": [OURS | {"timeout": 3}, THEIRS]}]
    assert all(len(ours_in(data, e)) == 1 for e in EVENTS if e != "Stop")


def test_targets_user_project_and_explicit(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    env.extra["CLAUDE_CONFIG_DIR"] = ""  # no data root named: ~/.claude, in the temporary HOME
    env.run("hooks", "install", "--user")
    user = env.root / "user-home" / ".claude" / "settings.json"
    assert len(settings_of(user)["hooks"]) == len(EVENTS)
    project = env.root / "repo"
    project.mkdir()
    env.run("hooks", "install", "--project", str(project))
    assert len(settings_of(project / ".claude" / "settings.json")["hooks"]) == len(EVENTS)
    explicit = env.root / "elsewhere" / "settings.json"
    env.run("hooks", "install", "--settings", str(explicit))
    assert explicit.exists()
    both = env.run("hooks", "install", "--user", "--project", str(project), check=False)
    assert both.returncode == 1 and len(both.stderr.strip().splitlines()) == 1
    missing = env.run("hooks", "install", "--project", str(env.root / "nope"), check=False)
    assert missing.returncode == 1 and "not a directory" in missing.stderr


def test_broken_settings_are_left_alone(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    path = env.claude / "settings.json"
    for text in ("{ not json", '{"hooks": []}', '{"hooks": {"Stop": {"x": 1}}}', "[1]"):
        path.write_text(text)
        for command in ("install", "uninstall"):
            proc = env.run("hooks", command, check=False)
            assert path.read_text() == text and backups(path) == []
            if command == "install":
                assert proc.returncode == 1, (text, proc.stdout)
                assert len(proc.stderr.strip().splitlines()) == 1


def test_the_installed_command_is_what_claude_code_runs(tmp_path: Path) -> None:
    env = make_env(tmp_path, None)
    env.run("hooks", "install")
    data = settings_of(env.claude / "settings.json")
    command = data["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    stdin = json.dumps(payload("PreToolUse", tool_name="Bash", tool_use_id="t1"))
    proc = subprocess.run(command, shell=True, input=stdin, env=env.vars(), capture_output=True,
                          text=True, timeout=30)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "")
    assert [e["tool_name"] for e in spooled(env.home)] == ["Bash"]
