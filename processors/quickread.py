"""The statusline's read side: a few indexed queries on the read model, read-only, importing
only what they need (readmodel's report helpers cost milliseconds the statusline has not got).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from usagectl.projections.blocks import Block

from .blockstore import read_blocks
from .schema import ACCOUNT_SCOPE


def open_quick(db_path: Path, timeout_s: float) -> sqlite3.Connection | None:
    """The read model read-only, or None if there is none yet; a short busy timeout, since a
    status line that waits is worse than one that shows less."""
    if not db_path.exists():
        return None
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=timeout_s)
    try:
        conn.execute("SELECT 1 FROM tracking LIMIT 1")
    except sqlite3.DatabaseError:
        conn.close()
        return None
    return conn


def session_cost(conn: sqlite3.Connection, session_id: str) -> float | None:
    """A session's cost (auto mode) over every project it touched; None if never seen."""
    row = conn.execute(
        "SELECT count(*), sum(cost_auto) FROM session_usage WHERE session_id = ?", (session_id,)
    ).fetchone()
    return int(row[1] or 0) / 1e9 if row[0] else None


def cost_between(conn: sqlite3.Connection, from_s: int, to_s: int) -> float:
    """Cost (auto mode) of every 15-minute bucket in [from_s, to_s): exact for any local day,
    and the same sum `usagectl daily` shows for it (all machines, all accounts)."""
    row = conn.execute(
        "SELECT sum(cost_auto) FROM rollup WHERE bucket >= ? AND bucket < ?", (from_s, to_s)
    ).fetchone()
    return int(row[0] or 0) / 1e9


def recent_blocks(
    conn: sqlite3.Connection, account: str, length_ms: int, now_ms: int
) -> list[Block]:
    """The account-wide blocks that could be active now (one starting more than a session
    length ago has ended); account-wide, since the official 5-hour window is per account."""
    return read_blocks(conn, (ACCOUNT_SCOPE, account, ""), length_ms, now_ms - length_ms)
