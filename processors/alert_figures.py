"""The figures alerts are measured on, read from the processor's read model (usage.db).

Why the read model and not folds of our own: its costs and tokens are already deduplicated
by the DESIGN rule (the ledger keeps one winner per response, rollups undo a replaced copy),
kept in 15-minute UTC buckets that make any zone's days, weeks and months exact, and its
blocks follow ccusage's rule. Alerts therefore say exactly what `daily` and `blocks` say. The
consumer reads it only once the processor has applied at least the batch's stream sequence
(and, for block rules, refreshed its blocks): a window is always measured with every event
that touched it, and a window's figure is final once the batch holding its last event has
been applied. Folding usage again here would double the ingest work and the storage for the
same numbers.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from usagectl.projections import alerts as pure
from usagectl.projections.alerts import Reading, Rule
from usagectl.projections.blocks import Block, is_active
from usagectl.projections.events import Event, Limit, Usage
from usagectl.projections.limits import Observation, observations

from .alert_config import AlertsConfig
from .blockstore import read_blocks
from .limitstore import read_limits
from .readmodel import names_project
from .schema import ACCOUNT_SCOPE, CONSUMER

BUCKET_S = 900


def _connect(path: Path) -> sqlite3.Connection | None:
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        conn.execute("SELECT 1 FROM tracking LIMIT 1")
    except sqlite3.DatabaseError:
        return None
    return conn


def read_model_ready(path: Path, seq: int, needs_blocks: bool) -> bool:
    """The processor has applied stream sequence ``seq`` (and refreshed its blocks)."""
    conn = _connect(path)
    if conn is None:
        return False
    try:
        row = conn.execute(
            "SELECT stream_seq FROM tracking WHERE consumer = ?", (CONSUMER,)
        ).fetchone()
        if row is None or int(row[0]) < seq:
            return False
        return not needs_blocks or not conn.execute("SELECT 1 FROM blocks_dirty").fetchone()
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


@dataclass
class Figures:
    conn: sqlite3.Connection
    length_ms: int
    _past: dict[str, list[Block]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path, length_ms: int) -> Figures | None:
        conn = _connect(path)
        return None if conn is None else cls(conn, length_ms)

    def close(self) -> None:
        self.conn.close()

    def dirty(self) -> bool:
        return self.conn.execute("SELECT 1 FROM blocks_dirty").fetchone() is not None

    def accounts(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT account FROM rollup")]

    def cost(self, start_ms: int, end_ms: int, account: str | None) -> float:
        sql = "SELECT coalesce(sum(cost_auto), 0) FROM rollup WHERE bucket >= ? AND bucket < ?"
        params: list[object] = [start_ms // 1000, end_ms // 1000]
        if account is not None:
            sql, params = sql + " AND account = ?", [*params, account]
        return int(self.conn.execute(sql, params).fetchone()[0]) / 1e9

    def project_costs(self, start_ms: int, end_ms: int, account: str | None) -> dict[str, float]:
        sql = "SELECT project, sum(cost_auto) FROM rollup WHERE bucket >= ? AND bucket < ?"
        params: list[object] = [start_ms // 1000, end_ms // 1000]
        if account is not None:
            sql, params = sql + " AND account = ?", [*params, account]
        rows = self.conn.execute(sql + " GROUP BY project", params)
        return {str(p): int(c) / 1e9 for p, c in rows}

    def blocks(self, account: str, since_ms: int) -> list[Block]:
        blocks = read_blocks(self.conn, (ACCOUNT_SCOPE, account, ""), self.length_ms, since_ms)
        return [b for b in blocks if not b.is_gap]

    def past(self, account: str, before_ms: int, cost: bool) -> list[float]:
        """Tokens (or cost) of the account's blocks that ended before ``before_ms``: the
        history a p90 limit is taken from."""
        past = self._past.get(account)
        if past is None:
            past = self._past[account] = sorted(self.blocks(account, 0), key=lambda b: b.end_ms)
        done = past[: bisect.bisect_right([b.end_ms for b in past], before_ms)]
        return [b.cost() if cost else float(b.total_tokens) for b in done]

    def official(self, account: str) -> dict[str, Observation]:
        return read_limits(self.conn, account)


def _budget_readings(
    fig: Figures,
    cfg: AlertsConfig,
    rule: Rule,
    windows: Iterable[pure.PeriodWindow],
    projects: set[str] | None,
) -> Iterator[Reading]:
    for w in windows:
        if rule.kind != "project_cost":
            yield pure.budget_reading(
                rule,
                rule.account or pure.DEFAULT_ACCOUNT,
                w,
                fig.cost(w.start_ms, w.end_ms, rule.account),
            )
            continue
        costs = fig.project_costs(w.start_ms, w.end_ms, rule.account)
        if rule.project is not None:
            cost = sum(c for p, c in costs.items() if names_project(p, rule.project))
            yield pure.budget_reading(
                rule, rule.account or pure.DEFAULT_ACCOUNT, w, cost, rule.project
            )
            continue
        for project, cost in sorted(costs.items()):
            if projects is None or project in projects:
                yield pure.budget_reading(
                    rule, rule.account or pure.DEFAULT_ACCOUNT, w, cost, project
                )


def _block_readings(
    fig: Figures, rules: Sequence[Rule], account: str, blocks: Iterable[Block], now_ms: int
) -> Iterator[Reading]:
    for block in blocks:
        for rule in rules:
            if rule.account not in (None, account):
                continue
            p90 = rule.plan == "p90"
            past = fig.past(account, block.start_ms, rule.kind == "block_cost") if p90 else []
            reading = pure.block_reading(rule, account, block, past, now_ms, fig.length_ms)
            if reading is not None:
                yield reading


def touched(fig: Figures, cfg: AlertsConfig, events: Sequence[Event], now_ms: int) -> list[Reading]:
    """Readings of every window the batch's events fall in."""
    buckets: dict[str, set[int]] = {}
    projects: set[str] = set()
    limits: list[Limit] = []
    for e in events:
        if isinstance(e, Usage):
            ts_ms = int(e.ts.timestamp() * 1000 + 0.5)
            buckets.setdefault(e.account, set()).add(ts_ms // 1000 // BUCKET_S * BUCKET_S)
            projects.add(e.project)
        elif isinstance(e, Limit):
            limits.append(e)
    out: list[Reading] = []
    all_buckets = {b for bs in buckets.values() for b in bs}
    for rule in cfg.rules:
        if rule.kind in pure.BUDGETS or rule.kind == "project_cost":
            wanted = all_buckets if rule.account is None else buckets.get(rule.account, set())
            windows = {
                pure.period_window(rule.period, b * 1000, cfg.tz, cfg.start_of_week) for b in wanted
            }
            out.extend(
                _budget_readings(fig, cfg, rule, sorted(windows, key=lambda w: w.key), projects)
            )
    block_rules = [r for r in cfg.rules if r.kind in pure.BLOCK_KINDS]
    if block_rules:
        for account, bs in sorted(buckets.items()):
            since = min(bs) * 1000 - fig.length_ms
            until = (max(bs) + BUCKET_S) * 1000
            blocks = [b for b in fig.blocks(account, since) if b.start_ms < until]
            out.extend(_block_readings(fig, block_rules, account, blocks, now_ms))
    for rule in cfg.rules:
        if rule.kind in pure.OFFICIAL:
            out.extend(_official(rule, limits, now_ms))
    return out


def _official(rule: Rule, limits: Sequence[Limit], now_ms: int) -> Iterator[Reading]:
    """Official figures fire from the events themselves: each one is a fact about its window."""
    kind = pure.OFFICIAL[rule.kind]
    for event in limits:
        if rule.account not in (None, event.account):
            continue
        for key, obs in observations(event):
            if key[0] == "account" and key[4] == kind:
                reading = pure.official_reading(rule, event.account, obs, now_ms)
                if reading is not None:
                    yield reading


def current(fig: Figures, cfg: AlertsConfig, now_ms: int) -> list[Reading]:
    """Readings of the read model's windows that hold ``now``: this day/week/month, each
    account's active block, the official figures."""
    out: list[Reading] = []
    accounts = fig.accounts()
    for rule in cfg.rules:
        if rule.kind in pure.BUDGETS or rule.kind == "project_cost":
            w = pure.period_window(rule.period, now_ms, cfg.tz, cfg.start_of_week)
            out.extend(_budget_readings(fig, cfg, rule, [w], None))
    block_rules = [r for r in cfg.rules if r.kind in pure.BLOCK_KINDS]
    for account in accounts if block_rules else []:
        active = [
            b
            for b in fig.blocks(account, now_ms - 2 * fig.length_ms)
            if is_active(b, now_ms, fig.length_ms)
        ]
        out.extend(_block_readings(fig, block_rules, account, active[-1:], now_ms))
    for rule in cfg.rules:
        if rule.kind in pure.OFFICIAL:
            for account in accounts if rule.account is None else [rule.account]:
                obs = fig.official(account).get(pure.OFFICIAL[rule.kind])
                reading = None if obs is None else pure.official_reading(rule, account, obs, now_ms)
                if reading is not None:
                    out.append(reading)
    return out


def machines_now(
    cfg: AlertsConfig, beats: dict[str, int], recent: dict[str, int], now_ms: int
) -> list[Reading]:
    """Silent producers, and machines first seen minutes ago."""
    out: list[Reading] = []
    for rule in cfg.rules:
        if rule.kind == "silent":
            for machine, last in sorted(beats.items()):
                silent = pure.silent_reading(rule, machine, last, now_ms)
                if silent is not None and silent.holds:
                    out.append(silent)
        elif rule.kind == "new_machine":
            for machine, first in sorted(recent.items()):
                new = pure.new_machine_reading(rule, machine, first)
                if new is not None:
                    out.append(new)
    return out
