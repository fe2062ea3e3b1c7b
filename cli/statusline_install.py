"""`usagectl statusline --install/--uninstall`: the statusLine entry in Claude Code's settings.

The settings file is the user's: other keys are kept as they are, every change keeps a
timestamped backup, the write is atomic, and a statusLine that is not ours is never replaced
without ``--force`` nor ever removed.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

from .errors import UserError
from .settings_file import default_settings_path, edit, load, runs_usagectl, usagectl_path

__all__ = ["default_settings_path", "install", "is_ours", "our_command", "uninstall"]


def our_command() -> str:
    return f"{shlex.quote(usagectl_path())} statusline"


def is_ours(entry: Any) -> TypeGuard[dict[str, Any]]:
    return runs_usagectl(entry, "statusline")


def _describe(entry: Any) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("command"), str):
        return repr(entry["command"])
    return json.dumps(entry)[:60]


def install(path: Path, command: str, *, force: bool = False, now: datetime | None = None) -> str:
    """Write our statusLine entry; returns what happened, as one line."""

    def change(data: dict[str, Any]) -> None:
        current = data.get("statusLine")
        entry: dict[str, Any] = {"type": "command", "command": command}
        if is_ours(current):
            entry = {**current, **entry}  # keep the user's padding and other tweaks
        elif current is not None and not force:
            raise UserError(
                f"{path} already has a statusLine that is not usagectl's ({_describe(current)}); "
                "--force replaces it (a backup is kept)"
            )
        data["statusLine"] = entry

    changed, backup = edit(path, change, now)
    if not changed:
        return f"usagectl statusline already installed in {path}"
    kept = f" (backup: {backup})" if backup else ""
    return f"installed the usagectl statusline in {path}{kept}"


def uninstall(path: Path, *, now: datetime | None = None) -> str:
    """Remove our statusLine entry, and only ours."""
    current = load(path).get("statusLine")
    if current is None:
        return f"no statusLine in {path}: nothing to remove"
    if not is_ours(current):
        return f"the statusLine in {path} is not usagectl's ({_describe(current)}): left as is"
    _, backup = edit(path, lambda data: data.pop("statusLine", None), now)
    return f"removed the usagectl statusline from {path} (backup: {backup})"
