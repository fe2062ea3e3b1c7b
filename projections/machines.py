"""The machines view: per machine, its producer's health and its usage, from plain rows.

A machine is online while its heartbeats keep coming (`up` beats every 15 s; three missed
beats mean it is gone). A machine seen only through its usage (an old producer, or events
replayed from an archive) is listed too, with an unknown status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .reports import iso_ms

BEAT_INTERVAL_MS = 15_000
OFFLINE_AFTER_MS = 3 * BEAT_INTERVAL_MS


@dataclass(frozen=True)
class Beat:
    machine: str
    ts_ms: int
    version: str
    roots: list[str]
    files: int
    lag_bytes: int
    rejected: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # path -> why


@dataclass(frozen=True)
class MachineUsage:
    machine: str
    sessions: int
    last_ms: int
    entries: int
    cost_nano: int


def status(beat: Beat | None, now_ms: int) -> str:
    if beat is None:
        return "unknown"
    return "online" if now_ms - beat.ts_ms <= OFFLINE_AFTER_MS else "offline"


def machine_rows(beats: list[Beat], usage: list[MachineUsage], now_ms: int) -> list[dict[str, Any]]:
    """One JSON-ready row per machine, most recently seen first."""
    by_beat = {b.machine: b for b in beats}
    by_usage = {u.machine: u for u in usage}
    rows: list[tuple[int, dict[str, Any]]] = []
    for name in by_beat.keys() | by_usage.keys():
        beat, used = by_beat.get(name), by_usage.get(name)
        seen = max(beat.ts_ms if beat else 0, used.last_ms if used else 0)
        row: dict[str, Any] = {
            "machine": name,
            "status": status(beat, now_ms),
            "lastSeen": iso_ms(seen) if seen else None,
            "lastHeartbeat": iso_ms(beat.ts_ms) if beat else None,
            "secondsSinceHeartbeat": (now_ms - beat.ts_ms) // 1000 if beat else None,
            "version": beat.version if beat else None,
            "roots": beat.roots if beat else [],
            "filesWatched": beat.files if beat else None,
            "lagBytes": beat.lag_bytes if beat else None,
            "rejectedLines": sum(beat.rejected.values()) if beat else None,
            "rejected": dict(sorted(beat.rejected.items())) if beat else {},
            "unreadableFiles": dict(sorted(beat.unreadable.items())) if beat else {},
            "lastUsage": iso_ms(used.last_ms) if used else None,
            "sessions": used.sessions if used else 0,
            "entries": used.entries if used else 0,
            "totalCost": used.cost_nano / 1e9 if used else 0.0,
        }
        rows.append((seen, row))
    rows.sort(key=lambda r: (-r[0], r[1]["machine"]))
    return [row for _, row in rows]


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"machines": len(rows), "online": 0, "offline": 0, "unknown": 0}
    for row in rows:
        counts[row["status"]] += 1
    return counts
