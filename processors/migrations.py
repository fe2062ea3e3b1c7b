"""Numbered schema migrations: a read model written by an earlier version is brought forward in
place on first use (by the processor or by the first report), in one transaction, so an upgrade
never loses history and never needs the stream. A version with no step from it (a newer build's
file, or one older than the first step) is left alone: the caller asks for a replay.

Each step takes the file from version ``n`` to ``n + 1`` and reports its progress as
(done, total) so a long step can draw a bar.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from usagectl.projections.columns import QUARTER_COLUMNS, SUM_COLUMNS

from .schema import REPORT_ZONES, ROLLUP_HOUR, ROLLUP_ZONE_DAY, SCHEMA_VERSION

Progress = Callable[[int, int], None]
Step = Callable[[sqlite3.Connection, Progress], None]

# Hourly rows are filled a month of buckets at a time: a bar that moves, one transaction.
_CHUNK_S = 30 * 86_400


def _hourly_rollups(conn: sqlite3.Connection, progress: Progress) -> None:
    """1 → 2: ``rollup_hour``, the hourly sums reports over months read, from the 15-minute
    rollups (the quarter columns count each quarter's entries)."""
    conn.execute(ROLLUP_HOUR)
    conn.execute(REPORT_ZONES)  # filled per zone by the processor (``zonestore``)
    conn.execute(ROLLUP_ZONE_DAY)
    first, last = conn.execute("SELECT min(bucket), max(bucket) FROM rollup").fetchone()
    if first is None:
        return
    sums = ", ".join(f"sum({c})" for c in SUM_COLUMNS)
    quarters = ", ".join(
        f"sum(CASE WHEN bucket % 3600 / 900 = {i} THEN entries ELSE 0 END)"
        for i in range(len(QUARTER_COLUMNS))
    )
    cols = ", ".join(
        ("hour", "account", "machine", "project", "model", *SUM_COLUMNS, *QUARTER_COLUMNS)
    )
    chunks = range(first - first % 3600, last + 1, _CHUNK_S)
    for i, start in enumerate(chunks):
        conn.execute(
            f"INSERT INTO rollup_hour ({cols}) SELECT bucket - bucket % 3600, account, machine, "
            f"project, model, {sums}, {quarters} FROM rollup WHERE bucket >= ? AND bucket < ? "
            "GROUP BY bucket - bucket % 3600, account, machine, project, model",
            (start, start + _CHUNK_S),
        )
        progress(i + 1, len(chunks))


STEPS: dict[int, Step] = {1: _hourly_rollups}


def stored_version(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def can_upgrade(version: int | None) -> bool:
    return version is not None and all(v in STEPS for v in range(version, SCHEMA_VERSION))


def upgrade(path: Path, progress: Progress, announce: Callable[[str], None]) -> bool:
    """Bring the read model at ``path`` to SCHEMA_VERSION if a chain of steps reaches it;
    True if it was upgraded. Readers see the old file or the new one, never a mix."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = stored_version(conn)
            if version is None or version >= SCHEMA_VERSION or not can_upgrade(version):
                conn.execute("ROLLBACK")
                return False
            announce(f"upgrading the read model {path} from schema {version} to {SCHEMA_VERSION}")
            for step_from in range(version, SCHEMA_VERSION):
                STEPS[step_from](conn, progress)
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return True
    finally:
        conn.close()


def upgrade_in_place(path: Path) -> bool:
    """``upgrade`` with its bar on stderr: a carriage-return line on a terminal, else one line
    when done (a log keeps no half-drawn bars)."""
    tty = sys.stderr.isatty()

    def bar(done: int, total: int) -> None:
        if tty:
            filled = 30 * done // total
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {100 * done // total}%")
            sys.stderr.write("\n" if done == total else "")
            sys.stderr.flush()

    def announce(line: str) -> None:
        print(f"usagectl: {line}", file=sys.stderr, flush=True)

    done = upgrade(path, bar, announce)
    if done:
        announce(f"the read model {path} is at schema {SCHEMA_VERSION}")
    return done
