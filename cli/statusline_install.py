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

from usagectl.processors.app.errors import UserError

from .claude_settings import default_settings_path, edit, load, runs_usagectl, usagectl_path

__all__ = ["default_settings_path", "install", "is_ours", "our_command", "uninstall"]


def our_command() -> str:
    return f"{shlex.quote(usagectl_path())} statusline"


def is_ours(entry: Any) -> TypeGuard[dict[str, Any]]:
    return runs_usagectl(entry, "statusline")


def _describe(entry: Any) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("command"), str):
        return repr(entry["command"])
    return json.dumps(entry)[:60]


def _memo_key(path: Path) -> str:
    return str(path.expanduser().resolve())


def _read_memo(memo: Path | None) -> dict[str, Any]:
    if memo is None or not memo.exists():
        return {}
    try:
        found = json.loads(memo.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _write_memo(memo: Path, data: dict[str, Any]) -> None:
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(memo)


def install(
    path: Path,
    command: str,
    *,
    force: bool = False,
    now: datetime | None = None,
    memo: Path | None = None,
) -> str:
    """Write our statusLine entry; returns what happened, as one line. A statusLine replaced
    with ``force`` is remembered in ``memo`` (usagectl's data dir) for ``uninstall``."""
    replaced: list[Any] = []

    def change(data: dict[str, Any]) -> None:
        current = data.get("statusLine")
        entry: dict[str, Any] = {"type": "command", "command": command}
        if is_ours(current):
            entry = {**current, **entry}  # keep the user's padding and other tweaks
        elif current is not None and not force:
            raise UserError(
                f"{path} already has a statusLine that is not usagectl's ({_describe(current)}); "
                "--force replaces it (a backup is kept; --uninstall puts it back)"
            )
        elif current is not None:
            replaced.append(current)
        data["statusLine"] = entry

    changed, backup = edit(path, change, now)
    if replaced and memo is not None:
        _write_memo(memo, {**_read_memo(memo), _memo_key(path): replaced[0]})
    if not changed:
        return f"usagectl statusline already installed in {path}"
    kept = f" (backup: {backup})" if backup else ""
    return f"installed the usagectl statusline in {path}{kept}"


def uninstall(path: Path, *, now: datetime | None = None, memo: Path | None = None) -> str:
    """Remove our statusLine entry, and only ours; put back the one ``install`` replaced."""
    current = load(path).get("statusLine")
    if current is None:
        return f"no statusLine in {path}: nothing to remove"
    if not is_ours(current):
        return f"the statusLine in {path} is not usagectl's ({_describe(current)}): left as is"
    remembered = _read_memo(memo)
    previous = remembered.get(_memo_key(path))

    def change(data: dict[str, Any]) -> None:
        if previous is None:
            data.pop("statusLine", None)
        else:
            data["statusLine"] = previous

    _, backup = edit(path, change, now)
    if previous is None:
        return f"removed the usagectl statusline from {path} (backup: {backup})"
    if memo is not None:
        remembered.pop(_memo_key(path))
        _write_memo(memo, remembered)
    return (
        f"removed the usagectl statusline from {path} and put back the one it replaced "
        f"({_describe(previous)}; backup: {backup})"
    )
