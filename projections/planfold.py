"""Plan events folded into one row per plan and per feature, as pure rules.

The stored timeline keeps each event id once with its earliest time (a min: commutative,
associative, idempotent). Plan and feature rows are recomputed from a plan's whole timeline, so
they do not depend on arrival order or duplicates: each transition's time is the earliest one
seen, and a feature's status is that of its latest transition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .plan_events import KIND_RANK, STATUS_KIND

PlanKey = tuple[str, str]  # (project, plan)


@dataclass(frozen=True)
class Step:
    """One timeline row: a plan event as stored."""

    event_id: str
    ts_ms: int
    project: str
    plan: str
    kind: str
    feature_id: str | None = None
    status: str | None = None
    pr_url: str | None = None
    description: str | None = None
    machine: str = ""

    @property
    def order(self) -> tuple[int, int, str, str]:
        return (
            self.ts_ms,
            KIND_RANK.get(self.kind, len(KIND_RANK)),
            self.feature_id or "",
            self.event_id,
        )


@dataclass
class FeatureRow:
    project: str
    plan: str
    feature_id: str
    description: str | None = None
    status: str = "pending"
    created_ms: int | None = None
    started_ms: int | None = None
    completed_ms: int | None = None
    failed_ms: int | None = None
    status_ms: int | None = None

    @property
    def end_ms(self) -> int | None:
        """Where the feature's in-progress window ends (None: it is still open)."""
        if self.status == "in_progress":
            return None
        ends = [t for t in (self.completed_ms, self.failed_ms) if t is not None]
        return min(ends) if ends else None


@dataclass
class PlanRow:
    project: str
    plan: str
    machine: str = ""
    status: str = "created"
    created_ms: int | None = None
    optimized_ms: int | None = None
    started_ms: int | None = None
    completed_ms: int | None = None
    pr_url: str | None = None
    pr_ms: int | None = None
    features: dict[str, FeatureRow] = field(default_factory=dict)


def _min(a: int | None, b: int) -> int:
    return b if a is None or b < a else a


_PLAN_TIMES = {
    "plan_created": "created_ms",
    "plan_optimized": "optimized_ms",
    "orchestration_started": "started_ms",
    "orchestration_completed": "completed_ms",
}
_FEATURE_TIMES = {
    "feature_created": "created_ms",
    "feature_started": "started_ms",
    "feature_completed": "completed_ms",
    "feature_failed": "failed_ms",
}


def summarise(key: PlanKey, steps: Iterable[Step]) -> PlanRow:
    """A plan's row and its features' rows from its timeline (any order, any duplicates)."""
    row = PlanRow(*key)
    for s in sorted({s.event_id: s for s in steps}.values(), key=lambda s: s.order):
        row.machine = row.machine or s.machine
        if s.kind in _PLAN_TIMES:
            attr = _PLAN_TIMES[s.kind]
            setattr(row, attr, _min(getattr(row, attr), s.ts_ms))
        elif s.kind == "pr_created" and (row.pr_ms is None or s.ts_ms < row.pr_ms):
            row.pr_url, row.pr_ms = s.pr_url, s.ts_ms
        if s.feature_id is None or s.kind not in _FEATURE_TIMES:
            continue
        f = row.features.get(s.feature_id)
        if f is None:
            f = row.features[s.feature_id] = FeatureRow(key[0], key[1], s.feature_id)
        f.description = s.description or f.description
        attr = _FEATURE_TIMES[s.kind]
        setattr(f, attr, _min(getattr(f, attr), s.ts_ms))
        if s.status in STATUS_KIND:  # steps come in time order: the last transition stands
            f.status, f.status_ms = s.status, s.ts_ms
    row.status = _plan_status(row)
    return row


def _plan_status(row: PlanRow) -> str:
    if row.completed_ms is not None:
        return "completed"
    if row.started_ms is not None:
        if row.features and all(f.status == "completed" for f in row.features.values()):
            return "features_done"
        return "in_progress"
    if row.optimized_ms is not None:
        return "optimized"
    return "created"
