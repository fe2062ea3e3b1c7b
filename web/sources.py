"""Where the dashboard's machines and alerts come from: one small function each, so their
owners can point them at their own read models without touching the rest of the server."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import msgspec
import nats.errors
from usagectl.projections.events import Heartbeat, decode
from usagectl.projections.reports import iso_ms

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from usagectl.cli.settings import Settings
    from usagectl.processors.bus import BusSettings

# A producer beats every 15 s: three missed beats and it is gone.
ONLINE_WITHIN_MS = 45_000


def alert_subject(prefix: str) -> str:
    """The subjects alert consumers publish alerts on; ``/events`` forwards each as ``alert``."""
    return f"{prefix}.v1.alert.>"


async def machines(
    settings: Settings, now_ms: int, js: JetStreamContext | None, bus: BusSettings | None
) -> list[dict[str, Any]]:
    """Every machine whose producer has sent a heartbeat, by name: ``{"machine", "status"
    (online|offline), "lastHeartbeat", "secondsSinceHeartbeat", "version", "filesWatched",
    "lagBytes", "rejectedLines"}`` (the keys of ``usagectl machines --json``' rows), from the
    latest heartbeat per machine that the heartbeat stream keeps; online while under 45 s old.
    Empty without a hub connection."""
    if js is None or bus is None:
        return []
    info = await js.stream_info(bus.heartbeat_stream, subjects_filter=">")
    found = []
    for subj in sorted(info.state.subjects or {}):
        # A subject emptied since stream_info, or a message we cannot read: skip it.
        with contextlib.suppress(msgspec.DecodeError, nats.errors.Error):
            raw = await js.get_last_msg(bus.heartbeat_stream, subj)
            beat = decode(raw.data or b"")
            if isinstance(beat, Heartbeat):
                ts = int(beat.ts.timestamp() * 1000)
                found.append({
                    "machine": beat.machine,
                    "status": "online" if now_ms - ts <= ONLINE_WITHIN_MS else "offline",
                    "lastHeartbeat": iso_ms(ts), "secondsSinceHeartbeat": (now_ms - ts) // 1000,
                    "version": beat.version, "filesWatched": beat.files,
                    "lagBytes": beat.lag_bytes, "rejectedLines": sum(beat.rejected.values()),
                })  # fmt: skip
    return sorted(found, key=lambda m: m["machine"])


async def alerts(settings: Settings, now_ms: int, limit: int) -> list[dict[str, Any]]:
    """Recent alerts, newest first, at most ``limit``: ``{"ts", "kind", "severity",
    "message", "machine"}`` each. Alerts are not kept in the read model, so this answers with
    an empty list; live ones still reach the page through ``/events``."""
    return []
