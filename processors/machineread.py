"""Reading the machines view out of the read model (synchronous, read-only, no bus)."""

from __future__ import annotations

import json
import sqlite3

from usagectl.projections.machines import Beat, MachineUsage


def read_beats(conn: sqlite3.Connection) -> list[Beat]:
    try:
        rows = conn.execute(
            "SELECT machine, ts_ms, version, roots, files, lag_bytes, rejected FROM machines"
        ).fetchall()
    except sqlite3.OperationalError:  # a read model written before machines were kept
        return []
    try:
        unreadable = dict(conn.execute("SELECT machine, unreadable FROM machine_unreadable"))
    except sqlite3.OperationalError:  # written before unreadable files were reported
        unreadable = {}
    return [
        Beat(
            m,
            ts,
            version,
            json.loads(roots),
            files,
            lag,
            json.loads(rejected),
            json.loads(unreadable.get(m, "{}")),
        )
        for m, ts, version, roots, files, lag, rejected in rows
    ]


def read_usage(conn: sqlite3.Connection) -> list[MachineUsage]:
    spans = {
        m: (n, last)
        for m, n, last in conn.execute(
            "SELECT machine, COUNT(*), MAX(last_ms) FROM session_span GROUP BY machine"
        )
    }
    totals = {
        m: (entries, cost)
        for m, entries, cost in conn.execute(
            "SELECT machine, SUM(entries), SUM(cost_auto) FROM rollup GROUP BY machine"
        )
    }
    return [
        MachineUsage(
            m,
            spans.get(m, (0, 0))[0],
            spans.get(m, (0, 0))[1] or 0,
            int(totals.get(m, (0, 0))[0] or 0),
            int(totals.get(m, (0, 0))[1] or 0),
        )
        for m in spans.keys() | totals.keys()
    ]
