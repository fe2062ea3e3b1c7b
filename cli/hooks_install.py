"""`usagectl hooks install/uninstall`: our command hook entries in Claude Code's settings.

One ``{"matcher": "", "hooks": [{"type": "command", "command": "<usagectl> hook"}]}`` group per
event (no matcher where Claude Code takes none), added beside whatever hooks are there. Install
never touches another handler and updates ours in place (a moved venv); uninstall removes only
ours, and only the groups and event lists it emptied. Every change keeps a backup
(claude_settings.edit).
"""

from __future__ import annotations

import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

from usagectl.processors.app.errors import UserError
from usagectl.projections.hooks import EVENTS, NO_MATCHER

from .claude_settings import edit, runs_usagectl, usagectl_path

TIMEOUT_S = 10  # it returns in well under a second; a hung hook must not hold Claude Code


def our_command() -> str:
    return f"{shlex.quote(usagectl_path())} hook"


def is_ours(handler: Any) -> bool:
    return runs_usagectl(handler, "hook")


def _group(event: str, command: str) -> dict[str, Any]:
    handler = {"type": "command", "command": command, "timeout": TIMEOUT_S}
    return {"hooks": [handler]} if event in NO_MATCHER else {"matcher": "", "hooks": [handler]}


def _handlers(group: Any) -> list[Any] | None:
    if isinstance(group, dict) and isinstance(group.get("hooks"), list):
        return group["hooks"]  # type: ignore[no-any-return]
    return None


def _event_groups(data: dict[str, Any], path: Path, *, create: bool) -> dict[str, Any] | None:
    hooks = data.setdefault("hooks", {}) if create else data.get("hooks")
    if hooks is None:
        return None
    if not isinstance(hooks, dict):
        raise UserError(f"{path}: 'hooks' is not a JSON object; nothing changed")
    return hooks


def add_ours(
    data: dict[str, Any], command: str, path: Path, events: tuple[str, ...] = EVENTS
) -> None:
    hooks = _event_groups(data, path, create=True)
    assert hooks is not None
    for event in events:
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise UserError(f"{path}: hooks.{event} is not a JSON array; nothing changed")
        found = False
        for group in groups:
            handlers = _handlers(group) or []
            for i, handler in enumerate(handlers):
                if is_ours(handler):
                    handlers[i] = {**handler, "command": command}  # keep the user's tweaks
                    found = True
        if not found:
            groups.append(_group(event, command))


def remove_ours(data: dict[str, Any], path: Path) -> int:
    """Remove our handlers; returns how many. Containers we emptied go, others' stay."""
    hooks = _event_groups(data, path, create=False)
    if hooks is None:
        return 0
    removed = 0
    for event, groups in list(hooks.items()):
        if not isinstance(groups, list):
            continue
        here = 0
        kept_groups = []
        for group in groups:
            handlers = _handlers(group)
            ours = [h for h in handlers or [] if is_ours(h)]
            here += len(ours)
            if handlers is not None and ours:
                if len(ours) == len(handlers):
                    continue  # a group only we were in
                group["hooks"] = [h for h in handlers if not is_ours(h)]
            kept_groups.append(group)
        groups[:] = kept_groups
        if not groups and here:
            del hooks[event]
        removed += here
    if not hooks and removed:
        del data["hooks"]
    return removed


def install(path: Path, command: str, *, now: datetime | None = None) -> str:
    """Add (or update) our entries; returns what happened, as one line."""
    changed, backup = edit(path, lambda data: add_ours(data, command, path), now)
    if not changed:
        return f"usagectl hooks already installed in {path}"
    kept = f" (backup: {backup})" if backup else ""
    return f"installed usagectl hooks for {len(EVENTS)} events in {path}{kept}"


def uninstall(path: Path, *, now: datetime | None = None) -> str:
    """Remove our entries, and only ours."""
    count = 0

    def change(data: dict[str, Any]) -> None:
        nonlocal count
        count = remove_ours(data, path)

    changed, backup = edit(path, change, now)
    if not changed:
        return f"no usagectl hooks in {path}: nothing to remove"
    return f"removed {count} usagectl hook entries from {path} (backup: {backup})"
