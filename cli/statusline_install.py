"""`usagectl statusline --install/--uninstall`: the statusLine entry in Claude Code's settings.

The settings file is the user's: other keys are kept as they are, every change keeps a
timestamped backup, the write is atomic, and a statusLine that is not ours is never replaced
without ``--force`` nor ever removed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from .errors import UserError


def default_settings_path(env: Mapping[str, str] = os.environ) -> Path:
    """The first Claude data root's settings.json (CLAUDE_CONFIG_DIR as ccusage reads it),
    else ~/.claude/settings.json."""
    roots = [r.strip() for r in (env.get("CLAUDE_CONFIG_DIR") or "").split(",") if r.strip()]
    if roots:
        return Path(roots[0]).expanduser() / "settings.json"
    return Path(env.get("HOME") or Path.home()) / ".claude" / "settings.json"


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


def our_command() -> str:
    return f"{shlex.quote(usagectl_path())} statusline"


def is_ours(entry: Any) -> TypeGuard[dict[str, Any]]:
    if not isinstance(entry, dict) or entry.get("type") != "command":
        return False
    try:
        words = shlex.split(str(entry.get("command", "")))
    except ValueError:
        return False
    return len(words) >= 2 and Path(words[0]).name == "usagectl" and words[1] == "statusline"


def _load(path: Path) -> dict[str, Any]:
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


def _backup(path: Path, now: datetime) -> Path:
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    shutil.copy2(path, target)
    return target


def _write(path: Path, data: dict[str, Any]) -> None:
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


def _describe(entry: Any) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("command"), str):
        return repr(entry["command"])
    return json.dumps(entry)[:60]


def install(path: Path, command: str, *, force: bool = False, now: datetime | None = None) -> str:
    """Write our statusLine entry; returns what happened, as one line."""
    data = _load(path)
    current = data.get("statusLine")
    entry: dict[str, Any] = {"type": "command", "command": command}
    if is_ours(current):
        entry = {**current, **entry}  # keep the user's padding and other tweaks
        if entry == current:
            return f"usagectl statusline already installed in {path}"
    elif current is not None and not force:
        raise UserError(
            f"{path} already has a statusLine that is not usagectl's ({_describe(current)}); "
            "--force replaces it (a backup is kept)"
        )
    backup = _backup(path, now or datetime.now(UTC)) if path.exists() else None
    data["statusLine"] = entry
    _write(path, data)
    kept = f" (backup: {backup})" if backup else ""
    return f"installed the usagectl statusline in {path}{kept}"


def uninstall(path: Path, *, now: datetime | None = None) -> str:
    """Remove our statusLine entry, and only ours."""
    data = _load(path)
    current = data.get("statusLine")
    if current is None:
        return f"no statusLine in {path}: nothing to remove"
    if not is_ours(current):
        return f"the statusLine in {path} is not usagectl's ({_describe(current)}): left as is"
    backup = _backup(path, now or datetime.now(UTC))
    del data["statusLine"]
    _write(path, data)
    return f"removed the usagectl statusline from {path} (backup: {backup})"
