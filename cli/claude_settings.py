"""Claude Code's settings.json, edited the way a user's file deserves: other keys kept as they
are, a timestamped backup before every change, an atomic write, and a file that is not valid
JSON left alone with one clear line. Shared by ``statusline --install`` and ``hooks install``.
"""

from __future__ import annotations

import copy
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from usagectl.processors.app.errors import UserError


def default_settings_path(env: Mapping[str, str] = os.environ) -> Path:
    """The first Claude data root's settings.json (CLAUDE_CONFIG_DIR as ccusage reads it),
    else ~/.claude/settings.json."""
    roots = [r.strip() for r in (env.get("CLAUDE_CONFIG_DIR") or "").split(",") if r.strip()]
    if roots:
        return Path(roots[0]).expanduser() / "settings.json"
    return Path(env.get("HOME") or Path.home()) / ".claude" / "settings.json"


def project_settings_path(project: Path) -> Path:
    """A project's shared settings: ``<project>/.claude/settings.json``."""
    return project.expanduser().absolute() / ".claude" / "settings.json"


def usagectl_path() -> str:
    """This usagectl as an absolute path: Claude Code runs the command without our PATH."""
    argv0 = sys.argv[0]
    if Path(argv0).name == "usagectl":
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        if found:
            return os.path.abspath(found)
    beside = Path(sys.executable).parent / "usagectl"
    if beside.exists():
        return str(beside)
    return shutil.which("usagectl") or "usagectl"


def runs_usagectl(entry: Any, subcommand: str) -> TypeGuard[dict[str, Any]]:
    """Whether a settings entry is a command running ``<some usagectl> <subcommand>``: ours,
    from this install or another one."""
    if not isinstance(entry, dict) or entry.get("type") != "command":
        return False
    try:
        words = shlex.split(str(entry.get("command", "")))
    except ValueError:
        return False
    return len(words) >= 2 and Path(words[0]).name == "usagectl" and words[1] == subcommand


def load(path: Path) -> dict[str, Any]:
    """The settings as a JSON object ({} for a missing or empty file)."""
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as err:
        raise UserError(f"{path} is not valid JSON ({err}); fix it first, nothing changed") from err
    if not isinstance(data, dict):
        raise UserError(f"{path} does not hold a JSON object; nothing changed")
    return data


def backup(path: Path, now: datetime) -> Path:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    shutil.copy2(path, target)
    return target


def write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def edit(
    path: Path, change: Callable[[dict[str, Any]], None], now: datetime | None = None
) -> tuple[bool, Path | None]:
    """Apply ``change`` to the settings (in place); if that changed anything, back the file up
    (when there is one) and write it. Returns (changed, backup)."""
    data = load(path)
    before = copy.deepcopy(data)
    change(data)
    if data == before:
        return False, None
    kept = backup(path, now or datetime.now(UTC)) if path.exists() else None
    write(path, data)
    return True, kept
