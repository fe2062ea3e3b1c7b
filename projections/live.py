"""The live view's state, as a pure fold over events, and what the screen shows, from ``now``.

State starts from the read model's snapshot at stream sequence S and folds every event after
S, so nothing is missed and nothing counted twice. Only the recent window matters: it starts
at a block boundary (the block before the one that can still be active), so the block rule run
over the window reproduces the stored boundaries exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from . import limits
from .blocks import HIGH_TPM as HIGH_TPM  # the alerts' "high" and "moderate" levels
from .blocks import (
    MIN_RATE_SPAN_MS,
    Block,
    BlockEntry,
    BurnRate,
    Projection,
    burn_level,
    identify_blocks,
    is_active,
    shown_projection,
    shown_rate,
)
from .blocks import MODERATE_TPM as MODERATE_TPM
from .events import Limit, Usage
from .ledger import Entry, counted_entries, fold, group_id, to_entry
from .limits import ACCOUNT, LimitKey, Observation
from .rollups import nano

# Claude-Code-Usage-Monitor's default 5-hour limits (input + output tokens). Anthropic
# publishes no token figures; these are community estimates, so the official percentage from
# Claude Code is shown whenever it is known.
PLAN_TOKENS = {"pro": 19_000, "max5": 88_000, "max20": 220_000}
NEW_THING_MS = 10 * 60_000


@dataclass
class LiveState:
    account: str
    window_start_ms: int
    seq: int = 0
    groups: dict[str, dict[str, Entry]] = field(default_factory=dict)
    official: dict[LimitKey, Observation] = field(default_factory=dict)
    machines_seen: dict[str, int] = field(default_factory=dict)  # machine -> last event ts
    new_machines: dict[str, int] = field(default_factory=dict)  # first seen while watching
    new_sessions: dict[str, int] = field(default_factory=dict)
    heartbeats: dict[str, int] = field(default_factory=dict)  # machine -> last heartbeat ts
    past_block_tokens: list[int] = field(default_factory=list)
    # Every session among the groups' copies, kept as they arrive: gathering it from the
    # groups at each event made a backfill followed from the start quadratic.
    sessions: set[str] = field(default_factory=set)


def snapshot(
    account: str,
    window_start_ms: int,
    seq: int,
    entries: Iterable[Entry],
    official: Mapping[str, Observation] | None = None,
    past_block_tokens: Iterable[int] = (),
) -> LiveState:
    state = LiveState(account, window_start_ms, seq, past_block_tokens=list(past_block_tokens))
    for e in entries:
        state.groups.setdefault(group_id(e), {})[e.key] = e
        state.sessions.add(_session(e))
        state.machines_seen[e.machine] = max(state.machines_seen.get(e.machine, 0), e.ts_ms)
    for kind, obs in (official or {}).items():
        state.official[(ACCOUNT, account, "", "", kind)] = obs
    return state


def _session(e: Entry) -> str:
    return f"{e.project_dir}/{e.session_id}"


def apply_usage(state: LiveState, u: Usage, seq: int) -> None:
    state.seq = max(state.seq, seq)
    if u.account != state.account:
        return
    entry = to_entry(u)
    if entry.ts_ms < state.window_start_ms:
        return
    gid = group_id(entry)
    changed, _ = fold({gid: state.groups[gid]} if gid in state.groups else {}, [entry])
    state.groups.update(changed)
    if entry.machine not in state.machines_seen:
        state.new_machines[entry.machine] = entry.ts_ms
    session = _session(entry)
    if session not in state.sessions:
        state.new_sessions[session] = entry.ts_ms
        state.sessions.add(session)
    state.machines_seen[entry.machine] = max(state.machines_seen.get(entry.machine, 0), entry.ts_ms)


def apply_limit(state: LiveState, limit: Limit, seq: int = 0) -> None:
    state.seq = max(state.seq, seq)
    if limit.account == state.account:
        state.official.update(limits.fold(state.official, [limit]))


def official(state: LiveState) -> dict[str, Observation]:
    """The account-wide official figures by window (five_hour, seven_day)."""
    return {
        key[4]: obs
        for key, obs in state.official.items()
        if key[0] == ACCOUNT and key[1] == state.account
    }


def apply_heartbeat(state: LiveState, machine: str, ts_ms: int) -> None:
    state.heartbeats[machine] = max(state.heartbeats.get(machine, 0), ts_ms)


@dataclass(frozen=True)
class Share:
    """One machine's or project's part of the current block."""

    name: str
    tokens: int
    cost: float
    share: float
    first_ms: int
    last_ms: int
    level: str
    machine: str = ""
    sessions: int = 0
    parent: str = ""  # a session's project


@dataclass(frozen=True)
class LiveView:
    now_ms: int
    block: Block | None
    active: bool
    rate: BurnRate | None
    projected: Projection | None
    level: str
    limit: int | None
    limit_source: str
    limit_tokens: int  # the measure the limit applies to
    projected_limit_tokens: int | None  # the same measure at the block's end
    machines: list[Share]
    projects: list[Share]
    sessions: list[Share]
    official: dict[str, Observation]
    warnings: list[str]


def machines_online(state: LiveState, now_ms: int, o: Options) -> int:
    """Heartbeats say a producer is up; without them, an event in the last few minutes does."""
    seen = dict(state.machines_seen)
    for machine, ts in state.heartbeats.items():
        seen[machine] = max(seen.get(machine, 0), ts)
    return sum(1 for ts in seen.values() if now_ms - ts <= o.silent_after_ms)


level_of = burn_level


def _entries(state: LiveState) -> list[Entry]:
    out = counted_entries(state.groups)
    out.sort(key=lambda e: (e.ts_ms, e.source_path, e.source_offset))
    return out


def _block_entry(e: Entry) -> BlockEntry:
    auto = e.reported_cost if e.reported_cost is not None else e.cost_calculated
    return BlockEntry(
        e.ts_ms,
        e.input,
        e.output,
        e.cache_write_5m + e.cache_write_1h,
        e.cache_read,
        (nano(auto), nano(e.cost_calculated), nano(e.reported_cost)),
        e.model,
    )


def _shares(entries: list[Entry], key: str, total: int, block: Block) -> list[Share]:
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(getattr(e, key) if key != "session" else _session(e), []).append(e)
    out = []
    for name, members in groups.items():
        tokens = sum(m.total_tokens for m in members)
        first, last = members[0].ts_ms, members[-1].ts_ms
        minutes = (last - first) / 60_000
        io = sum(m.input + m.output for m in members)
        out.append(
            Share(
                name=name,
                tokens=tokens,
                cost=sum(m.cost_auto for m in members),
                share=tokens / total if total else 0.0,
                first_ms=first,
                last_ms=last,
                level=level_of(io / minutes) if last - first >= MIN_RATE_SPAN_MS else "NORMAL",
                machine=members[-1].machine,
                sessions=len({_session(m) for m in members}),
                parent=members[-1].project if key == "session" else "",
            )
        )
    return sorted(out, key=lambda s: (-s.tokens, s.name))


@dataclass(frozen=True)
class Options:
    length_ms: int
    plan: str | None = None
    token_limit: str | None = None  # N, "max" or "p90"
    cost_threshold: float | None = None
    projects: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    machine: str | None = None
    silent_after_ms: int = 120_000


def _keep(e: Entry, o: Options) -> bool:
    if o.machine and e.machine != o.machine:
        return False
    names = {e.project, e.project_dir, e.project.rstrip("/").rsplit("/", 1)[-1]}
    if o.projects and not names & set(o.projects):
        return False
    return not (o.exclude and names & set(o.exclude))


def _limit(state: LiveState, o: Options) -> tuple[int | None, str]:
    if o.plan in PLAN_TOKENS:
        return PLAN_TOKENS[o.plan], f"{o.plan} plan (Claude-Code-Usage-Monitor estimate)"
    past = sorted(state.past_block_tokens)
    if o.token_limit == "max":
        return (past[-1] if past else None), "highest past block"
    if o.token_limit == "p90":
        return (past[int(0.9 * (len(past) - 1))] if past else None), "p90 of past blocks"
    if o.token_limit:
        return int(o.token_limit), "--token-limit"
    return None, ""


def view(state: LiveState, now_ms: int, o: Options) -> LiveView:
    entries = [e for e in _entries(state) if _keep(e, o)]
    blocks = identify_blocks(map(_block_entry, entries), o.length_ms)
    block = next((b for b in reversed(blocks) if not b.is_gap), None)
    active = block is not None and is_active(block, now_ms, o.length_ms)
    current = [e for e in entries if block and block.start_ms <= e.ts_ms] if active else []
    total = block.total_tokens if active and block else 0
    rate = shown_rate(block, now_ms, o.length_ms) if block else None
    proj = shown_projection(block, now_ms, o.length_ms) if block else None
    limit, source = _limit(state, o)
    by_io = o.plan in PLAN_TOKENS
    measured = (block.input + block.output) if (block and by_io) else total
    projected_measure = None
    if proj is not None and rate is not None:
        io_rate = rate.tokens_per_minute_for_indicator
        projected_measure = (
            round(measured + io_rate * proj.remaining_minutes) if by_io else proj.total_tokens
        )
    v = LiveView(
        now_ms=now_ms,
        block=block if active else None,
        active=active,
        rate=rate,
        projected=proj,
        level=level_of(rate.tokens_per_minute_for_indicator) if rate else "NORMAL",
        limit=limit,
        limit_source=source,
        limit_tokens=measured,
        projected_limit_tokens=projected_measure,
        machines=_shares(current, "machine", total, block) if block else [],
        projects=_shares(current, "project", total, block) if block else [],
        sessions=_shares(current, "session", total, block) if block else [],
        official=official(state),
        warnings=[],
    )
    v.warnings.extend(warnings(state, v, o))
    return v


def warnings(state: LiveState, v: LiveView, o: Options) -> list[str]:
    out = []
    if v.limit and v.active:
        if v.limit_tokens >= v.limit:
            out.append(f"LIMIT EXCEEDED: {v.limit_tokens:,} of {v.limit:,} tokens")
        elif v.limit_tokens >= 0.8 * v.limit:
            out.append(f"limit approaching: {v.limit_tokens / v.limit:.0%} of {v.limit:,}")
        ahead = v.projected_limit_tokens
        if ahead is not None and ahead > v.limit and v.limit_tokens < v.limit:
            out.append(f"projected to exceed the limit: {ahead:,} tokens by the block's end")
    five_hour = v.official.get(limits.FIVE_HOUR)
    if five_hour is not None and five_hour.used_pct >= 80:
        out.append(f"official 5-hour usage at {five_hour.used_pct:.0f}%")
    if v.level == "HIGH":
        out.append("high burn rate")
    if o.cost_threshold is not None and v.block and v.block.cost() >= o.cost_threshold:
        out.append(f"cost threshold ${o.cost_threshold:,.2f} crossed: ${v.block.cost():,.2f}")
    for machine, ts in sorted(state.new_machines.items()):
        if v.now_ms - ts < NEW_THING_MS:
            out.append(f"new machine: {machine}")
    for session, ts in sorted(state.new_sessions.items()):
        if v.now_ms - ts < NEW_THING_MS:
            out.append(f"new session: {session.rsplit('/', 1)[-1][:8]}")
    for machine, ts in sorted(state.heartbeats.items()):
        if v.now_ms - ts > o.silent_after_ms:
            minutes = (v.now_ms - ts) // 60_000
            out.append(f"producer silent: {machine} (last heartbeat {minutes} min ago)")
    return out
