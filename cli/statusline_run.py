"""The statusline's fast path: what Claude Code runs on every status update.

Whole-process p95 must stay under 100 ms, so this module imports no typer, no rich and no bus
client (``usagectl.cli.entry`` calls it before the typer app is loaded). It never talks to the
hub: official rate limits are spooled for the producer to publish later. Whatever goes wrong,
it prints a line and exits 0; a failing status command would only spoil Claude Code's screen.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any, BinaryIO

from usagectl.projections.statusline import (
    FALLBACK,
    Figures,
    StatusInput,
    active_block,
    parse_input,
    render,
)

from .stdin import read_input

DB_TIMEOUT_S = 0.2


def _day_bounds(now: float) -> tuple[int, int]:
    """Today in the local zone, as UTC seconds [start, end): exact on 15-minute buckets."""
    from usagectl.processors.app.zones import local_zone

    zone = local_zone()
    today = datetime.fromtimestamp(now, zone).date()
    start = datetime.combine(today, dt_time(), zone)
    end = datetime.combine(today + timedelta(days=1), dt_time(), zone)
    return int(start.timestamp()), int(end.timestamp())


def read_figures(db_path: Path, account: str, session_id: str, now: float) -> Figures | None:
    """Costs from the read model (read-only); None when there is none yet."""
    # Imported here, as the spool and settings below: unreadable input answers without them.
    from usagectl.processors import quickread
    from usagectl.projections.blocks import DEFAULT_SESSION_HOURS, session_ms

    conn = quickread.open_quick(db_path, DB_TIMEOUT_S)
    if conn is None:
        return None
    try:
        now_ms = int(now * 1000)
        length = session_ms(DEFAULT_SESSION_HOURS)
        session = quickread.session_cost(conn, session_id) if session_id else None
        today = quickread.cost_between(conn, *_day_bounds(now))
        recent = quickread.recent_blocks(conn, account, length, now_ms)
        block = active_block(recent, now_ms, length)
        return Figures(session, today, block)
    finally:
        conn.close()


def spool_limits(inp: StatusInput, home: Path, machine: str, account: str, now: float) -> None:
    """Official rate limits go to the local spool; the producer publishes them."""
    from usagectl.producers.spool import append, spool_path
    from usagectl.projections.limits import limit_event

    event = limit_event(
        inp.rate_limits,
        machine=machine,
        account=account,
        session_id=inp.session_id,
        now=datetime.fromtimestamp(now, UTC),
    )
    if event is not None:
        append(spool_path(home), event, key=event.event_id.encode())


def status_line(raw: bytes, now: float) -> str:
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return FALLBACK
    if not isinstance(data, dict):
        return FALLBACK
    inp = parse_input(data)
    from usagectl.processors.app.settings import load_settings

    settings = load_settings()
    if inp.rate_limits is not None:
        # A full or read-only disk must not cost the user their status line.
        with contextlib.suppress(OSError):
            spool_limits(inp, settings.home, settings.machine, settings.account, now)
    try:
        figures = read_figures(settings.db_path, settings.account, inp.session_id, now)
    except sqlite3.Error:
        figures = None
    return render(inp, figures)


def run(stdin_fd: int = 0, out: BinaryIO | None = None) -> int:
    """Read, print one line, exit 0, whatever happens."""
    try:
        line = status_line(read_input(stdin_fd), time.time())
    except Exception as err:
        if os.environ.get("USAGECTL_DEBUG"):
            raise
        line = f"{FALLBACK} ({type(err).__name__})"
    stream = out if out is not None else sys.stdout.buffer
    try:
        stream.write(line.encode("utf-8") + b"\n")
        stream.flush()
    except OSError:
        pass
    return 0
