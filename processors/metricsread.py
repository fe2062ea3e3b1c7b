"""Reading the all-time usage totals (``usage_totals``) for ``/metrics``: one row per
(account, machine, project, model), so a scrape costs what the label sets cost, not the
history behind them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from usagectl.projections.columns import SUM_COLUMNS


@dataclass(frozen=True, slots=True)
class Total:
    account: str
    machine: str
    project: str
    model: str
    sums: dict[str, int]  # SUM_COLUMNS by name; costs in nano-dollars


def _rows(conn: sqlite3.Connection, table: str) -> Iterator[tuple[Any, ...]]:
    sums = ", ".join(f"sum({c})" for c in SUM_COLUMNS)
    yield from conn.execute(
        f"SELECT account, machine, project, model, {sums} FROM {table} "
        "GROUP BY account, machine, project, model"
    )


def read_totals(conn: sqlite3.Connection) -> list[Total]:
    """Every label set with its sums; a read model from before the totals table existed (the
    processor adds and fills it when it next opens the file) is summed from its rollups."""
    try:
        rows = list(_rows(conn, "usage_totals"))
    except sqlite3.OperationalError:
        rows = list(_rows(conn, "rollup"))
    out = []
    for account, machine, project, model, *sums in rows:
        values = {c: int(v or 0) for c, v in zip(SUM_COLUMNS, sums, strict=True)}
        if values["entries"]:
            out.append(Total(str(account), str(machine), str(project), str(model), values))
    return out


def firing_by_rule(alerts_db: Path) -> dict[str, int] | None:
    """Alerts firing now, per rule, from the alerts consumer's database (None when that
    consumer has never run here)."""
    if not alerts_db.exists():
        return None
    conn = sqlite3.connect(f"file:{alerts_db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(
            "SELECT rule, count(*) FROM alerts WHERE status = 'firing' GROUP BY rule"
        ).fetchall()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return {str(rule): int(n) for rule, n in rows}
