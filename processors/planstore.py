"""The plan read models: the timeline (``plan_events``, each event id once at its earliest
time), one row per plan (``plans``) and per feature (``plan_features``).

Writes run inside the batch's transaction (store.apply_batch). Plan and feature rows are
recomputed from the touched plans' whole timelines by the pure fold in projections.planfold, so
replay and any arrival order agree.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from usagectl.projections.events import Plan
from usagectl.projections.planfold import FeatureRow, PlanKey, PlanRow, Step, summarise

if TYPE_CHECKING:
    import aiosqlite

_STEP_COLUMNS = (
    "event_id",
    "ts_ms",
    "project",
    "plan",
    "kind",
    "feature_id",
    "status",
    "pr_url",
    "description",
    "machine",
)
_PLAN_COLUMNS = (
    "project",
    "plan",
    "machine",
    "status",
    "created_ms",
    "optimized_ms",
    "started_ms",
    "completed_ms",
    "pr_url",
    "pr_ms",
)
_FEATURE_COLUMNS = (
    "project",
    "plan",
    "feature_id",
    "description",
    "status",
    "created_ms",
    "started_ms",
    "completed_ms",
    "failed_ms",
    "status_ms",
)


def _ms(plan: Plan) -> int:
    return int(plan.ts.timestamp() * 1000)


async def write_plans(db: aiosqlite.Connection, plans: Sequence[Plan]) -> None:
    """Fold ``plans`` into the stored rows (the caller holds the transaction)."""
    await db.executemany(
        "INSERT INTO plan_events (event_id, ts_ms, project, plan, kind, feature_id, status, "
        "pr_url, description, data, machine, account) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (event_id) DO UPDATE SET ts_ms = min(ts_ms, excluded.ts_ms)",
        [
            (
                p.event_id,
                _ms(p),
                p.project,
                p.plan,
                p.kind,
                p.feature_id,
                p.status,
                p.pr_url,
                p.description,
                json.dumps(p.data, sort_keys=True),
                p.machine,
                p.account,
            )
            for p in plans
        ],
    )
    cols = ", ".join(_STEP_COLUMNS)
    for key in sorted({(p.project, p.plan) for p in plans}):
        async with db.execute(
            f"SELECT {cols} FROM plan_events WHERE project = ? AND plan = ?", key
        ) as cur:
            steps = [Step(*r) for r in await cur.fetchall()]
        row = summarise(key, steps)
        marks = ", ".join("?" * len(_PLAN_COLUMNS))
        await db.execute(
            f"INSERT OR REPLACE INTO plans ({', '.join(_PLAN_COLUMNS)}) VALUES ({marks})",
            tuple(getattr(row, c) for c in _PLAN_COLUMNS),
        )
        await db.execute("DELETE FROM plan_features WHERE project = ? AND plan = ?", key)
        marks = ", ".join("?" * len(_FEATURE_COLUMNS))
        await db.executemany(
            f"INSERT INTO plan_features ({', '.join(_FEATURE_COLUMNS)}) VALUES ({marks})",
            [tuple(getattr(f, c) for c in _FEATURE_COLUMNS) for f in row.features.values()],
        )


# --- the read side (reports: synchronous, read-only) ---


def read_plans(conn: sqlite3.Connection) -> list[PlanRow]:
    """Every plan with its features, oldest first; none for a read model older than the tables."""
    try:
        plan_rows = conn.execute(f"SELECT {', '.join(_PLAN_COLUMNS)} FROM plans").fetchall()
        feature_rows = conn.execute(
            f"SELECT {', '.join(_FEATURE_COLUMNS)} FROM plan_features"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    plans: dict[PlanKey, PlanRow] = {(r[0], r[1]): PlanRow(*r) for r in plan_rows}
    for r in feature_rows:
        plan = plans.get((r[0], r[1]))
        if plan is not None:
            plan.features[r[2]] = FeatureRow(*r)
    for plan in plans.values():
        plan.features = dict(sorted(plan.features.items()))
    return sorted(plans.values(), key=lambda p: (p.created_ms or 0, p.project, p.plan))


def timeline(conn: sqlite3.Connection, key: PlanKey) -> list[Step]:
    rows = conn.execute(
        f"SELECT {', '.join(_STEP_COLUMNS)} FROM plan_events WHERE project = ? AND plan = ?", key
    ).fetchall()
    return sorted((Step(*r) for r in rows), key=lambda s: s.order)


@dataclass(frozen=True)
class Spent:
    entries: int = 0
    input: int = 0
    output: int = 0
    cache_creation: int = 0
    cache_read: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.input + self.output + self.cache_creation + self.cache_read


def spent(conn: sqlite3.Connection, project: str, from_ms: int, to_ms: int) -> Spent:
    """Counted usage of sessions run in ``project`` (or below it) within [from_ms, to_ms]."""
    prefix = project.rstrip("/") + "/"
    row: Any = conn.execute(
        "SELECT count(*), sum(input), sum(output), sum(cache_write_5m + cache_write_1h), "
        "sum(cache_read), sum(coalesce(reported_cost, cost_calculated, 0)) FROM ledger "
        "WHERE counted AND ts_ms >= ? AND ts_ms <= ? "
        "AND (project = ? OR substr(project, 1, ?) = ?)",
        (from_ms, to_ms, project, len(prefix), prefix),
    ).fetchone()
    n, inp, out, write, read, cost = row
    return Spent(
        int(n), int(inp or 0), int(out or 0), int(write or 0), int(read or 0), float(cost or 0.0)
    )
