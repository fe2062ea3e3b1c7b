"""Where the dashboard's machines and alerts come from: one small function each, so their
owners can point them at their own read models without touching the rest of the server."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from usagectl.processors.app.settings import Settings


def alert_subject(prefix: str) -> str:
    """The subjects alert consumers publish alerts on; ``/events`` forwards each as ``alert``."""
    return f"{prefix}.v1.alert.>"


def machines(conn: sqlite3.Connection, now_ms: int) -> dict[str, Any]:
    """``usagectl machines --json``: every machine seen through heartbeats (kept in the read
    model by the processor) or usage, online while its last beat is under 45 s old."""
    from usagectl.processors.app.side_reports import machines_from

    return machines_from(conn, now_ms)


async def alerts(settings: Settings, now_ms: int, limit: int) -> list[dict[str, Any]]:
    """The alerts consumer's alerts, newest first, at most ``limit``: the rows of
    ``usagectl alerts --json`` (empty when the consumer has never run here)."""
    from usagectl.processors.app.side_reports import read_alerts

    return read_alerts(settings)[:limit]
