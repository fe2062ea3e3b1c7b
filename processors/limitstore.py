"""The ``limits`` read model: the latest official rate-limit figures per account and session.

Writes run inside the batch's transaction (store.apply_batch); which figure wins is decided by
the pure fold in projections.limits, never by SQL, so replay and any arrival order agree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from usagectl.projections.events import Limit
from usagectl.projections.limits import ACCOUNT, LimitKey, Observation, fold, keys_of

if TYPE_CHECKING:
    import aiosqlite

_KEY = ("scope", "account", "machine", "session_id", "kind")
_VALUES = ("used_pct", "resets_ms", "ts_ms", "event_id", "seen_machine", "seen_session")
_WHERE = " AND ".join(f"{c} = ?" for c in _KEY)


def _observation(row: Sequence[Any]) -> Observation:
    pct, resets, ts, event_id, machine, session = row
    return Observation(
        float(pct), None if resets is None else int(resets), int(ts), event_id, machine, session
    )


async def write_limits(db: aiosqlite.Connection, limits: Sequence[Limit]) -> None:
    """Fold ``limits`` into the stored rows (the caller holds the transaction)."""
    current: dict[LimitKey, Observation] = {}
    cols = ", ".join(_VALUES)
    for key in sorted(keys_of(limits)):
        async with db.execute(f"SELECT {cols} FROM limits WHERE {_WHERE}", key) as cur:
            row = await cur.fetchone()
        if row is not None:
            current[key] = _observation(row)
    changed = fold(current, limits)
    marks = ", ".join("?" * (len(_KEY) + len(_VALUES)))
    await db.executemany(
        f"INSERT OR REPLACE INTO limits ({', '.join((*_KEY, *_VALUES))}) VALUES ({marks})",
        [
            (*key, o.used_pct, o.resets_ms, o.ts_ms, o.event_id, o.machine, o.session_id)
            for key, o in sorted(changed.items())
        ],
    )


def read_limits(conn: sqlite3.Connection, account: str) -> dict[str, Observation]:
    """The account-wide figures by window kind; none for a read model older than the table."""
    cols = ", ".join(_VALUES)
    try:
        rows = conn.execute(
            f"SELECT kind, {cols} FROM limits WHERE scope = ? AND account = ? AND machine = '' "
            "AND session_id = ''",
            (ACCOUNT, account),
        ).fetchall()
    except sqlite3.OperationalError:
        return {}
    return {str(r[0]): _observation(r[1:]) for r in rows}
