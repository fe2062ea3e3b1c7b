"""Rollups: additive sums that undo a replaced copy and add its successor.

Buckets are 15 minutes of UTC: every real timezone offset is a multiple of 15 minutes, so any
IANA day, week or month is an exact union of buckets at query time.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from .ledger import Change, Entry

RollupKey = tuple[int, str, str, str, str]
SessionKey = tuple[str, str, str]


def nano(usd: float | None) -> int:
    """Costs are summed as integer nano-dollars: exact and order-independent, so a replay and
    an incremental build that undid and redid copies give identical totals."""
    return round((usd or 0.0) * 1e9)


def contribution(entry: Entry, sign: int) -> list[int]:
    calculated = entry.cost_calculated
    return [
        sign,
        sign * entry.input,
        sign * entry.output,
        sign * entry.cache_write_5m,
        sign * entry.cache_write_1h,
        sign * entry.cache_read,
        sign * nano(calculated),
        sign * nano(entry.cost_auto),
        sign * nano(entry.reported_cost),
        sign * (1 if calculated is None else 0),
    ]


K = TypeVar("K", bound=Hashable)


def _add(into: dict[K, list[int]], key: K, d: list[int]) -> None:
    current = into.get(key)
    into[key] = d.copy() if current is None else [a + b for a, b in zip(current, d, strict=True)]


def _signed(changes: Iterable[Change]) -> Iterable[tuple[Entry, int]]:
    for change in changes:
        if change.old is not None:
            yield change.old, -1
        if change.new is not None:
            yield change.new, 1


TotalsKey = tuple[str, str, str, str]


@dataclass
class Deltas:
    """What a batch of changes adds to each summed table, keyed by the table's key: 15-minute
    and hourly rollups (the hourly ones with the quarter columns after the sums), sessions,
    and all-time totals (what ``/metrics`` exports as counters: a scrape reads a few hundred
    rows, not a year of buckets)."""

    rollup: dict[RollupKey, list[int]] = field(default_factory=dict)
    hour: dict[RollupKey, list[int]] = field(default_factory=dict)
    session: dict[SessionKey, list[int]] = field(default_factory=dict)
    totals: dict[TotalsKey, list[int]] = field(default_factory=dict)
    # Per (bucket, model) across every machine and project: the per-zone day rows, and the
    # (bucket, model) pairs an entry left (their day's first bucket may move later).
    models: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    left: set[tuple[int, str]] = field(default_factory=set)


def deltas(changes: Iterable[Change]) -> Deltas:
    """Every table's deltas. Entries are summed once per (bucket, account, machine, project,
    model, session): a batch holds a few hundred such keys for thousands of entries, and the
    four tables' rows are sums of those."""
    fine: dict[tuple[int, str, str, str, str, str, str], list[int]] = {}
    left: set[tuple[int, str]] = set()
    for entry, sign in _signed(changes):
        if sign < 0:
            left.add((entry.bucket, entry.model))
        key = (
            entry.bucket,
            entry.account,
            entry.machine,
            entry.project,
            entry.model,
            entry.project_dir,
            entry.session_id,
        )
        _add(fine, key, contribution(entry, sign))
    out = Deltas(left=left)
    for (bucket, account, machine, project, model, project_dir, session_id), d in fine.items():
        quarters = [0, 0, 0, 0]
        quarters[bucket % 3600 // 900] = d[0]
        _add(out.rollup, (bucket, account, machine, project, model), d)
        _add(out.hour, (bucket - bucket % 3600, account, machine, project, model), d + quarters)
        _add(out.session, (project_dir, session_id, model), d)
        _add(out.totals, (account, machine, project, model), d)
        _add(out.models, (bucket, model), d)
    return out


def rollup_deltas(changes: Iterable[Change]) -> dict[RollupKey, list[int]]:
    return deltas(changes).rollup
