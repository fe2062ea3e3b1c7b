"""The payloads only the server has (limits, trends), from the same read-model queries and
shaping functions the CLI uses. Every report the CLI also prints (daily/weekly/monthly,
session, blocks, tools, plans) is served by the CLI's own builder.
tests/test_serve_api.py compares every endpoint with the CLI, filter by filter.

Each function takes an open read-only connection, parsed parameters (web.params) and ``now``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from usagectl.processors import readmodel
from usagectl.processors.readmodel import Filters
from usagectl.projections.blocks import session_ms
from usagectl.projections.trends import first_bucket, trends


def limits_report(conn: sqlite3.Connection, account: str, now_ms: int) -> dict[str, Any]:
    """The official figures ``blocks --json`` carries as ``limits`` (null while Claude Code
    has sent none), over the default 5-hour window."""
    return {"limits": readmodel.official_limits(conn, account, now_ms, session_ms(5.0))}


def trends_payload(conn: sqlite3.Connection, p: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """``usagectl trends --json``: the insights over ``p["days"]`` local days ending today."""
    tz = p["timezone"]
    start = first_bucket(now_ms, tz, p["days"], p["day"])
    rows = readmodel.rollup_rows(conn, Filters(machine=p["machine"], project=p["project"]), start)
    return trends(rows, tz, now_ms, days=p["days"], day=p["day"], cost_mode=p["mode"])
