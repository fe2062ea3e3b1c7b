"""Read-model queries the reports do not already have: rollups by project or machine, recent
sessions, machines active in a window. Values only ever travel as ``?`` parameters; the only
text put into SQL comes from the constant tables below, chosen by name, never from a request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from usagectl.processors import readmodel
from usagectl.processors.readmodel import Filters
from usagectl.projections.columns import SUM_COLUMNS

# The rollup column a row is keyed by, per kind of grouping (``day`` keys by time alone).
DIMENSIONS = {"day": "''", "model": "''", "project": "project", "machine": "machine"}
_TOKENS = "input + output + cache_write_5m + cache_write_1h + cache_read"
_U_TOKENS = "u.input + u.output + u.cache_write_5m + u.cache_write_1h + u.cache_read"


def rollups_by(
    conn: sqlite3.Connection, dimension: str, f: Filters, from_s: int | None, to_s: int | None
) -> Iterator[tuple[int, str, str, tuple[int, ...]]]:
    """(bucket, key, model, sums) for buckets in [from_s, to_s), keyed by ``dimension``."""
    column = DIMENSIONS[dimension]
    where, params = readmodel.where_clause(conn, f)
    if from_s is not None:
        where += " AND bucket >= ?"
        params.append(from_s)
    if to_s is not None:
        where += " AND bucket < ?"
        params.append(to_s)
    sums = ", ".join(f"sum({c})" for c in SUM_COLUMNS)
    sql = (
        f"SELECT bucket, {column}, model, {sums} FROM rollup WHERE {where} "
        f"GROUP BY bucket, {column}, model"
    )
    for row in conn.execute(sql, params):
        yield row[0], row[1], row[2], tuple(row[3:])


def top_projects(conn: sqlite3.Connection, from_s: int, limit: int) -> list[dict[str, Any]]:
    """The most expensive projects since ``from_s`` (auto cost mode), all machines."""
    rows = conn.execute(
        f"SELECT project, sum(cost_auto), sum({_TOKENS}), count(DISTINCT machine) FROM rollup "
        "WHERE bucket >= ? GROUP BY project ORDER BY 2 DESC, 1 LIMIT ?",
        (from_s, limit),
    )
    return [
        {"project": p, "totalCost": (c or 0) / 1e9, "totalTokens": int(t or 0), "machines": int(m)}
        for p, c, t, m in rows
    ]


def recent_sessions(conn: sqlite3.Connection, from_ms: int, limit: int) -> list[dict[str, Any]]:
    """Sessions with activity since ``from_ms``, latest first, with their whole cost."""
    rows = conn.execute(
        f"SELECT s.session_id, s.project_dir, s.project, s.machine, s.first_ms, s.last_ms, "
        f"sum(u.cost_auto), sum({_U_TOKENS}) "
        "FROM session_span s JOIN session_usage u "
        "ON u.project_dir = s.project_dir AND u.session_id = s.session_id "
        "WHERE s.last_ms >= ? GROUP BY s.project_dir, s.session_id "
        "ORDER BY s.last_ms DESC, s.session_id LIMIT ?",
        (from_ms, limit),
    )
    return [
        {
            "sessionId": sid,
            "projectPath": pdir,
            "project": project,
            "machine": machine,
            "firstActivity": first,
            "lastActivity": last,
            "totalCost": (cost or 0) / 1e9,
            "totalTokens": int(tokens or 0),
        }
        for sid, pdir, project, machine, first, last, cost, tokens in rows
    ]


def active_machines(conn: sqlite3.Connection, account: str, from_ms: int) -> list[str]:
    """Machines with counted usage of ``account`` since ``from_ms``."""
    rows = conn.execute(
        "SELECT DISTINCT machine FROM ledger WHERE counted AND account = ? AND ts_ms >= ? "
        "ORDER BY machine",
        (account, from_ms),
    )
    return [str(r[0]) for r in rows]
