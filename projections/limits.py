"""Official rate limits (Claude Code's statusLine ``rate_limits``), as pure rules.

Each window (five_hour, seven_day) is kept per account and per (account, machine, session):
the newest observation wins, by the event's own time and then its id, so the result does not
depend on arrival order or duplicates (a late older event never overwrites a newer one).
The official window is account-wide; we split its percentage by machine with our own token
shares, the one thing only a multi-machine tracker can do.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from .events import Limit

FIVE_HOUR = "five_hour"
SEVEN_DAY = "seven_day"
KINDS = (FIVE_HOUR, SEVEN_DAY)
ACCOUNT = "account"
SESSION = "session"

# (scope, account, machine, session_id, kind); account-wide rows have machine = session = "".
LimitKey = tuple[str, str, str, str, str]


class Observation(msgspec.Struct, frozen=True):
    """One window's figure as one statusLine call saw it."""

    used_pct: float
    resets_ms: int | None
    ts_ms: int
    event_id: str
    machine: str
    session_id: str


def newer(candidate: Observation, current: Observation | None) -> bool:
    """The newer-wins rule: later event time, then the larger id (a fixed tie-break)."""
    if current is None:
        return True
    return (candidate.ts_ms, candidate.event_id) > (current.ts_ms, current.event_id)


def _ms(ts: datetime | None) -> int | None:
    return None if ts is None else round(ts.timestamp() * 1000)


def observations(event: Limit) -> Iterator[tuple[LimitKey, Observation]]:
    ts_ms = _ms(event.ts)
    assert ts_ms is not None
    windows = (
        (FIVE_HOUR, event.five_hour_pct, event.five_hour_resets_at),
        (SEVEN_DAY, event.seven_day_pct, event.seven_day_resets_at),
    )
    for kind, pct, resets in windows:
        if pct is None:
            continue
        obs = Observation(pct, _ms(resets), ts_ms, event.event_id, event.machine, event.session_id)
        yield (ACCOUNT, event.account, "", "", kind), obs
        yield (SESSION, event.account, event.machine, event.session_id, kind), obs


def keys_of(events: Iterable[Limit]) -> set[LimitKey]:
    return {key for e in events for key, _ in observations(e)}


def fold(
    current: Mapping[LimitKey, Observation], events: Iterable[Limit]
) -> dict[LimitKey, Observation]:
    """The rows that change when ``events`` arrive on top of ``current``."""
    changed: dict[LimitKey, Observation] = {}
    for event in events:
        for key, obs in observations(event):
            if newer(obs, changed.get(key, current.get(key))):
                changed[key] = obs
    return changed


def _number(value: Any) -> float | None:
    """A JSON number; not a bool, NaN or infinity (Python's json reads the latter two)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _instant(value: Any) -> datetime | None:
    """Claude Code sends epoch seconds; an ISO string is accepted too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            return None
        return ts.astimezone(UTC) if ts.tzinfo is not None else None
    return None


def window_figures(rate_limits: Any, kind: str) -> tuple[float | None, datetime | None]:
    window = rate_limits.get(kind) if isinstance(rate_limits, dict) else None
    if not isinstance(window, dict):
        return None, None
    pct = _number(window.get("used_percentage"))
    return pct, _instant(window.get("resets_at")) if pct is not None else None


def limit_event(
    rate_limits: Any, *, machine: str, account: str, session_id: str, now: datetime
) -> Limit | None:
    """A ``limit`` event from a statusLine ``rate_limits`` object, or None if it holds none.

    The id hashes what was seen, not when: the same figures seen again are the same event, so
    the hub and the processor drop the repeats Claude Code's frequent calls produce.
    """
    five_pct, five_resets = window_figures(rate_limits, FIVE_HOUR)
    seven_pct, seven_resets = window_figures(rate_limits, SEVEN_DAY)
    if five_pct is None and seven_pct is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    for part in (
        machine,
        account,
        session_id,
        five_pct,
        _ms(five_resets),
        seven_pct,
        _ms(seven_resets),
    ):
        h.update(repr(part).encode())
        h.update(b"\0")
    return Limit(
        event_id="limit:" + h.hexdigest(),
        ts=now,
        machine=machine,
        account=account,
        session_id=session_id,
        five_hour_pct=five_pct,
        five_hour_resets_at=five_resets,
        seven_day_pct=seven_pct,
        seven_day_resets_at=seven_resets,
    )


class MachineShare(msgspec.Struct, frozen=True):
    machine: str
    tokens: int
    share: float
    five_hour_pct: float


def split_by_machine(pct: float, tokens: Mapping[str, int]) -> list[MachineShare]:
    """The account-wide percentage apportioned by each machine's share of our tokens."""
    total = sum(tokens.values())
    if total <= 0:
        return []
    rows = [MachineShare(m, t, t / total, pct * t / total) for m, t in tokens.items() if t > 0]
    return sorted(rows, key=lambda r: (-r.tokens, r.machine))


def expired(obs: Observation, now_ms: int) -> bool:
    """The window has reset since: the figure no longer describes the current window."""
    return obs.resets_ms is not None and obs.resets_ms <= now_ms


def _window_json(obs: Observation, now_ms: int) -> dict[str, Any]:
    from .reports import iso_ms  # reports pulls in rollups and pricing; the statusline need not

    return {
        "usedPercentage": obs.used_pct,
        "resetsAt": None if obs.resets_ms is None else iso_ms(obs.resets_ms),
        "observedAt": iso_ms(obs.ts_ms),
        "expired": expired(obs, now_ms),
        "machine": obs.machine,
        "sessionId": obs.session_id,
    }


def limits_json(
    account: str,
    official: Mapping[str, Observation],
    block_tokens: Mapping[str, int] | None,
    now_ms: int,
) -> dict[str, Any] | None:
    """The ``limits`` object of ``blocks --json``: None when no official figure is known.

    ``block_tokens`` are our tokens per machine in the active block; the split is given only
    while the official 5-hour figure still describes the current window.
    """
    if not official:
        return None
    out: dict[str, Any] = {"account": account}
    for kind, key in ((FIVE_HOUR, "fiveHour"), (SEVEN_DAY, "sevenDay")):
        obs = official.get(kind)
        out[key] = None if obs is None else _window_json(obs, now_ms)
    five = official.get(FIVE_HOUR)
    split: list[MachineShare] = []
    if five is not None and block_tokens and not expired(five, now_ms):
        split = split_by_machine(five.used_pct, block_tokens)
    out["byMachine"] = [
        {
            "machine": s.machine,
            "tokens": s.tokens,
            "share": round(s.share, 4),
            "fiveHourPercentage": round(s.five_hour_pct, 2),
        }
        for s in split
    ]
    return out
