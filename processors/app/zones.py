"""The local time zone, shared by reports and the statusline (which must stay light)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def local_zone() -> ZoneInfo:
    """The system's zone with its rules (TZ, /etc/localtime, macOS settings), not an
    abbreviation like 'CEST' that names no zone; UTC when the system names none."""
    import tzlocal

    try:
        return tzlocal.get_localzone()
    except (ZoneInfoNotFoundError, ValueError, LookupError):
        return ZoneInfo("UTC")
