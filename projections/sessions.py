"""What each recent session is doing, as pure folds: its status from hook events where hooks
are installed, else from transcript activity; its cost in the current block and today.

Status from hooks is the latest hook event per session (by time, then event id), so the fold
does not depend on arrival order and a repeated event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .events import Hook
from .ledger import Entry

WORKING, WAITING, IDLE, ENDED = "working", "waiting for input", "idle", "ended"
# Claude Code fires these while it works on a prompt ...
_WORKING = frozenset(
    {
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "SubagentStart",
        "SubagentStop",
        "PreCompact",
    }
)
# ... and these when the turn is over or it needs the person (a permission, an idle prompt).
_WAITING = frozenset({"Stop", "Notification", "PermissionRequest", "SessionStart"})
# Without hooks: a transcript line this recent means Claude is answering; quiet for longer
# than IDLE_AFTER_MS, nobody is at it.
WORKING_WITHIN_MS = 90_000
IDLE_AFTER_MS = 30 * 60_000


@dataclass(frozen=True)
class LastHook:
    ts_ms: int
    event_id: str
    name: str


def status_of_hook(name: str) -> str | None:
    if name == "SessionEnd":
        return ENDED
    if name in _WAITING:
        return WAITING
    return WORKING if name in _WORKING else None


def apply_hook(last: dict[str, LastHook], event: Hook) -> None:
    """Keep the latest status-bearing hook event of ``event``'s session."""
    if status_of_hook(event.name) is None:
        return  # a name Claude Code added later says nothing about the status
    mine = LastHook(int(event.ts.timestamp() * 1000), event.event_id, event.name)
    old = last.get(event.session_id)
    if old is None or (mine.ts_ms, mine.event_id) > (old.ts_ms, old.event_id):
        last[event.session_id] = mine


def status(hook: LastHook | None, last_activity_ms: int, now_ms: int) -> tuple[str, str]:
    """(status, where it came from: "hooks" or "activity")."""
    if hook is not None:
        found = status_of_hook(hook.name)
        if found is not None:
            return found, "hooks"
    quiet = now_ms - last_activity_ms
    if quiet <= WORKING_WITHIN_MS:
        return WORKING, "activity"
    return (IDLE if quiet > IDLE_AFTER_MS else WAITING), "activity"


@dataclass(frozen=True)
class SessionLine:
    """One row of the sessions panel."""

    session_id: str
    project: str
    machine: str
    status: str
    status_from: str
    block_cost: float
    today_cost: float
    last_ms: int


def session_lines(
    entries: Iterable[Entry],
    hooks: Mapping[str, LastHook],
    now_ms: int,
    *,
    block_start_ms: int | None,
    midnight_ms: int,
    since_ms: int,
) -> list[SessionLine]:
    """Sessions with usage since ``since_ms``, latest activity first. ``entries`` are the
    counted ones; ``block_start_ms`` is None when no block is active (block cost 0)."""
    acc: dict[tuple[str, str], list[Entry]] = {}
    for e in entries:
        acc.setdefault((e.project_dir, e.session_id), []).append(e)
    out = []
    for (_, session_id), members in acc.items():
        last = max(members, key=lambda e: e.ts_ms)
        if last.ts_ms < since_ms:
            continue
        block = (
            0.0
            if block_start_ms is None
            else sum(e.cost_auto for e in members if e.ts_ms >= block_start_ms)
        )
        today = sum(e.cost_auto for e in members if e.ts_ms >= midnight_ms)
        state, source = status(hooks.get(session_id), last.ts_ms, now_ms)
        out.append(
            SessionLine(
                session_id, last.project, last.machine, state, source, block, today, last.ts_ms
            )
        )
    out.sort(key=lambda s: (-s.last_ms, s.session_id))
    return out
