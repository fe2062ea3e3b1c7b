"""Rollups: additive sums that undo a replaced copy and add its successor.

Buckets are 15 minutes of UTC: every real timezone offset is a multiple of 15 minutes, so any
IANA day, week or month is an exact union of buckets at query time.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
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
    if current is None:
        into[key] = d
    else:
        for i, v in enumerate(d):
            current[i] += v


def _signed(changes: Iterable[Change]) -> Iterable[tuple[Entry, int]]:
    for change in changes:
        if change.old is not None:
            yield change.old, -1
        if change.new is not None:
            yield change.new, 1


def rollup_deltas(changes: Iterable[Change]) -> dict[RollupKey, list[int]]:
    out: dict[RollupKey, list[int]] = {}
    for entry, sign in _signed(changes):
        key = (entry.bucket, entry.account, entry.machine, entry.project, entry.model)
        _add(out, key, contribution(entry, sign))
    return out


def hour_deltas(changes: Iterable[Change]) -> dict[RollupKey, list[int]]:
    """Hourly rollups: what a report over months reads (a fourth of the 15-minute rows);
    the quarter columns follow the sums."""
    out: dict[RollupKey, list[int]] = {}
    for entry, sign in _signed(changes):
        bucket = entry.bucket
        key = (bucket - bucket % 3600, entry.account, entry.machine, entry.project, entry.model)
        quarters = [0, 0, 0, 0]
        quarters[bucket % 3600 // 900] = sign
        _add(out, key, contribution(entry, sign) + quarters)
    return out


def session_deltas(changes: Iterable[Change]) -> dict[SessionKey, list[int]]:
    out: dict[SessionKey, list[int]] = {}
    for entry, sign in _signed(changes):
        _add(out, (entry.project_dir, entry.session_id, entry.model), contribution(entry, sign))
    return out


TotalsKey = tuple[str, str, str, str]


def totals_deltas(changes: Iterable[Change]) -> dict[TotalsKey, list[int]]:
    """All-time sums per (account, machine, project, model): what ``/metrics`` exports as
    counters, kept so a scrape reads a few hundred rows, not a year of buckets."""
    out: dict[TotalsKey, list[int]] = {}
    for entry, sign in _signed(changes):
        key = (entry.account, entry.machine, entry.project, entry.model)
        _add(out, key, contribution(entry, sign))
    return out
