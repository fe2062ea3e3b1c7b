"""What a rebuilt read model would lose against the one it replaces.

A replay rebuilds from what the stream (and an archive, if given) still holds. After a purge,
an age limit or with a truncated archive that is less than the read model already counted,
and swapping it in would destroy that history for good: `replay` refuses unless forced.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .schema import SCHEMA_VERSION

# Each table's identity column: a row of the old model missing from the new one is lost.
_KEYED = (
    ("responses", "ledger", "key"),
    ("hook events", "hook_seen", "event_id"),
    ("plan events", "plan_events", "event_id"),
)


class CurrentUnreadable(Exception):
    """The read model being replaced cannot be read (corrupt): there is nothing to keep."""


def lost(fresh: Path, current: Path) -> dict[str, int]:
    """Per kind, how many facts ``current`` holds that ``fresh`` lacks (empty: nothing lost)."""
    if not current.exists():
        return {}
    conn = sqlite3.connect(f"file:{fresh}?mode=ro", uri=True)
    try:
        try:
            conn.execute("ATTACH DATABASE ? AS cur", (f"file:{current}?mode=ro",))
            version = conn.execute(
                "SELECT value FROM cur.meta WHERE key = 'schema_version'"
            ).fetchone()
        except sqlite3.DatabaseError as err:
            raise CurrentUnreadable(str(err)) from err
        if version is None or int(version[0]) != SCHEMA_VERSION:
            return _fewer_responses(conn)
        return {what: n for what, table, column in _KEYED if (n := _missing(conn, table, column))}
    finally:
        conn.close()


def _missing(conn: sqlite3.Connection, table: str, column: str) -> int:
    try:
        row = conn.execute(
            f"SELECT count(*) FROM cur.{table} c WHERE NOT EXISTS "
            f"(SELECT 1 FROM main.{table} f WHERE f.{column} = c.{column})"
        ).fetchone()
    except sqlite3.OperationalError:  # a model from before this table: nothing of it to lose
        return 0
    except sqlite3.DatabaseError as err:
        raise CurrentUnreadable(str(err)) from err
    return int(row[0])


def _fewer_responses(conn: sqlite3.Connection) -> dict[str, int]:
    """Another projection version keys its facts differently: compare how many it counted."""
    try:
        old = conn.execute("SELECT count(*) FROM cur.ledger WHERE counted").fetchone()[0]
    except sqlite3.DatabaseError as err:
        raise CurrentUnreadable(str(err)) from err
    new = conn.execute("SELECT count(*) FROM main.ledger WHERE counted").fetchone()[0]
    return {"responses": int(old) - int(new)} if old > new else {}
